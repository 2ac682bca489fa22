//! What went wrong in the file as written, on one line, in words rather than Rust types.
//!
//! serde says `invalid type: string "1003", expected u64`; a shop owner needs
//! `ecwid.store_id: expected a whole number such as 1003, got the string "1003"`. A value
//! is repeated only where it cannot be a secret pasted into the wrong key: a quoted number,
//! or a value without text in quotes, outside the secret keys.

use super::ConfigError;

/// The error for a file that did not deserialize: a type error in words, naming the key by
/// its full path, or toml's own reason with the line and the key.
pub(super) fn describe(
    text: &str,
    err: serde_path_to_error::Error<toml::de::Error>,
) -> ConfigError {
    let key = err.path().to_string();
    let inner = err.into_inner();
    let written = inner
        .span()
        .and_then(|span| text.get(span))
        .unwrap_or_default();
    match type_error(&key, inner.message(), written) {
        Some(message) => ConfigError::Type { key, message },
        None => ConfigError::Parse {
            path: Default::default(),
            message: describe_syntax(text, &inner),
        },
    }
}

/// toml's messages span several lines (a source excerpt with a caret). One line with the
/// line number, the key (never the value: it may be a secret) and the reason is what a
/// one-line error needs.
pub(super) fn describe_syntax(text: &str, err: &toml::de::Error) -> String {
    let reason = err.message().trim().replace('\n', " ");
    let Some(span) = err.span() else {
        return reason;
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default();
    match line.split_once('=') {
        Some((key, _)) => format!("line {line_no}, key `{}`: {reason}", key.trim()),
        None => format!("line {line_no}: {reason}"),
    }
}

/// serde's `invalid type: <got>, expected <wanted>` (or `invalid value: ...`) in words;
/// `None` for any other message.
fn type_error(key: &str, message: &str, written: &str) -> Option<String> {
    let (problem, rest) = message.split_once(": ")?;
    if problem != "invalid type" && problem != "invalid value" {
        return None;
    }
    let (got, wanted) = rest.rsplit_once(", expected ")?;
    let got_kind = got.split([' ', '`', '"']).next().unwrap_or(got);
    let quoted_number = (got_kind == "string")
        .then(|| unquote(written).trim().parse::<i64>().ok())
        .flatten();
    let expected = match wanted {
        "u8" | "u16" | "u32" | "u64" | "usize" => match quoted_number {
            Some(n) if n >= 0 => format!("a whole number such as {n}"),
            _ if problem == "invalid value" && written.starts_with('-') => {
                "a whole number of 0 or more".to_string()
            }
            _ if problem == "invalid value" => format!("a whole number up to {}", max_of(wanted)),
            _ => "a whole number".to_string(),
        },
        "a string" => "text in quotes".to_string(),
        "path string" => "a path in quotes".to_string(),
        "a sequence" => "a list in brackets, such as [\"products\", \"orders\"]".to_string(),
        _ if wanted.starts_with("struct ") => format!("a section: [{key}] and its keys below it"),
        _ => return None,
    };
    let got = match (got_kind, quoted_number) {
        ("string", Some(_)) => format!("the string {}", written.trim()),
        _ if is_secret(key) || written.contains(['"', '\'']) || written.is_empty() => {
            kind_in_words(got_kind).to_string()
        }
        _ => written.trim().to_string(),
    };
    Some(format!("expected {expected}, got {got}"))
}

fn unquote(written: &str) -> &str {
    written.trim().trim_matches(['"', '\''])
}

fn max_of(rust_type: &str) -> u64 {
    match rust_type {
        "u8" => u8::MAX.into(),
        "u16" => u16::MAX.into(),
        "u32" => u32::MAX.into(),
        _ => u64::MAX,
    }
}

/// The last key of the path names a secret: its value is never repeated.
fn is_secret(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    last == "token" || last == "client_secret"
}

fn kind_in_words(serde_kind: &str) -> &'static str {
    match serde_kind {
        "string" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "true or false",
        "sequence" => "a list",
        "map" => "a table",
        _ => "a value of another type",
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, SecretEnv};

    fn error_of(text: &str) -> String {
        Config::parse(text, &SecretEnv::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_value_of_the_wrong_type_is_said_in_words_with_the_full_key() {
        for (line, expected) in [
            (
                "[ecwid]\nstore_id = \"1003\"",
                "ecwid.store_id: expected a whole number such as 1003, got the string \"1003\"",
            ),
            (
                "[ecwid]\nstore_id = 2.5",
                "ecwid.store_id: expected a whole number, got 2.5",
            ),
            (
                "[ecwid]\nstore_id = -5",
                "ecwid.store_id: expected a whole number of 0 or more, got -5",
            ),
            (
                "[ecwid]\nstore_id = 1003\nburst = 5000000000",
                "ecwid.burst: expected a whole number up to 4294967295, got 5000000000",
            ),
            (
                "[ecwid]\nstore_id = 1003\nrequests_per_minute = true",
                "ecwid.requests_per_minute: expected a whole number, got true",
            ),
            (
                "[ecwid]\nstore_id = 1003\napi_base = 5",
                "ecwid.api_base: expected text in quotes, got 5",
            ),
            (
                "[ecwid]\nstore_id = 1003\ntoken_file = 5",
                "ecwid.token_file: expected a path in quotes, got 5",
            ),
            (
                "[sync]\nkinds = \"products\"",
                "sync.kinds: expected a list in brackets, such as [\"products\", \"orders\"], got a string",
            ),
            (
                "[sync]\nkinds = [1]",
                "sync.kinds[0]: expected text in quotes, got 1",
            ),
            (
                "[webhooks]\ndebounce_ms = \"200\"",
                "webhooks.debounce_ms: expected a whole number such as 200, got the string \"200\"",
            ),
            (
                "mirror = \"m.db\"",
                "mirror: expected a section: [mirror] and its keys below it, got a string",
            ),
        ] {
            assert_eq!(error_of(line), expected, "{line}");
        }
    }

    #[test]
    fn a_wrongly_typed_value_is_never_repeated_when_it_may_be_a_secret() {
        for (line, expected) in [
            // A token pasted where the store id belongs.
            (
                "[ecwid]\nstore_id = \"secret_pasted\"",
                "ecwid.store_id: expected a whole number, got a string",
            ),
            (
                "[ecwid]\nstore_id = [\"secret_pasted\"]",
                "ecwid.store_id: expected a whole number, got a list",
            ),
            (
                "[ecwid]\nstore_id = 1003\ntoken = 12345",
                "ecwid.token: expected text in quotes, got a number",
            ),
            (
                "[ecwid]\nstore_id = 1003\nclient_secret = [\"a\"]",
                "ecwid.client_secret: expected text in quotes, got a list",
            ),
        ] {
            let err = error_of(line);
            assert_eq!(err, expected, "{line}");
            assert!(!err.contains("12345"), "{err}");
        }
    }

    #[test]
    fn other_file_errors_keep_the_line_and_the_key() {
        let err = error_of("[ecwid]\nstore_id = 1003\ncolour = 1\n");
        assert!(
            err.contains("line 3, key `colour`: unknown field `colour`"),
            "{err}"
        );
        let err = error_of("[log]\nformat = \"xml\"\n");
        assert!(
            err.contains("line 2, key `format`: unknown variant `xml`, expected `text` or `json`"),
            "{err}"
        );
    }
}
