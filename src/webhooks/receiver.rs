//! `POST {webhooks.path}`: check a delivery, commit it to the inbox, answer.
//!
//! The handler never calls Ecwid and never touches the mirror's data tables: it stores the
//! event and answers, so Ecwid gets its 200 within milliseconds. Every correctly signed event
//! for this store gets 200 once it is committed, whatever its type, because anything else
//! makes Ecwid retry for a day and, after enough failures, switch the app's webhooks off.
//!
//! | delivery | answer | stored |
//! |---|---|---|
//! | body over 64 KiB | 413 | no |
//! | body not in within `webhooks.body_read_timeout_secs` | 408 | no |
//! | not JSON, or eventId / eventCreated missing or mistyped | 400 | no |
//! | signature missing or wrong | 401 | no |
//! | signed, other fields missing or mistyped | 400 | no |
//! | signed for another store | 401 | no |
//! | signed, type or kind not mirrored | 200 | `ignored` |
//! | signed, created before the replay window | 200 | `too_old` |
//! | signed, eventId already stored | 200 | no (kept as it was) |
//! | signed | 200 | `pending` |
//! | the mirror did not commit it in time | 503 | maybe; the retry is then a duplicate |

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::committer::{Inbox, Stored};
use super::event::{Rules, Signed, classify};
use super::signature;
use crate::config::{Live, Secret};
use crate::kind::Kind;
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
    client_secret: Secret,
    store_id: u64,
    kinds: Vec<Kind>,
    /// For `webhooks.max_event_age_secs`, which a reload may change.
    live: Live,
    inbox: Inbox,
    metrics: Arc<Metrics>,
    /// The log lines of refusals, by reason (see [`log_summary`]).
    refusals: Mutex<HashMap<RejectReason, Summary>>,
    refusal_log_interval: Duration,
}

impl Receiver {
    pub fn new(
        client_secret: Secret,
        store_id: u64,
        kinds: Vec<Kind>,
        live: Live,
        inbox: Inbox,
        metrics: Arc<Metrics>,
    ) -> Receiver {
        Receiver {
            client_secret,
            store_id,
            kinds,
            live,
            inbox,
            metrics,
            refusals: Mutex::default(),
            refusal_log_interval: log_summary::INTERVAL,
        }
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

/// A refused delivery: counted and answered. The first refusal of a reason is logged (who
/// sent it and what it claimed to be; never the signature or the secret), then one line per
/// interval with the count since the last line and the latest one's details: a flood of
/// forgeries must not crowd the daemon's real errors out of the journal.
fn refuse(
    receiver: &Receiver,
    sender: &Sender,
    event_type: Option<&str>,
    reason: RejectReason,
    status: StatusCode,
    detail: String,
) -> Response {
    receiver.metrics.webhooks.reject(reason);
    let Some(refused) = receiver.refusal_line(reason) else {
        return (status, detail).into_response();
    };
    let event_type = event_type
        .or_else(|| sender.query_event_type())
        .map(|t| shorten(t, 100));
    // Debug formatting quotes and escapes what the sender chose, so it cannot forge lines.
    tracing::warn!(
        remote = %sender.remote,
        forwarded_for = ?sender.forwarded_for().unwrap_or("-"),
        event_type = ?event_type.unwrap_or("-"),
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

pub async fn handle(
    State(receiver): State<Arc<Receiver>>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let sender = Sender {
        remote,
        headers: &headers,
        uri: &uri,
    };
    let r = receiver.as_ref();
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(
                r,
                &sender,
                None,
                RejectReason::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY} bytes"),
            );
        }
        Err(rejection) if is_body_timeout(&rejection) => {
            return refuse(
                r,
                &sender,
                None,
                RejectReason::Malformed,
                StatusCode::REQUEST_TIMEOUT,
                rejection.body_text(),
            );
        }
        Err(rejection) => {
            return refuse(
                r,
                &sender,
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
            return refuse(
                r,
                &sender,
                None,
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    let Some(claimed) = headers.get(SIGNATURE_HEADER) else {
        return refuse(
            r,
            &sender,
            signed.event_type(),
            RejectReason::MissingSignature,
            StatusCode::UNAUTHORIZED,
            "the X-Ecwid-Webhook-Signature header is missing".into(),
        );
    };
    let valid = claimed.to_str().is_ok_and(|claimed| {
        signature::verify(
            r.client_secret.expose(),
            signed.event_created,
            &signed.event_id,
            claimed,
        )
    });
    if !valid {
        return refuse(
            r,
            &sender,
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
            return refuse(
                r,
                &sender,
                event_type.as_deref(),
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    if event.store_id != r.store_id {
        return refuse(
            r,
            &sender,
            Some(&event.event_type),
            RejectReason::WrongStore,
            StatusCode::UNAUTHORIZED,
            format!(
                "the event is for store {}, not this one (ecwid.store_id)",
                event.store_id
            ),
        );
    }
    let rules = Rules {
        kinds: &r.kinds,
        max_event_age: r
            .live
            .read(|config| config.webhooks.max_event_age.as_secs() as i64),
    };
    let row = match classify(&event, &rules, unix_now()) {
        Ok(row) => row,
        Err(e) => {
            return refuse(
                r,
                &sender,
                Some(&event.event_type),
                RejectReason::Malformed,
                StatusCode::BAD_REQUEST,
                e.to_string(),
            );
        }
    };
    let state = row.state;
    match r.inbox.store(row).await {
        Ok(stored) => {
            let m = &r.metrics.webhooks;
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
                event_id = %event.event_id,
                event_type = %event.event_type,
                entity_id = ?event.entity_id,
                outcome,
                "webhook received"
            );
            (StatusCode::OK, outcome).into_response()
        }
        Err(not_stored) => refuse(
            r,
            &sender,
            Some(&event.event_type),
            RejectReason::Unavailable,
            StatusCode::SERVICE_UNAVAILABLE,
            not_stored.to_string(),
        ),
    }
}
