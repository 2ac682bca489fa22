//! Row 11: what a storm of 429 answers costs a one-off `sync`, against what Ecwid asked for.

use std::process::Stdio;
use std::time::Instant;

use serde_json::json;

use crate::Knobs;
use crate::common::{TestStore, spawn_ecwid_sync};
use crate::daemon::Setup;
use crate::report::{Row, Target, median, runs};

/// Answers of 429 in the storm, each with `Retry-After: 1`.
const STORM: u64 = 15;

/// Seconds a one-off `sync` into a fresh mirror takes, after the store answers `storm`
/// requests with 429 first.
async fn sync_secs(store: &TestStore, storm: u64) -> f64 {
    let setup = Setup::new(store, "", "[sync]\noverlap_secs = 0");
    store.set_faults(json!({"storm_429_requests": storm})).await;
    let started = Instant::now();
    let status = spawn_ecwid_sync(&setup.config, &["sync"], Stdio::null())
        .wait()
        .await
        .expect("sync runs");
    assert!(status.success(), "sync through a storm of {storm} succeeds");
    started.elapsed().as_secs_f64()
}

pub async fn run(knobs: Knobs) -> Vec<Row> {
    let store = TestStore::start(TestStore::small()).await;
    let asked = STORM as f64;
    let mut ratios = Vec::new();
    for _ in 0..knobs.runs() {
        let calm = sync_secs(&store, 0).await;
        let stormy = sync_secs(&store, STORM).await;
        let recover = stormy - calm;
        eprintln!(
            "   sync {calm:.2} s without the storm, {stormy:.2} s with it: {recover:.2} s to recover, {asked} s asked"
        );
        ratios.push(recover / asked);
    }
    let ratio = median(ratios.clone());
    vec![
        Row::new(
            "11",
            format!("429 storm of {STORM} answers: seconds to recover / seconds Ecwid asked"),
            ratio,
            format!("{ratio:.2} x"),
        )
        .target(Target::AtMost(2.0))
        .detail(format!(
            "a one-off sync's time with the storm (Retry-After: 1 each) less its time without, over the {asked} s the answers asked for; {}",
            runs(&ratios)
        )),
    ]
}
