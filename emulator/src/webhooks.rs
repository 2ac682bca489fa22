//! The webhook sender: signs each event, delivers it asynchronously, retries on the
//! documented schedule (compressed by `time_scale`) and can duplicate or reorder deliveries.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::{mpsc, watch};

use crate::error::{ApiError, ApiResult};
use crate::stats::Stats;
use crate::store::Event;

/// `PUT /_emulator/webhooks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub duplicate_rate: f64,
    pub reorder: bool,
    /// Retry horizon in hours (the docs say 24 in one place and 48 in another); default 24.
    pub retry_hours: Option<f64>,
}

impl WebhookSettings {
    pub fn validate(&self) -> ApiResult<()> {
        if !(0.0..=1.0).contains(&self.duplicate_rate) {
            return Err(ApiError::bad_request(
                "Field duplicate_rate must be between 0 and 1",
            ));
        }
        if self
            .retry_hours
            .is_some_and(|h| !(0.0..=1000.0).contains(&h))
        {
            return Err(ApiError::bad_request(
                "Field retry_hours must be between 0 and 1000",
            ));
        }
        if let Some(url) = &self.url
            && reqwest::Url::parse(url).is_err()
        {
            return Err(ApiError::bad_request(format!(
                "Field url is not a valid URL: '{url}'"
            )));
        }
        Ok(())
    }
}

/// `Base64(HMAC-SHA256(client_secret, "{eventCreated}.{eventId}"))`, as the contract says.
pub fn signature(client_secret: &str, event_created: i64, event_id: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(format!("{event_created}.{event_id}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Delays between attempts after a failure: 4 x 15 min, then hourly up to 24 h in total.
pub fn retry_delays(time_scale: f64) -> Vec<Duration> {
    retry_delays_within(time_scale, 24.0)
}

/// The documented schedule cut at `hours` after the first attempt, divided by `time_scale`.
pub fn retry_delays_within(time_scale: f64, hours: f64) -> Vec<Duration> {
    let scale = if time_scale.is_finite() && time_scale > 0.0 {
        time_scale
    } else {
        1.0
    };
    let horizon = hours.clamp(0.0, 1000.0) * 60.0;
    let mut minutes = Vec::new();
    let mut elapsed = 0.0;
    while minutes.len() < 4 && elapsed + 15.0 <= horizon {
        minutes.push(15.0);
        elapsed += 15.0;
    }
    while minutes.len() >= 4 && elapsed + 60.0 <= horizon {
        minutes.push(60.0);
        elapsed += 60.0;
    }
    minutes
        .into_iter()
        .map(|m| Duration::try_from_secs_f64(m * 60.0 / scale).unwrap_or(Duration::MAX))
        .collect()
}

/// What a receiver may answer for a delivery to count (the newer platform's list).
fn delivered(status: u16) -> bool {
    matches!(status, 200 | 201 | 202 | 204 | 209)
}

/// The handle mutations use: events go to a channel, the worker does the network work.
pub struct Webhooks {
    events_tx: mpsc::UnboundedSender<Event>,
    settings: Arc<RwLock<WebhookSettings>>,
}

impl Webhooks {
    pub fn enqueue(&self, events: Vec<Event>) {
        for e in events {
            // A closed channel means the emulator is shutting down: nothing to deliver to.
            let _ = self.events_tx.send(e);
        }
    }

    pub fn settings(&self) -> WebhookSettings {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn set(&self, s: WebhookSettings) -> ApiResult<()> {
        s.validate()?;
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = s;
        Ok(())
    }
}

pub struct WorkerConfig {
    pub store_id: u64,
    pub client_secret: String,
    pub time_scale: f64,
    pub seed: u64,
}

/// Starts the sender. It stops when `shutdown_rx` fires; pending retries are dropped.
pub fn start(
    cfg: WorkerConfig,
    initial: WebhookSettings,
    stats: Arc<Stats>,
    shutdown_rx: watch::Receiver<bool>,
) -> Webhooks {
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let settings = Arc::new(RwLock::new(initial));
    tokio::spawn(run(cfg, events_rx, settings.clone(), stats, shutdown_rx));
    Webhooks {
        events_tx,
        settings,
    }
}

async fn run(
    cfg: WorkerConfig,
    mut events_rx: mpsc::UnboundedReceiver<Event>,
    settings: Arc<RwLock<WebhookSettings>>,
    stats: Arc<Stats>,
    mut shutdown_rx: watch::Receiver<bool>,
) {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(
        cfg.seed ^ 0x005e_ed0f_e7e4,
    )));
    loop {
        let event = tokio::select! {
            e = events_rx.recv() => match e { Some(e) => e, None => return },
            _ = shutdown_rx.changed() => return,
        };
        let s = settings.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(url) = s.url else { continue };
        let delays = Arc::new(retry_delays_within(
            cfg.time_scale,
            s.retry_hours.unwrap_or(24.0),
        ));
        let (event_id, duplicate, jitter) = {
            let mut r = rng.lock().unwrap_or_else(|e| e.into_inner());
            let id = crate::json::uuid_v4(r.random());
            let dup = s.duplicate_rate > 0.0 && r.random_bool(s.duplicate_rate.min(1.0));
            let jitter = s
                .reorder
                .then(|| Duration::from_millis(r.random_range(0..200)));
            (id, dup, jitter)
        };
        let mut body = json!({
            "eventId": event_id,
            "eventType": event.event_type,
            "eventCreated": event.created,
            "storeId": cfg.store_id,
            "entityId": event.entity_id,
        });
        if let Some(data) = &event.data {
            body["data"] = data.clone();
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        let delivery = Delivery {
            client: client.clone(),
            url: format!("{url}{sep}eventtype={}", event.event_type),
            body: serde_json::to_vec(&body).unwrap_or_default(),
            signature: signature(&cfg.client_secret, event.created, &event_id),
            stats: stats.clone(),
            delays,
        };
        let copies = if duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let d = delivery.clone();
            let shutdown = shutdown_rx.clone();
            tokio::spawn(async move { d.run(jitter, shutdown).await });
        }
    }
}

#[derive(Clone)]
struct Delivery {
    client: reqwest::Client,
    url: String,
    body: Vec<u8>,
    signature: String,
    stats: Arc<Stats>,
    delays: Arc<Vec<Duration>>,
}

impl Delivery {
    async fn run(self, jitter: Option<Duration>, mut shutdown_rx: watch::Receiver<bool>) {
        if let Some(j) = jitter {
            tokio::select! {
                _ = tokio::time::sleep(j) => {}
                _ = shutdown_rx.changed() => return,
            }
        }
        for attempt in 0..=self.delays.len() {
            self.stats.webhooks_sent.fetch_add(1, Ordering::Relaxed);
            let result = self
                .client
                .post(&self.url)
                .header("Content-Type", "application/json; charset=UTF-8")
                .header("X-Ecwid-Webhook-Signature", &self.signature)
                .body(self.body.clone())
                .send()
                .await;
            match result {
                Ok(resp) if delivered(resp.status().as_u16()) => {
                    self.stats
                        .webhooks_delivered
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(resp) => {
                    tracing::debug!(url = %self.url, status = resp.status().as_u16(), attempt, "webhook refused");
                    self.stats.webhooks_failed.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::debug!(url = %self.url, error = %e, attempt, "webhook delivery failed");
                    self.stats.webhooks_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            let Some(delay) = self.delays.get(attempt) else {
                break;
            };
            tokio::select! {
                _ = tokio::time::sleep(*delay) => {}
                _ = shutdown_rx.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_signature_test_vector() {
        assert_eq!(
            signature(
                "abcde123456789",
                1469429912,
                "08a78904-0aa0-4c1a-953a-2e33c56236f0"
            ),
            "AT6vx56ZwtETOr5EEUtgZC3aJqzCZ1Ccl++RUFVEjP4="
        );
    }

    #[test]
    fn retry_schedule_spans_a_day() {
        let d = retry_delays(1.0);
        assert_eq!(&d[..4], &[Duration::from_secs(900); 4]);
        let total: Duration = d.iter().sum();
        assert_eq!(total, Duration::from_secs(24 * 3600));
        assert_eq!(retry_delays(60.0)[0], Duration::from_secs(15));
        assert_eq!(retry_delays(1.0).len() + 1, 28, "attempts in 24 h");
        let two_days: Duration = retry_delays_within(1.0, 48.0).iter().sum();
        assert_eq!(two_days, Duration::from_secs(48 * 3600));
        assert_eq!(retry_delays_within(1.0, 0.5).len(), 2);
        assert!(retry_delays_within(1.0, 0.0).is_empty());
    }
}
