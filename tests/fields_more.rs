//! The fields of schema 014: a product's description and purchase price, a variation's
//! compare-to price and weight, and an order's private admin note. Each reaches the store
//! when only the mirror changed it, is settled by its policy when both sides changed it, and
//! a bad value is refused when written.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use ecwid_sync::config::Config;
use ecwid_sync::sync::push::fields::Policy;
use serde_json::{Value, json};

/// The entities the tests write: a product with variations, one of them, and an order.
#[derive(Clone, Copy)]
struct Subjects {
    product: i64,
    variation: i64,
    order: i64,
    /// Three categories of the store.
    categories: [i64; 3],
}

impl Subjects {
    fn of(state: &Value) -> Subjects {
        let (product, variation) = state["products"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|p| {
                let c = p["combinations"].as_array()?.first()?;
                Some((p["id"].as_i64()?, c["id"].as_i64()?))
            })
            .unwrap();
        let order = listed_orders(state)[0]["internalId"].as_i64().unwrap();
        let categories: Vec<i64> = state["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .take(3)
            .collect();
        Subjects {
            product,
            variation,
            order,
            categories: categories
                .try_into()
                .expect("the small store has 3 categories"),
        }
    }

    /// A set of the categories, by position, as the outbox writes a product's categories.
    fn set(&self, positions: &[usize]) -> Value {
        let mut ids: Vec<i64> = positions.iter().map(|&i| self.categories[i]).collect();
        ids.sort_unstable();
        json!(serde_json::to_string(&ids).unwrap())
    }

    fn base(&self) -> Vec<Value> {
        vec![
            json!("<p>Base</p>"),
            json!(3.0),
            self.set(&[0]),
            json!(1000.0),
            json!(1.0),
            json!("Base note"),
        ]
    }

    /// The tool's values: one category added.
    fn ours(&self) -> Vec<Value> {
        vec![
            json!("<p>Ours</p>"),
            json!(4.0),
            self.set(&[0, 1]),
            json!(1100.0),
            json!(2.0),
            json!("Invoice 17 paid by transfer"),
        ]
    }

    fn theirs(&self) -> Vec<Value> {
        vec![
            json!("<p>Theirs</p>"),
            json!(5.0),
            self.set(&[0, 2]),
            json!(1200.0),
            json!(3.0),
            json!("Call before shipping"),
        ]
    }

    /// The store's value of each new field, in the order of [`NEW_FIELDS`].
    fn in_store(&self, state: &Value) -> Vec<Value> {
        let product = state["products"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == self.product)
            .unwrap();
        let combination = product["combinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == self.variation)
            .unwrap();
        let order = listed_orders(state)
            .into_iter()
            .find(|o| o["internalId"] == self.order)
            .unwrap();
        let mut categories: Vec<i64> = product["categoryIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_i64().unwrap())
            .collect();
        categories.sort_unstable();
        vec![
            product["description"].clone(),
            product["costPrice"].clone(),
            json!(serde_json::to_string(&categories).unwrap()),
            combination["compareToPrice"].clone(),
            combination["weight"].clone(),
            order["privateAdminNotes"].clone(),
        ]
    }

    /// The mirror's value of each new field, in the order of [`NEW_FIELDS`].
    fn in_mirror(&self, db: &Path) -> Vec<Value> {
        query(
            &open(db),
            &format!(
                "SELECT (SELECT description FROM products WHERE id = {p}),
                        (SELECT cost_price FROM products WHERE id = {p}),
                        (SELECT json_group_array(category_id) FROM (SELECT category_id
                           FROM product_categories WHERE product_id = {p} ORDER BY category_id)),
                        (SELECT compare_to_price FROM product_variations WHERE id = {v}),
                        (SELECT weight FROM product_variations WHERE id = {v}),
                        (SELECT private_admin_note FROM orders WHERE order_number = {o})",
                p = self.product,
                v = self.variation,
                o = self.order
            ),
        )
        .remove(0)
        .as_array()
        .unwrap()
        .clone()
    }

    /// A tool's writes of `values` (in the order of [`NEW_FIELDS`]); categories are added
    /// only, from the mirror's set.
    fn write(&self, db: &Path, values: &[Value]) {
        let sql = |v: &Value| match v {
            Value::String(s) => format!("'{s}'"),
            other => other.to_string(),
        };
        tool(
            db,
            &format!(
                "UPDATE products SET description = {}, cost_price = {} WHERE id = {}",
                sql(&values[0]),
                sql(&values[1]),
                self.product
            ),
        )
        .unwrap();
        tool(
            db,
            &format!(
                "INSERT INTO product_categories (product_id, category_id)
                 SELECT {}, value FROM json_each({})
                  WHERE value NOT IN (SELECT category_id FROM product_categories
                                       WHERE product_id = {})",
                self.product,
                sql(&values[2]),
                self.product
            ),
        )
        .unwrap();
        tool(
            db,
            &format!(
                "UPDATE product_variations SET compare_to_price = {}, weight = {} WHERE id = {}",
                sql(&values[3]),
                sql(&values[4]),
                self.variation
            ),
        )
        .unwrap();
        tool(
            db,
            &format!(
                "UPDATE orders SET private_admin_note = {} WHERE order_number = {}",
                sql(&values[5]),
                self.order
            ),
        )
        .unwrap();
    }

    /// Ecwid's edits of `values` (in the order of [`NEW_FIELDS`]), as the shop owner makes
    /// them in the admin.
    async fn edit_in_store(&self, store: &TestStore, values: &[Value]) {
        store
            .admin_edit_product(
                self.product,
                json!({
                    "description": values[0],
                    "costPrice": values[1],
                    "categoryIds": serde_json::from_str::<Value>(values[2].as_str().unwrap()).unwrap(),
                }),
            )
            .await;
        store
            .admin_edit_combination(
                self.product,
                self.variation,
                json!({"compareToPrice": values[3], "weight": values[4]}),
            )
            .await;
        store
            .admin_edit_order(self.order, json!({"privateAdminNotes": values[5]}))
            .await;
    }
}

/// The new fields as the outbox and the conflicts name them.
const NEW_FIELDS: [&str; 6] = [
    "description",
    "cost_price",
    "category_ids",
    "compare_to_price",
    "weight",
    "private_admin_note",
];

/// Which side's values a conflict leaves in the store.
enum Kept {
    Ours,
    Theirs,
}
use Kept::*;

#[tokio::test]
async fn each_new_field_changed_only_in_the_mirror_reaches_the_store_in_one_batch() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let subjects = Subjects::of(&store.state().await);
    subjects.edit_in_store(&store, &subjects.base()).await;
    pass(&config, false).await;
    subjects.write(&db, &subjects.ours());
    assert_eq!(
        query(&open(&db), "SELECT field FROM outbox ORDER BY id"),
        NEW_FIELDS.map(|f| json!([f])).to_vec(),
        "each write is captured"
    );
    store.reset_stats().await;

    let summary = push(&config).await;

    assert_eq!(
        (summary.updated, summary.conflicts),
        (3, 0),
        "one update per entity"
    );
    assert_eq!(subjects.in_store(&store.state().await), subjects.ours());
    assert_eq!(store.stats().await["requests"]["POST /batch"], 1);
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox WHERE state <> 'applied'"),
        0
    );
    // Pulled back, the store's values are the mirror's, and nothing new is captured.
    pass(&config, false).await;
    assert_eq!(subjects.in_mirror(&db), subjects.ours());
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 6);
    assert_eq!(count(&db, "SELECT count(*) FROM conflicts"), 0);
}

#[tokio::test]
async fn the_pull_fills_the_new_columns_from_the_store() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let subjects = Subjects::of(&store.state().await);
    subjects.edit_in_store(&store, &subjects.theirs()).await;
    pass(&config, false).await;
    assert_eq!(subjects.in_mirror(&db), subjects.theirs());
    assert_eq!(count(&db, "SELECT count(*) FROM outbox"), 0);
}

/// Each new field changed from `base()` to `ours()` in the mirror and to `theirs()` in Ecwid,
/// every group under `policy`; `local_later` makes the local changes the newer ones.
async fn conflicts(
    policy: Policy,
    local_later: bool,
) -> (TestStore, Scratch, std::path::PathBuf, Config, Subjects) {
    let (store, scratch, db, mut config) = mirrored(TestStore::small()).await;
    config.conflicts.price = policy;
    config.conflicts.name = policy;
    config.conflicts.catalog = policy;
    config.conflicts.tracking = policy;
    let subjects = Subjects::of(&store.state().await);
    subjects.edit_in_store(&store, &subjects.base()).await;
    pass(&config, false).await;
    assert_eq!(subjects.in_mirror(&db), subjects.base());
    if local_later {
        subjects.edit_in_store(&store, &subjects.theirs()).await;
        // Ecwid's update times are whole seconds: the tool writes in a later one.
        let edited = ecwid_sync::mirror::unix_now();
        assert!(
            wait_until(Duration::from_secs(3), || async {
                ecwid_sync::mirror::unix_now() > edited
            })
            .await
        );
        subjects.write(&db, &subjects.ours());
    } else {
        subjects.write(&db, &subjects.ours());
        subjects.edit_in_store(&store, &subjects.theirs()).await;
    }
    (store, scratch, db, config, subjects)
}

#[tokio::test]
async fn each_policy_settles_each_new_field_changed_on_both_sides_as_it_says() {
    // (policy, local changes later, the values the store ends with, outbox state)
    let cases = [
        (Policy::LocalWins, false, Ours, "applied"),
        (Policy::RemoteWins, true, Theirs, "dropped"),
        (Policy::NewestWins, true, Ours, "applied"),
        (Policy::NewestWins, false, Theirs, "dropped"),
        (Policy::Manual, true, Theirs, "conflict"),
    ];
    for (policy, local_later, kept, state) in cases {
        let (store, _scratch, db, config, subjects) = conflicts(policy, local_later).await;
        let expected = match kept {
            Ours => subjects.ours(),
            Theirs => subjects.theirs(),
        };
        let summary = push(&config).await;
        let case = format!("{policy:?}, local later: {local_later}");
        assert_eq!(summary.conflicts, 6, "{case}");
        assert_eq!(subjects.in_store(&store.state().await), expected, "{case}");
        assert_eq!(
            query(&open(&db), "SELECT field, state FROM outbox ORDER BY id"),
            NEW_FIELDS.map(|f| json!([f, state])).to_vec(),
            "{case}"
        );
        let resolution = match state {
            "applied" => json!("local"),
            "dropped" => json!("remote"),
            _ => Value::Null,
        };
        let open_or_resolved = if state == "conflict" {
            "open"
        } else {
            "resolved"
        };
        let recorded = query(
            &open(&db),
            "SELECT field, base, local, remote, policy, state, resolution
               FROM conflicts ORDER BY field",
        );
        let mut wanted: Vec<Value> = (0..6)
            .map(|i| {
                json!([
                    NEW_FIELDS[i],
                    subjects.base()[i],
                    subjects.ours()[i],
                    subjects.theirs()[i],
                    policy.name(),
                    open_or_resolved,
                    resolution
                ])
            })
            .collect();
        wanted.sort_by_key(|row| row[0].as_str().unwrap().to_string());
        assert_eq!(recorded, wanted, "{case}");
        // The mirror shows Ecwid's value whatever happened, once pulled.
        pass(&config, false).await;
        assert_eq!(subjects.in_mirror(&db), expected, "{case}");
    }
}

#[tokio::test]
async fn bad_values_of_the_new_fields_are_refused_with_the_column_and_its_limits() {
    let (store, _scratch, db, _config) = mirrored(TestStore::small()).await;
    let Subjects {
        product,
        variation,
        order,
        ..
    } = Subjects::of(&store.state().await);
    let long = "x".repeat(65537);
    let refused = [
        (
            format!("UPDATE products SET description = NULL WHERE id = {product}"),
            "products.description must be text (HTML; '' for none) of at most 65536 characters",
        ),
        (
            format!("UPDATE products SET description = '{long}' WHERE id = {product}"),
            "products.description must be text (HTML; '' for none) of at most 65536 characters",
        ),
        (
            format!("UPDATE products SET cost_price = -0.5 WHERE id = {product}"),
            "products.cost_price must be NULL (no purchase price) or a number of 0 or more",
        ),
        (
            format!("UPDATE products SET cost_price = 'cheap' WHERE id = {product}"),
            "products.cost_price must be NULL (no purchase price) or a number of 0 or more",
        ),
        (
            format!("UPDATE product_variations SET compare_to_price = -1 WHERE id = {variation}"),
            "product_variations.compare_to_price must be NULL (none of its own) or a number of 0 or more",
        ),
        (
            format!("UPDATE product_variations SET weight = 'heavy' WHERE id = {variation}"),
            "product_variations.weight must be NULL (its product's weight applies) or a number of 0 or more",
        ),
        (
            format!("UPDATE products SET raw_json = '{{}}' WHERE id = {product}"),
            "tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories",
        ),
        (
            format!("UPDATE product_variations SET options_json = '[]' WHERE id = {variation}"),
            "tools may change quantity, price, compare_to_price, sku and weight",
        ),
        (
            format!("UPDATE orders SET total = 1 WHERE order_number = {order}"),
            "tools may change fulfillment_status, payment_status, tracking_number and private_admin_note",
        ),
        (
            format!("INSERT INTO product_categories VALUES ({product}, 987654321)"),
            "product_categories.category_id must be the id of a category in the mirror (categories themselves are created in the Ecwid admin)",
        ),
        (
            "INSERT INTO product_categories VALUES (987654321, 1)".to_string(),
            "product_categories.product_id must be the id of a product in the mirror",
        ),
        (
            format!("UPDATE product_categories SET category_id = 1 WHERE product_id = {product}"),
            "rows of product_categories cannot be changed: delete the row and insert the new one",
        ),
        (
            format!("UPDATE orders SET private_admin_note = x'00ff' WHERE order_number = {order}"),
            "orders.private_admin_note must be text, or NULL for none, of at most 65536 characters",
        ),
        (
            format!("UPDATE orders SET private_admin_note = '{long}' WHERE order_number = {order}"),
            "orders.private_admin_note must be text, or NULL for none, of at most 65536 characters",
        ),
    ];
    for (sql, message) in refused {
        let err = tool(&db, &sql).unwrap_err().to_string();
        assert!(err.contains(message), "{}: {err}", &sql[..60]);
        assert!(err.len() < 300, "the refusal does not repeat the value");
    }
    assert_eq!(
        count(&db, "SELECT count(*) FROM outbox"),
        0,
        "nothing recorded"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM product_categories
              WHERE category_id = 987654321 OR product_id = 987654321"
        ),
        0
    );
    // Empty text and NULL are values, not refusals, where the column says so.
    tool(
        &db,
        &format!("UPDATE products SET description = '', cost_price = NULL WHERE id = {product}"),
    )
    .unwrap();
    tool(
        &db,
        &format!("UPDATE orders SET private_admin_note = NULL WHERE order_number = {order}"),
    )
    .unwrap();
}

fn store_note(state: &Value, order: i64) -> Value {
    listed_orders(state)
        .into_iter()
        .find(|o| o["internalId"] == order)
        .unwrap()["privateAdminNotes"]
        .clone()
}

#[tokio::test]
async fn an_erased_customers_order_takes_no_private_note_from_a_tool() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let orders = listed_orders(&state);
    let (erased, kept) = (
        orders[0]["internalId"].as_i64().unwrap(),
        orders[1]["internalId"].as_i64().unwrap(),
    );
    open_as_daemon(&db)
        .execute(
            "INSERT INTO erased_orders (order_number, customer_id) VALUES (?1, 1)",
            [erased],
        )
        .unwrap();

    let err = tool(
        &db,
        &format!("UPDATE orders SET private_admin_note = 'Paid by card 4111' WHERE order_number = {erased}"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("orders.private_admin_note cannot be written: the order's customer had their personal data erased, and privacy.order_fields blanks privateAdminNotes"),
        "{err}"
    );
    tool(
        &db,
        &format!(
            "UPDATE orders SET private_admin_note = 'Refund agreed' WHERE order_number = {kept}"
        ),
    )
    .unwrap();
    assert_eq!(
        query(&open(&db), "SELECT order_number FROM outbox"),
        vec![json!([kept])]
    );
    let erased_note = store_note(&state, erased);
    assert_eq!(push(&config).await.updated, 1);
    let after = store.state().await;
    assert_eq!(store_note(&after, kept), json!("Refund agreed"));
    assert_eq!(
        store_note(&after, erased),
        erased_note,
        "nothing sent for it"
    );
}

#[tokio::test]
async fn a_private_note_not_yet_sent_is_dropped_when_its_customer_is_erased() {
    let (store, _scratch, db, config) = mirrored(TestStore::small()).await;
    let state = store.state().await;
    let (customer, order) = listed_orders(&state)
        .into_iter()
        .find_map(|o| Some((o["customerId"].as_i64()?, o["internalId"].as_i64()?)))
        .unwrap();
    let note_before = store_note(&state, order);
    tool(
        &db,
        &format!("UPDATE orders SET private_admin_note = 'Paid by card 4111' WHERE order_number = {order}"),
    )
    .unwrap();

    let deltas = Deltas::start(&config);
    deltas.receive(
        &db,
        &[Webhook::new(
            "customer.personalDataRemovalRequest",
            customer,
        )],
    );
    assert!(
        wait_until(Duration::from_secs(10), || async {
            count(&db, "SELECT count(*) FROM erasures") == 1
        })
        .await
    );
    deltas.stop().await;

    assert_eq!(
        query(&open(&db), "SELECT state, value, last_error FROM outbox"),
        vec![json!([
            "dropped",
            null,
            "the customer's personal data was erased"
        ])]
    );
    assert_eq!(
        query(
            &open(&db),
            &format!("SELECT private_admin_note FROM orders WHERE order_number = {order}")
        ),
        vec![json!([null])]
    );
    assert_eq!(push(&config).await.updated, 0);
    assert_eq!(store_note(&store.state().await, order), note_before);
}

#[test]
fn rows_mirrored_before_the_new_columns_get_them_from_their_documents_at_the_upgrade() {
    let scratch = Scratch::new();
    let old = scratch.path("old.db");
    schema_1_mirror(
        &old,
        r#"INSERT INTO products (id, raw_json, synced_at)
                VALUES (1, '{"id":1,"description":"<p>Dry</p>","costPrice":2.5}', 0);
           INSERT INTO product_variations (id, product_id, raw_json, synced_at)
                VALUES (11, 1, '{"id":11,"compareToPrice":30,"weight":0.4}', 0),
                       (12, 1, '{"id":12}', 0);
           INSERT INTO orders (order_number, raw_json, synced_at)
                VALUES (5, '{"privateAdminNotes":"Paid by transfer"}', 0);"#,
    );

    let migrated = ecwid_sync::mirror::open_and_migrate(&old).unwrap();

    let filled: (String, f64, f64, f64, Option<f64>, String) = migrated
        .query_row(
            "SELECT p.description, p.cost_price, v.compare_to_price, v.weight,
                    (SELECT weight FROM product_variations WHERE id = 12),
                    (SELECT private_admin_note FROM orders WHERE order_number = 5)
               FROM products p JOIN product_variations v ON v.id = 11",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        filled,
        (
            "<p>Dry</p>".to_string(),
            2.5,
            30.0,
            0.4,
            None,
            "Paid by transfer".to_string()
        )
    );
    let captured: i64 = migrated
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        captured, 0,
        "the upgrade's own fill is no change of a tool's"
    );
}
