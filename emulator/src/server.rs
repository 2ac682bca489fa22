//! HTTP plumbing: the accept loop (hand-rolled so a handler can drop its connection without
//! answering), the router, and the API gate (rate limit, faults, auth, stats) in front of
//! the dispatcher.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;
use tower_http::compression::CompressionLayer;

use crate::app::App;
use crate::error::ApiError;
use crate::faults::FaultAction;
use crate::query::Query;
use crate::routes::{Access, Caller, dispatch, segments, template};

/// Marker a handler puts on its response to have the connection closed instead.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose by fault injection")]
struct Dropped;

pub fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

pub fn error_response(e: &ApiError) -> Response {
    json_response(e.status, e.body())
}

fn dropped() -> Response {
    let mut resp = Response::new(Body::empty());
    resp.extensions_mut().insert(DropConnection);
    resp
}

fn too_many(retry_after: u64) -> Response {
    let mut resp = json_response(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"errorMessage":"Too many requests","errorCode":"RATE_LIMITED"}"#,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}

/// The store's public token: `public_` + the private token without its `secret_`/`secure_`
/// prefix (`secret_test` -> `public_test`).
pub fn public_token(token: &str) -> String {
    let bare = token
        .strip_prefix("secret_")
        .or_else(|| token.strip_prefix("secure_"))
        .unwrap_or(token);
    format!("public_{bare}")
}

pub fn router(app: Arc<App>) -> Router {
    crate::control::routes()
        .route(
            "/api/oauth/token",
            axum::routing::any(crate::control::oauth_token),
        )
        .fallback(api_gate)
        .with_state(app)
        // Clients such as reqwest with its `gzip` feature ask for gzip on every call: the
        // fastest level keeps a 400 KB page at a few ms of CPU instead of tens.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
}

/// Serves until `shutdown_rx` fires, then drops every open connection.
pub async fn serve(listener: TcpListener, router: Router, mut shutdown_rx: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            _ = shutdown_rx.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let router = router.clone();
            async move {
                let resp = router
                    .oneshot(req.map(Body::new))
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                if resp.extensions().get::<DropConnection>().is_some() {
                    // An error from the service makes hyper close the connection unanswered.
                    Err(Dropped)
                } else {
                    Ok(resp)
                }
            }
        });
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

/// `Accept-Encoding` lists gzip (not with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            v.split(',').any(|part| {
                let mut it = part.split(';').map(str::trim);
                let coding = it.next().unwrap_or("");
                let refused =
                    it.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
                (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
            })
        })
}

/// The token of a request. The `token` query parameter is refused unless the emulator was
/// told to accept it (the platform stopped accepting it on 2025-03-20).
fn token_of(
    query: &Query,
    headers: &HeaderMap,
    accept_query: bool,
) -> Result<Option<String>, ApiError> {
    if let Some(t) = query.str("token") {
        if !accept_query {
            return Err(ApiError::forbidden(
                "The token query parameter is no longer accepted: send Authorization: Bearer <token>",
            ));
        }
        return Ok(Some(t.to_string()));
    }
    Ok(bearer(headers))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// Everything under `/api/v3/{storeId}/...`. A request that has arrived whole is served to
/// its end even when its caller hangs up meanwhile, as a real server does (it notices the
/// closed connection only when it answers): a write whose caller was killed mid-request
/// still happens, which is what makes retrying with the same key matter.
async fn api_gate(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::bad_request("Request body could not be read")),
    };
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    tokio::spawn(serve_api(app, req)).await.unwrap_or_else(|_| {
        error_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
        ))
    })
}

async fn serve_api(app: Arc<App>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/api/v3/") else {
        return error_response(&ApiError::not_found(format!("Not found: {path}")));
    };
    let (store_part, api_path) = match rest.split_once('/') {
        Some((s, p)) => (s.to_string(), format!("/{p}")),
        None => (rest.to_string(), "/".to_string()),
    };
    let route = template(&segments(&api_path));
    app.stats.arrive(method.as_str(), route);
    let resp = api_call(&app, req, &method, &store_part, &api_path).await;
    // A dropped connection has no status; it is counted as a request only.
    let status = resp
        .extensions()
        .get::<DropConnection>()
        .is_none()
        .then(|| resp.status().as_u16());
    app.stats.record(method.as_str(), route, status);
    resp
}

async fn api_call(
    app: &Arc<App>,
    req: Request,
    method: &Method,
    store_part: &str,
    api_path: &str,
) -> Response {
    if let Some(left) = app.cooldown.remaining() {
        app.stats
            .early_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return too_many(left);
    }
    // A configured cool-down replaces the limiter's own wait and the storms' 1 second.
    let throttle = |computed: u64| {
        let secs = app.faults.retry_after().unwrap_or(computed);
        app.cooldown.announce(secs);
        too_many(secs)
    };
    if let Some(limiter) = &app.limiter
        && let Err(retry_after) = limiter.check()
    {
        return throttle(retry_after);
    }
    let mutating = *method != Method::GET;
    let fault = app.faults.decide(api_path, mutating);
    if let Some(latency) = fault.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(e) = fault.action.injected_error() {
        return error_response(&e);
    }
    match fault.action {
        FaultAction::Storm429 => return throttle(1),
        FaultAction::DropBefore => return dropped(),
        _ => {}
    }
    let query = match Query::parse(req.uri().query()) {
        Ok(q) => q.without(&app.faults.ignored_params()),
        Err(e) => return error_response(&e),
    };
    let token = match token_of(&query, req.headers(), app.config.accept_query_token) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let gzip = accepts_gzip(req.headers());
    let access = if token.as_deref() == Some(app.config.token.as_str()) {
        Access::Private
    } else if token.as_deref() == Some(public_token(&app.config.token).as_str()) {
        Access::Public
    } else {
        return error_response(&ApiError::forbidden("Invalid or missing access token"));
    };
    if store_part != app.config.store_id.to_string() {
        return error_response(&ApiError::forbidden(format!(
            "The access token does not grant access to store '{store_part}'"
        )));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let body: Bytes = match axum::body::to_bytes(req.into_body(), 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::bad_request("Request body could not be read")),
    };
    if !body.is_empty()
        && let Some(ct) = content_type
        && !(ct.starts_with("application/json") || ct.starts_with("text/json"))
    {
        return error_response(&ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported content type, expected application/json or text/json",
        ));
    }
    let caller = Caller { access, gzip };
    let result = dispatch(app, caller, method, api_path, &query, &body);
    if fault.action == FaultAction::DropAfter {
        return dropped();
    }
    match result {
        Ok(reply) => {
            let gzipped = reply.gzipped;
            let mut resp = json_response(reply.status, reply.body);
            if gzipped {
                let h = resp.headers_mut();
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            }
            resp
        }
        Err(e) => error_response(&e),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}
