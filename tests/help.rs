//! What `--help` says local changes are: every kind a tool can make in the mirror, not stock
//! alone, since `push` and `outbox` carry prices, names, statuses, new products and
//! deletions too.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ecwid-sync"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn push_and_outbox_help_name_every_kind_of_local_change_not_stock_alone() {
    for args in [&["push"][..], &["outbox"], &["outbox", "list"]] {
        let text = help(args);
        for word in ["prices", "names", "status", "deletion"] {
            assert!(
                text.contains(word),
                "{args:?} --help lacks {word:?}:\n{text}"
            );
        }
        assert!(
            !text.contains("stock changes"),
            "{args:?} --help speaks of stock changes only:\n{text}"
        );
    }
    assert!(help(&["push"]).contains("new products"));
    assert!(help(&[]).contains("goes back to the store"));
}
