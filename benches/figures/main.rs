//! Every figure the project promises, from one run of a release build: `cargo bench`.
//!
//! The emulator runs inside this process with a generated store; `ecwid-sync` runs as a
//! separate process, as a shop runs it. Each section prints what it does as it goes; at the
//! end one table, also written to `target/bench/results.json`.
//!
//! `ECWID_SYNC_BENCH_QUICK=1` measures small sizes, once each (about two minutes);
//! `ECWID_SYNC_BENCH_ONLY=pull,push` runs only the named sections (pull, limited, quiet,
//! ack, sales, burst, push, crash, faults, storm, create, stores).

#[path = "../../tests/common/mod.rs"]
mod common;

mod create;
mod daemon;
mod drills;
mod pull;
mod push;
mod report;
mod stores;
mod storm;
mod webhooks;

use std::future::Future;
use std::time::Instant;

use report::Row;

/// The sections, in the order they run; `ECWID_SYNC_BENCH_ONLY` names some of them.
const SECTIONS: [&str; 12] = [
    "pull", "limited", "quiet", "ack", "sales", "burst", "push", "crash", "faults", "storm",
    "create", "stores",
];

/// How big and how often: the full run, or the quick one.
#[derive(Clone, Copy)]
pub struct Knobs {
    pub quick: bool,
}

impl Knobs {
    /// Runs behind each median.
    pub fn runs(self) -> usize {
        if self.quick { 1 } else { 3 }
    }

    pub fn size(self, full: usize, quick: usize) -> usize {
        if self.quick { quick } else { full }
    }
}

/// Runs one section on its own task, so that one that breaks leaves a "not measured" row
/// instead of taking the other figures with it.
async fn section<F>(
    rows: &mut Vec<Row>,
    only: &Option<Vec<String>>,
    id: &'static str,
    name: &str,
    run: F,
) where
    F: Future<Output = Vec<Row>> + Send + 'static,
{
    if only
        .as_ref()
        .is_some_and(|names| !names.iter().any(|n| n == name))
    {
        return;
    }
    eprintln!("== {name}");
    let started = Instant::now();
    match tokio::spawn(run).await {
        Ok(measured) => rows.extend(measured),
        Err(e) => {
            let why = match e.try_into_panic() {
                Ok(panic) => panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "it panicked".into()),
                Err(e) => e.to_string(),
            };
            eprintln!("   {name} broke: {why}");
            rows.push(Row::not_measured(id, name, &why));
        }
    }
    eprintln!("   {name}: {:.0} s", started.elapsed().as_secs_f64());
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not used.
    let quick = std::env::var("ECWID_SYNC_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let only: Option<Vec<String>> = std::env::var("ECWID_SYNC_BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    if let Some(unknown) = only
        .iter()
        .flatten()
        .find(|name| !SECTIONS.contains(&name.as_str()))
    {
        eprintln!(
            "ECWID_SYNC_BENCH_ONLY: unknown section {unknown:?}; the sections are {}",
            SECTIONS.join(", ")
        );
        std::process::exit(2);
    }
    let knobs = Knobs { quick };
    let started = Instant::now();
    let mut rows = Vec::new();
    section(&mut rows, &only, "1", "pull", pull::unlimited(knobs)).await;
    section(&mut rows, &only, "2", "limited", pull::limited(knobs)).await;
    section(&mut rows, &only, "3", "quiet", pull::quiet(knobs)).await;
    section(&mut rows, &only, "4", "ack", webhooks::acknowledge(knobs)).await;
    section(&mut rows, &only, "4", "sales", webhooks::sales(knobs)).await;
    section(&mut rows, &only, "5", "burst", webhooks::burst(knobs)).await;
    section(&mut rows, &only, "6", "push", push::run(knobs)).await;
    section(&mut rows, &only, "8", "crash", drills::crash(knobs)).await;
    section(&mut rows, &only, "9", "faults", drills::faults(knobs)).await;
    section(&mut rows, &only, "11", "storm", storm::run(knobs)).await;
    section(&mut rows, &only, "12", "create", create::run(knobs)).await;
    section(&mut rows, &only, "13", "stores", stores::run(knobs)).await;
    // By row number, then letter: 1a, 1b, 2a, ..., 10b.
    rows.sort_by_key(|r| {
        let digits = r.id.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        (digits.parse::<u32>().unwrap_or(u32::MAX), r.id)
    });
    let secs = started.elapsed().as_secs_f64();
    println!();
    println!(
        "ecwid-sync figures ({} run, {:.0} s):",
        if quick { "quick" } else { "full" },
        secs
    );
    report::print_table(&rows);
    for row in rows.iter().filter(|r| !r.detail.is_empty()) {
        println!("{:>4}  {}", row.id, row.detail);
    }
    match report::write_json(&rows, quick, secs) {
        Ok(path) => println!("written to {}", path.display()),
        Err(e) => {
            eprintln!("could not write the figures: {e}");
            std::process::exit(1);
        }
    }
    // A target missed is a finding the table shows; a section that could not measure is a
    // broken benchmark.
    if rows.iter().any(|r| r.figure == "not measured") {
        std::process::exit(1);
    }
}
