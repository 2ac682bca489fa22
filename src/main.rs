//! The `ecwid-sync` binary: parse the command line, run it, report one line on failure.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = ecwid_sync::cli::Cli::parse();
    if let Err(err) = ecwid_sync::commands::execute(cli).await {
        eprintln!("ecwid-sync: {}", err.message);
        std::process::exit(err.code);
    }
}
