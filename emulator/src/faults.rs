//! Fault injection for `/api/v3/...`: error rates, latency, dropped connections and 429
//! storms, drawn from a seeded generator so a run is reproducible.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};

/// The body of `PUT /_emulator/faults`; every field optional, missing = off.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSettings {
    pub seed: u64,
    pub error_500_rate: f64,
    pub error_503_rate: f64,
    pub latency_ms: u64,
    pub drop_before_apply_rate: f64,
    pub drop_after_apply_rate: f64,
    pub storm_429_requests: u64,
    pub path_contains: Option<String>,
    /// `Retry-After` of every 429 (storms and the rate limiter) when above 0: a long
    /// cool-down such as the platform gives a token that keeps exceeding the limit.
    pub retry_after_secs: u64,
    /// Seconds before searches see a write (CONTRACT.md 17.2); applies to all API paths.
    pub index_lag_secs: f64,
    /// Query parameters dropped before a request is served, as live Ecwid drops the ones it
    /// does not know (or no longer knows): `["ids"]` answers an id lookup with the
    /// unfiltered listing. Applies to all API paths.
    pub ignored_params: Vec<String>,
    /// The names `latest-stats` gives the counts it is asked for: Ecwid's Java SDK reads
    /// `productCount`, the REST reference's field table says `productCountRequired`, and a
    /// client must understand a store answering either way.
    pub count_names: CountNames,
}

/// How `latest-stats` names its counts.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CountNames {
    /// `productCount`, `categoryCount` (Ecwid's Java SDK).
    #[default]
    Sdk,
    /// `productCountRequired`, `categoryCountRequired` (the REST reference's field table).
    Reference,
}

impl CountNames {
    /// The field names for the product count and the category count.
    pub fn fields(self) -> (&'static str, &'static str) {
        match self {
            CountNames::Sdk => ("productCount", "categoryCount"),
            CountNames::Reference => ("productCountRequired", "categoryCountRequired"),
        }
    }
}

impl FaultSettings {
    pub fn validate(&self) -> ApiResult<()> {
        let rates = [
            ("error_500_rate", self.error_500_rate),
            ("error_503_rate", self.error_503_rate),
            ("drop_before_apply_rate", self.drop_before_apply_rate),
            ("drop_after_apply_rate", self.drop_after_apply_rate),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(ApiError::bad_request(format!(
                    "Field {name} must be between 0 and 1"
                )));
            }
        }
        if !(self.index_lag_secs.is_finite() && (0.0..=86_400.0).contains(&self.index_lag_secs)) {
            return Err(ApiError::bad_request(
                "Field index_lag_secs must be between 0 and 86400",
            ));
        }
        if self.retry_after_secs > 86_400 {
            return Err(ApiError::bad_request(
                "Field retry_after_secs must be at most 86400",
            ));
        }
        if self.latency_ms > 600_000 {
            return Err(ApiError::bad_request(
                "Field latency_ms must be at most 600000",
            ));
        }
        if rates.iter().map(|(_, r)| r).sum::<f64>() > 1.0 + 1e-9 {
            return Err(ApiError::bad_request(
                "The fault rates must add up to at most 1",
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    None,
    Storm429,
    Error500,
    Error503,
    DropBefore,
    /// Apply the request, then close the connection without answering (mutations only).
    DropAfter,
}

impl FaultAction {
    /// The answer an injected error stands for; `None` for the other actions.
    pub fn injected_error(self) -> Option<ApiError> {
        match self {
            FaultAction::Error500 => Some(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error (injected)",
            )),
            FaultAction::Error503 => Some(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable (injected)",
            )),
            _ => None,
        }
    }
}

pub struct Decision {
    pub latency: Option<Duration>,
    pub action: FaultAction,
}

struct State {
    settings: FaultSettings,
    rng: ChaCha8Rng,
    storm_left: u64,
}

pub struct Faults {
    state: Mutex<State>,
    /// `index_lag_secs` as f64 bits, read by every search without taking the lock.
    index_lag: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new(0.0)
    }
}

impl Faults {
    pub fn new(index_lag_secs: f64) -> Faults {
        Faults {
            state: Mutex::new(State {
                settings: FaultSettings {
                    index_lag_secs,
                    ..FaultSettings::default()
                },
                rng: ChaCha8Rng::seed_from_u64(0),
                storm_left: 0,
            }),
            index_lag: AtomicU64::new(index_lag_secs.to_bits()),
        }
    }

    /// The search index lag in seconds (0 = searches see writes at once).
    pub fn index_lag(&self) -> f64 {
        f64::from_bits(self.index_lag.load(Ordering::Relaxed))
    }

    /// The query parameters to ignore, if any.
    pub fn ignored_params(&self) -> Vec<String> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.settings.ignored_params.clone()
    }

    /// The configured long `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<u64> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.settings.retry_after_secs > 0).then_some(s.settings.retry_after_secs)
    }

    /// How `latest-stats` names its counts.
    pub fn count_names(&self) -> CountNames {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.settings.count_names
    }

    pub fn settings(&self) -> FaultSettings {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .settings
            .clone()
    }

    /// Replaces the whole setting and restarts the random sequence from its seed.
    pub fn set(&self, settings: FaultSettings) -> ApiResult<()> {
        settings.validate()?;
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.rng = ChaCha8Rng::seed_from_u64(settings.seed);
        s.storm_left = settings.storm_429_requests;
        self.index_lag
            .store(settings.index_lag_secs.to_bits(), Ordering::Relaxed);
        s.settings = settings;
        Ok(())
    }

    /// One draw per API request: the rates are disjoint slices of [0, 1).
    pub fn decide(&self, path: &str, mutating: bool) -> Decision {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let none = Decision {
            latency: None,
            action: FaultAction::None,
        };
        if s.settings
            .path_contains
            .as_deref()
            .is_some_and(|p| !path.contains(p))
        {
            return none;
        }
        let latency =
            (s.settings.latency_ms > 0).then(|| Duration::from_millis(s.settings.latency_ms));
        if s.storm_left > 0 {
            s.storm_left -= 1;
            return Decision {
                latency,
                action: FaultAction::Storm429,
            };
        }
        let c = &s.settings;
        let (e500, e503, before, after) = (
            c.error_500_rate,
            c.error_503_rate,
            c.drop_before_apply_rate,
            c.drop_after_apply_rate,
        );
        if e500 + e503 + before + after <= 0.0 {
            return Decision {
                latency,
                action: FaultAction::None,
            };
        }
        let r: f64 = s.rng.random();
        let action = if r < e500 {
            FaultAction::Error500
        } else if r < e500 + e503 {
            FaultAction::Error503
        } else if r < e500 + e503 + before {
            FaultAction::DropBefore
        } else if r < e500 + e503 + before + after && mutating {
            FaultAction::DropAfter
        } else {
            FaultAction::None
        };
        Decision { latency, action }
    }
}

impl Faults {
    /// One draw for a batch sub-request: latency and the 500/503 rates apply, limited by
    /// `path_contains` as for direct calls. A sub-request has no connection to drop and does
    /// not pass the rate limiter, so drops and 429 storms stay with direct calls; without
    /// error rates nothing is drawn, so the direct calls' sequence is not disturbed.
    pub fn decide_sub_request(&self, path: &str) -> Decision {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let c = &s.settings;
        if c.path_contains
            .as_deref()
            .is_some_and(|p| !path.contains(p))
        {
            return Decision {
                latency: None,
                action: FaultAction::None,
            };
        }
        let latency = (c.latency_ms > 0).then(|| Duration::from_millis(c.latency_ms));
        let (e500, e503) = (c.error_500_rate, c.error_503_rate);
        let action = if e500 + e503 <= 0.0 {
            FaultAction::None
        } else {
            let r: f64 = s.rng.random();
            if r < e500 {
                FaultAction::Error500
            } else if r < e500 + e503 {
                FaultAction::Error503
            } else {
                FaultAction::None
            }
        };
        Decision { latency, action }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_honoured_and_deterministic() {
        let f = Faults::default();
        let settings = FaultSettings {
            seed: 7,
            error_500_rate: 0.2,
            error_503_rate: 0.1,
            ..Default::default()
        };
        f.set(settings.clone()).unwrap();
        let run = |f: &Faults| {
            (0..10_000)
                .map(|_| f.decide("/products", false).action)
                .collect::<Vec<_>>()
        };
        let a = run(&f);
        f.set(settings).unwrap();
        assert_eq!(a, run(&f));
        let e500 = a.iter().filter(|x| **x == FaultAction::Error500).count();
        let e503 = a.iter().filter(|x| **x == FaultAction::Error503).count();
        assert!((1800..2200).contains(&e500), "{e500}");
        assert!((850..1150).contains(&e503), "{e503}");
    }

    #[test]
    fn bad_rates_are_refused() {
        let f = Faults::default();
        assert!(
            f.set(FaultSettings {
                error_500_rate: 1.5,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            f.set(FaultSettings {
                error_500_rate: 0.6,
                error_503_rate: 0.6,
                ..Default::default()
            })
            .is_err()
        );
    }
}
