//! The version as `--version`, `status` and the console show it: the package version, then
//! the commit and its date when built from a git checkout, or "built outside a git checkout"
//! (see `build.rs`).

/// `0.1.0 (commit 8ba1f90c0d2e, 2026-12-02T06:10:00+00:00)`.
pub const VERSION: &str = env!("ECWID_SYNC_VERSION");
