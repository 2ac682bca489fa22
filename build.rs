//! Names the build for `--version`, `status` and the console: the commit and its date when
//! built from a git checkout of this crate, or nothing (the binary then says it was built
//! outside one). The commit's date, not the clock's, so that building the same commit twice
//! gives the same binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let version = std::env::var("CARGO_PKG_VERSION").expect("set by cargo");
    let build = match checkout(&root) {
        Some((commit, date)) => format!("commit {commit}, {date}"),
        None => "built outside a git checkout".to_string(),
    };
    println!("cargo:rustc-env=ECWID_SYNC_VERSION={version} ({build})");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The commit checked out in `root` and its date, when `root` is the top of a git checkout
/// (not a crate unpacked somewhere inside another repository) and git answers.
fn checkout(root: &Path) -> Option<(String, String)> {
    let top = git(root, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    // A new commit moves HEAD or the branch it names; in a worktree both live outside
    // `.git`, which is then a file, so ask git where they are.
    for (dir_flag, name) in [
        ("--git-dir", "HEAD".to_string()),
        ("--git-common-dir", branch(root)),
    ] {
        if let Some(dir) = git(root, &["rev-parse", dir_flag]) {
            for file in [name.as_str(), "packed-refs"] {
                let path = root.join(&dir).join(file);
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
        }
    }
    let commit = git(root, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(root, &["log", "-1", "--format=%cI", "HEAD"])?;
    Some((commit, date))
}

/// The ref HEAD points at (`refs/heads/main`), or HEAD itself when detached.
fn branch(root: &Path) -> String {
    git(root, &["symbolic-ref", "-q", "HEAD"]).unwrap_or_else(|| "HEAD".into())
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}
