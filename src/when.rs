//! Times and sizes as the CLI and the console print them.

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC), `-` when never.
pub fn fmt_time(ts: Option<i64>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    ts.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "-".to_string())
}

/// A length of time in the largest unit that keeps it readable: `45 s`, `12 min`, `3 h`,
/// `2 days`.
pub fn fmt_age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        7200..172_800 => format!("{} h", secs / 3600),
        _ => format!("{} days", secs / 86_400),
    }
}

pub fn fmt_bytes(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_the_largest_sensible_unit() {
        assert_eq!(fmt_age(-3), "0 s");
        assert_eq!(fmt_age(119), "119 s");
        assert_eq!(fmt_age(600), "10 min");
        assert_eq!(fmt_age(3 * 3600), "3 h");
        assert_eq!(fmt_age(3 * 86_400), "3 days");
        assert_eq!(fmt_time(Some(0)), "1970-01-01 00:00:00");
        assert_eq!(fmt_time(None), "-");
    }
}
