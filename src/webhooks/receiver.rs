//! `POST {webhooks.path}`: check a delivery, commit it to its store's inbox, answer.
//!
//! The handler never calls Ecwid and never touches the mirror's data tables: it stores the
//! event and answers, so Ecwid gets its 200 within milliseconds. Every correctly signed event
//! for a store the daemon serves gets 200 once it is committed, whatever its type, because
//! anything else makes Ecwid retry for a day and, after enough failures, switch the app's
//! webhooks off.
//!
//! One address serves every store: the body's `storeId` picks the store's route (see
//! [`super::routes`]), whose client secret must have signed the event and whose inbox takes
//! it. A refusal is counted on the store's metrics once the store is known, and on the
//! receiver's `unrouted` metrics before.
//!
//! | delivery | answer | stored | counted on |
//! |---|---|---|---|
//! | body over 64 KiB | 413 | no | unrouted |
//! | body not in within `webhooks.body_read_timeout_secs` | 408 | no | unrouted |
//! | not JSON, or eventId / eventCreated missing or mistyped | 400 | no | unrouted |
//! | signature missing | 401 | no | unrouted |
//! | storeId missing or mistyped | 400 | no | unrouted |
//! | storeId of no store served | 401 | no | unrouted |
//! | signature wrong under that store's client secret | 401 | no | the store |
//! | signed, other fields missing or mistyped | 400 | no | the store |
//! | signed, type or kind not mirrored | 200 | `ignored` | the store |
//! | signed, created before the replay window | 200 | `too_old` | the store |
//! | signed, eventId already stored | 200 | no (kept as it was) | the store |
//! | signed | 200 | `pending` | the store |
//! | the mirror did not commit it in time | 503 | maybe; the retry is then a duplicate | the store |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::committer::Stored;
use super::event::{Rules, Signed, classify};
use super::routes::{Routes, StoreRoute};
use super::signature;
use crate::listener::is_body_timeout;
use crate::log_summary::{self, Summary};
use crate::metrics::{Metrics, RejectReason};
use crate::mirror::inbox::EventState;
use crate::mirror::unix_now;

/// The largest body accepted. Ecwid's bodies are a few hundred bytes.
pub const MAX_BODY: usize = 64 * 1024;

pub const SIGNATURE_HEADER: &str = "x-ecwid-webhook-signature";

/// Everything the handler needs; shared by all requests.
pub struct Receiver {
    /// Replaced whole by a reload. Each request clones the `Arc` and lets go of the lock at
    /// once, so a reload never waits for a commit, and a request in progress finishes with
    /// the routes (and the inbox) it started with.
    routes: RwLock<Arc<Routes>>,
    /// Where refusals are counted that no store can be blamed for (too large, not JSON, no
    /// signature, a store id not served).
    unrouted: Arc<Metrics>,
    /// The log lines of refusals, by reason (see [`log_summary`]).
    refusals: Mutex<HashMap<RejectReason, Summary>>,
    refusal_log_interval: Duration,
}

impl Receiver {
    /// Receives the events of the stores in `routes`. Refusals that no store can be blamed
    /// for count on `unrouted` (a daemon of one store passes that store's metrics, so its
    /// counts read as they always have).
    pub fn new(routes: Routes, unrouted: Arc<Metrics>) -> Receiver {
        Receiver {
            routes: RwLock::new(Arc::new(routes)),
            unrouted,
            refusals: Mutex::default(),
            refusal_log_interval: log_summary::INTERVAL,
        }
    }

    /// Serves `routes` from the next request on: stores added are received at once, and
    /// events for stores removed are refused as for an unknown store. A removed store's
    /// inbox lives on until the requests that already hold it have their answer.
    pub fn replace_routes(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(routes);
    }

    /// The routes now; never held across an await.
    fn routes(&self) -> Arc<Routes> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Logs refusals of one reason at most once per `interval` rather than once a minute
    /// (tests).
    pub fn summarising_refusals_every(mut self, interval: Duration) -> Receiver {
        self.refusal_log_interval = interval;
        self
    }

    /// Logs, for each reason, the refusals held back since its last line once a whole
    /// interval has passed since that line. Runs until `stop`.
    pub async fn report_held_refusals(&self, stop: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(self.refusal_log_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let now = Instant::now();
            let held: Vec<(RejectReason, u64)> = self
                .refusals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter_mut()
                .filter_map(|(reason, summary)| Some((*reason, summary.flush(now)?)))
                .collect();
            for (reason, refused) in held {
                tracing::warn!(
                    reason = reason.as_str(),
                    refused,
                    "webhooks refused since the last line of this reason"
                );
            }
        }
    }

    /// Whether this refusal gets a log line, and with how many since the last one.
    fn refusal_line(&self, reason: RejectReason) -> Option<u64> {
        self.refusals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(reason)
            .or_insert_with(|| Summary::new(self.refusal_log_interval))
            .note(Instant::now())
    }
}

/// Who sent a refused delivery, for its log line.
struct Sender<'a> {
    remote: SocketAddr,
    headers: &'a HeaderMap,
    uri: &'a Uri,
}

impl Sender<'_> {
    /// The proxy's record of the original client, when there is one.
    fn forwarded_for(&self) -> Option<&str> {
        self.headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(|v| shorten(v, 100))
    }

    /// The `eventtype` query parameter Ecwid adds to every delivery.
    fn query_event_type(&self) -> Option<&str> {
        self.uri
            .query()?
            .split('&')
            .find_map(|pair| pair.strip_prefix("eventtype="))
    }
}

fn shorten(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A delivery being answered: who sent it and, once its storeId is read, the store it is for.
struct Delivery<'a> {
    receiver: &'a Receiver,
    sender: Sender<'a>,
    route: Option<&'a StoreRoute>,
}

impl Delivery<'_> {
    /// Where this delivery is counted.
    fn metrics(&self) -> &Metrics {
        self.route
            .map_or(&self.receiver.unrouted, |route| &route.metrics)
    }

    fn store(&self) -> Option<&str> {
        self.route.map(|route| route.name.as_str())
    }

    /// Refused: counted and answered. The first refusal of a reason is logged (who sent it,
    /// what it claimed to be and the store it is for when known; never the signature or the
    /// secret), then one line per interval with the count since the last line and the latest
    /// one's details: a flood of forgeries must not crowd the daemon's real errors out of the
    /// journal.
    fn refuse(
        &self,
        event_type: Option<&str>,
        reason: RejectReason,
        status: StatusCode,
        detail: String,
    ) -> Response {
        self.metrics().webhooks.reject(reason);
        let Some(refused) = self.receiver.refusal_line(reason) else {
            return (status, detail).into_response();
        };
        let sender = &self.sender;
        let event_type = event_type
            .or_else(|| sender.query_event_type())
            .map(|t| shorten(t, 100));
        // Debug formatting quotes and escapes what the sender chose, so it cannot forge lines.
        tracing::warn!(
            remote = %sender.remote,
            forwarded_for = ?sender.forwarded_for().unwrap_or("-"),
            event_type = ?event_type.unwrap_or("-"),
            store = self.store(),
            reason = reason.as_str(),
            status = status.as_u16(),
            detail = %detail,
            refused,
            "{}",
            if refused == 1 {
                "webhook refused"
            } else {
                "webhooks refused since the last line of this reason"
            }
        );
        (status, detail).into_response()
    }
}

pub async fn handle(
    State(receiver): State<Arc<Receiver>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let mut delivery = Delivery {
        receiver: &receiver,
        sender: Sender {
            remote,
            headers: &headers,
            uri: &uri,
        },
        route: None,
    };
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return delivery.refuse(
                None,
                RejectReason::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY} bytes"),
            );
        }
        Err(rejection) if is_body_timeout(&rejection) => {
            return delivery.refuse(
                None,
                RejectReason::Malformed,
                StatusCode::REQUEST_TIMEOUT,
                rejection.body_text(),
            );
        }
        Err(rejection) => {
            return delivery.refuse(
                None,
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                rejection.body_text(),
            );
        }
    };
    let signed = match Signed::parse(&body) {
        Ok(signed) => signed,
        Err(e) => {
            return delivery.refuse(
                None,
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    let Some(claimed) = headers.get(SIGNATURE_HEADER) else {
        return delivery.refuse(
            signed.event_type(),
            RejectReason::MissingSignature,
            StatusCode::UNAUTHORIZED,
            "the X-Ecwid-Webhook-Signature header is missing".into(),
        );
    };
    let store_id = match signed.store_id() {
        Ok(store_id) => store_id,
        Err(e) => {
            return delivery.refuse(
                signed.event_type(),
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    let routes = receiver.routes();
    let Some(route) = routes.get(store_id) else {
        return delivery.refuse(
            signed.event_type(),
            RejectReason::WrongStore,
            StatusCode::UNAUTHORIZED,
            format!("unknown store {store_id}: no store of this daemon has that ecwid.store_id"),
        );
    };
    // From here on the refusals are the store's, to be seen on its metrics.
    delivery.route = Some(route);
    let valid = claimed.to_str().is_ok_and(|claimed| {
        signature::verify(
            route.client_secret.expose(),
            signed.event_created,
            &signed.event_id,
            claimed,
        )
    });
    if !valid {
        return delivery.refuse(
            signed.event_type(),
            RejectReason::BadSignature,
            StatusCode::UNAUTHORIZED,
            "the signature does not match (is ecwid.client_secret the app's client secret?)".into(),
        );
    }
    let event_type = signed.event_type().map(str::to_owned);
    let event = match signed.into_event() {
        Ok(event) => event,
        Err(e) => {
            return delivery.refuse(
                event_type.as_deref(),
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    let rules = Rules {
        kinds: &route.kinds,
        max_event_age: route
            .live
            .read(|config| config.webhooks.max_event_age.as_secs() as i64),
    };
    let row = match classify(&event, &rules, unix_now()) {
        Ok(row) => row,
        Err(e) => {
            return delivery.refuse(
                Some(&event.event_type),
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    let state = row.state;
    match route.inbox.store(row).await {
        Ok(stored) => {
            let m = &route.metrics.webhooks;
            m.received.inc();
            let outcome = match (stored, state) {
                (Stored::Duplicate, _) => {
                    m.duplicates.inc();
                    "duplicate"
                }
                (Stored::New, EventState::Ignored) => {
                    m.ignored.inc();
                    "ignored"
                }
                (Stored::New, EventState::TooOld) => {
                    m.too_old.inc();
                    tracing::warn!(
                        store = route.name.as_str(),
                        event_id = %event.event_id,
                        event_type = %event.event_type,
                        age_secs = unix_now() - event.event_created,
                        max_age_secs = rules.max_event_age,
                        "webhook older than webhooks.max_event_age_secs acknowledged but not applied; the scheduled pull covers it"
                    );
                    "too_old"
                }
                (Stored::New, EventState::Pending) => "pending",
            };
            tracing::debug!(
                store = route.name.as_str(),
                event_id = %event.event_id,
                event_type = %event.event_type,
                entity_id = ?event.entity_id,
                outcome,
                "webhook received"
            );
            (StatusCode::OK, outcome).into_response()
        }
        Err(not_stored) => delivery.refuse(
            Some(&event.event_type),
            RejectReason::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            not_stored.to_string(),
        ),
    }
}
