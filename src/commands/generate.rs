//! `completions` and `manpages`: shell completions and man pages generated from the same
//! command definitions as `--help`, so they cannot tell a different story.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use super::CommandError;
use crate::cli::{Cli, CompletionShell};
use crate::exit_code;

/// The completion script for `shell`.
pub fn completions(shell: CompletionShell) -> String {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(
        shell,
        &mut visible(Cli::command()),
        "ecwid-sync",
        &mut script,
    );
    String::from_utf8_lossy(&script).into_owned()
}

/// `cmd` without its hidden subcommands, which clap_complete would offer otherwise.
fn visible(cmd: clap::Command) -> clap::Command {
    let shown = cmd
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .cloned()
        .collect::<Vec<_>>();
    let about = cmd.get_about().cloned().unwrap_or_default();
    clap::Command::new("ecwid-sync")
        .version(crate::version::VERSION)
        .about(about)
        .args(cmd.get_arguments().cloned())
        .subcommands(shown)
}

/// Writes `ecwid-sync.1` and a page per (visible) subcommand, `ecwid-sync-outbox-list.1`
/// and so on, into `dir`, made first if it does not exist (as `install -d` would).
pub fn man_pages(dir: &Path) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir)
        .and_then(|()| clap_mangen::generate_to(Cli::command(), dir))
        .map_err(|e| CommandError {
            code: exit_code::USAGE,
            message: format!("cannot write the man pages into {}: {e}", dir.display()),
        })
}
