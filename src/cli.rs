//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{DEFAULT_CONFIG_PATH, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "ecwid-sync",
    version = crate::version::VERSION,
    about = "Keeps a SQLite mirror of an Ecwid store in sync with the store",
    long_about = "Keeps a SQLite mirror of an Ecwid store in sync with the store: products with \
their variations and stock, categories, orders with their items, and optionally customers. \
What tools change in the mirror (stock, prices, names, descriptions, visibility, categories, order \
statuses and notes, new products, deletions) goes back to the store.\n\n\
Start with `ecwid-sync demo`, which needs no configuration.",
    after_long_help = crate::exit_code::help_text()
)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "ECWID_SYNC_CONFIG", default_value = DEFAULT_CONFIG_PATH)]
    pub config: PathBuf,

    /// Log format; overrides [log] format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,

    /// Log level or filter (error, warn, info, debug, trace); overrides [log] level.
    #[arg(long, global = true)]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(value: LogFormatArg) -> Self {
        match value {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

/// `--store NAME`: which of the configured stores a command acts on.
#[derive(Debug, Args)]
pub struct StoreArg {
    /// The store to act on: its name, that of its file in stores.d/ beside the
    /// configuration file (`default` for the store the file itself configures). Needed when
    /// several stores are configured.
    // Global, so that `outbox --store a list` and `outbox list --store a` both work.
    #[arg(long, value_name = "NAME", global = true)]
    pub store: Option<String>,
}

impl StoreArg {
    pub fn name(&self) -> Option<&str> {
        self.store.as_deref()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: scheduled pulls, webhooks and pushes until SIGTERM, SIGQUIT or Ctrl-C.
    /// SIGHUP (systemctl reload) reads the configuration again and applies what may change
    /// while it runs.
    #[command(after_long_help = crate::exit_code::help_text())]
    Run,
    /// Run one pass (full for kinds never pulled), then exit: 0 on success.
    Sync {
        /// Pull every kind in full, removing what the store no longer has.
        #[arg(long)]
        full: bool,
        /// Only these kinds, comma-separated: products, categories, orders, customers.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Send the local changes tools made in the mirror to Ecwid, once, then exit: 0 when
    /// every batch has an outcome.
    ///
    /// Local changes are stock, prices, names, descriptions, visibility, SKUs, weights,
    /// categories, order statuses and notes, new products and deletions. The daemon (`run`)
    /// sends them by itself; this is for a mirror no daemon holds.
    Push {
        #[command(flatten)]
        store: StoreArg,
    },
    /// List the local changes on their way to Ecwid (stock, prices, names, statuses and the
    /// other writable fields, new products, deletions), settle one Ecwid's answers could not,
    /// or dismiss those Ecwid refused for good.
    Outbox {
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// List fields changed both in the mirror and in Ecwid, or settle one.
    Conflicts {
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        action: ConflictsAction,
    },
    /// Answer a customer's privacy request from what the mirror holds.
    Customer {
        #[command(flatten)]
        store: StoreArg,
        #[command(subcommand)]
        action: CustomerAction,
    },
    /// Show the daemon, the local changes and conflicts waiting, the webhook inbox, and each
    /// kind's rows, cursors, last runs and last error. Read-only; safe while the daemon runs.
    ///
    /// With several stores configured, one block per store, each headed by its name
    /// (--json: an object keyed by the stores' names), unless --store names one.
    Status {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read this mirror file instead of the configured mirror.path.
        #[arg(long, conflicts_with = "store")]
        mirror: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArg,
    },
    /// Validate the configuration and print it with secrets masked; warn on stderr about a
    /// listener open to the network or a token in a file others can read (exit code still 0).
    ///
    /// The stores' files in stores.d/ beside the configuration file are validated too, and
    /// each store is printed under a comment naming it and its file.
    CheckConfig,
    /// Start a local emulated store, mirror it into ./ecwid-demo.db and keep it in sync.
    Demo {
        /// How many products the emulated store has.
        #[arg(long, default_value_t = 3000)]
        products: usize,
        /// The mirror file to write. A mirror an earlier demo made there is replaced; any other
        /// file is refused.
        #[arg(long, default_value = "ecwid-demo.db")]
        db: PathBuf,
        /// Exit after the first pass instead of running until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
    /// Print the shell completion script for bash, zsh or fish to stdout.
    ///
    /// The package installs them already. By hand, for example:
    /// `ecwid-sync completions bash > /etc/bash_completion.d/ecwid-sync`,
    /// `ecwid-sync completions zsh > /usr/local/share/zsh/site-functions/_ecwid-sync`,
    /// `ecwid-sync completions fish > ~/.config/fish/completions/ecwid-sync.fish`.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    /// Write the man pages, ecwid-sync.1 and one per subcommand, into a directory (for
    /// packaging: `packaging/build-deb.sh`).
    #[command(name = "manpages", hide = true)]
    ManPages {
        /// The directory to write them into; it must exist.
        dir: PathBuf,
    },
}

/// The shells `completions` writes for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Subcommand)]
pub enum OutboxAction {
    /// List the local changes not yet settled (or those in one state), oldest first.
    ///
    /// Each is a stock adjustment, a new value of one of the other writable fields (prices,
    /// names, descriptions, order statuses...), a new product or a deletion, with the value
    /// it replaced. Orders are named by their public id. In the table, values longer than 60 characters are
    /// shortened, with their full length noted (also when piped); --json prints them whole.
    /// Read-only; safe while the daemon runs.
    List {
        /// Only changes in this state.
        #[arg(long, value_enum)]
        state: Option<OutboxState>,
        /// Print JSON, every value whole, instead of a table.
        #[arg(long)]
        json: bool,
        /// Read this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
    /// Settle an uncertain change after checking the store: --applied if Ecwid shows it,
    /// --resend if it does not (also sends a failed change again). Settles the changes sent
    /// with it for the same product or variation too. Safe while the daemon runs.
    #[command(group(clap::ArgGroup::new("how").required(true).args(["applied", "resend"])))]
    Resolve {
        /// The change's id, from `outbox list`.
        id: i64,
        /// The store shows the change: record it as applied.
        #[arg(long)]
        applied: bool,
        /// The store does not show it: send it again.
        #[arg(long)]
        resend: bool,
        /// Why, kept with who settled it in the record of operator actions (`outbox
        /// history`; up to 500 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Change this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
    /// End failed changes, which Ecwid refused for good, recording who, when and why.
    ///
    /// A failed change was refused by Ecwid for good (a product deleted in Ecwid, a value
    /// it does not accept). Dismissed, it is never sent, the mirror shows Ecwid's value
    /// again, and it stays in the outbox as `dismissed` with who dismissed it (the operator:
    /// $SUDO_USER, else $USER), when and why. Name one change by its id, or dismiss every
    /// failed change of a product (--product, with --variation for one variation), of an
    /// order (--order), of a category (--category) or of the whole outbox (--all-failed).
    /// Only failed changes can be dismissed: an uncertain one is settled with `outbox
    /// resolve`. Safe while the daemon runs.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "product", "order", "category", "all_failed"])))]
    Dismiss {
        /// The change's id, from `outbox list --state failed`.
        id: Option<i64>,
        /// Every failed change of this product and of its variations.
        #[arg(long)]
        product: Option<i64>,
        /// With --product: only the failed changes of this variation.
        #[arg(long, requires = "product")]
        variation: Option<i64>,
        /// Every failed change of this order, named by its public id (e.g. BK1G6) or its
        /// number.
        #[arg(long)]
        order: Option<String>,
        /// Every failed change of this category (its name or visibility).
        #[arg(long)]
        category: Option<i64>,
        /// Every failed change in the outbox (none failed is no error).
        #[arg(long)]
        all_failed: bool,
        /// Why the changes are dismissed, kept in each outbox row (up to 500 characters).
        #[arg(long)]
        reason: String,
        /// Change this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
    /// List what operators decided, newest first, with who, when, how, why and what it did.
    ///
    /// Changes sent again, recorded as applied or dismissed, and conflicts settled, from the
    /// command line or the console; refused attempts too (an id already settled, say). Kept
    /// in the mirror's `operator_actions`, never pruned. Read-only; safe while the daemon
    /// runs.
    History {
        /// Show at most this many, the newest.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
        /// Read this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutboxState {
    Pending,
    Sending,
    Failed,
    Uncertain,
    Applied,
    /// Failed changes the operator dismissed.
    Dismissed,
}

impl OutboxState {
    pub fn name(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Failed => "failed",
            OutboxState::Uncertain => "uncertain",
            OutboxState::Applied => "applied",
            OutboxState::Dismissed => "dismissed",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ConflictsAction {
    /// List the open conflicts (with --all, every one ever found), oldest first.
    ///
    /// Each shows the field, the value it had, the local and Ecwid's values and when each
    /// was made. Orders are named by their public id. Values longer than 60 characters are shortened, with their
    /// full length noted (also when piped); --json prints them whole. Read-only.
    List {
        /// Also those already resolved, by policy or by the operator.
        #[arg(long)]
        all: bool,
        /// Print JSON, every value whole, instead of a table.
        #[arg(long)]
        json: bool,
        /// Read this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
    /// Settle an open conflict: --take local sends the mirror's value to Ecwid, --take remote
    /// keeps Ecwid's. Safe while the daemon runs, which sends a local value within a second.
    Resolve {
        /// The conflict's id, from `conflicts list`.
        id: i64,
        /// Whose value the store keeps.
        #[arg(long, value_enum)]
        take: TakeSide,
        /// Why, kept with who settled it in the record of operator actions (`outbox
        /// history`; up to 500 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Change this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerAction {
    /// Print as JSON everything the mirror holds about a customer: their `customers` row
    /// and their orders (by customer id, and guest orders under their email) with items.
    ///
    /// For answering a personal data export request (customer.personalDataExportRequest):
    /// the log's warning names the customer id. Exit code 2 when the mirror holds nothing
    /// about them. Read-only; safe while the daemon runs.
    Export {
        /// The customer's id (digits) or email (any case).
        customer: String,
        /// Read this mirror file instead of the configured mirror.path.
        #[arg(long)]
        mirror: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TakeSide {
    Local,
    Remote,
}
