//! What the operator decides, from the command line or the console, goes through one entry
//! point (`mirror::actions::perform`) that settles each id on its own and records who did
//! what, how, why and with what outcome in `operator_actions`.

mod common;

use std::path::Path;
use std::process::Output;

use common::stock::*;
use common::*;
use ecwid_sync::mirror::actions::{self, Action, ActionError, Actor, Via};
use ecwid_sync::mirror::dismiss::DismissError;
use serde_json::{Value, json};

fn run(config: &Path, args: &[&str]) -> Output {
    run_as_operator(config, args)
}

fn console_operator() -> Actor {
    Actor {
        name: "console-operator".into(),
        via: Via::Console,
    }
}

/// Stock changes of three products: the first two failed in Ecwid, the third still pending.
/// Returns their outbox ids.
async fn two_failed_one_pending(db: &Path) -> [i64; 3] {
    let conn = open(db);
    let products: Vec<i64> = conn
        .prepare("SELECT id FROM products WHERE quantity IS NOT NULL ORDER BY id LIMIT 3")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for &p in &products {
        tool_change(db, (p, None), 2);
    }
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM outbox ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids.len(), 3, "one change per product");
    open_as_daemon(db)
        .execute(
            "UPDATE outbox SET state = 'failed', attempts = 1, settled_at = created_at,
                    last_error = 'Ecwid answered 400: quantity refused'
              WHERE id IN (?1, ?2)",
            [ids[0], ids[1]],
        )
        .unwrap();
    [ids[0], ids[1], ids[2]]
}

#[tokio::test]
async fn a_bulk_resend_settles_every_good_id_and_reports_each_bad_one_with_its_reason() {
    let (_store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let [a, b, pending] = two_failed_one_pending(&db).await;
    let mut conn = ecwid_sync::mirror::open_existing(&db).unwrap();

    let performed = actions::perform(
        &mut conn,
        &Action::Resend {
            ids: vec![a, pending, 9_999, b],
        },
        &console_operator(),
        Some("  the supplier fixed the stock count  "),
    )
    .unwrap();

    let shown: Vec<(String, String, Option<String>, Vec<i64>)> = performed
        .outcomes
        .iter()
        .map(|o| {
            (
                o.target.clone(),
                o.outcome.clone(),
                o.error.clone(),
                o.changes.clone(),
            )
        })
        .collect();
    let pending_refusal = format!(
        "change {pending} is pending; only uncertain changes are settled by hand (and failed ones sent again with --resend; `ecwid-sync outbox dismiss ID --reason TEXT` ends a failed one)"
    );
    let unknown_refusal =
        "there is no change 9999 in the outbox; `ecwid-sync outbox list` shows them".to_string();
    assert_eq!(
        shown,
        vec![
            (
                format!("change {a}"),
                format!("change {a}: pending again"),
                None,
                vec![a]
            ),
            (
                format!("change {pending}"),
                format!("refused: {pending_refusal}"),
                Some(pending_refusal),
                vec![]
            ),
            (
                "change 9999".into(),
                format!("refused: {unknown_refusal}"),
                Some(unknown_refusal),
                vec![]
            ),
            (
                format!("change {b}"),
                format!("change {b}: pending again"),
                None,
                vec![b]
            ),
        ]
    );
    assert_eq!(performed.refused(), 2);
    let reader = open(&db);
    assert_eq!(
        query(
            &reader,
            &format!("SELECT id, state FROM outbox WHERE id IN ({a}, {b}, {pending}) ORDER BY id")
        ),
        vec![
            json!([a, "pending"]),
            json!([b, "pending"]),
            json!([pending, "pending"])
        ],
        "both failed changes go out again; the pending one is left as it was"
    );
    let recorded = query(
        &reader,
        "SELECT operator, via, action, target, reason, outcome, at > 0 FROM operator_actions ORDER BY id",
    );
    let row = |target: String, outcome: String| {
        json!([
            "console-operator",
            "console",
            "resend",
            target,
            "the supplier fixed the stock count",
            outcome,
            1
        ])
    };
    assert_eq!(
        recorded,
        performed
            .outcomes
            .iter()
            .map(|o| row(o.target.clone(), o.outcome.clone()))
            .collect::<Vec<_>>(),
        "every id recorded, the refused ones too, with the reason trimmed"
    );
    let listed = actions::recent(&conn, 2).unwrap();
    assert_eq!(
        listed.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(),
        [format!("change {b}"), "change 9999".to_string()],
        "newest first, at most the limit"
    );
}

#[tokio::test]
async fn dismissing_changes_in_bulk_needs_a_reason_and_records_each_dismissal() {
    let (_store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let [a, b, pending] = two_failed_one_pending(&db).await;
    let mut conn = ecwid_sync::mirror::open_existing(&db).unwrap();
    let dismiss = Action::DismissChanges {
        ids: vec![a, pending, b],
    };

    let without = actions::perform(&mut conn, &dismiss, &console_operator(), Some("  "));
    assert!(
        matches!(without, Err(ActionError::Dismiss(DismissError::NoReason))),
        "{without:?}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM operator_actions"), 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state = 'failed'"),
        2
    );

    let performed = actions::perform(
        &mut conn,
        &dismiss,
        &console_operator(),
        Some("counted again by hand"),
    )
    .unwrap();

    let errors: Vec<Option<&str>> = performed
        .outcomes
        .iter()
        .map(|o| o.error.as_deref())
        .collect();
    assert_eq!(errors[0], None);
    assert!(
        errors[1].is_some_and(|e| e.starts_with(&format!(
            "change {pending} is pending; only failed changes are dismissed"
        ))),
        "{errors:?}"
    );
    assert_eq!(errors[2], None);
    assert_eq!(performed.outcomes[0].dismissed[0].id, a);
    assert_eq!(
        query(
            &open(&db),
            "SELECT state, dismissed_by, dismiss_reason FROM outbox WHERE state = 'dismissed' ORDER BY id"
        ),
        vec![json!(["dismissed", "console-operator", "counted again by hand"]); 2]
    );
    assert_eq!(
        query(
            &open(&db),
            "SELECT action, outcome FROM operator_actions WHERE outcome NOT LIKE 'refused:%' ORDER BY id"
        ),
        vec![
            json!(["dismiss", format!("change {a}: dismissed")]),
            json!(["dismiss", format!("change {b}: dismissed")])
        ]
    );
}

#[tokio::test]
async fn outbox_resolve_records_the_reason_and_outbox_history_lists_it() {
    let (store, scratch, db, _config) = mirrored(TestStore::small()).await;
    let [a, _, _] = two_failed_one_pending(&db).await;
    let config = write_config(&store, &db, "");
    let _ = scratch;

    let out = run(
        &config,
        &[
            "outbox",
            "resolve",
            &a.to_string(),
            "--resend",
            "--reason",
            "Ecwid's outage is over",
        ],
    );
    let refused = run(&config, &["outbox", "resolve", "9999", "--applied"]);

    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "change {a}: pending again; the daemon (or `ecwid-sync push`) sends them in a new batch\n"
        ),
        "printed as before"
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("there is no change 9999 in the outbox"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let history = run(&config, &["outbox", "history", "--json"]);
    assert!(history.status.success());
    let history: Value = serde_json::from_slice(&history.stdout).unwrap();
    let shown: Vec<Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!([
                r["operator"],
                r["via"],
                r["action"],
                r["target"],
                r["reason"],
                r["outcome"]
            ])
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            json!([
                OPERATOR,
                "cli",
                "mark_applied",
                "change 9999",
                null,
                "refused: there is no change 9999 in the outbox; `ecwid-sync outbox list` shows them"
            ]),
            json!([
                OPERATOR,
                "cli",
                "resend",
                format!("change {a}"),
                "Ecwid's outage is over",
                format!("change {a}: pending again")
            ]),
        ]
    );
    let text = String::from_utf8_lossy(&run(&config, &["outbox", "history"]).stdout).into_owned();
    assert!(
        text.contains(&format!(
            "{OPERATOR} (cli)  resend change {a}: change {a}: pending again [reason: Ecwid's outage is over]"
        )),
        "{text}"
    );
}

#[tokio::test]
async fn a_tool_may_read_the_record_of_operator_actions_but_not_write_it() {
    let (_store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let [a, _, _] = two_failed_one_pending(&db).await;
    let mut conn = ecwid_sync::mirror::open_existing(&db).unwrap();
    actions::perform(
        &mut conn,
        &Action::Resend { ids: vec![a] },
        &console_operator(),
        None,
    )
    .unwrap();
    let tool = open(&db);

    let insert = tool.execute(
        "INSERT INTO operator_actions (at, operator, via, action, target, outcome)
         VALUES (1, 'someone', 'cli', 'resend', 'change 1', 'made up')",
        [],
    );
    let update = tool.execute("UPDATE operator_actions SET reason = 'rewritten'", []);
    let delete = tool.execute("DELETE FROM operator_actions", []);

    for (what, result) in [("insert", insert), ("update", update), ("delete", delete)] {
        let err = result.expect_err(what).to_string();
        assert!(
            err.contains("operator_actions, the record of what the operator decided"),
            "{what}: {err}"
        );
    }
    assert_eq!(
        query(&tool, "SELECT action, target, reason FROM operator_actions"),
        vec![json!(["resend", format!("change {a}"), null])]
    );
}

#[tokio::test]
async fn conflicts_resolve_records_the_reason_and_a_second_resolve_is_refused_as_before() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let product: i64 = open(&db)
        .query_row("SELECT id FROM products ORDER BY id LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    stage_weight_conflict(&db, product);
    let conflict = count(&db, "SELECT max(id) FROM conflicts").to_string();
    let config = write_config(&store, &db, "");

    let first = run(
        &config,
        &[
            "conflicts",
            "resolve",
            &conflict,
            "--take",
            "remote",
            "--reason",
            "the warehouse weighed it again",
        ],
    );
    let second = run(
        &config,
        &["conflicts", "resolve", &conflict, "--take", "local"],
    );

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        format!("conflict {conflict}: Ecwid's value is kept; the local change is dropped\n")
    );
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr)
            .contains(&format!("conflict {conflict} is already resolved")),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert_eq!(
        query(
            &open(&db),
            "SELECT operator, via, action, target, reason, outcome FROM operator_actions ORDER BY id"
        ),
        vec![
            json!([
                OPERATOR,
                "cli",
                "take_remote",
                format!("conflict {conflict}"),
                "the warehouse weighed it again",
                "Ecwid's value is kept; the local change is dropped"
            ]),
            json!([
                OPERATOR,
                "cli",
                "take_local",
                format!("conflict {conflict}"),
                null,
                format!("refused: conflict {conflict} is already resolved")
            ]),
        ]
    );
}

#[tokio::test]
async fn changes_sent_in_one_batch_are_settled_together_and_the_second_id_says_so() {
    let (_store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let product: i64 = open(&db)
        .query_row(
            "SELECT id FROM products WHERE quantity IS NOT NULL ORDER BY id LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    tool_change(&db, (product, None), 4);
    open(&db)
        .execute("UPDATE products SET price = 9.5 WHERE id = ?1", [product])
        .unwrap();
    open_as_daemon(&db)
        .execute(
            "UPDATE outbox SET state = 'uncertain', batch_key = 'batch-1', attempts = 1",
            [],
        )
        .unwrap();
    let ids: Vec<i64> = query(&open(&db), "SELECT id FROM outbox ORDER BY id")
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    let mut conn = ecwid_sync::mirror::open_existing(&db).unwrap();

    let performed = actions::perform(
        &mut conn,
        &Action::MarkApplied { ids: ids.clone() },
        &console_operator(),
        None,
    )
    .unwrap();

    let (a, b) = (ids[0], ids[1]);
    let shown: Vec<(&str, Option<i64>)> = performed
        .outcomes
        .iter()
        .map(|o| (o.outcome.as_str(), o.recorded))
        .collect();
    assert_eq!(shown[0].0, format!("changes {a}, {b}: recorded as applied"));
    assert_eq!(
        (shown[1].0, shown[1].1),
        (
            format!("settled with change {a}, sent in the same batch").as_str(),
            None
        )
    );
    assert_eq!(performed.refused(), 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state = 'applied'"),
        2
    );
    assert_eq!(count(&db, "SELECT count(*) FROM operator_actions"), 1);
}
