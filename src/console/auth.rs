//! Who may use the console: a token exchanged for a session cookie, one-time sign-in links,
//! and the checks every action passes (a session, its form token, a same-origin request).
//!
//! Sessions live in the daemon's memory: a restart signs everyone out, which costs an
//! operator one sign-in and keeps no secret on disk beyond the token itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use crate::config::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "ecwid_sync_console";

/// How long a one-time sign-in link may wait for its click.
const ONE_TIME_LIFETIME: Duration = Duration::from_secs(600);

/// Sessions above this are ended oldest first: a script signing in in a loop cannot grow
/// the daemon's memory.
const MAX_SESSIONS: usize = 256;

/// Random bytes as hex, from the operating system's generator.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random generator");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// Put in every form and checked on every POST, so a page elsewhere cannot act even if
    /// a browser sent the cookie along.
    pub form_token: String,
    expires: Instant,
    /// A message for the next page shown (what an action did).
    pub flash: Option<String>,
}

/// The console's door.
pub struct Auth {
    /// Compared as digests, so the comparison's time says nothing about the token.
    token_digest: [u8; 32],
    sessions: Mutex<HashMap<String, Session>>,
    one_time: Mutex<HashMap<String, Instant>>,
}

impl Auth {
    pub fn new(token: &Secret) -> Auth {
        Auth {
            token_digest: digest(token.expose()),
            sessions: Mutex::default(),
            one_time: Mutex::default(),
        }
    }

    /// A new session for the right token; `None` for any other.
    pub fn sign_in(&self, offered: &str, lifetime: Duration) -> Option<String> {
        (digest(offered.trim()) == self.token_digest).then(|| self.open_session(lifetime))
    }

    fn open_session(&self, lifetime: Duration) -> String {
        let id = random_hex(32);
        let mut sessions = self.sessions.lock().expect("sessions");
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                form_token: random_hex(16),
                expires: now + lifetime,
                flash: None,
            },
        );
        id
    }

    /// A link's code that signs in once, within ten minutes.
    pub fn one_time_code(&self) -> String {
        let code = random_hex(24);
        let mut codes = self.one_time.lock().expect("codes");
        let now = Instant::now();
        codes.retain(|_, expires| *expires > now);
        codes.insert(code.clone(), now + ONE_TIME_LIFETIME);
        code
    }

    /// A session for a code not used before and not expired; the code is spent either way.
    pub fn redeem(&self, code: &str, lifetime: Duration) -> Option<String> {
        let expires = self.one_time.lock().expect("codes").remove(code)?;
        (expires > Instant::now()).then(|| self.open_session(lifetime))
    }

    /// The session the request's cookie names, if it is still open.
    pub fn session(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let id = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().expect("sessions");
        match sessions.get(&id) {
            Some(s) if s.expires > Instant::now() => Some((id, s.clone())),
            Some(_) => {
                sessions.remove(&id);
                None
            }
            None => None,
        }
    }

    /// Reads and clears the message for the session's next page.
    pub fn take_flash(&self, id: &str) -> Option<String> {
        self.sessions
            .lock()
            .expect("sessions")
            .get_mut(id)
            .and_then(|s| s.flash.take())
    }

    pub fn set_flash(&self, id: &str, message: String) {
        if let Some(s) = self.sessions.lock().expect("sessions").get_mut(id) {
            s.flash = Some(message);
        }
    }

    pub fn sign_out(&self, id: &str) {
        self.sessions.lock().expect("sessions").remove(id);
    }
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value for a session: not readable by scripts, never sent with a
/// request another site starts.
pub fn session_cookie(id: &str, lifetime: Duration) -> String {
    format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        lifetime.as_secs()
    )
}

pub fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Why a state-changing request is refused before anything else is looked at: a browser
/// says where a request comes from (`Origin`, `Sec-Fetch-Site`); one from another site is
/// refused whatever cookie it carries.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return Some(format!(
            "the request came from another site (Sec-Fetch-Site: {site})"
        ));
    }
    if let Some(origin) = text("origin") {
        let host = text("host").unwrap_or_default();
        let same = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host);
        if !same {
            return Some(format!(
                "the request came from another origin ({origin}, not this console's {host})"
            ));
        }
    }
    None
}

/// The token the console checks: the configured one, or one kept in `<mirror>.console-token`
/// (made on first start, readable by the daemon's user alone), so a console on loopback
/// needs no setup. Returns it with the file an operator reads it from.
pub fn token_or_make(
    configured: Option<&Secret>,
    configured_file: Option<&Path>,
    mirror: &Path,
) -> std::io::Result<(Secret, PathBuf)> {
    if let Some(token) = configured {
        let from = configured_file.map_or_else(
            || PathBuf::from(format!("${}", crate::config::CONSOLE_TOKEN_ENV)),
            Path::to_path_buf,
        );
        return Ok((token.clone(), from));
    }
    let mut name = mirror.as_os_str().to_owned();
    name.push(".console-token");
    let file = PathBuf::from(name);
    match std::fs::read_to_string(&file) {
        Ok(text) if text.trim().len() >= 16 => return Ok((Secret::new(text.trim()), file)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let token = random_hex(24);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)?;
    out.write_all(format!("{token}\n").as_bytes())?;
    out.sync_all()?;
    Ok((Secret::new(token), file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_the_token_opens_a_session_and_a_one_time_code_works_once() {
        let auth = Auth::new(&Secret::new("0123456789abcdef0123"));
        let hour = Duration::from_secs(3600);
        assert!(auth.sign_in("wrong-token-wrong-token", hour).is_none());
        let id = auth.sign_in(" 0123456789abcdef0123\n", hour).unwrap();
        let cookie = format!("other=1; {COOKIE}={id}");
        assert!(auth.session(&headers(&[("cookie", &cookie)])).is_some());
        auth.sign_out(&id);
        assert!(auth.session(&headers(&[("cookie", &cookie)])).is_none());
        let code = auth.one_time_code();
        assert!(auth.redeem(&code, hour).is_some());
        assert!(auth.redeem(&code, hour).is_none(), "spent");
    }

    #[test]
    fn requests_from_another_site_are_named() {
        assert!(cross_site(&headers(&[("host", "127.0.0.1:8090")])).is_none());
        assert!(
            cross_site(&headers(&[
                ("host", "127.0.0.1:8090"),
                ("origin", "http://127.0.0.1:8090"),
                ("sec-fetch-site", "same-origin")
            ]))
            .is_none()
        );
        let why = cross_site(&headers(&[
            ("host", "127.0.0.1:8090"),
            ("origin", "http://evil.example"),
        ]))
        .unwrap();
        assert!(why.contains("http://evil.example"), "{why}");
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")])).is_some());
    }

    #[test]
    fn a_token_is_made_once_beside_the_mirror_and_kept_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mirror = dir.path().join("m.db");
        let (first, file) = token_or_make(None, None, &mirror).unwrap();
        let (again, _) = token_or_make(None, None, &mirror).unwrap();
        assert_eq!(first.expose(), again.expose());
        assert_eq!(file, dir.path().join("m.db.console-token"));
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
