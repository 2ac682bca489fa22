//! The clock and the date formats of the API: `yyyy-MM-dd HH:mm:ss +0000` out, four formats in.

use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Real wall-clock time in UNIX seconds: change timestamps must be comparable with the
/// clock of the client that filters on them.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Formats UNIX seconds the way Ecwid returns dates (always UTC, as the contract picks).
pub fn format_date(ts: i64) -> String {
    let fmt = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] +0000");
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|d| d.format(fmt).ok())
        .unwrap_or_else(|| "1970-01-01 00:00:00 +0000".to_string())
}

/// Parses a date filter value in any of the four documented formats: UNIX seconds,
/// `yyyy-MM-dd HH:mm:ss Z`, `yyyy-MM-dd HH:mm:ss` (UTC) and `yyyy-MM-dd` (midnight UTC).
pub fn parse_date(raw: &str) -> Option<i64> {
    let s = raw.trim();
    if !s.is_empty()
        && s.bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        return s.parse().ok();
    }
    let parts: Vec<&str> = s.split_whitespace().collect();
    let date_fmt = format_description!("[year]-[month]-[day]");
    let time_fmt = format_description!("[hour]:[minute]:[second]");
    let date = Date::parse(parts.first()?, date_fmt).ok()?;
    let time = match parts.get(1) {
        Some(t) => time::Time::parse(t, time_fmt).ok()?,
        None => time::Time::MIDNIGHT,
    };
    let offset = match parts.get(2) {
        None => UtcOffset::UTC,
        Some(z) => parse_offset(z)?,
    };
    if parts.len() > 3 {
        return None;
    }
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_offset(offset)
            .unix_timestamp(),
    )
}

/// `+0400`, `-0500`; also `0400`, because an unencoded `+` in a query string arrives as a space.
fn parse_offset(z: &str) -> Option<UtcOffset> {
    let (sign, digits) = match z.as_bytes().first()? {
        b'+' => (1, &z[1..]),
        b'-' => (-1, &z[1..]),
        _ => (1, z),
    };
    let digits = digits.replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i8 = digits[..2].parse().ok()?;
    let m: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_four_documented_formats_parse() {
        assert_eq!(parse_date("1447804800"), Some(1447804800));
        assert_eq!(parse_date("2015-04-22 18:48:38 -0500"), Some(1429746518));
        assert_eq!(parse_date("2015-04-22 23:48:38 +0000"), Some(1429746518));
        assert_eq!(parse_date("2015-04-22 23:48:38  0000"), Some(1429746518));
        assert_eq!(parse_date("2015-04-22 23:48:38"), Some(1429746518));
        assert_eq!(parse_date("2015-04-22"), Some(1429660800));
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date(""), None);
        assert_eq!(format_date(1429746518), "2015-04-22 23:48:38 +0000");
    }
}
