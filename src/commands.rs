//! What each subcommand does. `main` only parses, sets up logging and turns a
//! [`CommandError`] into one line on stderr and an exit code.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::{Config, ConfigError, SecretEnv};
use crate::daemon::{self, DaemonError};
use crate::ecwid::{ApiError, Client, Patience};
use crate::errors::error_chain;
use crate::exit_code;
use crate::kind::Kind;
use crate::mirror::{self, MirrorError, MirrorWriter, state};
use crate::reload::{Load, Reloads};
use crate::signals::{self, Hangup};
use crate::sync::progress::ProgressMode;
use crate::sync::push::{PushSummary, Pusher};
use crate::sync::{PullError, Puller, RunSummary};

/// `writeln!` into a `String`, which cannot fail.
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

mod conflicts;
mod customer;
pub mod demo;
mod generate;
mod outbox;
mod shorten;

/// A command's failure: the line for stderr and the exit code (see [`crate::exit_code`]).
#[derive(Debug)]
pub struct CommandError {
    pub code: i32,
    pub message: String,
}

impl CommandError {
    fn usage(message: impl Into<String>) -> Self {
        CommandError {
            code: exit_code::USAGE,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for CommandError {
    fn from(e: ConfigError) -> Self {
        CommandError::usage(e.to_string())
    }
}

impl From<DaemonError> for CommandError {
    fn from(e: DaemonError) -> Self {
        let api = match &e {
            DaemonError::Api(api) | DaemonError::Pull(PullError::Api(api)) => Some(api),
            _ => None,
        };
        let mirror = match &e {
            DaemonError::Mirror(m) | DaemonError::Pull(PullError::Mirror(m)) => Some(m),
            _ => None,
        };
        let code = match (api, mirror) {
            // Restarting cannot free a port another program holds, nor fix an address.
            _ if matches!(
                e,
                DaemonError::Listen { .. } | DaemonError::ConsoleToken { .. }
            ) =>
            {
                exit_code::USAGE
            }
            (Some(ApiError::Auth { .. }), _) => exit_code::TOKEN_REFUSED,
            (_, Some(MirrorError::Busy { .. } | MirrorError::BusyElsewhere { .. })) => {
                exit_code::MIRROR_BUSY
            }
            // A mirror (directory) ecwid-sync may not write, a path that is no mirror, or a
            // mirror from a newer ecwid-sync: restarting cannot help.
            (
                _,
                Some(
                    MirrorError::Lock { .. }
                    | MirrorError::ReadOnly { .. }
                    | MirrorError::IsDirectory { .. }
                    | MirrorError::NotADatabase { .. }
                    | MirrorError::NotAMirror { .. }
                    | MirrorError::NotADemo { .. }
                    | MirrorError::TooNew { .. },
                ),
            ) => exit_code::USAGE,
            (_, Some(MirrorError::Unwritable { .. })) => exit_code::MIRROR_UNWRITABLE,
            (_, Some(MirrorError::Replaced { .. })) => exit_code::MIRROR_LOST,
            _ => exit_code::FAILED,
        };
        CommandError {
            code,
            message: error_chain(&e),
        }
    }
}

impl From<PullError> for CommandError {
    fn from(e: PullError) -> Self {
        DaemonError::from(e).into()
    }
}

impl From<ApiError> for CommandError {
    fn from(e: ApiError) -> Self {
        DaemonError::from(e).into()
    }
}

impl From<mirror::MirrorError> for CommandError {
    fn from(e: mirror::MirrorError) -> Self {
        DaemonError::from(e).into()
    }
}

/// Runs the parsed command line.
pub async fn execute(cli: Cli) -> Result<(), CommandError> {
    let shutdown = CancellationToken::new();
    match cli.command {
        Command::Demo { products, db, once } => {
            init_logging(&cli.log_format, &cli.log_level, None)?;
            signals::listen(shutdown.clone(), Hangup::Stop);
            demo::run(products, &db, once, shutdown).await
        }
        Command::Status { json, mirror } => {
            let path = match mirror {
                Some(path) => path,
                None => load(&cli.config)
                    .map_err(|e| {
                        CommandError::usage(format!(
                            "{e}; to read a mirror without the configuration: ecwid-sync status --mirror PATH"
                        ))
                    })?
                    .mirror
                    .path,
            };
            print_status(&path, json)
        }
        Command::CheckConfig => {
            if let Some(level) = &cli.log_level {
                crate::config::check_level("--log-level", level)?;
            }
            let config = load(&cli.config)?;
            mirror::check_path(&config.mirror.path).map_err(CommandError::usage)?;
            // On stderr, so that stdout stays a configuration that parses back.
            for warning in config.warnings(&cli.config) {
                eprintln!("ecwid-sync: warning: {warning}");
            }
            emit(&format!(
                "# {}: valid\n{}\n",
                cli.config.display(),
                config.to_masked_toml()
            ));
            Ok(())
        }
        Command::Sync { full, only } => {
            let config = load(&cli.config)?;
            init_logging(&cli.log_format, &cli.log_level, Some(&config))?;
            let kinds = if only.is_empty() {
                config.sync.kinds.clone()
            } else {
                crate::config::parse_kinds("--only", &only)?
            };
            signals::listen(shutdown.clone(), Hangup::Stop);
            let client = Client::new(&config.ecwid)?;
            if !client.check_token(Patience::Retry, &shutdown).await? {
                return Ok(());
            }
            pass_with(&config, client, &kinds, full, ProgressMode::Auto, shutdown).await?;
            Ok(())
        }
        Command::Push => {
            let config = load(&cli.config)?;
            init_logging(&cli.log_format, &cli.log_level, Some(&config))?;
            signals::listen(shutdown.clone(), Hangup::Stop);
            let summary = push_once(&config, shutdown).await?;
            emit(&outbox::summary_line(&summary));
            Ok(())
        }
        Command::Completions { shell } => {
            emit(&generate::completions(shell));
            Ok(())
        }
        Command::ManPages { dir } => generate::man_pages(&dir),
        Command::Outbox { action } => outbox::execute(&cli.config, action),
        Command::Conflicts { action } => conflicts::execute(&cli.config, action),
        Command::Customer { action } => customer::execute(&cli.config, action),
        Command::Run => {
            let config = load(&cli.config)?;
            init_logging(&cli.log_format, &cli.log_level, Some(&config))?;
            for warning in config.warnings(&cli.config) {
                tracing::warn!(key = warning.key, "{warning}");
            }
            let (reload_tx, asked) = tokio::sync::mpsc::channel(1);
            signals::listen(shutdown.clone(), Hangup::Reload(reload_tx));
            let reloads = Reloads {
                asked,
                load: reload_loader(cli.config.clone(), &cli.log_level, &config),
            };
            let outcome = daemon::run(&config, Some(reloads), shutdown, || {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            })
            .await;
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            Ok(outcome?)
        }
    }
}

fn load(path: &Path) -> Result<Config, ConfigError> {
    Config::load(path, &SecretEnv::from_process())
}

/// Reads `path` again as `run` read it at start. A level chosen by `--log-level` or
/// `RUST_LOG` wins over the file's, as it did at start, so the file's never applies.
fn reload_loader(path: PathBuf, flag_level: &Option<String>, started: &Config) -> Load {
    let pinned_level = (flag_level.is_some() || crate::logging::level_from_env())
        .then(|| started.log.level.clone());
    Box::new(move || {
        let mut config = load(&path)?;
        if let Some(level) = &pinned_level {
            config.log.level = level.clone();
        }
        Ok(config)
    })
}

fn init_logging(
    format: &Option<crate::cli::LogFormatArg>,
    level: &Option<String>,
    config: Option<&Config>,
) -> Result<(), CommandError> {
    if let Some(level) = level {
        crate::config::check_level("--log-level", level)?;
    }
    let format = format
        .map(Into::into)
        .or(config.map(|c| c.log.format))
        .unwrap_or(crate::config::LogFormat::Text);
    let level = level
        .clone()
        .or(config.map(|c| c.log.level.clone()))
        .unwrap_or_else(|| "info".to_string());
    crate::logging::init(format, &level);
    Ok(())
}

/// One pass over `kinds`. A shutdown mid-pass is a clean stop, not a failure.
pub async fn sync_once(
    config: &Config,
    kinds: &[Kind],
    full: bool,
    progress: ProgressMode,
    shutdown: CancellationToken,
) -> Result<Vec<RunSummary>, DaemonError> {
    let client = Client::new(&config.ecwid)?;
    pass_with(config, client, kinds, full, progress, shutdown).await
}

/// [`sync_once`] with a client that may have asked the store already: one client, so one
/// request budget and one throttling state.
async fn pass_with(
    config: &Config,
    client: Client,
    kinds: &[Kind],
    full: bool,
    progress: ProgressMode,
    shutdown: CancellationToken,
) -> Result<Vec<RunSummary>, DaemonError> {
    let writer = MirrorWriter::open(&config.mirror, shutdown.clone())?;
    writer
        .set_privacy_policy(config.privacy.order_fields.clone())
        .await?;
    let puller = Puller::new(client, writer, &config.sync, progress, shutdown);
    let outcome = puller.pass(kinds, full).await;
    puller.checkpoint().await;
    match outcome {
        Ok(summaries) => Ok(summaries),
        Err(PullError::Interrupted) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// One pass of the pusher over the outbox (see [`crate::sync::push`]).
pub async fn push_once(
    config: &Config,
    shutdown: CancellationToken,
) -> Result<PushSummary, CommandError> {
    let writer = MirrorWriter::open(&config.mirror, shutdown)?;
    writer
        .set_privacy_policy(config.privacy.order_fields.clone())
        .await?;
    let client = Client::new(&config.ecwid)?;
    let pusher = Pusher::new(client, writer)
        .with_key_lifetime(config.push.key_lifetime)
        .with_policies(config.conflicts)
        .with_deletes(config.push.deletes);
    Ok(pusher.push_once().await?)
}

fn print_status(path: &Path, json: bool) -> Result<(), CommandError> {
    let conn = mirror::open_read_only(path)?;
    let report = state::Status::read(&conn, path).map_err(|source| MirrorError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if json {
        let text = serde_json::to_string_pretty(&report).expect("status serializes");
        emit(&format!("{text}\n"));
        return Ok(());
    }
    let mut out = String::new();
    outln!(out, "ecwid-sync {}", report.version);
    outln!(out, "mirror: {}", path.display());
    outln!(
        out,
        "daemon: {}",
        match (report.daemon.pid, report.daemon.running) {
            (Some(pid), true) => format!("running (pid {pid})"),
            (Some(pid), false) => format!("not running (last pid {pid})"),
            (None, _) => "not running".to_string(),
        }
    );
    if let Some(stall) = &report.daemon.write_stall {
        let verb = if report.daemon.running {
            "failing"
        } else {
            "failed"
        };
        outln!(
            out,
            "mirror writes: {verb} since {} ({}): {}",
            fmt_time(Some(stall.since)),
            stall.problem,
            stall.error
        );
    }
    // The daemon keeps the log under 64 MiB by itself; beyond that a reader holds it.
    let hint = if report.wal_bytes > 64 * 1024 * 1024 {
        " (a reader keeps a transaction open, so it cannot be emptied; see fuser/lsof on it)"
    } else {
        ""
    };
    outln!(
        out,
        "write-ahead log: {}{hint}",
        fmt_bytes(report.wal_bytes)
    );
    if let Some(webhooks) = &report.webhooks {
        print_webhooks(&mut out, webhooks);
    }
    if let Some(outbox) = &report.outbox {
        outbox::print_status(&mut out, outbox);
    }
    if let Some(privacy) = &report.privacy {
        customer::print_status(&mut out, privacy);
    }
    outln!(
        out,
        "{:<11} {:>8} {:>9}  {:<20} {:<20} {:<20}  last error",
        "kind",
        "rows",
        "children",
        "cursor",
        "last full",
        "last incremental"
    );
    for k in &report.kinds {
        outln!(
            out,
            "{:<11} {:>8} {:>9}  {:<20} {:<20} {:<20}  {}",
            k.kind,
            k.rows,
            k.child_rows
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into()),
            fmt_time(k.state.cursor),
            fmt_time(k.state.last_full_finished),
            fmt_time(k.state.last_incremental),
            k.state.last_error.as_deref().unwrap_or("-"),
        );
    }
    for k in report.kinds.iter().filter(|k| k.state.count_mismatches > 0) {
        outln!(
            out,
            "{}: latest-stats' count differed from the mirror's rows {} time(s), each time scheduling a full pull (store count then: {})",
            k.kind,
            k.state.count_mismatches,
            k.state
                .count_mismatch_store
                .map_or_else(|| "-".into(), |n| n.to_string()),
        );
    }
    for k in report.kinds.iter().filter(|k| k.rows_repaired > 0) {
        outln!(
            out,
            "{}: {} row(s) repaired by full pulls (they disagreed with Ecwid's documents: something wrote the mirror around ecwid-sync; see the log's warnings)",
            k.kind,
            k.rows_repaired,
        );
    }
    for k in report.kinds.iter().filter(|k| k.quarantine.count > 0) {
        outln!(
            out,
            "{}: {} quarantined (documents that do not fit the model; their rows keep the last copy that did, and every pass reads them again):",
            k.kind,
            k.quarantine.count
        );
        for q in &k.quarantine.first {
            outln!(
                out,
                "  {}: {} (since {}, last read {})",
                q.key,
                q.error,
                fmt_time(Some(q.first_seen)),
                fmt_time(Some(q.last_seen)),
            );
        }
        let more = k.quarantine.count - k.quarantine.first.len() as i64;
        if more > 0 {
            outln!(
                out,
                "  ... and {more} more (table `quarantine` in the mirror)"
            );
        }
    }
    emit(&out);
    Ok(())
}

/// Writes a command's output to stdout. A reader that stops early (`status | head`) is not
/// an error: what it did not read, it did not want.
fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("ecwid-sync: cannot write the output: {e}");
        }
        _ => {}
    }
}

fn print_webhooks(out: &mut String, w: &crate::mirror::inbox::WebhookStatus) {
    let oldest = w
        .oldest_pending_age_secs
        .map(|age| format!(" (oldest received {age} s ago)"))
        .unwrap_or_default();
    outln!(
        out,
        "webhook events: {} pending{oldest}; last received {}",
        w.pending,
        match w.last_received_at {
            Some(at) => fmt_time(Some(at)),
            None => "never".to_string(),
        }
    );
    let gaps: Vec<String> = w
        .gaps
        .iter()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    outln!(
        out,
        "webhook gaps (changes pulls found that no webhook had announced): {}",
        gaps.join(", ")
    );
}

pub use crate::when::{fmt_bytes, fmt_time};
