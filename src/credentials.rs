//! systemd credentials outside the service: where `/run/credentials/<unit>/<name>` comes from.
//!
//! The configuration names the token as the service sees it, a credential systemd copies to
//! `/run/credentials/ecwid-sync.service/token` only while the service runs. Run by hand
//! (`sudo ecwid-sync check-config`, a one-off `sync`), that file does not exist; the unit's
//! `LoadCredential=token:/etc/ecwid-sync/token` says which file systemd would copy, so that
//! file is read instead, and the user checks exactly what the service will get.

use std::path::{Path, PathBuf};

const CREDENTIALS_ROOT: &str = "/run/credentials";

/// Where systemd looks for unit files, most specific first (systemd.unit(5)).
pub const SYSTEM_UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// A credential path as a service sees it: its unit and the credential's name.
#[derive(Debug, PartialEq, Eq)]
pub struct CredentialPath {
    pub unit: String,
    pub name: String,
}

impl CredentialPath {
    pub fn parse(path: &Path) -> Option<CredentialPath> {
        let rest = path.strip_prefix(CREDENTIALS_ROOT).ok()?;
        let mut parts = rest.iter().map(|p| p.to_str());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Some(unit)), Some(Some(name)), None) => Some(CredentialPath {
                unit: unit.to_string(),
                name: name.to_string(),
            }),
            _ => None,
        }
    }
}

/// The file the unit's `LoadCredential=<name>:<source>` names, searched in `unit_dirs`
/// (the unit file, then its drop-ins, the last setting winning, as systemd reads them).
/// `Err` says what was looked for, for an error message.
///
/// An instance of a template unit (`ecwid-sync@north.service`) is read from its template
/// (`ecwid-sync@.service`), with `%i` in the source replaced by the instance name.
pub fn source_of(cred: &CredentialPath, unit_dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let template = Template::of(&cred.unit);
    let found = unit_dirs.iter().find_map(|d| {
        if d.join(&cred.unit).is_file() {
            return Some((d, cred.unit.clone()));
        }
        let template = template.as_ref()?;
        d.join(&template.unit)
            .is_file()
            .then(|| (d, template.unit.clone()))
    });
    let Some((dir, unit)) = found else {
        return Err(format!(
            "no unit file {} was found in {}",
            cred.unit,
            list(unit_dirs)
        ));
    };
    let mut files = vec![dir.join(&unit)];
    // Drop-ins of the template, then of the instance, from every unit directory (the
    // package's unit in /usr/lib, an operator's `systemctl edit` in /etc): sorted by name, a
    // name in a more specific directory hiding the same name in a less specific one.
    let mut names = vec![format!("{unit}.d")];
    if unit != cred.unit {
        names.push(format!("{}.d", cred.unit));
    }
    for name in names {
        let mut dropins: std::collections::BTreeMap<std::ffi::OsString, PathBuf> =
            Default::default();
        for dir in unit_dirs.iter().rev() {
            let Ok(entries) = std::fs::read_dir(dir.join(&name)) else {
                continue;
            };
            for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
                if let (Some(file), true) = (
                    path.file_name(),
                    path.extension().is_some_and(|x| x == "conf"),
                ) {
                    dropins.insert(file.to_owned(), path);
                }
            }
        }
        files.extend(dropins.into_values());
    }
    let mut source = None;
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        source = load_credential(&text, &cred.name).or(source);
    }
    let source = source.map(|s| match &template {
        Some(t) => s.replace("%i", &t.instance),
        None => s,
    });
    match source {
        Some(s) if Path::new(&s).is_absolute() => Ok(PathBuf::from(s)),
        Some(s) => Err(format!(
            "{} loads the credential {} from {s:?}, not an absolute path",
            files[0].display(),
            cred.name
        )),
        None => Err(format!(
            "{} has no LoadCredential={}:...",
            files[0].display(),
            cred.name
        )),
    }
}

/// An instance unit's template and instance name: `a@b.service` is `a@.service` with `b`.
struct Template {
    unit: String,
    instance: String,
}

impl Template {
    fn of(unit: &str) -> Option<Template> {
        let (prefix, rest) = unit.split_once('@')?;
        let (instance, kind) = rest.rsplit_once('.')?;
        (!instance.is_empty()).then(|| Template {
            unit: format!("{prefix}@.{kind}"),
            instance: instance.to_string(),
        })
    }
}

/// The source of the last uncommented `LoadCredential=<name>:<source>` line in a unit file.
fn load_credential(unit_text: &str, name: &str) -> Option<String> {
    unit_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("LoadCredential="))
        .filter_map(|v| v.trim().split_once(':'))
        .filter(|(n, _)| *n == name)
        .map(|(_, source)| source.trim().to_string())
        .next_back()
}

fn list(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_file_directly_in_a_units_credentials_directory_is_a_credential() {
        assert_eq!(
            CredentialPath::parse(Path::new("/run/credentials/ecwid-sync.service/token")),
            Some(CredentialPath {
                unit: "ecwid-sync.service".into(),
                name: "token".into()
            })
        );
        assert_eq!(
            CredentialPath::parse(Path::new("/etc/ecwid-sync/token")),
            None
        );
        assert_eq!(
            CredentialPath::parse(Path::new("/run/credentials/ecwid-sync.service")),
            None
        );
    }

    #[test]
    fn an_instance_of_a_template_unit_reads_the_template_with_its_name_for_percent_i() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ecwid-sync@.service"),
            "[Service]\nLoadCredential=token:/etc/ecwid-sync/%i/token\n",
        )
        .unwrap();
        let cred =
            CredentialPath::parse(Path::new("/run/credentials/ecwid-sync@north.service/token"))
                .unwrap();
        let dirs = [dir.path().to_path_buf()];
        assert_eq!(
            source_of(&cred, &dirs).unwrap(),
            PathBuf::from("/etc/ecwid-sync/north/token")
        );
        // An instance's own drop-in wins over the template's line.
        let dropins = dir.path().join("ecwid-sync@north.service.d");
        std::fs::create_dir(&dropins).unwrap();
        std::fs::write(
            dropins.join("token.conf"),
            "[Service]\nLoadCredential=token:/srv/north-token\n",
        )
        .unwrap();
        assert_eq!(
            source_of(&cred, &dirs).unwrap(),
            PathBuf::from("/srv/north-token")
        );
        // An operator's `systemctl edit` in a more specific directory than the package's
        // unit counts too.
        std::fs::write(
            dir.path().join("ecwid-sync.service"),
            "[Service]\nLoadCredential=token:/etc/ecwid-sync/token\n",
        )
        .unwrap();
        let etc = tempfile::tempdir().unwrap();
        let edits = etc.path().join("ecwid-sync.service.d");
        std::fs::create_dir(&edits).unwrap();
        std::fs::write(
            edits.join("override.conf"),
            "[Service]\nLoadCredential=north-token:/etc/ecwid-sync/north.token\n",
        )
        .unwrap();
        let both = [etc.path().to_path_buf(), dir.path().to_path_buf()];
        let north =
            CredentialPath::parse(Path::new("/run/credentials/ecwid-sync.service/north-token"))
                .unwrap();
        assert_eq!(
            source_of(&north, &both).unwrap(),
            PathBuf::from("/etc/ecwid-sync/north.token")
        );
        let plain = CredentialPath::parse(Path::new("/run/credentials/other.service/token"));
        assert!(
            source_of(&plain.unwrap(), &dirs)
                .unwrap_err()
                .contains("other.service")
        );
    }

    #[test]
    fn the_last_load_credential_line_for_the_name_wins_and_comments_do_not_count() {
        let unit = "[Service]\nLoadCredential=token:/etc/a\n#LoadCredential=token:/etc/b\n\
                    LoadCredential=client_secret:/etc/cs\nLoadCredential=token:/etc/c\n";
        assert_eq!(load_credential(unit, "token").as_deref(), Some("/etc/c"));
        assert_eq!(
            load_credential(unit, "client_secret").as_deref(),
            Some("/etc/cs")
        );
        assert_eq!(load_credential(unit, "other"), None);
    }
}
