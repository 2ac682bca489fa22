//! What `/healthz` and `/readyz` report, and the record of passes they read.
//!
//! Liveness is narrow on purpose: the process answers and its writer can take the mirror's
//! write lock. Readiness adds what makes the mirror trustworthy: migrated, schedules
//! running, and passes not failing for longer than `webhooks.ready_max_failing_secs`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use serde::Serialize;

/// Pass outcomes, recorded by the daemon's schedule loop.
#[derive(Debug, Default)]
pub struct PassHealth {
    schedules_running: AtomicBool,
    /// Unix time of the first of the passes failing since the last success; 0 while the
    /// last pass succeeded (or none ran yet).
    failing_since: AtomicI64,
    /// Unix time the last successful pass ended; 0 before the first.
    last_success: AtomicI64,
    /// Why the store stopped for good (a refused token, a mirror it cannot keep), while the
    /// daemon goes on with its other stores.
    stopped: Mutex<Option<String>>,
}

impl PassHealth {
    pub fn set_schedules_running(&self, running: bool) {
        self.schedules_running.store(running, Ordering::SeqCst);
    }

    pub fn pass_succeeded(&self, now: i64) {
        self.failing_since.store(0, Ordering::SeqCst);
        self.last_success.store(now, Ordering::SeqCst);
    }

    /// Only the first failure in a row sets the time: readiness measures how long passes
    /// have kept failing.
    pub fn pass_failed(&self, now: i64) {
        let _ = self
            .failing_since
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The store stopped for `reason` and stays stopped until a restart or a reload.
    pub fn store_stopped(&self, reason: String) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
    }

    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn schedules_running(&self) -> bool {
        self.schedules_running.load(Ordering::SeqCst)
    }

    pub fn failing_since(&self) -> Option<i64> {
        Some(self.failing_since.load(Ordering::SeqCst)).filter(|&t| t > 0)
    }

    pub fn last_success(&self) -> Option<i64> {
        Some(self.last_success.load(Ordering::SeqCst)).filter(|&t| t > 0)
    }
}

/// `/healthz`'s answer.
#[derive(Debug, Serialize)]
pub struct Liveness {
    pub alive: bool,
    pub mirror_writable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Liveness {
    /// `probe`: the writer's answer to a trivial write-locked job (the schema version).
    pub fn from_probe(probe: &Result<i64, String>) -> Liveness {
        Liveness {
            alive: true,
            mirror_writable: probe.is_ok(),
            error: probe.as_ref().err().cloned(),
        }
    }

    pub fn ok(&self) -> bool {
        self.mirror_writable
    }
}

/// `/readyz`'s answer.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub migrated: bool,
    pub mirror_writable: bool,
    pub schedules_running: bool,
    /// When passes started failing (unix seconds), while they do.
    pub passes_failing_since: Option<i64>,
    pub last_successful_pass: Option<i64>,
    /// Why it is not ready, one line each.
    pub problems: Vec<String>,
}

impl Readiness {
    /// Decides readiness from the writer's probe (the schema version), the schedule's
    /// state, and the time (unix seconds).
    pub fn decide(
        probe: &Result<i64, String>,
        expected_schema: i64,
        passes: &PassHealth,
        now: i64,
        max_failing_secs: i64,
    ) -> Readiness {
        let mut problems = Vec::new();
        // The writer migrated the mirror when it opened it; a probe that cannot run says
        // nothing against that, only about writing.
        let migrated = match probe {
            Ok(version) if *version == expected_schema => true,
            Ok(version) => {
                problems.push(format!(
                    "the mirror has schema version {version}, expected {expected_schema}"
                ));
                false
            }
            Err(e) => {
                problems.push(format!("the mirror cannot be written: {e}"));
                true
            }
        };
        let schedules_running = passes.schedules_running();
        if let Some(reason) = passes.stopped() {
            problems.push(format!("the store stopped: {reason}"));
        } else if !schedules_running {
            problems.push("the pull schedules are not running".into());
        }
        let failing_since = passes.failing_since();
        if let Some(since) = failing_since
            && now - since > max_failing_secs
        {
            problems.push(format!(
                "passes have kept failing for {} s (webhooks.ready_max_failing_secs = {max_failing_secs}); see `ecwid-sync status` and the log",
                now - since
            ));
        }
        Readiness {
            ready: problems.is_empty(),
            migrated,
            mirror_writable: probe.is_ok(),
            schedules_running,
            passes_failing_since: failing_since,
            last_successful_pass: passes.last_success(),
            problems,
        }
    }
}

/// The answer of a health endpoint for every store: with one store, that store's own
/// answer as it always was; with several, whether all are fine and which are not, then each
/// store's answer under its name. Either way the stores' answers are under `stores`.
pub fn per_store<T: Serialize>(
    stores: &[(&str, T)],
    ok: impl Fn(&T) -> bool,
) -> (bool, serde_json::Value) {
    let all_ok = stores.iter().all(|(_, answer)| ok(answer));
    let each: serde_json::Map<String, serde_json::Value> = stores
        .iter()
        .map(|(name, answer)| (name.to_string(), serde_json::json!(answer)))
        .collect();
    let mut body = match stores {
        [(_, only)] => serde_json::json!(only),
        _ => {
            let failing: Vec<&str> = stores
                .iter()
                .filter(|(_, answer)| !ok(answer))
                .map(|(name, _)| *name)
                .collect();
            serde_json::json!({ "ok": all_ok, "failing_stores": failing })
        }
    };
    body["stores"] = serde_json::Value::Object(each);
    (all_ok, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn running() -> PassHealth {
        let p = PassHealth::default();
        p.set_schedules_running(true);
        p
    }

    #[test]
    fn ready_once_migrated_and_scheduled_even_before_the_first_pass_ends() {
        let r = Readiness::decide(&Ok(4), 4, &running(), NOW, 1800);
        assert!(r.ready, "{r:?}");
        let idle = PassHealth::default();
        let r = Readiness::decide(&Ok(4), 4, &idle, NOW, 1800);
        assert!(!r.ready && r.problems[0].contains("schedules"), "{r:?}");
        let r = Readiness::decide(&Ok(3), 4, &running(), NOW, 1800);
        assert!(!r.ready && !r.migrated, "{r:?}");
        let r = Readiness::decide(&Err("locked".into()), 4, &running(), NOW, 1800);
        assert!(!r.ready && r.problems[0].contains("locked"), "{r:?}");
        assert!(r.migrated && !r.mirror_writable, "{r:?}");
    }

    #[test]
    fn a_stopped_store_is_not_ready_and_says_why() {
        let p = running();
        p.store_stopped("the token is refused".into());
        let r = Readiness::decide(&Ok(4), 4, &p, NOW, 1800);
        assert!(!r.ready, "{r:?}");
        assert_eq!(r.problems, ["the store stopped: the token is refused"]);
    }

    #[test]
    fn several_stores_answer_which_are_failing_and_one_store_answers_as_before() {
        let fine = Readiness::decide(&Ok(4), 4, &running(), NOW, 1800);
        let (ok, one) = per_store(&[("default", fine)], |r| r.ready);
        assert!(ok && one["ready"] == true && one["stores"]["default"]["ready"] == true);
        let fine = Readiness::decide(&Ok(4), 4, &running(), NOW, 1800);
        let broken = Readiness::decide(&Err("locked".into()), 4, &running(), NOW, 1800);
        let (ok, body) = per_store(&[("north", fine), ("south", broken)], |r| r.ready);
        assert!(!ok);
        assert_eq!(body["failing_stores"], serde_json::json!(["south"]));
        assert_eq!(body["stores"]["north"]["ready"], true);
        assert!(
            body["stores"]["south"]["problems"][0]
                .as_str()
                .unwrap()
                .contains("locked")
        );
    }

    #[test]
    fn failing_passes_make_it_unready_only_past_the_allowed_time_and_a_success_clears_it() {
        let p = running();
        p.pass_failed(NOW - 1800);
        // A later failure does not move the start of the failing spell.
        p.pass_failed(NOW - 10);
        assert!(Readiness::decide(&Ok(4), 4, &p, NOW, 1800).ready);
        let r = Readiness::decide(&Ok(4), 4, &p, NOW + 1, 1800);
        assert!(!r.ready && r.problems[0].contains("1801 s"), "{r:?}");
        assert_eq!(r.passes_failing_since, Some(NOW - 1800));
        p.pass_succeeded(NOW + 2);
        let r = Readiness::decide(&Ok(4), 4, &p, NOW + 3, 1800);
        assert!(r.ready);
        assert_eq!(r.last_successful_pass, Some(NOW + 2));
    }
}
