//! What a reload of the configuration file changes, decided apart from doing it.
//!
//! Every key is listed in [`KEYS`]: live keys are followed by the running tasks; the others
//! are held by what the daemon builds once (the mirror's writer and lock, the listener, the
//! Ecwid client and its request budget, the pullers of each kind), so a change to them
//! waits for a restart. A test checks that every key of [`Config`] is listed, so a key
//! added later cannot be ignored by a reload without anyone deciding it.

use super::Config;

/// What a reload does with a newly read configuration.
#[derive(Debug)]
pub struct Plan {
    /// Changed keys that take effect now.
    pub applied: Vec<&'static str>,
    /// Changed keys that need a restart; the running value is kept.
    pub kept: Vec<&'static str>,
    /// The configuration to run with: the new values of live keys, the running values of
    /// the rest.
    pub config: Config,
}

struct Key {
    name: &'static str,
    differs: fn(&Config, &Config) -> bool,
    /// Copies the key from the second configuration into the first; `None`: needs a restart.
    apply: Option<fn(&mut Config, &Config)>,
}

macro_rules! live {
    ($name:literal, $($field:ident).+) => {
        Key {
            name: $name,
            differs: |a, b| a.$($field).+ != b.$($field).+,
            apply: Some(|to, from| to.$($field).+ = from.$($field).+.clone()),
        }
    };
}

macro_rules! restart {
    ($name:literal, $($field:ident).+) => {
        Key {
            name: $name,
            differs: |a, b| a.$($field).+ != b.$($field).+,
            apply: None,
        }
    };
}

const KEYS: &[Key] = &[
    restart!("ecwid.store_id", ecwid.store_id),
    restart!("ecwid.token", ecwid.token),
    restart!("ecwid.token_file", ecwid.token_file),
    restart!("ecwid.client_secret", ecwid.client_secret),
    restart!("ecwid.client_secret_file", ecwid.client_secret_file),
    restart!("ecwid.api_base", ecwid.api_base),
    restart!("ecwid.requests_per_minute", ecwid.requests_per_minute),
    restart!("ecwid.burst", ecwid.burst),
    restart!("ecwid.connect_timeout_secs", ecwid.connect_timeout),
    restart!("ecwid.request_timeout_secs", ecwid.request_timeout),
    restart!("ecwid.max_retries", ecwid.max_retries),
    restart!("ecwid.max_retry_after_secs", ecwid.max_retry_after),
    restart!("ecwid.max_throttled_secs", ecwid.max_throttled),
    restart!("ecwid.unreachable_give_up_secs", ecwid.unreachable_give_up),
    restart!("mirror.path", mirror.path),
    restart!("mirror.write_retry_secs", mirror.write_retry),
    restart!("mirror.lock_wait_secs", mirror.lock_wait),
    restart!("sync.kinds", sync.kinds),
    live!("sync.incremental_cron", sync.incremental_cron),
    live!("sync.full_cron", sync.full_cron),
    restart!("sync.overlap_secs", sync.overlap),
    restart!("sync.search_lag_secs", sync.search_lag),
    restart!("sync.fetch_ahead", sync.fetch_ahead),
    restart!("webhooks.listen", webhooks.listen),
    restart!("webhooks.path", webhooks.path),
    live!("webhooks.max_event_age_secs", webhooks.max_event_age),
    live!(
        "webhooks.ready_max_failing_secs",
        webhooks.ready_max_failing
    ),
    live!("webhooks.debounce_ms", webhooks.debounce),
    live!("webhooks.read_interval_ms", webhooks.read_interval),
    live!("webhooks.retention_days", webhooks.retention_days),
    restart!(
        "webhooks.header_read_timeout_secs",
        webhooks.header_read_timeout
    ),
    restart!(
        "webhooks.body_read_timeout_secs",
        webhooks.body_read_timeout
    ),
    restart!("webhooks.idle_timeout_secs", webhooks.idle_timeout),
    restart!("webhooks.max_connections", webhooks.max_connections),
    live!("push.poll_interval_ms", push.poll_interval),
    live!("push.key_lifetime_secs", push.key_lifetime),
    live!("push.keep_applied_days", push.keep_applied_days),
    live!("push.deletes", push.deletes),
    live!("conflicts.price", conflicts.price),
    live!("conflicts.name", conflicts.name),
    live!("conflicts.catalog", conflicts.catalog),
    live!("conflicts.order_status", conflicts.order_status),
    live!("conflicts.tracking", conflicts.tracking),
    // The daemon writes the policy into the mirror when it opens it.
    restart!("privacy.order_fields", privacy.order_fields),
    restart!("console.enabled", console.enabled),
    restart!("console.listen", console.listen),
    restart!("console.token_file", console.token_file),
    live!("console.pending_attention_secs", console.pending_attention),
    live!("console.session_hours", console.session_hours),
    restart!("log.format", log.format),
    live!("log.level", log.level),
];

/// Compares the `running` configuration with the one just read from the file.
pub fn plan(running: &Config, file: &Config) -> Plan {
    let mut config = running.clone();
    let mut applied = Vec::new();
    let mut kept = Vec::new();
    for key in KEYS.iter().filter(|key| (key.differs)(running, file)) {
        match key.apply {
            Some(apply) => {
                apply(&mut config, file);
                applied.push(key.name);
            }
            None => kept.push(key.name),
        }
    }
    Plan {
        applied,
        kept,
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use super::super::{Config, SecretEnv};
    use super::*;

    fn parse(extra: &str) -> Config {
        let env = SecretEnv {
            client_secret: Some("cs".into()),
            ..SecretEnv::default()
        };
        Config::parse(&format!("{MINIMAL}{extra}"), &env).unwrap()
    }

    #[test]
    fn live_keys_take_effect_and_the_others_keep_their_running_value() {
        let running = parse("");
        let cases: &[(&str, &[&str], &[&str])] = &[
            ("", &[], &[]),
            (
                "[log]\nlevel = \"debug\"\n[sync]\nincremental_cron = \"*/5 * * * * *\"\n",
                &["sync.incremental_cron", "log.level"],
                &[],
            ),
            (
                "[sync]\nfull_cron = \"0 0 4 * * *\"\nkinds = [\"orders\"]\n",
                &["sync.full_cron"],
                &["sync.kinds"],
            ),
            (
                "[push]\npoll_interval_ms = 1000\nkeep_applied_days = 3\n\
                 [conflicts]\nprice = \"local_wins\"\n",
                &[
                    "push.poll_interval_ms",
                    "push.keep_applied_days",
                    "conflicts.price",
                ],
                &[],
            ),
            (
                "[webhooks]\nlisten = \"127.0.0.1:9999\"\npath = \"/hooks\"\ndebounce_ms = 50\n\
                 max_event_age_secs = 600\nready_max_failing_secs = 60\n",
                &[
                    "webhooks.max_event_age_secs",
                    "webhooks.ready_max_failing_secs",
                    "webhooks.debounce_ms",
                ],
                &["webhooks.listen", "webhooks.path"],
            ),
            ("[log]\nformat = \"json\"\n", &[], &["log.format"]),
        ];
        for (extra, applied, kept) in cases {
            let file = parse(extra);
            let plan = plan(&running, &file);
            assert_eq!(&plan.applied, applied, "{extra}");
            assert_eq!(&plan.kept, kept, "{extra}");
            // Running with the plan's configuration, a second reload of the same file
            // applies nothing and names the same kept keys again.
            let again = super::plan(&plan.config, &file);
            assert!(again.applied.is_empty(), "{extra}: {:?}", again.applied);
            assert_eq!(&again.kept, kept, "{extra}");
        }
    }

    #[test]
    fn changes_to_the_store_the_mirror_and_the_token_are_kept_until_a_restart() {
        let running = parse("");
        let file = Config::parse(
            &MINIMAL
                .replace("store_id = 1003", "store_id = 1004")
                .replace("secret_abc", "secret_new")
                .replace("m.db", "other.db")
                .replace("[mirror]", "api_base = \"http://127.0.0.1:1\"\n[mirror]"),
            &SecretEnv::default(),
        )
        .unwrap();
        let plan = plan(&running, &file);
        assert!(plan.applied.is_empty(), "{:?}", plan.applied);
        assert_eq!(
            plan.kept,
            [
                "ecwid.store_id",
                "ecwid.token",
                "ecwid.client_secret",
                "ecwid.api_base",
                "mirror.path"
            ]
        );
        assert_eq!(plan.config.mirror.path, running.mirror.path);
        assert_eq!(plan.config.ecwid.token, running.ecwid.token);
        assert_eq!(plan.config.ecwid.store_id, 1003);
    }

    #[test]
    fn every_key_of_the_configuration_is_either_live_or_named_as_needing_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "secret_in_file_0123").unwrap();
        let config = Config::parse(
            &format!(
                "[ecwid]\nstore_id = 1\ntoken_file = {token:?}\nclient_secret_file = {token:?}\n\
                 [mirror]\npath = \"m.db\"\n[console]\ntoken_file = {token:?}\n"
            ),
            &SecretEnv::default(),
        )
        .unwrap();
        let toml::Value::Table(sections) = toml::Value::try_from(&config).unwrap() else {
            panic!("a table")
        };
        let mut names: Vec<String> = vec!["ecwid.token".into(), "ecwid.client_secret".into()];
        for (section, keys) in sections {
            let toml::Value::Table(keys) = keys else {
                panic!("{section} is a table")
            };
            names.extend(keys.keys().map(|key| format!("{section}.{key}")));
        }
        let listed: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
        for name in &names {
            assert!(
                listed.contains(&name.as_str()),
                "{name} is not in config::reload::KEYS: decide whether a reload applies it"
            );
        }
        assert_eq!(names.len(), listed.len(), "{names:?} vs {listed:?}");
    }

    /// The rows of docs/configuration.md's tables: key, default cell, applied cell.
    fn documented_keys() -> Vec<(String, String, String)> {
        include_str!("../../docs/configuration.md")
            .lines()
            .filter_map(|line| {
                let cells: Vec<&str> = line.split(" | ").map(str::trim).collect();
                let key = cells.first()?.strip_prefix("| `")?.strip_suffix('`')?;
                key.contains('.').then(|| {
                    (
                        key.to_string(),
                        cells[1].to_string(),
                        cells.get(3).unwrap_or(&"").to_string(),
                    )
                })
            })
            .collect()
    }

    #[test]
    fn the_configuration_reference_documents_exactly_the_keys_there_are_with_their_defaults() {
        let documented = documented_keys();
        let names: Vec<&str> = documented.iter().map(|(key, ..)| key.as_str()).collect();
        let listed: Vec<&str> = KEYS.iter().map(|key| key.name).collect();
        for key in &listed {
            assert!(
                names.contains(key),
                "docs/configuration.md lacks a row for {key}"
            );
        }
        for name in &names {
            assert!(
                listed.contains(name),
                "docs/configuration.md documents {name}, which is no key"
            );
        }
        assert_eq!(
            names.len(),
            listed.len(),
            "a key documented twice: {names:?}"
        );

        // The defaults as check-config prints them, one `key = value` per line per section.
        let printed = parse("").to_masked_toml();
        let mut defaults = std::collections::HashMap::new();
        let mut section = "";
        for line in printed.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name;
            } else if let Some((key, value)) = line.split_once(" = ") {
                defaults.insert(format!("{section}.{key}"), value.to_string());
            }
        }
        for (key, default, applied) in &documented {
            let live = KEYS
                .iter()
                .find(|k| k.name == key)
                .is_some_and(|k| k.apply.is_some());
            let expected = if live { "reload" } else { "restart" };
            assert_eq!(applied, expected, "docs/configuration.md, {key}");
            // A default in backticks is a value; "required" and "none" are words.
            if let Some(value) = default.strip_prefix('`').and_then(|d| d.strip_suffix('`')) {
                assert_eq!(
                    Some(&value.to_string()),
                    defaults.get(key),
                    "docs/configuration.md, the default of {key}"
                );
            }
        }
    }

    #[test]
    fn the_example_configuration_shows_every_key_in_its_section_and_no_other() {
        let example = include_str!("../../config.toml.example");
        let mut sections: Vec<(&str, String)> = Vec::new();
        for line in example.lines() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name, String::new()));
            } else if let Some((_, text)) = sections.last_mut() {
                text.push_str(line);
                text.push('\n');
            }
        }
        for key in KEYS {
            let (section, name) = key.name.split_once('.').unwrap();
            let text = sections
                .iter()
                .find(|(s, _)| *s == section)
                .map(|(_, text)| text.as_str())
                .unwrap_or_else(|| panic!("config.toml.example has no [{section}]"));
            assert!(
                text.contains(&format!("{name} = ")),
                "config.toml.example does not show {}",
                key.name
            );
        }
        // A line `key = value`, commented out or not, names a key there is.
        for (section, text) in &sections {
            for line in text.lines() {
                let setting = line.strip_prefix("# ").unwrap_or(line);
                let Some((name, _)) = setting.split_once(" = ") else {
                    continue;
                };
                if name.contains(' ') || name.is_empty() {
                    continue;
                }
                let key = format!("{section}.{name}");
                assert!(
                    KEYS.iter().any(|k| k.name == key),
                    "config.toml.example shows {key}, which is no key"
                );
            }
        }
    }
}
