//! HTTP to the Ecwid REST API: auth, the shared budget, retries and error mapping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use super::api_metrics::ApiMetrics;
use super::budget::{Budget, Priority};
use super::model::ErrorBody;
use super::throttle::{Throttle, ThrottlePolicy, Verdict};
use crate::config::{EcwidConfig, Secret};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "Ecwid refused the access token for store {store_id} ({status}: {message}); {}",
        super::access::refusal_advice(message)
    )]
    Auth {
        store_id: u64,
        status: u16,
        message: String,
    },
    #[error("Ecwid answered {status} to {method} {path}: {message}")]
    Status {
        method: Method,
        path: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error(
        "Ecwid asked for a pause of {} s before the next request (Retry-After), longer than ecwid.max_retry_after_secs ({} s); nothing is sent before it has passed, and the next pass tries again",
        wait.as_secs_f64().ceil(), max.as_secs()
    )]
    CooledDown { wait: Duration, max: Duration },
    #[error(
        "Ecwid kept answering 429 Too Many Requests for {} s ({answers} answers, every wait honoured); waiting {} s more would pass ecwid.max_throttled_secs ({} s), so this pass stops here and the next pass tries again",
        throttled_for.as_secs(), wait.as_secs_f64().ceil(), max.as_secs()
    )]
    Throttled {
        throttled_for: Duration,
        answers: u64,
        wait: Duration,
        max: Duration,
    },
    #[error(
        "cannot reach Ecwid at {address}: tried for {} s, and a one-off command gives up after ecwid.unreachable_give_up_secs ({} s); check the network and ecwid.api_base, then run it again",
        tried_for.as_secs(), max.as_secs()
    )]
    Unreachable {
        address: String,
        tried_for: Duration,
        max: Duration,
        #[source]
        source: Box<ApiError>,
    },
    #[error("{method} {path} failed before Ecwid answered")]
    Transport {
        method: Method,
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot send the request: {detail}")]
    Request { detail: String },
    #[error("unexpected answer to {method} {path}: {detail}")]
    Decode {
        method: Method,
        path: String,
        detail: String,
    },
}

impl ApiError {
    /// Whether sending the same request again may succeed (the contract's retry policy:
    /// 429, 449, 5xx and transport errors).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Transport { .. } => true,
            ApiError::Status { status, .. } => *status == 429 || *status == 449 || *status >= 500,
            ApiError::Auth { .. }
            | ApiError::Decode { .. }
            | ApiError::CooledDown { .. }
            | ApiError::Throttled { .. }
            | ApiError::Unreachable { .. }
            | ApiError::Request { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } | ApiError::Auth { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Counts over the client's lifetime; a run's summary takes the difference of two snapshots.
#[derive(Default, Debug)]
pub struct Counters {
    requests: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
}

impl std::ops::Sub for CounterSnapshot {
    type Output = CounterSnapshot;
    fn sub(self, rhs: Self) -> Self {
        CounterSnapshot {
            requests: self.requests - rhs.requests,
            throttled: self.throttled - rhs.throttled,
            retries: self.retries - rhs.retries,
        }
    }
}

/// A cheap-to-clone handle; all clones share the budget and the counters.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    priority: Priority,
}

struct Inner {
    http: reqwest::Client,
    store_id: u64,
    /// `ecwid.api_base`, named in what the log and errors say about an unreachable store.
    api_base: String,
    store_base: String,
    token: Secret,
    budget: Budget,
    max_retries: usize,
    throttle_policy: ThrottlePolicy,
    /// Shared by every caller: one store, one throttling.
    throttle: Mutex<Throttle>,
    /// Held by the one request that, while the store throttles, finds out whether it takes
    /// requests again. Callers released together at the end of a wait would otherwise all
    /// send at once, and every one after the first would arrive inside the next cool-down.
    probe: tokio::sync::Mutex<()>,
    /// How long a one-off command keeps trying a store it cannot reach; `None` for the
    /// daemon, whose passes come again anyway.
    give_up_unreachable: Option<Duration>,
    /// Shared by every caller, so that the bound is the pass's and one warning tells of it.
    outage: Mutex<Option<Outage>>,
    counters: Counters,
    metrics: ApiMetrics,
}

/// Since when no request has reached the store: from a failure to connect (or any failure
/// before an answer) to the next answer of any kind.
#[derive(Clone, Copy, Debug)]
struct Outage {
    since: tokio::time::Instant,
    /// Whether the outage's first failed attempt has been logged as a warning: one per
    /// outage, not one per request and retry.
    warned: bool,
}

impl Client {
    /// A client for a one-off command (`sync`, `push`): a store it cannot reach fails the
    /// command after `ecwid.unreachable_give_up_secs`, so nobody waits minutes for nothing.
    pub fn new(config: &EcwidConfig) -> Result<Client, ApiError> {
        Self::build(
            config,
            ApiMetrics::default(),
            Some(config.unreachable_give_up),
        )
    }

    /// The daemon's client: counts its requests into `metrics` (the daemon's `/metrics`),
    /// and keeps trying a store it cannot reach.
    pub fn for_daemon(config: &EcwidConfig, metrics: ApiMetrics) -> Result<Client, ApiError> {
        Self::build(config, metrics, None)
    }

    fn build(
        config: &EcwidConfig,
        metrics: ApiMetrics,
        give_up_unreachable: Option<Duration>,
    ) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("ecwid-sync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ApiError::Transport {
                method: Method::GET,
                path: "/".into(),
                source,
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                store_id: config.store_id,
                api_base: config.api_base.clone(),
                store_base: format!("{}/{}", config.api_base, config.store_id),
                token: config.token.clone(),
                budget: Budget::new(config.requests_per_minute, config.burst),
                max_retries: config.max_retries,
                throttle_policy: ThrottlePolicy {
                    max_wait: config.max_retry_after,
                    max_throttled: config.max_throttled,
                },
                throttle: Mutex::new(Throttle::default()),
                probe: tokio::sync::Mutex::new(()),
                give_up_unreachable,
                outage: Mutex::new(None),
                counters: Counters::default(),
                metrics,
            }),
            priority: Priority::Urgent,
        })
    }

    /// A handle on the same budget whose requests yield to every other handle's: for bulk
    /// pulls, so that pushes and webhook deltas never queue behind them.
    pub fn bulk(&self) -> Client {
        Client {
            inner: self.inner.clone(),
            priority: Priority::Bulk,
        }
    }

    pub fn counters(&self) -> CounterSnapshot {
        let c = &self.inner.counters;
        CounterSnapshot {
            requests: c.requests.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
        }
    }

    /// GET with retries: reads are idempotent, so every retryable failure is tried again.
    pub async fn get_bytes(&self, path: &str, query: &[(&str, String)]) -> Result<Bytes, ApiError> {
        Ok(self.get_answer(path, query).await?.body)
    }

    /// GET and parse the JSON answer, with the server's clock reading from the answer's
    /// `Date` header (unix seconds), when it sent one.
    pub async fn get_json_dated<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<(T, Option<i64>), ApiError> {
        let answer = self.get_answer(path, query).await?;
        let value = serde_json::from_slice(&answer.body).map_err(|e| ApiError::Decode {
            method: Method::GET,
            path: path.to_string(),
            detail: e.to_string(),
        })?;
        Ok((value, answer.server_time))
    }

    async fn get_answer(&self, path: &str, query: &[(&str, String)]) -> Result<Answer, ApiError> {
        self.send_with_retry(Method::GET, path, query, None).await
    }

    /// Sends with retries and parses the JSON answer. Only for requests that may run twice
    /// without harm: reads, and writes Ecwid deduplicates (keyed batches).
    pub(super) async fn send_json_with_retry<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let answer = self
            .send_with_retry(method.clone(), path, query, body)
            .await?;
        serde_json::from_slice(&answer.body).map_err(|e| ApiError::Decode {
            method,
            path: path.to_string(),
            detail: e.to_string(),
        })
    }

    async fn send_with_retry(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ApiError> {
        let attempt = || self.send_through_throttling(method.clone(), path, query, body);
        attempt
            .retry(self.backoff())
            .sleep(tokio::time::sleep)
            .when(ApiError::is_retryable)
            .adjust(|err, planned| self.before_retry(err, planned))
            .await
            .map_err(|err| self.unreachable_error(err))
    }

    /// One request, sent again after every 429 until the store answers otherwise. The
    /// waits are the budget's pause, set by `send_once`; a 429 spends none of the retries
    /// meant for failures, and ends in an error only past `ecwid.max_throttled_secs`.
    async fn send_through_throttling(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ApiError> {
        loop {
            match self.send_once(method.clone(), path, query, body).await {
                Err(err) if err.status() == Some(429) => continue,
                other => return other,
            }
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(500))
            .with_max_delay(Duration::from_secs(60))
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.inner.max_retries)
    }

    /// Called before each retry of a failure (5xx, 449, network; 429s never get here).
    fn before_retry(&self, err: &ApiError, planned: Option<Duration>) -> Option<Duration> {
        let mut planned = planned?;
        if matches!(err, ApiError::Transport { .. }) {
            planned = self.before_retry_unreachable(err, planned)?;
        } else {
            // Operators tailing the log should see a struggling store, not a silent pause.
            tracing::warn!(error = %crate::errors::error_chain(err), retry_in_ms = planned.as_millis() as u64, "request failed; retrying");
        }
        self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
        self.inner.metrics.retries.inc();
        Some(planned)
    }

    /// The retry after a request that did not reach the store: the outage's first is a
    /// warning (a one-off command on a terminal shows that it waits, and for what), later
    /// ones are not. A one-off command's last wait is cut to its bound; `None` once the
    /// bound has passed.
    fn before_retry_unreachable(&self, err: &ApiError, planned: Duration) -> Option<Duration> {
        let inner = &self.inner;
        let mut outage = self.outage_state();
        let now = tokio::time::Instant::now();
        let outage = outage.get_or_insert(Outage {
            since: now,
            warned: false,
        });
        let tried_for = now.saturating_duration_since(outage.since);
        let planned = match inner.give_up_unreachable {
            Some(bound) => planned.min(
                bound
                    .checked_sub(tried_for)
                    .filter(|left| !left.is_zero())?,
            ),
            None => planned,
        };
        let gives_up_in_secs = inner
            .give_up_unreachable
            .map(|bound| bound.saturating_sub(tried_for).as_secs());
        let error = crate::errors::error_chain(err);
        let next_attempt_in_secs = (planned.as_secs_f64() * 10.0).round() / 10.0;
        if std::mem::replace(&mut outage.warned, true) {
            tracing::info!(address = %inner.api_base, %error, next_attempt_in_secs, gives_up_in_secs, "still cannot reach Ecwid; trying again");
        } else {
            tracing::warn!(address = %inner.api_base, %error, next_attempt_in_secs, gives_up_in_secs, "cannot reach Ecwid; trying again");
        }
        Some(planned)
    }

    /// A one-off command's request that never reached the store fails naming the address
    /// and the bound, rather than with the last connection error alone.
    fn unreachable_error(&self, err: ApiError) -> ApiError {
        let Some(max) = self.inner.give_up_unreachable else {
            return err;
        };
        let outage = *self.outage_state();
        match (&err, outage) {
            (ApiError::Transport { .. }, Some(outage)) => ApiError::Unreachable {
                address: self.inner.api_base.clone(),
                tried_for: outage.since.elapsed(),
                max,
                source: Box::new(err),
            },
            _ => err,
        }
    }

    /// Whole after every call, so a poisoned lock is still good to use.
    fn outage_state(&self) -> std::sync::MutexGuard<'_, Option<Outage>> {
        self.inner
            .outage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The store answered: an outage, if there was one, is over.
    fn reached(&self) {
        if let Some(outage) = self.outage_state().take() {
            tracing::info!(
                address = %self.inner.api_base,
                secs = outage.since.elapsed().as_secs(),
                "Ecwid can be reached again"
            );
        }
    }

    /// One request, no retry. Public for writes whose retry needs a decision of its own
    /// (a non-idempotent request must not be resent blindly).
    pub async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ApiError> {
        let inner = &self.inner;
        self.check_pause()?;
        let waiting = std::time::Instant::now();
        inner.budget.acquire(self.priority).await;
        let _probe = self.probe_while_throttled().await?;
        inner
            .metrics
            .budget_wait_seconds
            .inc_by(waiting.elapsed().as_secs_f64());
        inner.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = inner
            .http
            .request(method.clone(), format!("{}{}", inner.store_base, path))
            .query(query)
            .bearer_auth(inner.token.expose())
            .header(header::CONTENT_TYPE, "application/json;charset=utf-8");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let transport = |source: reqwest::Error| ApiError::Transport {
            method: method.clone(),
            path: path.to_string(),
            // The URL carries no secret (the token travels in a header), but error text
            // stays short without it.
            source: source.without_url(),
        };
        let response = request.send().await.map_err(|e| {
            inner.metrics.answered(method.as_str(), path, None);
            transport(e)
        })?;
        self.reached();
        let status = response.status();
        inner
            .metrics
            .answered(method.as_str(), path, Some(status.as_u16()));
        let header_text = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let retry_after = header_text(header::RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let server_time = header_text(header::DATE)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64);
        // Ecwid often puts its explanation in the status line rather than the body.
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned());
        let body = response.bytes().await.map_err(transport)?;
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.throttled(retry_after)?;
        } else {
            self.answered();
        }
        if status.is_success() {
            return Ok(Answer { body, server_time });
        }
        let message = error_message(status, reason, &body);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ApiError::Auth {
                store_id: inner.store_id,
                status: status.as_u16(),
                message,
            });
        }
        Err(ApiError::Status {
            method,
            path: path.to_string(),
            status: status.as_u16(),
            message,
            retry_after,
        })
    }
}

impl Client {
    /// A 429 arrived: holds every caller back for the wait the throttling calls for, or
    /// fails when it asks for more than the configuration allows.
    fn throttled(&self, retry_after: Option<Duration>) -> Result<(), ApiError> {
        let inner = &self.inner;
        inner.counters.throttled.fetch_add(1, Ordering::Relaxed);
        inner.metrics.throttled.inc();
        inner.metrics.throttled_now.set(1);
        let verdict = self.throttle_state().on_throttled(
            tokio::time::Instant::now(),
            retry_after,
            chance(),
            &inner.throttle_policy,
        );
        // Every caller waits from now on, not only this one when it retries: a request
        // sent before Retry-After has passed prolongs Ecwid's cool-down. This holds for the
        // failures too, so the next pass does not send early either.
        let wait = match verdict {
            Verdict::Wait { wait, .. }
            | Verdict::TooLongPause { wait }
            | Verdict::GiveUp { wait, .. } => wait,
        };
        inner.budget.pause_for(wait);
        let retry_after_secs = retry_after.map(|d| d.as_secs());
        match verdict {
            Verdict::Wait { first: true, .. } => {
                tracing::warn!(
                    retry_after_secs,
                    max_throttled_secs = inner.throttle_policy.max_throttled.as_secs(),
                    "Ecwid is throttling requests (429); every request waits what Ecwid asks, longer only if it goes on well past that"
                );
            }
            Verdict::Wait { wait, .. } => {
                tracing::debug!(
                    retry_after_secs,
                    wait_ms = wait.as_millis() as u64,
                    "throttled again"
                );
            }
            Verdict::TooLongPause { wait } => {
                return Err(ApiError::CooledDown {
                    wait,
                    max: inner.throttle_policy.max_wait,
                });
            }
            Verdict::GiveUp {
                wait,
                throttled_for,
                answers,
            } => {
                return Err(ApiError::Throttled {
                    throttled_for,
                    answers,
                    wait,
                    max: inner.throttle_policy.max_throttled,
                });
            }
        }
        Ok(())
    }

    /// While the store throttles, waits for the turn to send the one request in flight and
    /// for the pause after the previous one's answer; `None` (no turn needed) otherwise.
    /// Checked after the budget's wait as well as before it, since a 429 may have arrived
    /// meanwhile.
    async fn probe_while_throttled(
        &self,
    ) -> Result<Option<tokio::sync::MutexGuard<'_, ()>>, ApiError> {
        if !self.is_throttled() {
            return Ok(None);
        }
        let probe = self.inner.probe.lock().await;
        if !self.is_throttled() {
            return Ok(None);
        }
        self.check_pause()?;
        self.inner.budget.pause_over().await;
        Ok(Some(probe))
    }

    fn is_throttled(&self) -> bool {
        self.throttle_state().is_throttled()
    }

    /// The state is whole after every call (no call can panic halfway), so a poisoned lock
    /// is still good to use.
    fn throttle_state(&self) -> std::sync::MutexGuard<'_, Throttle> {
        self.inner
            .throttle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An answer other than 429: the throttling, if there was any, is over.
    fn answered(&self) {
        let ended = self.throttle_state().on_answer(tokio::time::Instant::now());
        if let Some(ended) = ended {
            self.inner.metrics.throttled_now.set(0);
            tracing::info!(
                secs = ended.lasted.as_secs(),
                answers = ended.answers,
                "Ecwid stopped throttling"
            );
        }
    }

    /// Fails at once when Ecwid asked for a pause longer than we are willing to wait out:
    /// the pass ends with the wait in its message, instead of sitting silent for minutes or
    /// sending early.
    fn check_pause(&self) -> Result<(), ApiError> {
        let max = self.inner.throttle_policy.max_wait;
        match self.inner.budget.pause_remaining() {
            Some(wait) if wait > max => Err(ApiError::CooledDown { wait, max }),
            _ => Ok(()),
        }
    }
}

/// A number in [0, 1) for the throttling's jitter. Std's per-map random keys are seeded from
/// the system, which is all the spread a jitter needs, without a dependency for it.
fn chance() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A successful answer.
pub struct Answer {
    pub body: Bytes,
    /// The server's `Date` header in unix seconds: the store's clock, for cursors.
    pub server_time: Option<i64>,
}

/// Ecwid's message from the body (`errorMessage`, or the batch docs' `error_message`), else
/// the status line's own reason, else the standard one.
fn error_message(status: StatusCode, reason: Option<String>, body: &[u8]) -> String {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .and_then(|b| b.error_message)
        .or(reason)
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        })
}
