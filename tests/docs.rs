//! The documentation holds together: every relative link between the Markdown files names a
//! file that exists and, after `#`, a heading it has, and the README links every document in
//! docs/. A section moved or renamed without its links fails here, not in a reader's browser.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "schema/README.md", "emulator/README.md"]
        .iter()
        .map(|f| root().join(f))
        .collect();
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces as `-`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            let heading = line.trim_start_matches('#').trim().to_lowercase();
            let slug: String = heading
                .chars()
                .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
                .map(|c| if c == ' ' { '-' } else { c })
                .collect();
            found.insert(slug);
        }
    }
    found
}

/// The targets of `[text](target)` links, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_link_between_the_documents_reaches_a_file_and_a_heading_that_exist() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let name = file.strip_prefix(root()).unwrap().display().to_string();
            if !linked.exists() {
                broken.push(format!("{name}: {target}: no such file"));
            } else if !anchor.is_empty()
                && linked.extension().is_some_and(|e| e == "md")
                && !anchors(&std::fs::read_to_string(&linked).unwrap()).contains(anchor)
            {
                broken.push(format!("{name}: {target}: no such heading"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_short_opens_with_its_contents_and_links_every_document_in_docs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    // An operator reads it through; what does not fit belongs in docs/.
    let lines = readme.lines().count();
    assert!(lines < 300, "the README has {lines} lines");
    let linked: BTreeSet<String> = links(&readme).into_iter().collect();
    for line in readme.lines() {
        if let Some(section) = line.strip_prefix("## ").filter(|s| *s != "Contents") {
            let anchor = format!("#{}", anchors(line).into_iter().next().unwrap());
            assert!(
                linked.contains(&anchor),
                "the README's contents do not link \"{section}\" ({anchor})"
            );
        }
    }
    for file in markdown_files() {
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        if name.starts_with("docs/") {
            assert!(linked.contains(&name), "the README does not link {name}");
        }
    }
    assert!(linked.contains("emulator/README.md"));
    assert!(linked.contains("schema/README.md"));
}

/// The template unit for one service per store is made from the unit, so the two cannot
/// drift: only what names the instance differs, the hardening is the same line for line.
#[test]
fn the_template_unit_is_the_unit_with_a_configuration_and_state_per_instance() {
    let out = std::process::Command::new("bash")
        .arg(root().join("packaging/template-unit.sh"))
        .arg("/usr/bin/ecwid-sync")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let template = String::from_utf8(out.stdout).unwrap();
    for line in [
        "ExecStart=/usr/bin/ecwid-sync --config /etc/ecwid-sync/%i/config.toml run",
        "StateDirectory=ecwid-sync/%i",
        "ConfigurationDirectory=ecwid-sync/%i",
        "LoadCredential=token:/etc/ecwid-sync/%i/token",
        "#LoadCredential=client_secret:/etc/ecwid-sync/%i/client_secret",
    ] {
        assert!(
            template.lines().any(|l| l == line),
            "no {line:?} in\n{template}"
        );
    }
    let unit = std::fs::read_to_string(root().join("systemd/ecwid-sync.service")).unwrap();
    let hardening = |text: &str| text[text.find("# Hardening").unwrap()..].to_string();
    assert_eq!(hardening(&template), hardening(&unit));
    assert_eq!(template.lines().count(), unit.lines().count());
    assert!(!template.contains("ecwid-sync.service/"), "{template}");
}
