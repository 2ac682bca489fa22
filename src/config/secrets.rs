//! Secrets from the file, a file it names (a systemd credential, too) or the environment.

use std::path::{Path, PathBuf};

use super::{ConfigError, Secret, invalid};

/// The names one secret goes by: its key, the key of a file holding it, its variable.
pub(super) struct SecretKeys {
    pub key: &'static str,
    pub file_key: &'static str,
    pub env_name: &'static str,
}

/// A secret's value and where it came from (never the value).
pub(super) struct ResolvedSecret {
    pub value: Secret,
    pub file: Option<PathBuf>,
    pub origin: String,
}

/// One secret from exactly one of: the file's value, a file it names, or the environment.
/// The environment wins over the file so a systemd `Environment=` can override a packaged
/// config; naming both the value and a file is an error, since one would silently lose.
pub(super) fn resolve_secret(
    names: &SecretKeys,
    inline: Option<Secret>,
    file: Option<PathBuf>,
    from_env: Option<String>,
    unit_dirs: &[PathBuf],
) -> Result<Option<ResolvedSecret>, ConfigError> {
    let SecretKeys {
        key,
        file_key,
        env_name,
    } = *names;
    if inline.is_some() && file.is_some() {
        return Err(invalid(
            key,
            format!("set either {key} or {file_key}, not both"),
        ));
    }
    if let Some(value) = from_env {
        return Ok(Some(ResolvedSecret {
            value: Secret::new(value.trim()),
            file: None,
            origin: format!("from the environment variable {env_name}"),
        }));
    }
    if let Some(path) = file {
        let read_from = secret_file_source(names, &path, unit_dirs)?;
        let text = std::fs::read_to_string(&read_from).map_err(|e| {
            invalid(
                file_key,
                format!("cannot read {}: {e}", read_from.display()),
            )
        })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(invalid(
                file_key,
                format!("{} is empty", read_from.display()),
            ));
        }
        let origin = if read_from == path {
            format!("from {file_key} {}", path.display())
        } else {
            format!(
                "from {file_key} {}, read here from {} (the unit's LoadCredential=)",
                path.display(),
                read_from.display()
            )
        };
        return Ok(Some(ResolvedSecret {
            value: Secret::new(value),
            file: Some(path),
            origin,
        }));
    }
    match inline {
        Some(v) if v.expose().trim().is_empty() => Err(invalid(
            key,
            format!("is empty; set it, or use {file_key} or {env_name}"),
        )),
        Some(v) => Ok(Some(ResolvedSecret {
            value: Secret::new(v.expose().trim()),
            file: None,
            origin: format!("set in the configuration file ({key}; not repeated here)"),
        })),
        None => Ok(None),
    }
}

/// The file to read for `path`: itself, or, for a systemd credential read outside its
/// service (where it does not exist), the file the unit loads it from.
fn secret_file_source(
    names: &SecretKeys,
    path: &Path,
    unit_dirs: &[PathBuf],
) -> Result<PathBuf, ConfigError> {
    let Some(cred) = crate::credentials::CredentialPath::parse(path) else {
        return Ok(path.to_owned());
    };
    if path.exists() {
        return Ok(path.to_owned());
    }
    crate::credentials::source_of(&cred, unit_dirs).map_err(|why| {
        invalid(
            names.file_key,
            format!(
                "{} is a systemd credential, present only while {} runs, and its source is unknown: {why}; install the unit first, or give the secret in {}",
                path.display(),
                cred.unit,
                names.env_name
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::MINIMAL;
    use super::super::{Config, SecretEnv};

    #[test]
    fn the_environment_overrides_the_file_token() {
        let env = SecretEnv {
            token: Some("from_env".into()),
            ..SecretEnv::default()
        };
        let c = Config::parse(MINIMAL, &env).unwrap();
        assert_eq!(c.ecwid.token.expose(), "from_env");
    }

    #[test]
    fn a_token_and_a_token_file_together_are_refused() {
        let text = MINIMAL.replace("token = ", "token_file = \"/x\"\ntoken = ");
        let err = Config::parse(&text, &SecretEnv::default()).unwrap_err();
        assert!(
            err.to_string().starts_with("ecwid.token: set either"),
            "{err}"
        );
    }

    #[test]
    fn a_credential_path_read_outside_the_service_reads_the_units_source_file() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("units");
        std::fs::create_dir_all(units.join("ecwid-sync-test.service.d")).unwrap();
        let source = dir.path().join("token");
        std::fs::write(&source, "secret_from_source\n").unwrap();
        let text = "[ecwid]\nstore_id = 1003\ntoken_file = \"/run/credentials/ecwid-sync-test.service/token\"\n[mirror]\npath = \"m.db\"\n";
        let env = SecretEnv {
            unit_dirs: vec![dir.path().join("elsewhere"), units.clone()],
            ..SecretEnv::default()
        };

        let err = Config::parse(text, &env).unwrap_err().to_string();
        assert!(
            err.starts_with("ecwid.token_file: /run/credentials/ecwid-sync-test.service/token is a systemd credential")
                && err.contains("no unit file ecwid-sync-test.service was found in")
                && err.contains("ECWID_SYNC_TOKEN"),
            "{err}"
        );

        let unit = units.join("ecwid-sync-test.service");
        std::fs::write(&unit, "[Service]\nExecStart=/bin/true\n").unwrap();
        let err = Config::parse(text, &env).unwrap_err().to_string();
        assert!(err.contains("has no LoadCredential=token:..."), "{err}");

        std::fs::write(
            &unit,
            format!("[Service]\nLoadCredential=token:{}\n", source.display()),
        )
        .unwrap();
        let c = Config::parse(text, &env).unwrap();
        assert_eq!(c.ecwid.token.expose(), "secret_from_source");

        // A drop-in (systemctl edit) overrides the unit, as systemd reads them.
        let moved = dir.path().join("moved");
        std::fs::write(&moved, "secret_moved").unwrap();
        std::fs::write(
            units.join("ecwid-sync-test.service.d/override.conf"),
            format!("[Service]\nLoadCredential=token:{}\n", moved.display()),
        )
        .unwrap();
        let c = Config::parse(text, &env).unwrap();
        assert_eq!(c.ecwid.token.expose(), "secret_moved");
    }
}
