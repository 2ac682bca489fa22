//! Category names and visibility (schema 016): a tool renames a category or hides it in the
//! mirror, the change reaches the store as `PUT /categories/{id}` in a keyed batch, a
//! rename made on both sides is settled by the `name` policy, bad values are refused when
//! written, and the lists name the category.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use ecwid_sync::config::Config;
use ecwid_sync::sync::push::fields::Policy;
use serde_json::{Value, json};

/// A category the store shows.
fn visible_category(state: &Value) -> i64 {
    state["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["enabled"] != json!(false))
        .expect("a visible category")["id"]
        .as_i64()
        .unwrap()
}

/// The store's name and visibility of `category`.
fn in_store(state: &Value, category: i64) -> (Value, Value) {
    let c = state["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == category)
        .unwrap();
    (c["name"].clone(), c["enabled"].clone())
}

/// The mirror's name and visibility of `category`, and the same from its copy of Ecwid's
/// document.
fn in_mirror(db: &Path, category: i64) -> Value {
    query(
        &open(db),
        &format!(
            "SELECT name, enabled, json_extract(raw_json, '$.name'),
                    COALESCE(json_extract(raw_json, '$.enabled'), 1)
               FROM categories WHERE id = {category}"
        ),
    )
    .remove(0)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json_of(config: &Path, args: &[&str]) -> Value {
    let out = run_as_operator(config, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {err}"))
}

#[tokio::test]
async fn a_category_renamed_and_hidden_only_in_the_mirror_is_changed_in_the_store_in_one_batch() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let category = visible_category(&store.state().await);
    tool(
        &db,
        &format!("UPDATE categories SET name = 'Winter sale', enabled = 0 WHERE id = {category}"),
    )
    .unwrap();
    assert_eq!(
        query(
            &open(&db),
            "SELECT entity, category_id, product_id, field, value FROM outbox ORDER BY id"
        ),
        vec![
            json!(["category", category, null, "name", "Winter sale"]),
            json!(["category", category, null, "enabled", 0]),
        ],
        "each write is captured, naming the category"
    );
    store.reset_stats().await;

    let summary = push(&config).await;

    assert_eq!((summary.updated, summary.conflicts), (1, 0), "one update");
    assert_eq!(
        in_store(&store.state().await, category),
        (json!("Winter sale"), json!(false))
    );
    let stats = store.stats().await;
    assert_eq!(stats["requests"]["POST /batch"], 1, "{stats}");
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'"),
        0
    );
    // The batch read the category back: the mirror's copy of Ecwid's document has the values.
    assert_eq!(
        in_mirror(&db, category),
        json!(["Winter sale", 0, "Winter sale", 0])
    );
    pass(&config, false).await;
    assert_eq!(
        in_mirror(&db, category),
        json!(["Winter sale", 0, "Winter sale", 0])
    );
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 2, "nothing new");
    assert_eq!(count(&db, "SELECT count(*) FROM conflicts"), 0);
}

/// A category named "Base" in both, renamed "Ours" in the mirror and "Theirs" in the store
/// (in that order unless `store_first`), with `[conflicts] name = policy`.
async fn renamed_on_both_sides(
    policy: Policy,
    store_first: bool,
) -> (TestStore, Scratch, std::path::PathBuf, Config, i64) {
    let (store, scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.conflicts.name = policy;
    let category = visible_category(&store.state().await);
    store
        .admin_edit_category(category, json!({"name": "Base"}))
        .await;
    pass(&config, false).await;
    assert_eq!(in_mirror(&db, category)[0], "Base");
    let ours = format!("UPDATE categories SET name = 'Ours' WHERE id = {category}");
    if store_first {
        store
            .admin_edit_category(category, json!({"name": "Theirs"}))
            .await;
        tool(&db, &ours).unwrap();
    } else {
        tool(&db, &ours).unwrap();
        store
            .admin_edit_category(category, json!({"name": "Theirs"}))
            .await;
    }
    (store, scratch, db, config, category)
}

#[tokio::test]
async fn each_policy_settles_a_category_renamed_on_both_sides_as_it_says() {
    // (policy, the store renamed it first, the name the store ends with, outbox state)
    // Ecwid keeps no update time for a category: under newest_wins the mirror's change,
    // the only one with a time, counts as the newer whichever came first.
    let cases = [
        (Policy::LocalWins, false, "Ours", "applied", json!("local")),
        (
            Policy::RemoteWins,
            true,
            "Theirs",
            "dropped",
            json!("remote"),
        ),
        (Policy::NewestWins, true, "Ours", "applied", json!("local")),
        (Policy::NewestWins, false, "Ours", "applied", json!("local")),
        (Policy::Manual, true, "Theirs", "conflict", Value::Null),
    ];
    for (policy, store_first, kept, state, resolution) in cases {
        let (store, _scratch, db, config, category) =
            renamed_on_both_sides(policy, store_first).await;
        let case = format!("{policy:?}, store first: {store_first}");

        let summary = push(&config).await;

        assert_eq!(summary.conflicts, 1, "{case}");
        assert_eq!(
            in_store(&store.state().await, category).0,
            json!(kept),
            "{case}"
        );
        assert_eq!(
            query(&open(&db), "SELECT field, state FROM outbox"),
            vec![json!(["name", state])],
            "{case}"
        );
        let open_or_resolved = if state == "conflict" {
            "open"
        } else {
            "resolved"
        };
        assert_eq!(
            query(
                &open(&db),
                "SELECT entity, category_id, field, base, local, remote, remote_at, policy,
                        state, resolution
                   FROM conflicts"
            ),
            vec![json!([
                "category",
                category,
                "name",
                "Base",
                "Ours",
                "Theirs",
                null,
                policy.name(),
                open_or_resolved,
                resolution
            ])],
            "{case}"
        );
        // The mirror shows Ecwid's value whatever happened, once pulled.
        pass(&config, false).await;
        assert_eq!(in_mirror(&db, category)[0], json!(kept), "{case}");
    }
}

#[tokio::test]
async fn a_held_category_conflict_is_resolved_for_the_mirrors_name_by_the_operator() {
    let (store, scratch, db, config, category) = renamed_on_both_sides(Policy::Manual, false).await;
    push(&config).await;
    let config_file = scratch.path("config.toml");
    std::fs::write(&config_file, config_text(&store, &db, "secret_test", "")).unwrap();
    let id = count(&db, "SELECT id FROM conflicts WHERE state = 'open'");

    let out = run_as_operator(
        &config_file,
        &["conflicts", "resolve", &id.to_string(), "--take", "local"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    push(&config).await;

    assert_eq!(in_store(&store.state().await, category).0, json!("Ours"));
    assert_eq!(
        query(&open(&db), "SELECT state FROM outbox"),
        vec![json!(["applied"])]
    );
}

#[tokio::test]
async fn bad_category_values_are_refused_with_the_column_and_its_limits() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let category = visible_category(&store.state().await);
    let refused = [
        (
            format!("UPDATE categories SET name = '' WHERE id = {category}"),
            "categories.name must be text that is not empty",
        ),
        (
            format!("UPDATE categories SET name = '   ' WHERE id = {category}"),
            "categories.name must be text that is not empty",
        ),
        (
            format!("UPDATE categories SET name = NULL WHERE id = {category}"),
            "categories.name must be text that is not empty",
        ),
        (
            format!("UPDATE categories SET name = x'00ff' WHERE id = {category}"),
            "categories.name must be text that is not empty",
        ),
        (
            format!(
                "UPDATE categories SET name = '{}' WHERE id = {category}",
                "x".repeat(4097)
            ),
            "categories.name must be at most 4096 characters",
        ),
        (
            format!("UPDATE categories SET enabled = 2 WHERE id = {category}"),
            "categories.enabled must be 1 (shown in the storefront) or 0 (hidden)",
        ),
        (
            format!("UPDATE categories SET enabled = 'no' WHERE id = {category}"),
            "categories.enabled must be 1 (shown in the storefront) or 0 (hidden)",
        ),
        (
            format!("UPDATE categories SET enabled = NULL WHERE id = {category}"),
            "categories.enabled must be 1 (shown in the storefront) or 0 (hidden)",
        ),
        (
            format!("UPDATE categories SET parent_id = 1 WHERE id = {category}"),
            "categories.parent_id is Ecwid's and cannot be changed in the mirror; tools may change name and enabled",
        ),
        (
            format!("UPDATE categories SET order_by = 3 WHERE id = {category}"),
            "categories.order_by is Ecwid's and cannot be changed in the mirror; tools may change name and enabled",
        ),
        (
            format!("UPDATE categories SET raw_json = '{{}}' WHERE id = {category}"),
            "categories.raw_json is Ecwid's and cannot be changed in the mirror",
        ),
        (
            format!("UPDATE categories SET id = 1 WHERE id = {category}"),
            "categories.id is Ecwid's and cannot be changed in the mirror",
        ),
        (
            format!("DELETE FROM categories WHERE id = {category}"),
            "categories is Ecwid's copy and is not written back",
        ),
        (
            "INSERT INTO categories (id, name, raw_json, synced_at) VALUES (1, 'New', '{}', 0)"
                .to_string(),
            "categories is Ecwid's copy and is not written back",
        ),
    ];
    for (sql, message) in refused {
        let err = tool(&db, &sql).unwrap_err().to_string();
        assert!(err.contains(message), "{sql}: {err}");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        0,
        "nothing recorded"
    );
    // Writing the value it has is no change.
    tool(
        &db,
        &format!("UPDATE categories SET name = name, enabled = enabled WHERE id = {category}"),
    )
    .unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 0);
}

#[tokio::test]
async fn the_outbox_and_conflicts_lists_name_the_category_of_a_change() {
    let (store, scratch, db, config, category) = renamed_on_both_sides(Policy::Manual, false).await;
    push(&config).await;
    let other = store.state().await["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .find(|&c| c != category)
        .unwrap();
    tool(
        &db,
        &format!("UPDATE categories SET enabled = 1 - enabled WHERE id = {other}"),
    )
    .unwrap();
    let config_file = scratch.path("config.toml");
    std::fs::write(&config_file, config_text(&store, &db, "secret_test", "")).unwrap();

    let outbox = stdout(&run_as_operator(&config_file, &["outbox", "list"]));
    let conflicts = stdout(&run_as_operator(&config_file, &["conflicts", "list"]));
    let outbox_json = json_of(&config_file, &["outbox", "list", "--json"]);
    let conflicts_json = json_of(&config_file, &["conflicts", "list", "--json"]);

    let line_with = |text: &str, what: &str, change: &str| {
        text.lines()
            .any(|l| l.contains(&format!("{what} ")) && l.contains(change))
    };
    assert!(
        line_with(&outbox, &format!("category {category}"), "name = \"Ours\""),
        "{outbox}"
    );
    assert!(
        line_with(&outbox, &format!("category {other}"), "enabled = "),
        "{outbox}"
    );
    assert!(
        line_with(&conflicts, &format!("category {category}"), "\"Theirs\""),
        "{conflicts}"
    );
    assert!(!outbox.contains("product"), "{outbox}");
    let listed: Vec<(Value, Value)> = outbox_json
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["entity"].clone(), c["category_id"].clone()))
        .collect();
    assert!(
        listed.contains(&(json!("category"), json!(category)))
            && listed.contains(&(json!("category"), json!(other))),
        "{outbox_json}"
    );
    assert_eq!(conflicts_json[0]["entity"], "category", "{conflicts_json}");
    assert_eq!(conflicts_json[0]["category_id"], category);
}

#[tokio::test]
async fn pulls_keep_a_category_rename_on_its_way_and_a_full_pull_repairs_nothing() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let category = visible_category(&store.state().await);
    let (name, _) = in_store(&store.state().await, category);
    tool(
        &db,
        &format!("UPDATE categories SET name = 'Ours', enabled = 0 WHERE id = {category}"),
    )
    .unwrap();

    pass(&config, false).await;
    let full = pass(&config, true).await;

    assert_eq!(
        in_mirror(&db, category),
        json!(["Ours", 0, name, 1]),
        "the mirror shows the change, its copy of the document Ecwid's values"
    );
    assert_eq!(
        summary(&full, ecwid_sync::sync::Kind::Categories).repaired,
        0
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state = 'pending'"),
        2
    );
    push(&config).await;
    assert_eq!(
        in_store(&store.state().await, category),
        (json!("Ours"), json!(false))
    );
}

#[tokio::test]
async fn the_consoles_conflicts_page_names_the_category_of_a_held_rename() {
    let (store, scratch, db, config, category) = renamed_on_both_sides(Policy::Manual, false).await;
    push(&config).await;
    let mut daemon =
        console::ConsoleDaemon::serve(store, scratch, db, "name = \"manual\"", 0, 0).await;
    let cookie = console::sign_in(&daemon, console::TOKEN).await.unwrap();

    let (status, page) = console::get_page(&daemon.page("/conflicts"), &cookie).await;
    let (_, attention) = console::get_page(&daemon.page("/attention"), &cookie).await;

    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!("category {category}, name")),
        "{page}"
    );
    assert!(page.contains("Theirs") && page.contains("Ours"), "{page}");
    assert!(
        attention.contains(&format!("category {category}")),
        "{attention}"
    );
    assert!(terminate(&mut daemon.child).await.success());
}

#[tokio::test]
async fn a_rename_ecwid_refuses_fails_with_its_message_and_the_operator_dismisses_it_by_category() {
    let (store, scratch, db, config) = mirrored(TestStore::small()).await;
    let category = visible_category(&store.state().await);
    tool(
        &db,
        &format!("UPDATE categories SET name = 'Clearance' WHERE id = {category}"),
    )
    .unwrap();
    // The shop owner deletes the category in the admin before the rename goes.
    let deleted = reqwest::Client::new()
        .delete(format!(
            "{}/{}/categories/{category}",
            store.emulator.api_base(),
            store.config.store_id
        ))
        .bearer_auth(&store.config.token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());

    let summary = push(&config).await;

    assert_eq!((summary.updated, summary.failed), (0, 0), "{summary:?}");
    let row = query(
        &open(&db),
        "SELECT state, last_error FROM outbox WHERE field = 'name'",
    );
    assert_eq!(row[0][0], "failed", "{row:?}");
    let error = row[0][1].as_str().unwrap_or_default();
    assert!(error.contains("404"), "Ecwid's answer is kept: {error}");
    let config_path = scratch.path("config.toml");
    std::fs::write(&config_path, config_text(&store, &db, "secret_test", "")).unwrap();
    let wrong = run_as_operator(
        &config_path,
        &[
            "outbox",
            "dismiss",
            "--category",
            "999999999",
            "--reason",
            "gone",
        ],
    );
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("category 999999999"),
        "{wrong:?}"
    );
    let out = run_as_operator(
        &config_path,
        &[
            "outbox",
            "dismiss",
            "--category",
            &category.to_string(),
            "--reason",
            "deleted in the admin",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("category {category}")),
        "{out:?}"
    );
    assert_eq!(
        query(
            &open(&db),
            "SELECT state, dismiss_reason FROM outbox WHERE field = 'name'"
        ),
        vec![json!(["dismissed", "deleted in the admin"])]
    );
}
