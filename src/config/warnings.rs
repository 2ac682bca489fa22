//! What a valid configuration may still get wrong without breaking anything at once: a
//! listener open to the network, a token in a file other users can read. `check-config`
//! prints these and `run` logs them at start; neither refuses, since each can be meant.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use super::Config;

/// One warning: the key it is about and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The warnings for `config`, read from the file at `file`.
pub(super) fn warnings(config: &Config, file: &Path) -> Vec<Warning> {
    let mut found = Vec::new();
    found.extend(exposed_listener(
        config.webhooks.listen,
        &config.webhooks.path,
    ));
    found.extend(exposed_console(&config.console));
    found.extend(readable_secrets(&config.ecwid.secrets_in_file, file));
    found
}

/// A console open to the network (allowed only with a token) speaks plain HTTP: the token
/// and the session cookie would cross the network readable by anyone on the way.
fn exposed_console(console: &super::ConsoleConfig) -> Option<Warning> {
    if !console.enabled || console.listen.ip().is_loopback() {
        return None;
    }
    let port = console.listen.port();
    Some(Warning {
        key: "console.listen",
        message: format!(
            "{} is not a loopback address, and the console speaks plain HTTP: the sign-in token and the session cookie cross the network unencrypted. Listen on 127.0.0.1:{port} and reach it through an SSH tunnel (ssh -L {port}:127.0.0.1:{port} this-server) or a reverse proxy that terminates TLS",
            console.listen
        ),
    })
}

/// Everything the daemon serves shares one listener, so an address other than loopback
/// serves the metrics and health endpoints to whoever reaches it, not only the webhook path.
fn exposed_listener(listen: SocketAddr, hook_path: &str) -> Option<Warning> {
    if listen.ip().is_loopback() {
        return None;
    }
    let port = listen.port();
    Some(Warning {
        key: "webhooks.listen",
        message: format!(
            "{listen} is not a loopback address: whoever reaches this machine on port {port} gets /metrics, /healthz and /readyz (the store's request and outbox figures, the mirror's state) besides the webhook path {hook_path}. \
             Listen on 127.0.0.1:{port} and let a reverse proxy that terminates TLS pass on the webhook path alone; with nginx:\n\
             \x20   location = {hook_path} {{\n\
             \x20       client_max_body_size 64k;\n\
             \x20       proxy_set_header X-Forwarded-For $remote_addr;\n\
             \x20       proxy_pass http://127.0.0.1:{port};\n\
             \x20   }}\n\
             \x20   location / {{\n\
             \x20       return 404;\n\
             \x20   }}"
        ),
    })
}

/// A secret written in a file every user of the machine may read is theirs too.
fn readable_secrets(keys: &[&'static str], file: &Path) -> Vec<Warning> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::metadata(file) else {
        return Vec::new();
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o004 == 0 {
        return Vec::new();
    }
    keys.iter()
        .map(|&key| {
            let credential = key.trim_start_matches("ecwid.");
            Warning {
                key,
                message: format!(
                    "written in {file}, which every user of this machine can read (mode {mode:04o}); run `chmod 640 {file}` (owner root, group the service's), or move the value to a file of mode 0600 named by {key}_file, e.g. the unit's LoadCredential={credential}:/etc/ecwid-sync/{credential}",
                    file = file.display(),
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use super::super::{Config, SecretEnv};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn config_file(text: &str, mode: u32) -> (tempfile::TempDir, std::path::PathBuf, Config) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let config = Config::load(&path, &SecretEnv::default()).unwrap();
        (dir, path, config)
    }

    #[test]
    fn loopback_listeners_and_private_files_give_no_warning() {
        for listen in ["127.0.0.1:8088", "127.0.0.2:9000", "[::1]:8088"] {
            let text = format!("{MINIMAL}[webhooks]\nlisten = \"{listen}\"\n");
            let (_dir, path, config) = config_file(&text, 0o640);
            assert_eq!(warnings(&config, &path), Vec::new(), "{listen}");
        }
    }

    #[test]
    fn a_listener_on_every_interface_is_named_with_what_it_exposes_and_a_proxy_for_the_webhook_path()
     {
        let text = format!("{MINIMAL}[webhooks]\nlisten = \"0.0.0.0:9000\"\npath = \"/hooks/e\"\n");
        let (_dir, path, config) = config_file(&text, 0o600);
        let found = warnings(&config, &path);
        assert_eq!(found.len(), 1, "{found:?}");
        let text = found[0].to_string();
        assert!(
            text.starts_with("webhooks.listen: 0.0.0.0:9000 is not a loopback address")
                && text.contains("/metrics, /healthz and /readyz")
                && text.contains("Listen on 127.0.0.1:9000")
                && text.contains("location = /hooks/e {")
                && text.contains("proxy_pass http://127.0.0.1:9000;"),
            "{text}"
        );
    }

    #[test]
    fn a_console_open_to_the_network_is_named_with_a_safer_way_to_reach_it() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("console-token");
        std::fs::write(&token, "0123456789abcdef0123").unwrap();
        let text = format!(
            "{MINIMAL}[console]\nlisten = \"0.0.0.0:8090\"\ntoken_file = {:?}\n",
            token.display().to_string()
        );
        let (_dir, path, config) = config_file(&text, 0o600);
        let found = warnings(&config, &path);
        assert_eq!(found.len(), 1, "{found:?}");
        let text = found[0].to_string();
        assert!(
            text.starts_with("console.listen: 0.0.0.0:8090 is not a loopback address")
                && text.contains("ssh -L 8090:127.0.0.1:8090"),
            "{text}"
        );
    }

    #[test]
    fn a_secret_in_a_file_others_can_read_is_named_with_the_mode_and_the_fix() {
        let (_dir, path, config) = config_file(MINIMAL, 0o644);
        let found = warnings(&config, &path);
        assert_eq!(found.len(), 1, "{found:?}");
        let text = found[0].to_string();
        assert!(
            text.starts_with(&format!(
                "ecwid.token: written in {}, which every user of this machine can read (mode 0644)",
                path.display()
            )) && text.contains(&format!("chmod 640 {}", path.display()))
                && text.contains("ecwid.token_file")
                && text.contains("LoadCredential=token:"),
            "{text}"
        );
        assert!(!text.contains("secret_abc"), "{text}");

        let both = MINIMAL.replace("token = ", "client_secret = \"cs_abc\"\ntoken = ");
        let (_dir, path, config) = config_file(&both, 0o604);
        let keys: Vec<_> = warnings(&config, &path).iter().map(|w| w.key).collect();
        assert_eq!(keys, ["ecwid.token", "ecwid.client_secret"]);

        // A token from elsewhere leaves nothing secret in the file.
        let token = path.with_file_name("token");
        std::fs::write(&token, "secret_in_file").unwrap();
        let text = MINIMAL.replace(
            "token = \"secret_abc\"",
            &format!("token_file = {:?}", token.display().to_string()),
        );
        let (_dir, path, config) = config_file(&text, 0o644);
        assert_eq!(warnings(&config, &path), Vec::new());
    }
}
