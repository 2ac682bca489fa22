//! The rows of the figures table: how they print, and the JSON file they are written to.

use std::path::PathBuf;

use serde_json::{Value, json};

/// What a row's figure is held to.
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    Below(f64),
    /// Every round or run: the value is the fraction that passed.
    All,
    /// Reported for what it tells, with nothing to meet.
    None,
}

pub struct Row {
    pub id: &'static str,
    pub what: String,
    pub value: f64,
    /// The figure as printed: units, and a fraction where one reads better.
    pub figure: String,
    pub target: Target,
    /// Runs behind the figure, spreads, counts that explain it.
    pub detail: String,
}

impl Row {
    pub fn new(id: &'static str, what: impl Into<String>, value: f64, figure: String) -> Row {
        Row {
            id,
            what: what.into(),
            value,
            figure,
            target: Target::None,
            detail: String::new(),
        }
    }

    pub fn target(mut self, target: Target) -> Row {
        self.target = target;
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Row {
        self.detail = detail.into();
        self
    }

    /// A row whose section failed before it could measure.
    pub fn not_measured(id: &'static str, what: &str, why: &str) -> Row {
        Row::new(id, what, f64::NAN, "not measured".into()).detail(why.to_string())
    }

    /// `Some(true)` when the figure meets its target; `None` without one. A figure that
    /// could not be measured meets nothing.
    pub fn pass(&self) -> Option<bool> {
        let v = self.value;
        match self.target {
            Target::None => None,
            _ if v.is_nan() => Some(false),
            Target::AtLeast(t) => Some(v >= t),
            Target::AtMost(t) => Some(v <= t),
            Target::Below(t) => Some(v < t),
            Target::All => Some(v >= 1.0),
        }
    }

    fn target_text(&self) -> String {
        match self.target {
            Target::AtLeast(t) => format!(">= {}", number(t)),
            Target::AtMost(t) => format!("<= {}", number(t)),
            Target::Below(t) => format!("< {}", number(t)),
            Target::All => "all".to_string(),
            Target::None => "-".to_string(),
        }
    }

    fn result_text(&self) -> &'static str {
        match self.pass() {
            Some(true) => "pass",
            Some(false) => "FAIL",
            None => "-",
        }
    }
}

/// A number without noise: whole numbers with thousands separators, others to 3 figures.
pub fn number(v: f64) -> String {
    if v.is_nan() {
        return "-".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        let digits = format!("{}", v.abs() as u64);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        return if v < 0.0 { format!("-{out}") } else { out };
    }
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    format!("{v:.decimals$}")
}

pub fn print_table(rows: &[Row]) {
    let head = ["#", "what", "figure", "target", "result"];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                r.id.to_string(),
                r.what.clone(),
                r.figure.clone(),
                r.target_text(),
                r.result_text().to_string(),
            ]
        })
        .collect();
    let width = |i: usize| {
        cells
            .iter()
            .map(|c| c[i].chars().count())
            .chain([head[i].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..5).map(width).collect();
    let line = |c: [&str; 5]| {
        let padded: Vec<String> = c
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(head);
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rules.join("-|-"));
    for c in &cells {
        line([&c[0], &c[1], &c[2], &c[3], &c[4]]);
    }
}

/// Where the figures go: `target/bench/results.json` of this build's target directory.
pub fn results_path() -> PathBuf {
    // The benchmark runs as target/<profile>/deps/figures-<hash>.
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("bench").join("results.json")
}

pub fn write_json(rows: &[Row], quick: bool, secs: f64) -> std::io::Result<PathBuf> {
    let path = results_path();
    std::fs::create_dir_all(path.parent().unwrap())?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "row": r.id,
                "what": r.what,
                "figure": r.figure,
                "value": if r.value.is_finite() { json!(r.value) } else { Value::Null },
                "target": r.target_text(),
                "pass": r.pass(),
                "detail": r.detail,
            })
        })
        .collect();
    let document = json!({
        "quick": quick,
        "seconds": secs,
        "finished_unix": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "rows": rows,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&document)? + "\n")?;
    Ok(path)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// The nearest-rank percentile `p` (0..=1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Each run's figure, for a row's detail: "runs: 1.2, 1.3, 1.1".
pub fn runs(values: &[f64]) -> String {
    let each: Vec<String> = values.iter().map(|v| number(*v)).collect();
    format!("runs: {}", each.join(", "))
}
