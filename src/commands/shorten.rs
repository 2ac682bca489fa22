//! Values as the list commands' tables show them: on one line and short enough to read. A
//! tool may write a name of megabytes; `--json` is where values stay whole.

use std::borrow::Cow;

/// The most characters of a value a table shows.
pub const MAX_CHARS: usize = 60;

/// `text` on one line (control characters as spaces), cut to [`MAX_CHARS`] characters with
/// an ellipsis and its full length noted when longer.
pub fn shorten(text: &str) -> Cow<'_, str> {
    let length = text.chars().count();
    let one_line = !text.chars().any(char::is_control);
    if length <= MAX_CHARS && one_line {
        return Cow::Borrowed(text);
    }
    let mut out: String = text
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if length > MAX_CHARS {
        out.push_str(&format!("… ({length} characters)"));
    }
    Cow::Owned(out)
}

/// A value from the mirror (JSON, as `--json` prints it) shortened for a table.
pub fn value(v: &serde_json::Value) -> String {
    shorten(&v.to_string()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_value_is_shown_as_it_is() {
        assert_eq!(shorten("Blue mug"), "Blue mug");
        assert!(matches!(shorten("Blue mug"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_long_value_is_cut_with_an_ellipsis_and_its_full_length() {
        let long = "é".repeat(5_000_000);
        let shown = shorten(&long);
        assert_eq!(
            shown,
            format!("{}… (5000000 characters)", "é".repeat(MAX_CHARS))
        );
    }

    #[test]
    fn a_value_stays_on_one_line() {
        assert_eq!(shorten("line one\nline two"), "line one line two");
    }

    #[test]
    fn a_value_of_exactly_the_limit_is_not_cut() {
        let exact = "x".repeat(MAX_CHARS);
        assert_eq!(shorten(&exact), exact);
    }
}
