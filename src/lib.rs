//! ecwid-sync keeps a SQLite mirror of an Ecwid store in sync with the store.
//!
//! - [`cli`]: the command line definitions.
//! - [`commands`]: what each subcommand does (called by `main`).
//! - [`config`]: the TOML configuration, secrets and validation.
//! - [`daemon`]: schedules, the worker that runs passes, and shutdown.
//! - [`demo`]: `ecwid-sync demo`, a local emulated store mirrored end to end.
//! - [`ecwid`]: the Ecwid API client, its request budget, waiting out throttling, and the
//!   document model.
//! - [`errors`]: an error and its causes on one line.
//! - [`kind`]: the kinds of entity mirrored and where each lives.
//! - [`logging`]: text or JSON logs.
//! - [`mirror`]: the SQLite side: schema, the single writer, upserts, status queries, the
//!   webhook inbox and webhook gaps.
//! - [`sync`]: the engine: full and incremental pulls, and the delta worker that turns
//!   webhook events into mirror changes.

pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod ecwid;
pub mod errors;
pub mod kind;
pub mod logging;
pub mod mirror;
pub mod sync;
