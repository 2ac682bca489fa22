//! ecwid-sync keeps a SQLite mirror of an Ecwid store in sync with the store.
//!
//! Layers, bottom to top; a module imports only from its own layer or lower ones, never in
//! a cycle (`tests/layers.rs` holds the code to this list):
//! 0. leaf helpers: `config`, `credentials`, `errors`, `exit_code`, `kind`, `log_summary`,
//!    `logging`, `version`, `when`;
//! 1. the two sides kept in sync: `ecwid`, `mirror`;
//! 2. the engine: `sync`;
//! 3. `freshness`;
//! 4. the running service: `console`, `daemon`, `health`, `listener`, `metrics`, `reload`,
//!    `server`, `signals`, `webhooks`;
//! 5. the command line: `cli`, `commands`.
//!
//! - [`cli`]: the command line definitions.
//! - [`commands`]: what each subcommand does (called by `main`), `demo` among them: a local
//!   emulated store mirrored end to end.
//! - [`console`]: the operator console: what needs a person, settled in a browser.
//! - [`config`]: the TOML configuration, secrets, validation and warnings.
//! - [`credentials`]: a systemd credential read outside its service: the unit's source file.
//! - [`daemon`]: schedules, the worker that runs passes, and shutdown.
//! - [`ecwid`]: the Ecwid API client, its request budget, waiting out throttling, its
//!   request metrics, and the document model.
//! - [`errors`]: an error and its causes on one line.
//! - [`exit_code`]: the exit codes, and which of them the service manager restarts after.
//! - [`freshness`]: whether each kind is pulled as often as its schedule says: on time,
//!   late, failing or never pulled, in plain words.
//! - [`health`]: what `/healthz` and `/readyz` report.
//! - [`kind`]: the kinds of entity mirrored and where each lives.
//! - [`listener`]: the accept loop of `run`'s listener: deadlines and a cap on connections.
//! - [`log_summary`]: one line per minute for a log event that may repeat by the thousand.
//! - [`logging`]: text or JSON logs.
//! - [`metrics`]: the Prometheus metrics served at `/metrics`, gathered into one registry.
//! - [`mirror`]: the SQLite side: schema, the single writer, upserts, status queries, the
//!   operator's actions and their record,
//!   the webhook inbox and webhook gaps, and privacy requests (erasure, export).
//! - [`reload`]: SIGHUP in the daemon: the configuration read again and applied.
//! - [`server`]: the HTTP listener of `run`: webhooks, health, metrics.
//! - [`signals`]: what each signal does: stop, reload, or a log line.
//! - [`sync`]: the engine: full and incremental pulls, the delta worker that turns
//!   webhook events into mirror changes, and the pusher that sends local changes to Ecwid;
//!   the pulls' and pushes' metrics.
//! - [`version`]: the version with the commit and date it was built from.
//! - [`webhooks`]: signed webhooks received into the mirror's durable inbox.
//! - [`when`]: times and sizes as the CLI and the console print them.

pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod credentials;
pub mod daemon;
pub mod ecwid;
pub mod errors;
pub mod exit_code;
pub mod freshness;
pub mod health;
pub mod kind;
pub mod listener;
pub mod log_summary;
pub mod logging;
pub mod metrics;
pub mod mirror;
pub mod reload;
pub mod server;
pub mod signals;
pub mod sync;
pub mod version;
pub mod webhooks;
pub mod when;
