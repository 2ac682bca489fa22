//! Deterministic store generation: the same seed gives byte-identical JSON. Times are
//! offsets back from a fixed base (2026-01-01 UTC), never the wall clock.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::EmulatorConfig;
use crate::json::Doc;
use crate::store::{CategoryRec, CustomerRec, OrderIds, OrderRec, ProductRec, Store, cents};
use crate::store::{choice_modifier, prepare_generated_product, selected_option, variation_price};

/// 2026-01-01 00:00:00 UTC.
pub const BASE_TIME: i64 = 1_767_225_600;

const ADJECTIVES: &[&str] = &[
    "Classic",
    "Modern",
    "Vintage",
    "Organic",
    "Premium",
    "Handmade",
    "Rustic",
    "Compact",
    "Deluxe",
    "Everyday",
    "Lightweight",
    "Sturdy",
    "Elegant",
    "Cozy",
    "Bold",
    "Minimal",
];
const MATERIALS: &[&str] = &[
    "Cotton", "Leather", "Wooden", "Ceramic", "Linen", "Steel", "Bamboo", "Wool", "Glass",
    "Canvas", "Silk", "Copper",
];
const NOUNS: &[&str] = &[
    "T-Shirt",
    "Mug",
    "Backpack",
    "Lamp",
    "Scarf",
    "Notebook",
    "Wallet",
    "Vase",
    "Blanket",
    "Water Bottle",
    "Cutting Board",
    "Tote Bag",
    "Hoodie",
    "Sneakers",
    "Watch",
    "Candle",
];
const BRANDS: &[&str] = &[
    "Northwind",
    "Acme",
    "Bluebird",
    "Oakridge",
    "Solstice",
    "Tandem",
];
const CATEGORY_NAMES: &[&str] = &[
    "Apparel",
    "Home & Kitchen",
    "Accessories",
    "Outdoor",
    "Stationery",
    "Decor",
    "Footwear",
    "Gifts",
    "Bags",
    "Lighting",
    "Textiles",
    "Sale",
];
const FIRST: &[&str] = &[
    "Alice", "Bob", "Carla", "David", "Elena", "Frank", "Grace", "Hugo", "Irene", "Jonas", "Karin",
    "Liam", "Maya", "Noah", "Olga", "Pablo",
];
const LAST: &[&str] = &[
    "Smith", "Garcia", "Müller", "Rossi", "Novak", "Kim", "Dubois", "Silva", "Jensen", "Brown",
];
const CITIES: &[(&str, &str, &str, &str, &str)] = &[
    ("Scranton", "US", "United States", "PA", "Pennsylvania"),
    ("Austin", "US", "United States", "TX", "Texas"),
    ("Toronto", "CA", "Canada", "ON", "Ontario"),
    ("Berlin", "DE", "Germany", "BE", "Berlin"),
];
const COLORS: &[&str] = &["Red", "Blue", "Black", "White"];
/// Choice price modifiers of products whose variations inherit the price, cycled by choice.
const SIZE_MODIFIERS: &[(f64, &str)] = &[
    (0.0, "ABSOLUTE"),
    (2.5, "ABSOLUTE"),
    (10.0, "PERCENT"),
    (15.0, "PERCENT"),
    (4.0, "ABSOLUTE"),
];
const COLOR_MODIFIERS: &[(f64, &str)] = &[
    (2.5, "ABSOLUTE"),
    (-5.0, "PERCENT"),
    (0.0, "ABSOLUTE"),
    (10.0, "PERCENT"),
];

/// A price modifier as the docs write it: whole numbers without a fraction.
fn modifier_json(m: f64) -> Value {
    if m.fract() == 0.0 {
        json!(m as i64)
    } else {
        json!(m)
    }
}
const SIZES: &[&str] = &["S", "M", "L", "XL", "XXL"];

fn pick<'a>(rng: &mut ChaCha8Rng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn obj(v: Value) -> Doc {
    match v {
        Value::Object(m) => m,
        _ => Doc::new(),
    }
}

fn image_urls(store_id: u64, n: u64) -> Value {
    let base = format!("https://images.example.com/{store_id}/{n}");
    json!({
        "id": "0", "isMain": true, "orderBy": 0,
        "image160pxUrl": format!("{base}-160.jpg"), "image400pxUrl": format!("{base}-400.jpg"),
        "image800pxUrl": format!("{base}-800.jpg"), "image1500pxUrl": format!("{base}-1500.jpg"),
        "imageOriginalUrl": format!("{base}.jpg"),
    })
}

fn person(rng: &mut ChaCha8Rng, name: &str) -> Value {
    let (city, cc, country, state, state_name) = CITIES[rng.random_range(0..CITIES.len())];
    json!({
        "name": name, "companyName": "", "street": format!("{} Main St", rng.random_range(1..999)),
        "city": city, "countryCode": cc, "countryName": country,
        "postalCode": format!("{:05}", rng.random_range(10000..99999)),
        "stateOrProvinceCode": state, "stateOrProvinceName": state_name,
        "phone": format!("555-{:04}", rng.random_range(0..10000)),
    })
}

pub fn generate(config: &EmulatorConfig) -> Store {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut store = Store::empty(config.store_id as i64, BASE_TIME);
    let category_ids = generate_categories(&mut store, &mut rng, config);
    let summaries = generate_products(&mut store, config, &category_ids);
    let customers = generate_customers(&mut store, &mut rng, config);
    store.order_ids = OrderIds {
        prefix: config.order_id_prefix.clone(),
        suffix: config.order_id_suffix.clone(),
        salt: config.seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x0dd5_eed5,
    };
    generate_orders(&mut store, config, &customers, &summaries);
    store.all_events = config.webhook_events == crate::WebhookEvents::All;
    store.take_events();
    store.take_touched();
    store
}

fn generate_categories(
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    config: &EmulatorConfig,
) -> Vec<i64> {
    let roots = config.categories.div_ceil(3).max(1);
    let mut ids = Vec::new();
    for i in 0..config.categories {
        let id = store.next.category;
        store.next.category += 1;
        let base = CATEGORY_NAMES[i % CATEGORY_NAMES.len()];
        let name = if i < CATEGORY_NAMES.len() {
            base.to_string()
        } else {
            format!("{base} {}", i / CATEGORY_NAMES.len() + 1)
        };
        let img = format!("https://images.example.com/{}/cat-{id}", config.store_id);
        let mut doc = obj(json!({
            "id": id, "orderBy": (i as i64 + 1) * 10,
            "hdThumbnailUrl": format!("{img}-hd.jpg"), "thumbnailUrl": format!("{img}-thumb.jpg"),
            "imageUrl": format!("{img}-img.jpg"), "originalImageUrl": format!("{img}.jpg"),
            "originalImage": {"url": format!("{img}.jpg"), "width": 800, "height": 600},
            "thumbnail": {"url": format!("{img}-thumb.jpg"), "width": 400, "height": 300},
            "name": name, "description": format!("<p>All things {}.</p>", name.to_lowercase()),
            // Every seventh category is disabled, so hidden_categories matters.
            "enabled": i % 7 != 6, "productIds": [],
        }));
        if i >= roots {
            doc.insert("parentId".into(), json!(ids[rng.random_range(0..roots)]));
        }
        crate::store::finish_category(&mut doc, config.store_id as i64);
        store.categories.insert(id, CategoryRec { doc });
        ids.push(id);
    }
    ids
}

/// Products are built in chunks of `CHUNK`, each from its own seeded generator, on all
/// cores; the result does not depend on the number of threads.
const CHUNK: i64 = 2048;

struct ProductPlan<'a> {
    seed: u64,
    store_id: u64,
    n: i64,
    v: usize,
    first_product: i64,
    first_combination: i64,
    category_ids: &'a [i64],
    categories: &'a BTreeMap<i64, CategoryRec>,
}

fn generate_products(
    store: &mut Store,
    config: &EmulatorConfig,
    category_ids: &[i64],
) -> Vec<ProductSummary> {
    let plan = ProductPlan {
        seed: config.seed,
        store_id: config.store_id,
        n: config.products as i64,
        v: config.variations_per_product,
        first_product: store.next.product,
        first_combination: store.next.combination,
        category_ids,
        categories: &store.categories,
    };
    let chunks = (plan.n + CHUNK - 1) / CHUNK;
    let mut built = build_chunks(chunks, |c| product_chunk(&plan, c));
    let (n, v) = (plan.n, plan.v as i64);
    built.sort_by_key(|(c, _)| *c);
    let mut links: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut summaries = Vec::with_capacity(n as usize);
    for (rec, summary) in built.into_iter().flat_map(|(_, recs)| recs) {
        summaries.push(summary);
        for c in &rec.category_ids {
            links.entry(*c).or_default().push(rec.id);
        }
        store.insert_generated_product(rec);
    }
    store.next.product += n;
    store.next.combination += n * v;
    store.rebuild_product_indexes();
    for (cid, pids) in links {
        if let Some(c) = store.categories.get_mut(&cid) {
            c.doc.insert("productIds".into(), json!(pids));
        }
    }
    summaries
}

fn product_chunk(plan: &ProductPlan<'_>, chunk: i64) -> Vec<(ProductRec, ProductSummary)> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(plan.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ chunk as u64);
    let rng = &mut rng;
    let (n, v, category_ids, first_combination) =
        (plan.n, plan.v, plan.category_ids, plan.first_combination);
    let config_store_id = plan.store_id;
    let colors = v.clamp(1, COLORS.len());
    let sizes = v.div_ceil(colors).max(1);
    let size_label = |i: usize| {
        SIZES
            .get(i)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("Size {}", i + 1))
    };
    let start = chunk * CHUNK;
    let mut out = Vec::with_capacity(CHUNK as usize);
    for i in start..(start + CHUNK).min(n) {
        let id = plan.first_product + i;
        let name = format!(
            "{} {} {}",
            pick(rng, ADJECTIVES),
            pick(rng, MATERIALS),
            pick(rng, NOUNS)
        );
        let created = BASE_TIME - (n - i + 1) * 600;
        let updated = updated_after(rng, created, 30 * 86_400);
        let price = cents(rng.random_range(500..30_000) as f64 / 100.0);
        let unlimited = rng.random_bool(0.1);
        let quantity: i64 = if rng.random_bool(0.08) {
            0
        } else {
            rng.random_range(1..200)
        };
        let mut cats: Vec<i64> = Vec::new();
        if !category_ids.is_empty() {
            for _ in 0..rng.random_range(1..=2usize) {
                let c = category_ids[rng.random_range(0..category_ids.len())];
                if !cats.contains(&c) {
                    cats.push(c);
                }
            }
        }
        let sku = format!("SKU-{id:06}");
        let brand = pick(rng, BRANDS);
        let mut doc = obj(json!({
            "id": id, "sku": sku, "thumbnailUrl": format!("https://images.example.com/{}/{id}-thumb.jpg", config_store_id),
            "quantity": quantity, "unlimited": unlimited, "name": name, "price": price,
            "tax": {"defaultLocationIncludedTaxRate": 0, "enabledManualTaxes": []},
            "wholesalePrices": [], "isShippingRequired": true,
            "weight": cents(rng.random_range(10..500) as f64 / 100.0),
            "createTimestamp": created, "updateTimestamp": updated, "productClassId": 0,
            "enabled": !rng.random_bool(0.05), "warningLimit": rng.random_range(0..5),
            "fixedShippingRateOnly": false, "fixedShippingRate": 0,
            "shipping": {"type": "GLOBAL_METHODS", "methodMarkup": 0, "flatRate": 0, "disabledMethods": [], "enabledMethods": []},
            "description": format!("<p>{name} by {brand}.</p>"),
            "media": {"images": [image_urls(config_store_id, id as u64)]},
            "categoryIds": cats, "seoTitle": name, "seoDescription": format!("Buy the {name} online."),
            "favorites": {"count": rng.random_range(0..50), "displayedCount": "0"},
            "attributes": [
                {"id": 5029057, "name": "Brand", "value": brand, "type": "BRAND", "show": "DESCR"},
                {"id": 9998010, "name": "UPC", "value": format!("0{:012}", id * 7919), "type": "UPC", "show": "DESCR"},
            ],
            "files": [],
            "relatedProducts": {"productIds": [], "relatedCategory": {"enabled": false, "categoryId": 0, "productCount": 0}},
            "dimensions": {"length": rng.random_range(1..60), "width": rng.random_range(1..40), "height": rng.random_range(1..30)},
            "isSampleProduct": false,
        }));
        if rng.random_bool(0.3) {
            doc.insert("compareToPrice".into(), json!(cents(price * 1.3)));
        }
        if rng.random_bool(0.2) {
            doc.insert(
                "wholesalePrices".into(),
                json!([{"quantity": 10, "price": cents(price * 0.9)}]),
            );
        }
        if rng.random_bool(0.05) {
            doc.insert("showOnFrontpage".into(), json!(rng.random_range(1..100)));
        }
        if v > 0 {
            // One product in five sells its variations at the product's price plus the
            // option choices' modifiers: no own price, SKU or stock.
            let inherits = id % 5 == 0;
            let option = |name: &str, kind: &str, values: Vec<String>, mods: &[(f64, &str)]| {
                let choices: Vec<Value> = values
                    .iter()
                    .enumerate()
                    .map(|(n, t)| {
                        let (m, kind) = if inherits { mods[n % mods.len()] } else { (0.0, "ABSOLUTE") };
                        json!({"text": t, "textTranslated": {"en": t}, "priceModifier": modifier_json(m), "priceModifierType": kind})
                    })
                    .collect();
                json!({
                    "type": kind, "name": name, "nameTranslated": {"en": name},
                    "choices": choices, "defaultChoice": 0, "required": true,
                })
            };
            doc.insert(
                "options".into(),
                json!([
                    option(
                        "Size",
                        "SELECT",
                        (0..sizes).map(size_label).collect(),
                        SIZE_MODIFIERS
                    ),
                    option(
                        "Color",
                        "RADIO",
                        COLORS[..colors].iter().map(|s| s.to_string()).collect(),
                        COLOR_MODIFIERS
                    ),
                ]),
            );
            let mut combos = Vec::with_capacity(v);
            for k in 0..v {
                let cid = first_combination + (i * v as i64) + k as i64;
                let size = size_label(k / colors);
                let color = COLORS[k % colors];
                let mut c = obj(json!({
                    "id": cid, "combinationNumber": k + 1,
                    "options": [
                        {"name": "Size", "nameTranslated": {"en": "Size"}, "value": size, "valueTranslated": {"en": size}},
                        {"name": "Color", "nameTranslated": {"en": "Color"}, "value": color, "valueTranslated": {"en": color}},
                    ],
                    "sku": format!("{sku}-{}", k + 1),
                    "quantity": if rng.random_bool(0.1) { 0 } else { rng.random_range(1..100) },
                    "unlimited": unlimited, "price": cents(price + (k / colors) as f64 * 2.0),
                    "weight": cents(rng.random_range(10..500) as f64 / 100.0), "warningLimit": 0,
                    "isShippingRequired": true,
                    "attributes": [{"id": 9998010, "name": "UPC", "value": format!("1{:012}", cid), "type": "UPC", "show": "DESCR"}],
                }));
                if rng.random_bool(0.2) {
                    c.insert("compareToPrice".into(), json!(cents(price * 1.5)));
                }
                if inherits {
                    for field in ["sku", "quantity", "unlimited", "price"] {
                        c.remove(field);
                    }
                }
                combos.push(Value::Object(c));
            }
            doc.insert("combinations".into(), Value::Array(combos));
        }
        let summary = ProductSummary::of(&doc);
        let rec = prepare_generated_product(doc, plan.categories, plan.store_id as i64);
        // Compress it now, on every core, rather than while serving the first gzip page:
        // the emulator must not compete with the client it is measured against.
        rec.gz_segment();
        out.push((rec, summary));
    }
    out
}

fn generate_customers(
    store: &mut Store,
    rng: &mut ChaCha8Rng,
    config: &EmulatorConfig,
) -> Vec<(i64, String, String)> {
    let c = config.customers as i64;
    let mut out = Vec::new();
    for i in 0..c {
        let id = store.next.customer;
        store.next.customer += 1;
        let first = pick(rng, FIRST);
        let last = pick(rng, LAST);
        let name = format!("{first} {last}");
        let email = format!(
            "{}.{}{}@example.com",
            first.to_lowercase(),
            last.to_lowercase().replace('ü', "ue"),
            i + 1
        );
        let registered = BASE_TIME - (c - i + 1) * 18_000;
        let updated = updated_after(rng, registered, 10 * 86_400);
        let billing = person(rng, &name);
        let gold = rng.random_bool(0.2);
        let mut shipping = Vec::new();
        if rng.random_bool(0.5) {
            let mut addr = billing.clone();
            if let Value::Object(m) = &mut addr {
                m.insert("id".into(), json!(id * 10 + 1));
            }
            shipping.push(addr);
        }
        let doc = obj(json!({
            "id": id, "name": name, "email": email, "totalOrderCount": 0,
            "customerGroupId": if gold { 1 } else { 0 }, "customerGroupName": if gold { "Gold" } else { "General" },
            "billingPerson": billing, "shippingAddresses": shipping,
            "taxExempt": false, "taxIdValid": true, "acceptMarketing": rng.random_bool(0.5),
        }));
        store
            .customers
            .insert(id, CustomerRec::new(doc, registered, updated));
        out.push((id, name, email));
    }
    out
}

/// What generated orders need to know about a product, taken while its document is still
/// a tree (re-parsing 4 KB per order item made order generation slow).
struct ProductSummary {
    id: i64,
    name: String,
    sku: String,
    price: f64,
    category: i64,
    variations: Vec<VariationSummary>,
}

/// A variation as an order item shows it: what it sells at, its SKU (the product's when it
/// has none) and its option choices with their price modifiers.
struct VariationSummary {
    id: i64,
    sku: String,
    price: f64,
    options: Vec<(String, String, (f64, &'static str))>,
}

/// One chunk of built orders, each with the customer whose order count it raises.
type OrderChunk = Vec<(OrderRec, Option<i64>)>;

impl ProductSummary {
    fn of(doc: &Doc) -> ProductSummary {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        let list = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
        let variations = list(doc.get("combinations"))
            .iter()
            .filter_map(Value::as_object)
            .map(|c| {
                let options = list(c.get("options"))
                    .iter()
                    .map(|o| {
                        let (name, value) = (s(o.get("name")), s(o.get("value")));
                        let modifier = choice_modifier(doc, &name, &value);
                        (name, value, modifier)
                    })
                    .collect();
                VariationSummary {
                    id: c.get("id").and_then(Value::as_i64).unwrap_or(0),
                    sku: c
                        .get("sku")
                        .map_or_else(|| s(doc.get("sku")), |v| s(Some(v))),
                    price: variation_price(doc, c),
                    options,
                }
            })
            .collect();
        ProductSummary {
            id: doc.get("id").and_then(Value::as_i64).unwrap_or(0),
            name: s(doc.get("name")),
            sku: s(doc.get("sku")),
            price: doc.get("price").and_then(Value::as_f64).unwrap_or(0.0),
            category: list(doc.get("categoryIds"))
                .first()
                .and_then(Value::as_i64)
                .unwrap_or(0),
            variations,
        }
    }
}

const ORDER_CHUNK: i64 = 1024;

struct OrderPlan<'a> {
    seed: u64,
    store_id: u64,
    m: i64,
    first_seq: i64,
    ids: &'a OrderIds,
    first_item: i64,
    customers: &'a [(i64, String, String)],
    products: &'a [ProductSummary],
}

/// Orders are built in seeded chunks on all cores, like products.
fn generate_orders(
    store: &mut Store,
    config: &EmulatorConfig,
    customers: &[(i64, String, String)],
    products: &[ProductSummary],
) {
    let plan = OrderPlan {
        seed: config.seed,
        store_id: config.store_id,
        m: config.orders as i64,
        first_seq: store.next.order_seq,
        ids: &store.order_ids,
        first_item: store.next.order_item + 1,
        customers,
        products,
    };
    let chunks = (plan.m + ORDER_CHUNK - 1) / ORDER_CHUNK;
    let mut built = build_chunks(chunks, |c| order_chunk(&plan, c));
    built.sort_by_key(|(c, _)| *c);
    let (m, first_item) = (plan.m, plan.first_item);
    for (rec, counted_customer) in built.into_iter().flat_map(|(_, recs)| recs) {
        if let Some(c) = counted_customer.and_then(|cid| store.customers.get_mut(&cid)) {
            let n = c
                .doc
                .get("totalOrderCount")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            c.doc.insert("totalOrderCount".into(), json!(n));
        }
        store.insert_order_rec(rec);
    }
    store.next.order_seq += m;
    store.next.order_item = first_item + m * 3;
}

fn order_chunk(plan: &OrderPlan<'_>, chunk: i64) -> OrderChunk {
    let mut rng =
        ChaCha8Rng::seed_from_u64(plan.seed.wrapping_mul(0xD1B5_4A32_D192_ED03) ^ chunk as u64);
    let rng = &mut rng;
    let (m, customers, store_id) = (plan.m, plan.customers, plan.store_id);
    let start = chunk * ORDER_CHUNK;
    let mut out = Vec::with_capacity(ORDER_CHUNK as usize);
    for i in start..(start + ORDER_CHUNK).min(m) {
        let ident = plan.ids.of(plan.first_seq + i);
        let created = BASE_TIME - (m - i + 1) * 1_800;
        let updated = updated_after(rng, created, 5 * 86_400);
        let payment = match rng.random_range(0..100) {
            0..50 => "PAID",
            50..65 => "AWAITING_PAYMENT",
            65..72 => "CANCELLED",
            72..78 => "REFUNDED",
            78..84 => "PARTIALLY_REFUNDED",
            84..92 => "INCOMPLETE",
            _ => "PAID",
        };
        let fulfillment = if payment == "PAID" {
            ["AWAITING_PROCESSING", "PROCESSING", "SHIPPED", "DELIVERED"][rng.random_range(0..4)]
        } else {
            "AWAITING_PROCESSING"
        };
        let customer = (!customers.is_empty() && rng.random_bool(0.8))
            .then(|| &customers[rng.random_range(0..customers.len())]);
        let (name, email) = match customer {
            Some((_, n, e)) => (n.clone(), e.clone()),
            None => (
                "Guest Shopper".to_string(),
                format!("guest{}@example.com", ident.seq),
            ),
        };
        let mut items = Vec::new();
        for k in 0..rng.random_range(1..=3i64) {
            let item_id = plan.first_item + i * 3 + k;
            let qty = rng.random_range(1..4);
            let (pid, pname, sku, price, opts, cat, variation) = if plan.products.is_empty() {
                let gift = ("Gift card".to_string(), "GIFT".to_string());
                (0, gift.0, gift.1, 25.0, vec![], 0, None)
            } else {
                let p = &plan.products[rng.random_range(0..plan.products.len())];
                let (mut sku, mut price, mut opts) = (p.sku.clone(), p.price, Vec::new());
                let mut variation = None;
                // A storefront sells a product with options as one of its variations,
                // never as its base product.
                if !p.variations.is_empty() {
                    let v = &p.variations[rng.random_range(0..p.variations.len())];
                    sku = v.sku.clone();
                    price = v.price;
                    variation = Some(v.id);
                    for (oname, value, modifier) in &v.options {
                        opts.push(selected_option(oname, value, *modifier));
                    }
                }
                (
                    p.id,
                    p.name.clone(),
                    sku,
                    price,
                    opts,
                    p.category,
                    variation,
                )
            };
            let img = format!("https://images.example.com/{store_id}/{pid}");
            let mut item = json!({
                "id": item_id, "productId": pid, "categoryId": cat, "price": price, "productPrice": price,
                "sku": sku, "quantity": qty, "shortDescription": "", "tax": cents(price * 0.1), "shipping": 0,
                "quantityInStock": 0, "name": pname, "isShippingRequired": true, "weight": 0.5,
                "trackQuantity": true, "fixedShippingRateOnly": false, "imageUrl": format!("{img}-400.jpg"),
                "smallThumbnailUrl": format!("{img}-160.jpg"), "hdThumbnailUrl": format!("{img}-800.jpg"),
                "fixedShippingRate": 0, "digital": false, "couponApplied": false, "selectedOptions": opts,
                "taxes": [{"name": "Sales tax", "value": 10, "total": cents(price * 0.1 * qty as f64),
                    "taxOnDiscountedSubtotal": cents(price * 0.1 * qty as f64), "taxOnShipping": 0, "includeInPrice": false}],
                "dimensions": {"length": 10, "width": 10, "height": 5}, "couponAmount": 0,
                "discounts": [],
            });
            if let Some(cid) = variation {
                item["combinationId"] = json!(cid);
            }
            items.push(item);
        }
        let subtotal = cents(
            items
                .iter()
                .map(|i| i["price"].as_f64().unwrap_or(0.0) * i["quantity"].as_f64().unwrap_or(0.0))
                .sum(),
        );
        let tax = cents(subtotal * 0.1);
        let shipping_rate = 5.0;
        let total = cents(subtotal + tax + shipping_rate);
        let mut doc = crate::store::order_defaults(&ident);
        let person = person(rng, &name);
        let extra = obj(json!({
            "subtotal": subtotal, "total": total, "usdTotal": total, "tax": tax,
            "paymentMethod": "Credit or debit card", "paymentModule": "Stripe",
            "paymentStatus": payment, "fulfillmentStatus": fulfillment,
            "refererUrl": format!("https://store{store_id}.example.com/"), "globalReferer": "https://www.google.com/",
            "createTimestamp": created, "updateTimestamp": updated,
            "email": email, "ipAddress": format!("10.0.{}.{}", rng.random_range(0..255), rng.random_range(1..255)),
            "items": items, "billingPerson": person.clone(), "shippingPerson": person,
            "shippingOption": {"shippingCarrierName": "USPS", "shippingMethodName": "Priority Mail", "shippingRate": shipping_rate, "estimatedTransitTime": "1-3", "isPickup": false},
            "predictedPackage": [{"length": 10, "width": 10, "height": 5, "weight": 0.5, "declaredValue": subtotal}],
            "taxesOnShipping": [{"name": "Sales tax", "value": 10, "total": 0.5}],
            "orderExtraFields": [{"id": "lang", "value": "en", "customerInputType": "", "title": "", "orderDetailsDisplaySection": "", "orderBy": "1"}],
            "acceptMarketing": rng.random_bool(0.5),
        }));
        for (k, val) in extra {
            doc.insert(k, val);
        }
        if let Some((cid, _, _)) = customer {
            doc.insert("customerId".into(), json!(cid));
        }
        if rng.random_bool(0.2) {
            doc.insert("discountCoupon".into(), json!({
                "id": 29567026, "name": "Welcome", "code": "WELCOME10", "discountType": "ABS", "status": "ACTIVE",
                "discount": 10, "launchDate": "2025-01-01 00:00:00 +0000", "usesLimit": "UNLIMITED",
                "applicationLimit": "UNLIMITED", "creationDate": "2025-01-01 00:00:00 +0000",
                "updateDate": "2025-01-01 00:00:00 +0000", "orderCount": 0,
            }));
            doc.insert("couponDiscount".into(), json!(10));
        }
        if payment == "PARTIALLY_REFUNDED" || payment == "REFUNDED" {
            let amount = if payment == "REFUNDED" {
                total
            } else {
                cents(total / 2.0)
            };
            doc.insert("refundedAmount".into(), json!(amount));
            doc.insert(
                "refunds".into(),
                json!([{"date": crate::dates::format_date(updated), "source": "CP", "reason": "Customer request", "amount": amount}]),
            );
        }
        let counted = customer
            .filter(|_| payment != "INCOMPLETE")
            .map(|(cid, _, _)| *cid);
        out.push((crate::store::finish_order(doc, ident), counted));
    }
    out
}

/// A last-update time within `max_span` after `created` and before `BASE_TIME`. Spread
/// over the whole span rather than clamped, so that generated entities do not pile up on
/// the same second (which no real store does, and which would hide cursor bugs).
fn updated_after(rng: &mut ChaCha8Rng, created: i64, max_span: i64) -> i64 {
    created + rng.random_range(0..(BASE_TIME - created).clamp(1, max_span))
}

/// Builds chunks `0..chunks` on up to 8 threads and returns them tagged with their number.
/// Each chunk seeds its own generator, so the result does not depend on the thread count.
fn build_chunks<T: Send>(chunks: i64, build: impl Fn(i64) -> T + Sync) -> Vec<(i64, T)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .clamp(1, 8) as i64;
    let build = &build;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..chunks)
                        .filter(|c| c % threads == t)
                        .map(|c| (c, build(c)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}
