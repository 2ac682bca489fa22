//! The operator console: served by `run` (and the demo) on its own listener
//! (`[console] listen`), never on the webhook listener a reverse proxy exposes to Ecwid.
//!
//! Server-rendered HTML that works with JavaScript off; a small script refreshes it live.
//! Every page and URL is scoped to a store (`/stores/{id}/...`); with several stores, the
//! home page lists them, and a reload may add or remove stores while pages are served
//! ([`Console::replace_stores`]). Pages read the mirror through read-only connections;
//! actions call the same library functions as the CLI ([`crate::mirror::actions`]), so
//! nothing is decided twice.
//!
//! - [`auth`]: the token, sessions, one-time sign-in links, checks against other sites.
//! - [`layout`]: the frame of every page.
//! - [`stores`]: the home page when the daemon keeps several stores.
//! - [`overview`], [`attention`], [`conflicts`], [`find`], [`webhooks`]: a store's pages.
//! - [`act`]: the actions (re-send, mark applied, dismiss, take a side).

// A handler's early answer (the sign-in redirect, a 404) is an axum `Response`, built once
// per request; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod act;
mod attention;
pub mod auth;
mod conflicts;
mod find;

pub mod layout;
mod overview;
mod stores;
mod webhooks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use rusqlite::Connection;

use crate::config::Live;
use crate::errors::error_chain;
use crate::metrics::Metrics;
use crate::mirror::MirrorWriter;
use auth::{Auth, Session};
use layout::{Frame, Nav};

/// One store the console shows: its name in the configuration, its mirror, the daemon's
/// writer of it (for its health), and its own configuration and metrics, which its pages
/// read (each store has its own schedules, request budget and counters).
pub struct StoreSite {
    /// The store's name in the configuration: `default`, or a file name of `stores.d/`.
    pub name: String,
    pub store_id: u64,
    pub mirror: PathBuf,
    pub writer: MirrorWriter,
    pub live: Live,
    pub metrics: Arc<Metrics>,
}

/// The stores the console shows, in the order of its store list.
type Stores = Arc<Vec<Arc<StoreSite>>>;

/// What the console's handlers share.
pub struct Console {
    auth: Auth,
    /// Swapped whole by a reload ([`Console::replace_stores`]); a request takes the list (or
    /// its store) once and keeps it, so a reload never changes a page half-way.
    stores: RwLock<Stores>,
    /// The daemon's main configuration, for the console's own settings (`console.*`).
    config: Live,
    /// Where the token is read from, for the sign-in page's hint (never the token).
    token_source: PathBuf,
    /// The address it listens on, for links printed outside (the demo's).
    pub address: SocketAddr,
}

impl Console {
    pub fn new(
        stores: Vec<StoreSite>,
        config: Live,
        token: &crate::config::Secret,
        token_source: PathBuf,
        address: SocketAddr,
    ) -> Arc<Console> {
        Arc::new(Console {
            auth: Auth::new(token),
            stores: RwLock::new(Arc::new(stores.into_iter().map(Arc::new).collect())),
            config,
            token_source,
            address,
        })
    }

    /// Shows `stores` from the next request on (a reload added or removed stores). Pages
    /// being served finish with the store they started with.
    pub fn replace_stores(&self, stores: Vec<StoreSite>) {
        let stores: Stores = Arc::new(stores.into_iter().map(Arc::new).collect());
        *self.stores.write().unwrap_or_else(PoisonError::into_inner) = stores;
    }

    /// The stores shown now.
    fn stores(&self) -> Stores {
        self.stores
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A link that signs a browser in once, within ten minutes, with no token to paste.
    pub fn one_time_link(&self) -> String {
        format!(
            "http://{}/login/once/{}",
            self.address,
            self.auth.one_time_code()
        )
    }

    /// Where the sign-in token is read from (never the token).
    pub fn token_source(&self) -> &std::path::Path {
        &self.token_source
    }

    fn session_lifetime(&self) -> Duration {
        Duration::from_secs(
            self.config
                .read(|c| u64::from(c.console.session_hours) * 3600),
        )
    }

    /// Seconds a change may wait to reach Ecwid before the pages call it late
    /// (`console.pending_attention_secs`).
    fn pending_attention(&self) -> i64 {
        self.config
            .read(|c| c.console.pending_attention.as_secs() as i64)
    }

    /// The store `store`, or the 404 naming the stores kept.
    fn site(&self, store: u64) -> Result<Arc<StoreSite>, Response> {
        let stores = self.stores();
        match stores.iter().find(|s| s.store_id == store) {
            Some(site) => Ok(site.clone()),
            None => Err(not_found_store(&stores, store)),
        }
    }
}

pub fn router(console: Arc<Console>) -> Router {
    harden(
        Router::new()
            .route("/", get(home))
            .route("/login", get(login_form).post(login))
            .route("/login/once/{code}", get(login_once))
            .route("/logout", post(logout))
            .route("/assets/console.css", get(css))
            .route("/assets/console.js", get(js))
            .route("/stores/{store}/", get(overview::page))
            .route("/stores/{store}", get(store_root))
            .route("/stores/{store}/attention", get(attention::page))
            .route("/stores/{store}/conflicts", get(conflicts::page))
            .route("/stores/{store}/find", get(find::page))
            .route("/stores/{store}/webhooks", get(webhooks::page))
            .route("/stores/{store}/act", post(act::handle))
            .fallback(not_found)
            .with_state(console),
    )
}

/// The session of a signed-in browser, or the answer for one without: the sign-in page,
/// which brings the operator back to `parts`' page.
fn signed_in_session(console: &Console, parts: &Parts) -> Result<(String, Session), Response> {
    console.auth.session(&parts.headers).ok_or_else(|| {
        let wanted = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let next: String = form_urlencoded::byte_serialize(wanted.as_bytes()).collect();
        Redirect::to(&format!("/login?next={next}")).into_response()
    })
}

/// A signed-in request for one store's page. As an extractor it answers for the handler
/// when there is no visit: the sign-in page for a browser without a session, 404 for a
/// store this daemon does not keep.
pub(crate) struct Visit {
    console: Arc<Console>,
    /// Held for the whole request: a reload that removes the store does not pull it away
    /// from a page being rendered.
    site: Arc<StoreSite>,
    /// Whether the console showed several stores when the request came: the header then
    /// names the store and leads back to their list.
    several: bool,
    pub form_token: String,
    pub flash: Option<String>,
}

impl FromRequestParts<Arc<Console>> for Visit {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Visit, Response> {
        let (session_id, session) = signed_in_session(console, parts)?;
        let Path(store) = Path::<u64>::from_request_parts(parts, console)
            .await
            .map_err(IntoResponse::into_response)?;
        let stores = console.stores();
        let Some(site) = stores.iter().find(|s| s.store_id == store) else {
            return Err(not_found_store(&stores, store));
        };
        Ok(Visit {
            console: console.clone(),
            site: site.clone(),
            several: stores.len() > 1,
            form_token: session.form_token,
            flash: console.auth.take_flash(&session_id),
        })
    }
}

impl Visit {
    pub fn console(&self) -> &Console {
        &self.console
    }

    pub fn site(&self) -> &StoreSite {
        &self.site
    }

    /// The store's id, which every URL of its pages names.
    pub fn store(&self) -> u64 {
        self.site.store_id
    }

    pub fn render(&self, here: Nav, title: &str, main: Markup) -> Response {
        let frame = Frame {
            store: self.store(),
            name: &self.site.name,
            several: self.several,
            here,
            flash: self.flash.as_deref(),
        };
        Html(layout::page(&frame, title, main).into_string()).into_response()
    }

    /// Runs `read` on a read-only connection to the store's mirror, off the async threads.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, Response> {
        let path = self.site.mirror.clone();
        tokio::task::spawn_blocking(move || read_mirror(&path, read))
            .await
            .unwrap_or_else(|e| Err(format!("the read stopped: {e}")))
            .map_err(|message| error_page(StatusCode::SERVICE_UNAVAILABLE, &message))
    }
}

/// Runs `read` on a read-only connection to the mirror at `path` (blocking); the error says
/// what failed in words for the page.
fn read_mirror<T>(
    path: &std::path::Path,
    read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, String> {
    let conn = crate::mirror::open_read_only(path).map_err(|e| error_chain(&e))?;
    read(&conn).map_err(|e| format!("cannot read the mirror: {e}"))
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = layout::bare(
        "Error",
        html! {
            h1 { "The console cannot show this" }
            p.flash.error { (message) }
            p { a href="/" { "Back to the overview" } }
        },
    );
    (status, Html(body.into_string())).into_response()
}

/// 404 for a store the daemon does not keep, naming those it keeps, by id and name.
fn not_found_store(stores: &[Arc<StoreSite>], store: u64) -> Response {
    let kept: Vec<String> = stores
        .iter()
        .map(|s| format!("store {} ({})", s.store_id, s.name))
        .collect();
    let message = match kept.is_empty() {
        true => format!("this daemon keeps no store {store}; it keeps no store at all now"),
        false => format!(
            "this daemon keeps no store {store}; it keeps {}",
            kept.join(", ")
        ),
    };
    error_page(StatusCode::NOT_FOUND, &message)
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "no such page")
}

/// One store: its overview, as before the daemon could keep several. Several: their list,
/// for a signed-in operator.
async fn home(State(console): State<Arc<Console>>, parts: Parts) -> Response {
    let stores = console.stores();
    match stores.as_slice() {
        [] => error_page(StatusCode::NOT_FOUND, "this daemon keeps no store"),
        [one] => Redirect::to(&layout::store_url(one.store_id, "/")).into_response(),
        _ => match signed_in_session(&console, &parts) {
            Ok((session_id, _)) => {
                let flash = console.auth.take_flash(&session_id);
                stores::page(&console, stores, flash.as_deref()).await
            }
            Err(sign_in) => sign_in,
        },
    }
}

async fn store_root(Path(store): Path<u64>) -> Response {
    Redirect::permanent(&layout::store_url(store, "/")).into_response()
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

/// Where to go after signing in: a path of this console, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn login_page(console: &Console, next: &str, refused: bool) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to the ecwid-sync console" }
            @if refused {
                p.flash.error role="alert" { "That is not the console's token." }
            }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                p {
                    label for="token" { "Token " }
                    input #token type="password" name="token" autocomplete="current-password" autofocus required;
                    " "
                    button.primary type="submit" { "Sign in" }
                }
            }
            p.muted {
                "The token is in " code { (console.token_source.display()) }
                " on the daemon's machine (readable by its user and root)."
            }
        },
    )
}

async fn login_form(State(console): State<Arc<Console>>, Query(q): Query<Next>) -> Response {
    Html(login_page(&console, &safe_next(q.next.as_deref()), false).into_string()).into_response()
}

async fn login(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(why) = auth::cross_site(&headers) {
        tracing::warn!(reason = %why, "console: a sign-in was refused");
        return error_page(StatusCode::FORBIDDEN, &format!("refused: {why}"));
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let next = safe_next(field("next"));
    match console.auth.sign_in(
        field("token").unwrap_or_default(),
        console.session_lifetime(),
    ) {
        Some(id) => {
            tracing::info!("console: an operator signed in with the token");
            signed_in(&console, &id, &next)
        }
        None => {
            tracing::warn!("console: a sign-in with a wrong token was refused");
            // Slows down guessing; the token has 192 random bits anyway.
            tokio::time::sleep(Duration::from_millis(500)).await;
            (
                StatusCode::UNAUTHORIZED,
                Html(login_page(&console, &next, true).into_string()),
            )
                .into_response()
        }
    }
}

async fn login_once(State(console): State<Arc<Console>>, Path(code): Path<String>) -> Response {
    match console.auth.redeem(&code, console.session_lifetime()) {
        Some(id) => {
            tracing::info!("console: an operator signed in with a one-time link");
            signed_in(&console, &id, "/")
        }
        None => (
            StatusCode::UNAUTHORIZED,
            Html(
                layout::bare(
                    "Link used",
                    html! {
                        h1 { "This sign-in link was used already or has expired" }
                        p { "Links sign in once, within ten minutes. " a href="/login" { "Sign in with the token" } "." }
                    },
                )
                .into_string(),
            ),
        )
            .into_response(),
    }
}

fn signed_in(console: &Console, id: &str, next: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                auth::session_cookie(id, console.session_lifetime()),
            ),
            (header::LOCATION, next.to_string()),
        ],
    )
        .into_response()
}

async fn logout(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Some(why) = auth::cross_site(&headers) {
        return error_page(StatusCode::FORBIDDEN, &format!("refused: {why}"));
    }
    if let Some((id, _)) = console.auth.session(&headers) {
        console.auth.sign_out(&id);
        tracing::info!("console: an operator signed out");
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, auth::cleared_cookie()),
            (header::LOCATION, "/login".to_string()),
        ],
    )
        .into_response()
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Security headers for every console answer: no framing (clickjacking), scripts only from
/// the console itself, no guessing of content types, no caching of store data.
pub fn harden(router: Router) -> Router {
    use axum::http::HeaderValue;
    router.layer(axum::middleware::map_response(|mut r: Response| async move {
        let h = r.headers_mut();
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert(
            "content-security-policy",
            HeaderValue::from_static(
                "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
            ),
        );
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        r
    }))
}
