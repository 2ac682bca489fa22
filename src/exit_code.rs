//! The exit codes of every command, and which of them a restart can mend: one table for
//! docs/operations.md, `--help` and the systemd unit's `RestartPreventExitStatus=`.

/// Done, or stopped by SIGTERM, SIGINT or SIGQUIT.
pub const OK: i32 = 0;
/// A run failed in a way that may pass by itself: the network, the store, a mirror locked by
/// a tool for longer than `mirror.write_retry_secs`.
pub const FAILED: i32 = 1;
/// Bad configuration or command line, or a mirror path this ecwid-sync cannot use (a
/// directory, not a mirror, read-only, from a newer ecwid-sync).
pub const USAGE: i32 = 2;
/// The store refused the token.
pub const TOKEN_REFUSED: i32 = 3;
/// The mirror could not be written for `mirror.write_retry_secs` (disk full, read-only
/// file system).
pub const MIRROR_UNWRITABLE: i32 = 4;
/// The mirror file was deleted, moved or replaced while ecwid-sync wrote it.
pub const MIRROR_LOST: i32 = 5;
/// Another ecwid-sync holds the mirror (the daemon waits `mirror.lock_wait_secs` first).
pub const MIRROR_BUSY: i32 = 6;

/// Each code, whether the systemd unit restarts the daemon after it, and what it means.
pub const TABLE: [(i32, bool, &str); 7] = [
    (OK, false, "done, or stopped by SIGTERM, SIGINT or SIGQUIT"),
    (
        FAILED,
        true,
        "failed in a way that may pass by itself: network, store, a mirror locked by a tool past mirror.write_retry_secs",
    ),
    (
        USAGE,
        false,
        "bad configuration or command line, or a mirror path this ecwid-sync cannot use (a directory, not a mirror, read-only, from a newer ecwid-sync)",
    ),
    (TOKEN_REFUSED, false, "the store refused the token"),
    (
        MIRROR_UNWRITABLE,
        true,
        "the mirror could not be written for mirror.write_retry_secs (disk full, read-only file system)",
    ),
    (
        MIRROR_LOST,
        true,
        "the mirror file was deleted, moved or replaced while running; the restart creates it again and pulls the store in full",
    ),
    (
        MIRROR_BUSY,
        true,
        "another ecwid-sync holds the mirror (`run` waits mirror.lock_wait_secs first)",
    ),
];

/// The table as `--help` prints it.
pub fn help_text() -> String {
    let mut text =
        String::from("Exit codes (the systemd unit restarts the daemon after those marked *):\n");
    for (code, restarted, meaning) in TABLE {
        let mark = if restarted { "*" } else { " " };
        text.push_str(&format!("  {code}{mark} {meaning}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_restarts_after_exactly_the_codes_the_table_says_a_restart_can_mend() {
        let unit = include_str!("../systemd/ecwid-sync.service");
        let prevented: Vec<i32> = unit
            .lines()
            .find_map(|l| l.strip_prefix("RestartPreventExitStatus="))
            .expect("the unit names the codes it does not restart after")
            .split_whitespace()
            .map(|c| c.parse().expect("a number"))
            .collect();
        let not_restarted: Vec<i32> = TABLE
            .iter()
            .filter(|(code, restarted, _)| !restarted && *code != OK)
            .map(|(code, ..)| *code)
            .collect();
        assert_eq!(prevented, not_restarted);
        assert!(unit.contains("Restart=on-failure"), "{unit}");
    }

    #[test]
    fn the_operations_guide_lists_every_code_with_its_meaning() {
        let guide = include_str!("../docs/operations.md");
        for (code, restarted, meaning) in TABLE {
            let row = format!(
                "| {code} | {} | {meaning} |",
                if restarted { "yes" } else { "no" }
            );
            assert!(guide.contains(&row), "docs/operations.md lacks: {row}");
        }
    }
}
