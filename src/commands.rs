//! What each subcommand does. `main` only parses, sets up logging and turns a
//! [`CommandError`] into one line on stderr and an exit code.

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::{Config, ConfigError, SecretEnv, Stores, Warning};
use crate::daemon::{self, DaemonError};
use crate::ecwid::{ApiError, Client, Patience};
use crate::errors::error_chain;
use crate::exit_code;
use crate::kind::Kind;
use crate::mirror::{self, MirrorError, MirrorWriter};
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
mod status;

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
        Command::Status {
            json,
            mirror,
            store,
        } => status::execute(&cli.config, store.name(), mirror, json),
        Command::CheckConfig => {
            if let Some(level) = &cli.log_level {
                crate::config::check_level("--log-level", level)?;
            }
            check_config(&cli.config)
        }
        Command::Sync { full, only, store } => {
            let config = load_store(&cli.config, store.name())?;
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
        Command::Push { store } => {
            let config = load_store(&cli.config, store.name())?;
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
        Command::Outbox { action, store } => outbox::execute(&cli.config, store.name(), action),
        Command::Conflicts { action, store } => {
            conflicts::execute(&cli.config, store.name(), action)
        }
        Command::Customer { action, store } => customer::execute(&cli.config, store.name(), action),
        Command::Run => {
            let stores = Stores::load(&cli.config, &SecretEnv::from_process())?;
            let main = &stores.stores[0].config;
            init_logging(&cli.log_format, &cli.log_level, Some(main))?;
            for store in &stores.stores {
                for warning in store.config.warnings(&store.file) {
                    tracing::warn!(store = %store.name, key = warning.key, "{warning}");
                }
            }
            let (reload_tx, asked) = tokio::sync::mpsc::channel(1);
            signals::listen(shutdown.clone(), Hangup::Reload(reload_tx));
            let reloads = Reloads {
                asked,
                load: reload_loader(cli.config.clone(), &cli.log_level, main),
            };
            let outcome = daemon::run(&stores, Some(reloads), shutdown, || {
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            })
            .await;
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
            Ok(outcome?)
        }
    }
}

/// The configuration of the store named by `--store`, or of the only store configured;
/// every store's file is validated on the way.
fn load_store(path: &Path, store: Option<&str>) -> Result<Config, ConfigError> {
    let stores = Stores::load(path, &SecretEnv::from_process())?;
    Ok(stores.select(store)?.config.clone())
}

/// `check-config`: every store valid, its mirror path usable, warnings on stderr (so that
/// stdout stays configurations that parse back), each store printed with secrets masked.
fn check_config(path: &Path) -> Result<(), CommandError> {
    let stores = Stores::load(path, &SecretEnv::from_process())?;
    let single = stores.is_single();
    for store in &stores.stores {
        mirror::check_path(&store.config.mirror.path).map_err(|e| match single {
            true => CommandError::usage(e),
            false => CommandError::usage(format!("{}: {e}", store.file.display())),
        })?;
    }
    // The listener's and the console's warnings are every store's: said once.
    let mut warnings: Vec<Warning> = Vec::new();
    for store in &stores.stores {
        for warning in store.config.warnings(&store.file) {
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
    }
    for warning in &warnings {
        eprintln!("ecwid-sync: warning: {warning}");
    }
    if let [only] = stores.stores.as_slice() {
        emit(&format!(
            "# {}: valid\n{}\n",
            path.display(),
            only.config.to_masked_toml()
        ));
        return Ok(());
    }
    let mut out = String::new();
    outln!(
        out,
        "# {}: valid, {} stores",
        path.display(),
        stores.stores.len()
    );
    for store in &stores.stores {
        outln!(
            out,
            "\n# store {}: {}\n{}",
            store.name,
            store.file.display(),
            store.config.to_masked_toml()
        );
    }
    emit(&out);
    Ok(())
}

/// Reads the configuration again as `run` read it at start. A level chosen by
/// `--log-level` or `RUST_LOG` wins over the file's, as it did at start, so the file's
/// never applies.
fn reload_loader(path: PathBuf, flag_level: &Option<String>, started: &Config) -> Load {
    let pinned_level = (flag_level.is_some() || crate::logging::level_from_env())
        .then(|| started.log.level.clone());
    Box::new(move || {
        let mut stores = Stores::load(&path, &SecretEnv::from_process())?;
        if let Some(level) = &pinned_level {
            for store in &mut stores.stores {
                store.config.log.level = level.clone();
            }
        }
        Ok(stores)
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

pub use crate::when::{fmt_bytes, fmt_time};
