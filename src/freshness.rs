// TEMPORARY STUB (replaced by the query branch)
use crate::mirror::state::KindState;
pub enum FreshState {
    OnTime,
    Late,
    Failing,
    NeverPulled,
}
pub struct Freshness {
    pub state: FreshState,
    pub last_success: Option<i64>,
    pub expected_every_secs: i64,
    pub reason: String,
}
pub fn freshness(_k: &KindState, _s: &crate::config::SyncConfig, _now: i64) -> Freshness {
    Freshness {
        state: FreshState::OnTime,
        last_success: None,
        expected_every_secs: 0,
        reason: String::new(),
    }
}
