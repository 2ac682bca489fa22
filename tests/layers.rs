//! The library's layers, checked from its source so the map cannot drift from the code.
//!
//! Every top-level module of `src/` has a layer in [`LAYERS`]. A module may name modules of
//! its own layer or of a lower one, never of a higher one, and modules of one layer may not
//! name each other in a cycle. Below the top level, the submodules of one module may name
//! each other only without cycles (a submodule and its parent are one unit and may).
//!
//! References are read from the source text: every `crate::`, `super::` and `self::` path,
//! in `use` statements (with their `{...}` groups) and in expressions and types alike,
//! comments and string literals left out. A name re-exported by a module counts as that
//! module's, which is what a reader of the `use` line sees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A new top-level module must be placed here, which is the point: its
/// author decides what it may import, and the test holds every later change to that.
const LAYERS: &[(&str, usize)] = &[
    // Leaf helpers: the configuration, errors, the kinds mirrored, formats and codes.
    ("config", 0),
    ("credentials", 0),
    ("errors", 0),
    ("exit_code", 0),
    ("kind", 0),
    ("log_summary", 0),
    ("logging", 0),
    ("version", 0),
    ("when", 0),
    // The two sides that are kept in sync: the store's API and the mirror.
    ("ecwid", 1),
    ("mirror", 1),
    // The engine: pulls, pushes and the delta worker.
    ("sync", 2),
    // What the engine's record says about timeliness.
    ("freshness", 3),
    // The running service: its listeners, metrics, console, schedules and signals.
    ("console", 4),
    ("daemon", 4),
    ("health", 4),
    ("listener", 4),
    ("metrics", 4),
    ("reload", 4),
    ("server", 4),
    ("signals", 4),
    ("webhooks", 4),
    // The command line, which calls everything below it.
    ("cli", 5),
    ("commands", 5),
];

#[test]
fn every_module_imports_only_its_own_layer_or_lower_ones_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let refs = references(&src);
    let mut failures = Vec::new();

    let layer: BTreeMap<&str, usize> = LAYERS.iter().copied().collect();
    let top_modules: BTreeSet<String> = modules(&src)
        .into_iter()
        .filter(|m| m.len() == 1)
        .map(|m| m[0].clone())
        .collect();
    for module in &top_modules {
        if !layer.contains_key(module.as_str()) {
            failures.push(format!(
                "src/{module}: a top-level module without a layer: add it to LAYERS in tests/layers.rs"
            ));
        }
    }
    for (module, _) in LAYERS {
        if !top_modules.contains(*module) {
            failures.push(format!(
                "LAYERS names `{module}`, which is no longer a module of src/"
            ));
        }
    }

    // Edges between siblings, by parent: parent -> (from, to) -> where it happens.
    let mut edges: BTreeMap<Vec<String>, BTreeMap<(String, String), String>> = BTreeMap::new();
    for r in &refs {
        let common = r.from.iter().zip(&r.to).take_while(|(a, b)| a == b).count();
        if common == r.from.len() || common == r.to.len() {
            continue; // within one module, or between a module and its own parent
        }
        let (from, to) = (&r.from[common], &r.to[common]);
        if common == 0
            && let (Some(&lf), Some(&lt)) = (layer.get(from.as_str()), layer.get(to.as_str()))
        {
            if lt > lf {
                let failure = format!(
                    "{}: `{from}` (layer {lf}) imports `{}` (layer {lt}), a higher layer: move the definition down to the layer that owns it",
                    r.at,
                    r.to.join("::")
                );
                if !failures.contains(&failure) {
                    failures.push(failure);
                }
                continue;
            }
            if lt < lf {
                continue;
            }
        }
        edges
            .entry(r.from[..common].to_vec())
            .or_default()
            .entry((from.clone(), to.clone()))
            .or_insert_with(|| r.at.clone());
    }

    for (parent, parent_edges) in &edges {
        for cycle in cycles(parent_edges) {
            let within = if parent.is_empty() {
                "the top-level modules of one layer".to_string()
            } else {
                format!("the submodules of `{}`", parent.join("::"))
            };
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| {
                    let at = &parent_edges[&(w[0].clone(), w[1].clone())];
                    format!("`{}` imports `{}` at {at}", w[0], w[1])
                })
                .collect();
            failures.push(format!("a cycle between {within}: {}", steps.join("; ")));
        }
    }

    assert!(
        failures.is_empty(),
        "{} layering problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_map_in_lib_rs_lists_every_module_and_the_layers_as_declared_here() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("src/lib.rs is readable");
    let mut failures = Vec::new();

    // `//! 2. the engine: `sync`;` and its continuation lines give a layer's modules.
    let mut in_map: BTreeMap<String, usize> = BTreeMap::new();
    let mut layer = None;
    for line in lib.lines().filter_map(|l| l.strip_prefix("//!")) {
        let text = line.trim();
        let number = text
            .split_once(". ")
            .and_then(|(n, _)| n.parse::<usize>().ok());
        if let Some(n) = number {
            layer = Some(n);
        } else if text.is_empty() || text.starts_with("- ") || !line.starts_with("    ") {
            layer = None;
        }
        if let Some(n) = layer {
            for name in text.split('`').skip(1).step_by(2) {
                in_map.insert(name.to_string(), n);
            }
        }
    }
    let declared: BTreeMap<String, usize> =
        LAYERS.iter().map(|(m, l)| (m.to_string(), *l)).collect();
    if in_map != declared {
        failures.push(format!(
            "the layers in lib.rs's doc comment differ from LAYERS in tests/layers.rs:\n  lib.rs: {in_map:?}\n  LAYERS: {declared:?}"
        ));
    }
    for (module, _) in LAYERS {
        if !lib.contains(&format!("//! - [`{module}`]: ")) {
            failures.push(format!(
                "lib.rs's module map has no line `//! - [`{module}`]: ...`"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// One path naming another module: from the module the text sits in to the module named.
struct Reference {
    from: Vec<String>,
    to: Vec<String>,
    /// `src/file.rs:line`.
    at: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a file holds: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`, `lib.rs` the root.
/// `main.rs` is another crate (the binary) and is left out.
fn file_module(src: &Path, file: &Path) -> Option<Vec<String>> {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    if parts.is_empty() && last == "main.rs" {
        return None;
    }
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && !(parts.is_empty() && stem == "lib") {
        parts.push(stem.to_string());
    }
    Some(parts)
}

fn modules(src: &Path) -> Vec<Vec<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .iter()
        .filter_map(|f| file_module(src, f))
        .filter(|m| !m.is_empty())
        .collect()
}

fn references(src: &Path) -> Vec<Reference> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut known: BTreeSet<Vec<String>> = modules(src).into_iter().collect();
    let mut found = Vec::new();
    for file in &files {
        let Some(module) = file_module(src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let tokens = tokenize(&strip_comments_and_strings(&text));
        let name = format!("src/{}", file.strip_prefix(src).unwrap().display());
        scan(&tokens, &module, &name, &mut known, &mut found);
    }
    // A path names the longest known module it starts with (`crate::mirror::fields::Field`
    // names `mirror::fields`; `crate::kind::Kind` names `kind`).
    found
        .into_iter()
        .filter_map(|(from, path, at)| {
            let len = (1..=path.len())
                .rev()
                .find(|&n| known.contains(&path[..n]))?;
            Some(Reference {
                from,
                to: path[..len].to_vec(),
                at,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Blanks out comments, string and char literals, keeping line breaks so lines still count.
fn strip_comments_and_strings(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let prev_ident = i > 0 && ident_char(c[i - 1]);
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
                out.push(' ');
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if !prev_ident && (c[i] == 'r' || (c[i] == 'b' && c.get(i + 1) == Some(&'r'))) && {
            let mut j = i + if c[i] == 'b' { 2 } else { 1 };
            while c.get(j) == Some(&'#') {
                j += 1;
            }
            c.get(j) == Some(&'"')
        } {
            // A raw string: r"..", r#".."#, br#".."#.
            let start = i + if c[i] == 'b' { 2 } else { 1 };
            let mut j = start;
            while c[j] == '#' {
                j += 1;
            }
            let hashes = j - start;
            for _ in i..=j {
                out.push(' ');
            }
            i = j + 1;
            while i < c.len() {
                if c[i] == '"' && (1..=hashes).all(|k| c.get(i + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                blank(&mut out, c[i]);
                i += 1;
            }
        } else if c[i] == '"' {
            out.push(' ');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    blank(&mut out, c[i]);
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a), which has no closing quote.
            if c.get(i + 1) == Some(&'\\') {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                for _ in i..=j {
                    out.push(' ');
                }
                i = j + 1;
            } else if c.get(i + 2) == Some(&'\'') {
                out.push_str("   ");
                i += 3;
            } else {
                out.push(' ');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn tokenize(text: &str) -> Vec<(Token, usize)> {
    let c: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch.is_alphanumeric() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            tokens.push((
                Token::Ident(word.trim_start_matches("r#").to_string()),
                line,
            ));
        } else if ch == ':' && c.get(i + 1) == Some(&':') {
            tokens.push((Token::PathSep, line));
            i += 2;
        } else {
            tokens.push((Token::Punct(ch), line));
            i += 1;
        }
    }
    tokens
}

/// Finds every path from `crate`, `super` or `self`, tracking inline `mod name { .. }`
/// blocks (such as `mod tests`) so that `super` resolves from the right module.
fn scan(
    tokens: &[(Token, usize)],
    file_module: &[String],
    file: &str,
    known: &mut BTreeSet<Vec<String>>,
    found: &mut Vec<(Vec<String>, Vec<String>, String)>,
) {
    let ident = |i: usize| match tokens.get(i) {
        Some((Token::Ident(s), _)) => Some(s.as_str()),
        _ => None,
    };
    let mut module = file_module.to_vec();
    // Brace depth at which each inline module opened.
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Punct('{') => depth += 1,
            Token::Punct('}') => {
                depth -= 1;
                if inline.last() == Some(&depth) {
                    inline.pop();
                    module.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some(name), Some((Token::Punct('{'), _))) =
                    (ident(i + 1), tokens.get(i + 2))
                {
                    module.push(name.to_string());
                    known.insert(module.clone());
                    inline.push(depth);
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Token::Ident(word)
                if matches!(word.as_str(), "crate" | "super" | "self")
                    && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep)
                    && (i == 0 || tokens[i - 1].0 != Token::PathSep) =>
            {
                let line = tokens[i].1;
                let mut paths = Vec::new();
                let end = path_tree(tokens, i, &module, &mut paths);
                for path in paths {
                    found.push((module.clone(), path, format!("{file}:{line}")));
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
}

/// Reads one path (or `use` tree) starting at `tokens[i]` in module `current`, pushing every
/// full path it names; returns the index after it.
fn path_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    current: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path: Vec<String> = Vec::new();
    let mut first = true;
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Ident(w)) if first && w == "crate" => path.clear(),
            Some(Token::Ident(w)) if first && w == "self" => path = current.to_vec(),
            Some(Token::Ident(w)) if w == "super" => {
                if first {
                    path = current.to_vec();
                }
                path.pop();
            }
            Some(Token::Ident(w)) => path.push(w.clone()),
            Some(Token::Punct('{')) => return nested_group(tokens, i, &path, out),
            _ => break,
        }
        first = false;
        i += 1;
        if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep) {
            i += 1;
        } else {
            break;
        }
    }
    out.push(path);
    i
}

/// One item of a `use` group, relative to the group's path.
fn group_item(
    tokens: &[(Token, usize)],
    mut i: usize,
    base: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut path = base.to_vec();
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Ident(w)) if w == "self" => {}
            Some(Token::Ident(w)) => path.push(w.clone()),
            Some(Token::Punct('{')) => return nested_group(tokens, i, &path, out),
            _ => break,
        }
        i += 1;
        if tokens.get(i).map(|t| &t.0) == Some(&Token::PathSep) {
            i += 1;
        } else {
            break;
        }
    }
    // `name as alias`: the alias names nothing new.
    if let Some((Token::Ident(w), _)) = tokens.get(i)
        && w == "as"
    {
        i += 2;
    }
    out.push(path);
    i
}

fn nested_group(
    tokens: &[(Token, usize)],
    mut i: usize,
    base: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    i += 1; // the `{`
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Punct('}')) => return i + 1,
            Some(Token::Punct(',')) => i += 1,
            Some(Token::Ident(w)) if w == "self" => {
                out.push(base.to_vec());
                i += 1;
            }
            Some(Token::Ident(_)) | Some(Token::Punct('{')) => {
                i = group_item(tokens, i, base, out);
            }
            None => return i,
            Some(_) => i += 1,
        }
    }
}

/// The cycles of a directed graph, one per strongly connected set of nodes, each as a
/// closed walk `a, b, .., a` along its edges.
fn cycles(edges: &BTreeMap<(String, String), String>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    let mut found = Vec::new();
    for (from, to) in edges.keys() {
        // The shortest way back from `to` to `from`, if any, closes a cycle.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([to.as_str()]);
        let mut seen = BTreeSet::from([to.as_str()]);
        while let Some(node) = queue.pop_front() {
            if node == from {
                break;
            }
            for &n in next.get(node).into_iter().flatten() {
                if seen.insert(n) {
                    came_from.insert(n, node);
                    queue.push_back(n);
                }
            }
        }
        if !seen.contains(from.as_str()) {
            continue;
        }
        let mut back = vec![from.as_str()];
        while *back.last().unwrap() != to.as_str() {
            back.push(came_from[back.last().unwrap()]);
        }
        back.reverse();
        back.insert(0, from); // from, to, .., from
        let walk: Vec<String> = back.iter().map(|s| s.to_string()).collect();
        let nodes: BTreeSet<String> = walk.iter().cloned().collect();
        if reported.insert(nodes) {
            found.push(walk);
        }
    }
    found
}
