//! The monitoring that ships in monitoring/: the alert rules and the dashboard name only
//! metrics a running daemon serves and docs/monitoring.md lists, every alert has a
//! severity, words for the operator and a runbook section, the alerts and the dashboard
//! keep each store apart by its `store` label, the dashboard is one Grafana imports, and
//! the figures the alerts stand on appear in `/metrics` and move with what they measure.
//! (`promtool test rules` in .ci/run proves that the rules fire and stay quiet.)

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use ecwid_sync::ecwid::Client;
use ecwid_sync::metrics::Metrics;
use ecwid_sync::mirror::outbox_review::{Oldest, StateCounts};
use ecwid_sync::mirror::unix_now;
use serde_json::{Value, json};

/// Where every `runbook_url` points until the operator replaces it (docs/monitoring.md,
/// "Monitoring that ships").
const RUNBOOK_BASE: &str = "https://ecwid-sync.invalid/docs/runbooks.md#";

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One alert of monitoring/alerts.yml: its `expr`, and its other `key: value` lines
/// (`severity`, `summary`, `runbook_url`, ...).
#[derive(Debug)]
struct Rule {
    alert: String,
    expr: String,
    fields: HashMap<String, String>,
}

/// The alerts of alerts.yml, read line by line (the crate has no YAML parser, and the file
/// keeps one shape: `expr:` inline or as an indented `>-` block). An alert whose expression
/// this cannot read has an empty `expr`, which the tests refuse.
fn alert_rules() -> Vec<Rule> {
    let text = repo_file("monitoring/alerts.yml");
    let indent = |line: &str| line.len() - line.trim_start().len();
    let mut rules: Vec<Rule> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed.strip_prefix("- alert:") {
            rules.push(Rule {
                alert: name.trim().to_string(),
                expr: String::new(),
                fields: HashMap::new(),
            });
            continue;
        }
        let (Some(rule), Some((key, value))) = (rules.last_mut(), trimmed.split_once(':')) else {
            continue;
        };
        let value = value.trim();
        if key == "expr" {
            rule.expr = if value == ">-" {
                let mut block = Vec::new();
                while let Some(next) = lines.next_if(|l| indent(l) > indent(line)) {
                    block.push(next.trim());
                }
                block.join(" ")
            } else {
                value.to_string()
            };
        } else {
            rule.fields
                .insert(key.to_string(), value.trim_matches('"').to_string());
        }
    }
    assert!(rules.len() >= 14, "alerts.yml's alerts: {rules:?}");
    for rule in &rules {
        assert!(!rule.expr.is_empty(), "no expr read for {rule:?}");
    }
    rules
}

fn dashboard() -> Value {
    serde_json::from_str(&repo_file("monitoring/grafana-dashboard.json"))
        .expect("the dashboard is JSON")
}

/// Every query of the dashboard's panels.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["targets"].as_array())
        .flatten()
        .map(|t| t["expr"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The daemon's metric names a PromQL expression uses: the words that start with the
/// registry's prefix (no label name or value does).
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|word| word.starts_with("ecwid_sync_"))
        .map(str::to_string)
        .collect()
}

/// The sample names Prometheus stores for a scrape's families, from their `# TYPE` lines
/// (present for every registered family, with or without samples yet): an OpenMetrics
/// counter `x` is stored as `x_total`, a histogram as `x_bucket`, `x_sum` and `x_count`.
fn stored_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (family, kind) = rest.split_once(' ').expect("# TYPE name type");
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{family}{s}")));
    }
    names
}

async fn scrape_text(listen: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{listen}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_metric_the_alert_rules_and_the_dashboard_name_is_one_a_running_daemon_serves() {
    let store = TestStore::start(TestStore::small()).await;
    let daemon = WebhookDaemon::start(&store).await;
    let served = stored_names(&scrape_text(daemon.listen).await);

    let mut used: Vec<(String, String)> = Vec::new();
    for rule in alert_rules() {
        used.extend(
            metric_names(&rule.expr)
                .into_iter()
                .map(|m| (rule.alert.clone(), m)),
        );
    }
    for expr in dashboard_exprs(&dashboard()) {
        used.extend(
            metric_names(&expr)
                .into_iter()
                .map(|m| ("dashboard".to_string(), m)),
        );
    }
    let distinct: BTreeSet<_> = used.iter().map(|(_, m)| m).collect();
    assert!(distinct.len() >= 30, "names read: {distinct:?}");
    let missing: Vec<_> = used.iter().filter(|(_, m)| !served.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "named but not served: {missing:?}\nserved: {served:?}"
    );
}

#[test]
fn every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section() {
    let runbooks = repo_file("docs/runbooks.md");
    // GitHub's anchors: the heading in lower case, spaces as hyphens.
    let sections: HashMap<String, String> = runbooks
        .split("\n## ")
        .skip(1)
        .map(|section| {
            let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
            (
                heading.trim().to_lowercase().replace(' ', "-"),
                body.to_string(),
            )
        })
        .collect();
    for rule in alert_rules() {
        let field = |key: &str| rule.fields.get(key).map(String::as_str).unwrap_or("");
        assert!(
            ["critical", "warning"].contains(&field("severity")),
            "{rule:?}"
        );
        assert!(!field("summary").is_empty(), "{rule:?}");
        assert!(!field("description").is_empty(), "{rule:?}");
        let anchor = field("runbook_url")
            .strip_prefix(RUNBOOK_BASE)
            .unwrap_or_else(|| panic!("runbook_url not under {RUNBOOK_BASE}: {rule:?}"));
        let section = sections
            .get(anchor)
            .unwrap_or_else(|| panic!("docs/runbooks.md has no section #{anchor}"));
        for part in ["Meaning", "Impact", "Diagnosis", "What to do"] {
            assert!(
                section.contains(&format!("**{part}")),
                "#{anchor} has no {part}"
            );
        }
        assert_eq!(
            anchor,
            rule.alert.to_lowercase(),
            "the section is the alert's"
        );
    }
}

#[test]
fn the_dashboard_is_one_grafana_imports_with_a_prometheus_input_and_a_query_in_every_panel() {
    let dashboard = dashboard();
    let inputs = dashboard["__inputs"].as_array().expect("__inputs");
    assert!(
        inputs.iter().any(|i| i["name"] == "DS_PROMETHEUS"
            && i["type"] == "datasource"
            && i["pluginId"] == "prometheus"),
        "{inputs:?}"
    );
    let schema = dashboard["schemaVersion"].as_i64().unwrap();
    assert!((36..=41).contains(&schema), "schemaVersion {schema}");
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(dashboard["uid"].as_str().is_some_and(|t| !t.is_empty()));

    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for panel in panels {
        let id = panel["id"].as_i64().expect("a numeric id");
        assert!(ids.insert(id), "panel id {id} twice");
        let grid = &panel["gridPos"];
        let at = |key: &str| grid[key].as_i64().unwrap_or_else(|| panic!("{panel}"));
        assert!(at("w") >= 1 && at("h") >= 1 && at("x") >= 0 && at("y") >= 0);
        assert!(at("x") + at("w") <= 24, "wider than the grid: {panel}");
        let kind = panel["type"].as_str().unwrap();
        if kind == "row" {
            continue;
        }
        assert!(["timeseries", "stat"].contains(&kind), "{panel}");
        assert!(titles.insert(panel["title"].as_str().unwrap()), "{panel}");
        assert_eq!(
            panel["datasource"],
            json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"}),
            "{panel}"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{panel}");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert!(
                target["expr"]
                    .as_str()
                    .is_some_and(|e| !e.trim().is_empty()),
                "{panel}"
            );
            assert!(refs.insert(target["refId"].as_str().unwrap()), "{panel}");
        }
    }
    let titles_text = format!("{titles:?}").to_lowercase();
    for subject in [
        "pull",
        "deliveries",
        "events",
        "outbox",
        "conflict",
        "request",
        "refused writes",
    ] {
        assert!(
            titles_text.contains(subject),
            "no {subject} panel: {titles_text}"
        );
    }
}

/// The label lists of an expression's `by (...)` and `on (...)` clauses.
fn grouping_lists(expr: &str) -> Vec<Vec<String>> {
    let mut lists = Vec::new();
    for keyword in [" by (", " on ("] {
        for (at, _) in expr.match_indices(keyword) {
            let rest = &expr[at + keyword.len()..];
            let list = rest.split_once(')').map_or(rest, |(list, _)| list);
            lists.push(list.split(',').map(|l| l.trim().to_string()).collect());
        }
    }
    lists
}

/// The label matchers of every selector of a daemon metric in an expression, e.g.
/// `instance=~"$instance", store=~"$store"`; an empty string for a bare metric name.
fn daemon_selectors(expr: &str) -> Vec<(String, String)> {
    let mut selectors = Vec::new();
    for (at, _) in expr.match_indices("ecwid_sync_") {
        let rest = &expr[at..];
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let matchers = rest[name_end..]
            .strip_prefix('{')
            .and_then(|inner| inner.split_once('}'))
            .map_or("", |(matchers, _)| matchers);
        selectors.push((rest[..name_end].to_string(), matchers.to_string()));
    }
    selectors
}

#[test]
fn every_alert_about_a_store_keeps_the_store_in_what_it_matches_and_names_it() {
    let rules = alert_rules();
    // `up` is Prometheus' own series of the daemon and has no store.
    let per_store: Vec<_> = rules
        .iter()
        .filter(|r| r.alert != "EcwidSyncDown")
        .collect();
    assert_eq!(per_store.len() + 1, rules.len(), "EcwidSyncDown is there");
    for rule in per_store {
        for list in grouping_lists(&rule.expr) {
            assert!(
                list.iter().any(|label| label == "store"),
                "{}: {list:?} drops the store, so one store's series hide or raise another's: {}",
                rule.alert,
                rule.expr
            );
        }
        assert!(
            !rule.expr.contains("without") && !rule.expr.contains("ignoring"),
            "{}: list the labels kept instead: {}",
            rule.alert,
            rule.expr
        );
        for field in ["summary", "description"] {
            assert!(
                rule.fields[field].contains("$labels.store"),
                "{}'s {field} does not name the store",
                rule.alert
            );
        }
    }
    let stopped = rules
        .iter()
        .find(|r| r.alert == "EcwidSyncStoreStopped")
        .expect("an alert for a store stopped while the daemon runs");
    assert_eq!(stopped.expr, "ecwid_sync_store_up == 0");
    assert_eq!(stopped.fields["severity"], "critical");
    assert_eq!(stopped.fields["for"], "2m");
}

#[test]
fn the_dashboard_chooses_stores_and_narrows_every_query_of_the_daemons_metrics_to_them() {
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let store = variables
        .iter()
        .find(|v| v["name"] == "store")
        .expect("a store variable");
    assert_eq!(store["type"], "query");
    assert_eq!(
        store["definition"],
        "label_values(ecwid_sync_store_up, store)"
    );
    assert_eq!(store["query"]["query"], store["definition"]);
    assert_eq!(store["multi"], true);
    assert_eq!(store["includeAll"], true);
    // All as `.*`, not the list of stores running: it keeps the refusals counted under
    // store="(unrouted)", which ecwid_sync_store_up never names.
    assert_eq!(store["allValue"], ".*");

    let exprs = dashboard_exprs(&dashboard);
    let selectors: Vec<_> = exprs.iter().flat_map(|e| daemon_selectors(e)).collect();
    assert!(selectors.len() >= 40, "{selectors:?}");
    for (metric, matchers) in &selectors {
        assert!(
            matchers.contains(r#"store=~"$store""#),
            "{metric}{{{matchers}}} is not narrowed to the chosen stores"
        );
    }
    assert!(
        exprs
            .iter()
            .any(|e| e.contains("ecwid_sync_store_up{") && !e.contains('(')),
        "a panel shows each store running or stopped: {exprs:?}"
    );
}

#[test]
fn every_metric_the_alert_rules_and_the_dashboard_name_has_its_row_in_the_metrics_table() {
    let docs = repo_file("docs/monitoring.md");
    let rows: BTreeSet<String> = docs
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|cell| cell.split(['`', '{']).next().unwrap().to_string())
        .collect();
    let mut named: BTreeSet<String> = alert_rules()
        .iter()
        .flat_map(|rule| metric_names(&rule.expr))
        .collect();
    named.extend(
        dashboard_exprs(&dashboard())
            .iter()
            .flat_map(|e| metric_names(e)),
    );
    for name in named {
        // A histogram's row names the family; queries name its `_bucket`, `_sum`, `_count`.
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .filter(|family| rows.contains(*family))
            .unwrap_or(&name);
        assert!(
            rows.contains(family),
            "docs/monitoring.md has no row for {name}"
        );
    }
    for words in ["`store`", "(unrouted)", "ecwid_sync_store_up"] {
        assert!(
            docs.contains(words),
            "docs/monitoring.md never says {words}"
        );
    }
}

#[tokio::test]
async fn the_pull_schedule_the_key_lifetime_and_a_stalled_mirror_show_in_a_live_scrape() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let db = scratch.path("mirror.db");
    let listen = free_local_addr();
    let config = db.with_extension("toml");
    let text = webhook_config_text(
        &store,
        &db,
        listen,
        "incremental_cron = \"*/20 * * * * *\"\n\n[push]\nkey_lifetime_secs = 1800\n",
    )
    .replace(
        r#"kinds = ["products", "categories", "orders", "customers"]"#,
        r#"kinds = ["products", "categories", "orders"]"#,
    );
    std::fs::write(&config, text).unwrap();
    let mut child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut child);
    let pulled = |m: &HashMap<String, f64>, kind: &str| {
        m.contains_key(&format!(
            "ecwid_sync_pull_last_success_timestamp_seconds{{kind=\"{kind}\"}}"
        ))
    };
    assert!(
        wait_until(Duration::from_secs(30), || async {
            let Ok(answer) = reqwest::get(format!("http://{listen}/metrics")).await else {
                return false;
            };
            let m = parse_metrics(&answer.text().await.unwrap());
            ["products", "categories", "orders"]
                .iter()
                .all(|k| pulled(&m, k))
        })
        .await,
        "the first pass ends: {}",
        log.text()
    );

    let m = scrape_metrics(listen).await;
    for kind in ["products", "categories", "orders"] {
        let key = format!("ecwid_sync_pull_expected_interval_seconds{{kind=\"{kind}\"}}");
        assert_eq!(m.get(&key), Some(&20.0), "{key}: {m:?}");
    }
    assert!(
        !m.keys()
            .any(|k| k.starts_with("ecwid_sync_pull_expected_interval_seconds{kind=\"customers\"")),
        "customers are not mirrored: {m:?}"
    );
    assert_eq!(m["ecwid_sync_push_key_lifetime_seconds"], 1800.0);
    assert_eq!(m["ecwid_sync_mirror_write_stalled_seconds"], 0.0);
    assert_eq!(m["ecwid_sync_api_throttled_now"], 0.0);

    // A tool holds the write lock past the next scheduled pull's write.
    let tool = rusqlite::Connection::open(&db).unwrap();
    tool.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || async {
            scrape_metrics(listen).await["ecwid_sync_mirror_write_stalled_seconds"] >= 1.0
        })
        .await,
        "the stall never showed: {}",
        log.text()
    );
    tool.execute_batch("COMMIT").unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || async {
            scrape_metrics(listen).await["ecwid_sync_mirror_write_stalled_seconds"] == 0.0
        })
        .await,
        "the stall never ended: {}",
        log.text()
    );
    assert_eq!(terminate(&mut child).await.code(), Some(0));
}

#[tokio::test]
async fn a_restarted_daemon_serves_each_kinds_last_successful_pull_from_the_mirror() {
    let (store, scratch, db, _) = mirrored(TestStore::small()).await;
    // An earlier run pulled products long ago; every pull of them fails from now on, so the
    // time served can only be the mirror's.
    let pulled_at = unix_now() - 5000;
    open_as_daemon(&db)
        .execute(
            "UPDATE sync_state SET last_incremental = ?1, last_full_finished = ?1,
                    stats_marker = NULL
              WHERE kind = 'products'",
            [pulled_at],
        )
        .unwrap();
    store
        .set_faults(json!({"error_500_rate": 1.0, "path_contains": "/products"}))
        .await;
    let listen = free_local_addr();
    let config = scratch.path("daemon.toml");
    std::fs::write(&config, webhook_config_text(&store, &db, listen, "")).unwrap();
    let mut child = spawn_ecwid_sync(&config, &["run"], Stdio::piped());
    let log = StderrLog::collect(&mut child);
    assert!(
        wait_until(Duration::from_secs(30), || async {
            reqwest::get(format!("http://{listen}/metrics"))
                .await
                .is_ok()
        })
        .await,
        "{}",
        log.text()
    );

    let m = scrape_metrics(listen).await;
    let key = "ecwid_sync_pull_last_success_timestamp_seconds{kind=\"products\"}";
    assert_eq!(m.get(key), Some(&(pulled_at as f64)), "{m:?}");
    assert_eq!(terminate(&mut child).await.code(), Some(0));
}

#[tokio::test]
async fn the_throttled_gauge_is_one_while_ecwid_answers_429_and_zero_once_it_answers_again() {
    let store = TestStore::start(TestStore::small()).await;
    let scratch = Scratch::new();
    let metrics = Metrics::new();
    let client = Client::for_daemon(
        &config(&store, &scratch.path("unused.db")).ecwid,
        metrics.api.clone(),
    )
    .unwrap();
    let throttled_now =
        |metrics: &Metrics| parse_metrics(&metrics.encode())["ecwid_sync_api_throttled_now"];
    assert_eq!(throttled_now(&metrics), 0.0);
    store.set_faults(json!({"storm_429_requests": 3})).await;

    let read = tokio::spawn({
        let client = client.clone();
        async move { client.get_bytes("/latest-stats", &[]).await }
    });
    // The storm is three answers with Retry-After: 1, about 3 s.
    assert!(
        wait_until(Duration::from_secs(3), || async {
            throttled_now(&metrics) == 1.0
        })
        .await
    );
    assert!(!read.is_finished(), "Ecwid still throttles");
    read.await
        .unwrap()
        .expect("the read succeeds once the storm is over");
    assert_eq!(throttled_now(&metrics), 0.0);
}

#[tokio::test]
async fn the_waiting_times_follow_the_oldest_open_change_unanswered_batch_and_open_conflict() {
    let (_store, _scratch, db, _) = mirrored(TestStore::small()).await;
    let now = unix_now();
    let product = count(&db, "SELECT min(id) FROM products");
    open_as_daemon(&db)
        .execute_batch(&format!(
            "INSERT INTO outbox (entity, product_id, delta, created_at, state)
                  VALUES ('product', {product}, -1, {pending}, 'pending');
             INSERT INTO outbox (entity, product_id, delta, created_at, state, batch_key, attempts)
                  VALUES ('product', {product}, -2, {sending}, 'sending', 'k1', 1);
             INSERT INTO push_batches (key, first_sent) VALUES ('k1', {first_sent});",
            pending = now - 300,
            sending = now - 2000,
            first_sent = now - 1000,
        ))
        .unwrap();
    stage_weight_conflict(&db, product);
    let conflict_found = count(&db, "SELECT created_at FROM conflicts");

    let metrics = Metrics::new();
    let ages = || {
        let conn = open(&db);
        metrics.push.set_outbox(
            &StateCounts::read(&conn).unwrap(),
            &Oldest::read(&conn).unwrap(),
        );
        let m = parse_metrics(&metrics.encode());
        let at = unix_now();
        [
            "ecwid_sync_outbox_oldest_open_age_seconds",
            "ecwid_sync_push_oldest_unanswered_age_seconds",
            "ecwid_sync_conflicts_oldest_open_age_seconds",
        ]
        .map(|name| (m[name] as i64, at))
    };
    let close = |(age, at): (i64, i64), since: i64| (age - (at - since)).abs() <= 2;

    let [open_change, unanswered, conflict] = ages();
    assert!(close(open_change, now - 2000), "{open_change:?}");
    assert!(close(unanswered, now - 1000), "{unanswered:?}");
    assert!(close(conflict, conflict_found), "{conflict:?}");

    // Ecwid answers the batch, and the operator resolves the conflict.
    open_as_daemon(&db)
        .execute_batch(
            "UPDATE outbox SET state = 'applied', settled_at = 1 WHERE state = 'sending';
             UPDATE conflicts SET state = 'resolved', resolved_at = 1;",
        )
        .unwrap();
    let [open_change, unanswered, conflict] = ages();
    assert!(close(open_change, now - 300), "{open_change:?}");
    assert_eq!(unanswered.0, 0);
    assert_eq!(conflict.0, 0);
}
