//! Headless Chromium driven over W3C WebDriver (chromedriver), for tests that look at pages
//! the way an operator does: click, type, read what is shown, with JavaScript on or off.
//!
//! Only the few WebDriver commands the tests use, over the reqwest the tests already have:
//! a client crate would bring its own HTTP stack for the same dozen calls.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

/// What `Browser::start` says when it cannot run; CI must never see it, so there it panics.
pub const NOT_INSTALLED: &str =
    "skipping: headless Chromium not installed; apt-get install chromium chromium-driver";

/// How long `wait_for` and `wait_for_text` wait for a page to show what a test expects.
pub const WAIT: Duration = Duration::from_secs(15);

/// The key under which WebDriver names an element in its answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// Off proves a page works for an operator whose browser runs no scripts.
    pub javascript: bool,
    pub width: u32,
    pub height: u32,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            javascript: true,
            width: 1280,
            height: 900,
        }
    }
}

impl BrowserOptions {
    pub fn without_javascript() -> Self {
        BrowserOptions {
            javascript: false,
            ..Self::default()
        }
    }
}

/// A cookie as the browser holds it, with the flags a session cookie must carry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cookie {
    pub name: String,
    pub value: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub http_only: bool,
    #[serde(default)]
    pub secure: bool,
    #[serde(default)]
    pub same_site: Option<String>,
}

/// One WebDriver session; shared by the browser and the elements found in it.
struct Session {
    http: reqwest::Client,
    /// `http://127.0.0.1:<port>/session/<id>`
    url: String,
}

/// A WebDriver error answer, e.g. `no such element`.
#[derive(Debug)]
struct DriverError {
    error: String,
    message: String,
}

impl Session {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, DriverError> {
        let url = format!("{}{path}", self.url);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("chromedriver did not answer {method} {url}: {e}"));
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("chromedriver's answer to {method} {url} is not JSON: {e}"));
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(DriverError {
            error: value["error"]
                .as_str()
                .unwrap_or("unknown error")
                .to_owned(),
            message: value["message"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// A command the test cannot go on without: its failure is the test's failure.
    async fn must(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        self.call(method.clone(), path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {}: {}", e.error, e.message))
    }

    async fn get(&self, path: &str) -> Value {
        self.must(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.must(reqwest::Method::POST, path, Some(body)).await
    }

    /// Elements matching `css` under `from` (an element's path, or "" for the document);
    /// none is an answer, not an error.
    async fn find_all(self: &Arc<Self>, from: &str, css: &str) -> Vec<Element> {
        let found = self
            .post(
                &format!("{from}/elements"),
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        found
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| Element {
                session: self.clone(),
                id: e[ELEMENT_KEY]
                    .as_str()
                    .expect("WebDriver names each element")
                    .to_owned(),
            })
            .collect()
    }
}

/// Headless Chromium with its own chromedriver and a fresh profile, both gone when dropped
/// (also when the test panics).
pub struct Browser {
    session: Arc<Session>,
    driver: Child,
    driver_addr: SocketAddr,
    session_id: String,
    closed: bool,
    /// Removed after the processes are gone (fields drop after `Drop::drop`).
    _profile: tempfile::TempDir,
}

/// `CHROMIUM` / `CHROMEDRIVER` when set, else the first `name` on PATH.
fn program(env: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        let path = PathBuf::from(path);
        // Someone asked for this binary: skipping the tests would hide the typo.
        assert!(path.is_file(), "{env}={} is not a file", path.display());
        return Some(path);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

impl Browser {
    /// None (after one line on stderr) when Chromium or chromedriver is not installed, so a
    /// developer without them can still run the suite; under `CI` that is a failure instead,
    /// since CI installs both and a silent skip there would hide broken pages.
    pub async fn start(options: BrowserOptions) -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) = (
            program("CHROMIUM", "chromium"),
            program("CHROMEDRIVER", "chromedriver"),
        ) else {
            if std::env::var_os("CI").is_some() {
                panic!("{NOT_INSTALLED} (CI is set, so the browser tests must run)");
            }
            // Once per test binary, and past libtest's capture, which would hide it for
            // passing tests: the point is that a developer sees why nothing was checked.
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                let _ = writeln!(std::io::stderr(), "{NOT_INSTALLED}");
            });
            return None;
        };
        let profile = tempfile::tempdir().expect("temp dir for the browser profile");
        let driver_log = profile.path().join("chromedriver.log");
        let driver_addr = super::free_local_addr();
        let mut command = Command::new(&chromedriver);
        command
            .arg(format!("--port={}", driver_addr.port()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&driver_log).expect("chromedriver log file"))
            .stderr(Stdio::null());
        // Its own process group, which Chromium and its helpers join, so dropping the
        // browser can end all of them even when the session cannot be closed politely
        // (only the crash reporter makes a group of its own; it ends with Chromium).
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let mut browser = Browser {
            session: Arc::new(Session {
                http,
                url: String::new(),
            }),
            driver,
            driver_addr,
            session_id: String::new(),
            closed: false,
            _profile: profile,
        };
        browser.wait_until_driver_ready(&driver_log).await;
        browser.open_session(&chromium, &options, &driver_log).await;
        Some(browser)
    }

    async fn wait_until_driver_ready(&mut self, driver_log: &Path) {
        let status = format!("http://{}/status", self.driver_addr);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(exit)) = self.driver.try_wait() {
                panic!(
                    "chromedriver exited ({exit}) before it was ready; its log:\n{}",
                    std::fs::read_to_string(driver_log).unwrap_or_default()
                );
            }
            let ready = match self.session.http.get(&status).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "chromedriver on {} not ready after 30 s; its log:\n{}",
                    self.driver_addr,
                    std::fs::read_to_string(driver_log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn open_session(&mut self, chromium: &Path, options: &BrowserOptions, log: &Path) {
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={},{}", options.width, options.height),
            format!(
                "--user-data-dir={}",
                self._profile.path().join("chromium").display()
            ),
            "--no-first-run".to_owned(),
        ];
        // Chromium's content setting "JavaScript: blocked", as an operator would set it. Tried
        // against Chromium 156: this and `--blink-settings=scriptEnabled=false` both keep a
        // page's scripts from running; the setting is the one a browser's user has.
        let prefs = if options.javascript {
            json!({})
        } else {
            json!({ "profile.managed_default_content_settings.javascript": 2 })
        };
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": args,
                    "prefs": prefs,
                },
            }}
        });
        let url = format!("http://{}/session", self.driver_addr);
        let answer: Value = self
            .session
            .http
            .post(&url)
            .json(&capabilities)
            .send()
            .await
            .expect("chromedriver answers a new session")
            .json()
            .await
            .expect("chromedriver's new session answer is JSON");
        let Some(id) = answer["value"]["sessionId"].as_str() else {
            panic!(
                "Chromium did not start: {}\nchromedriver's log:\n{}",
                answer["value"]["message"],
                std::fs::read_to_string(log).unwrap_or_default()
            );
        };
        self.session_id = id.to_owned();
        self.session = Arc::new(Session {
            http: self.session.http.clone(),
            url: format!("{url}/{id}"),
        });
        // `--window-size` is the window's, browser bar included; pages and screenshots are
        // about the viewport, so that is what gets the size asked for.
        self.session
            .post(
                "/goog/cdp/execute",
                json!({
                    "cmd": "Emulation.setDeviceMetricsOverride",
                    "params": {
                        "width": options.width,
                        "height": options.height,
                        "deviceScaleFactor": 1,
                        "mobile": false,
                    },
                }),
            )
            .await;
    }

    /// The process group of chromedriver and the Chromium it started.
    pub fn process_group(&self) -> i32 {
        self.driver.id() as i32
    }

    pub async fn goto(&self, url: &str) {
        self.session.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        string(self.session.get("/url").await)
    }

    pub async fn title(&self) -> String {
        string(self.session.get("/title").await)
    }

    pub async fn source(&self) -> String {
        string(self.session.get("/source").await)
    }

    /// The first element matching `css`, which must be on the page now (see `wait_for`).
    pub async fn find(&self, css: &str) -> Element {
        match self.find_all(css).await.into_iter().next() {
            Some(element) => element,
            None => panic!(
                "no element matches `{css}` on {}; page source:\n{}",
                self.current_url().await,
                self.source().await
            ),
        }
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.session.find_all("", css).await
    }

    /// Submits the form matching `form_css` the way a person does: by clicking its button.
    pub async fn submit(&self, form_css: &str) {
        let form = self.find(form_css).await;
        match form
            .find_all("button[type=submit], input[type=submit], button:not([type])")
            .await
            .into_iter()
            .next()
        {
            Some(button) => button.click().await,
            None => panic!(
                "form `{form_css}` has no submit button; page source:\n{}",
                self.source().await
            ),
        }
    }

    /// The first element matching `css` once the page shows one, e.g. after a click loaded
    /// the next page or a script added it.
    pub async fn wait_for(&self, css: &str) -> Element {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(element) = self.find_all(css).await.into_iter().next() {
                return element;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "no element matches `{css}` after {} s on {}; page source:\n{}",
                    WAIT.as_secs(),
                    self.current_url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the page's visible text contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            // Read through the DOM, not a script, so this works with JavaScript off.
            let body = self.find_all("body").await.into_iter().next();
            let shown = match body {
                Some(body) => body.text_if_still_there().await,
                None => None,
            };
            if shown.is_some_and(|shown| shown.contains(text)) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "the page does not show {text:?} after {} s on {}; page source:\n{}",
                    WAIT.as_secs(),
                    self.current_url().await,
                    self.source().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The cookies the browser holds for the current page, HttpOnly ones included.
    pub async fn cookies(&self) -> Vec<Cookie> {
        serde_json::from_value(self.session.get("/cookie").await)
            .expect("WebDriver cookies have a name and a value")
    }

    /// Runs `js` as a function body in the page; `return x` gives x back.
    pub async fn execute(&self, js: &str) -> Value {
        self.session
            .post("/execute/sync", json!({ "script": js, "args": [] }))
            .await
    }

    /// Writes what the window shows as a PNG file.
    pub async fn screenshot_png(&self, path: &Path) {
        use base64::Engine;
        let encoded = string(self.session.get("/screenshot").await);
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("WebDriver sends screenshots in base64");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Ends the session politely (Chromium quits and flushes its profile), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.session.call(reqwest::Method::DELETE, "", None).await;
        self.closed = true;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Drop cannot await, and may run during a panic inside the runtime: a blocking
        // request with short timeouts is the one way left to let Chromium quit by itself.
        if !self.closed && !self.session_id.is_empty() {
            delete_session_blocking(self.driver_addr, &self.session_id);
        }
        // The whole group, so no Chromium helper outlives the test.
        // SAFETY: kill(2) on the process group this harness created; no memory involved.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

fn delete_session_blocking(driver: SocketAddr, session_id: &str) {
    let Ok(mut stream) = TcpStream::connect_timeout(&driver, Duration::from_secs(2)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{session_id} HTTP/1.1\r\nHost: {driver}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_ok() {
        let _ = stream.read_to_end(&mut Vec::new());
    }
}

/// An element of the page it was found on.
#[derive(Clone)]
pub struct Element {
    session: Arc<Session>,
    id: String,
}

impl Element {
    fn path(&self, command: &str) -> String {
        format!("/element/{}{command}", self.id)
    }

    pub async fn click(&self) {
        self.session.post(&self.path("/click"), json!({})).await;
    }

    /// The text as rendered (hidden parts left out).
    pub async fn text(&self) -> String {
        string(self.session.get(&self.path("/text")).await)
    }

    /// The text, or `None` when the page this element was on has gone (a click or a
    /// submitted form loaded the next one in between): the caller looks again.
    async fn text_if_still_there(&self) -> Option<String> {
        match self
            .session
            .call(reqwest::Method::GET, &self.path("/text"), None)
            .await
        {
            Ok(text) => Some(string(text)),
            Err(e)
                if e.error == "stale element reference"
                    || e.message.contains("does not belong to the document") =>
            {
                None
            }
            Err(e) => panic!("WebDriver text of an element: {}: {}", e.error, e.message),
        }
    }

    /// The attribute as the HTML has it; an input's current text is `property("value")`.
    pub async fn attr(&self, name: &str) -> Option<String> {
        self.session
            .get(&self.path(&format!("/attribute/{name}")))
            .await
            .as_str()
            .map(str::to_owned)
    }

    /// The DOM property, e.g. `value` (what was typed) or `checked`.
    pub async fn property(&self, name: &str) -> Value {
        self.session
            .get(&self.path(&format!("/property/{name}")))
            .await
    }

    pub async fn send_keys(&self, text: &str) {
        self.session
            .post(&self.path("/value"), json!({ "text": text }))
            .await;
    }

    pub async fn clear(&self) {
        self.session.post(&self.path("/clear"), json!({})).await;
    }

    /// Elements matching `css` inside this one.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.session.find_all(&self.path(""), css).await
    }
}

fn string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => panic!("WebDriver answered {other} where text was expected"),
    }
}
