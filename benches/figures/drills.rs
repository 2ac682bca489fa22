//! Rows 8 and 9: the crash and fault drills of the test suite, at full size.

use std::time::Duration;

use crate::Knobs;
use crate::common::drills::{crash_drill, crash_store, fault_drill};
use crate::report::{Row, Target};

/// Row 8: rounds of kill -9 during full pulls, webhook processing and pushing.
pub async fn crash(knobs: Knobs) -> Vec<Row> {
    let rounds = knobs.size(20, 6);
    let store = crash_store(knobs.size(3000, 230));
    let report = crash_drill(store, rounds, 8, Duration::from_secs(60)).await;
    for failure in &report.failures {
        eprintln!("   {failure}");
    }
    let [pulls, webhooks, pushes] = report.kills;
    let created = report.created;
    vec![
        Row::new(
            "8",
            "crash drill: rounds passed / rounds",
            report.passed as f64 / rounds as f64,
            format!("{} / {rounds}", report.passed),
        )
        .target(Target::All)
        .detail(format!(
            "kill -9 during full pulls in {pulls} rounds (sync --full, then the daemon resuming it), while applying webhook events in {webhooks}, while pushing in {pushes} ({created} new products asked for with the stock changes of those rounds); after each restart: integrity_check ok, mirror equal to the store, every stock quantity = start + local changes - sales, every new product in the store exactly once{}",
            if report.failures.is_empty() { String::new() } else { format!("; failures: {}", report.failures.join(" | ")) }
        )),
    ]
}

/// Row 9: waves of changes and sales against a store that fails in every way it can.
pub async fn faults(knobs: Knobs) -> Vec<Row> {
    let seeds = knobs.size(5, 1) as u64;
    let (mut converged, mut off, mut uncertain, mut otherwise, mut storms, mut errors) =
        (0, 0, 0, 0, 0, 0);
    for seed in 1..=seeds {
        let report = fault_drill(seed, 8, Duration::from_secs(120)).await;
        eprintln!(
            "   seed {seed}: converged {}, units off {}, uncertain {}, 429 answers {}, 5xx {}",
            report.converged.is_ok(),
            report.units_off,
            report.uncertain,
            report.answered_429,
            report.answered_5xx
        );
        if let Err(why) = &report.converged {
            eprintln!("   {}", why.lines().next().unwrap_or_default());
        }
        converged += report.converged.is_ok() as usize;
        off += report.units_off;
        uncertain += report.uncertain;
        otherwise += report.otherwise;
        storms += report.answered_429;
        errors += report.answered_5xx;
    }
    let setting = format!(
        "{seeds} seeded runs of 8 waves (12 local changes and 3 sales each): 5% 500/503, 2% dropped connections (half after applying), a storm of 15 answers of 429 at the 5th wave, search lag 1 s; {storms} 429 and {errors} 5xx answers in all"
    );
    vec![
        Row::new("9a", "fault drill: runs converged / runs", converged as f64 / seeds as f64, format!("{converged} / {seeds}"))
            .target(Target::All)
            .detail(setting),
        Row::new("9b", "fault drill: stock units lost or doubled", off as f64, off.to_string())
            .target(Target::AtMost(0.0))
            .detail(format!("|store - (start + changes - sales)| summed over every entity; failed or conflicting changes: {otherwise}")),
        Row::new("9c", "fault drill: uncertain changes", uncertain as f64, uncertain.to_string())
            .target(Target::AtMost(0.0))
            .detail("within the key lifetime every change is settled by its batch"),
    ]
}
