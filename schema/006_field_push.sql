-- Two-way fields: prices, names, SKUs, weights, visibility and order status that tools change
-- in the mirror go to Ecwid as values, with a conflict check against what Ecwid changed
-- meanwhile (see schema/README.md, "Changing prices, names and order status"). Every other
-- write to a mirrored table is refused, so that a tool finds out at once instead of
-- diverging from the store silently.

-- A change whose field Ecwid also changed since the change's base: settled by the policy in
-- [conflicts], or held here for the operator (`ecwid-sync conflicts resolve`).
CREATE TABLE conflicts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entity       TEXT    NOT NULL,          -- product, variation or order
    product_id   INTEGER,
    variation_id INTEGER,
    order_number INTEGER,
    field        TEXT    NOT NULL,          -- the mirror's column
    base,                                   -- the value from Ecwid the local change replaced
    local,                                  -- the value the tool wrote
    remote,                                 -- Ecwid's value when the conflict was found
    local_at     INTEGER NOT NULL,          -- when the tool wrote it (unix seconds)
    remote_at    INTEGER,                   -- Ecwid's update time of the entity then
    policy       TEXT    NOT NULL,          -- the policy that applied (manual, newest_wins, ...)
    created_at   INTEGER NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'open', -- open, resolved
    resolution   TEXT,                      -- local or remote: whose value the store keeps
    resolved_at  INTEGER,
    outbox_ids   TEXT    NOT NULL           -- JSON array of the outbox rows it holds
);
CREATE INDEX conflicts_open ON conflicts(state) WHERE state = 'open';

-- products: what a tool may write, checked; any other column refused.
CREATE TRIGGER products_writes_checked BEFORE UPDATE ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: products.id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: products.unlimited is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.unlimited IS NOT OLD.unlimited;
    SELECT RAISE(ABORT, 'ecwid-sync: products.in_stock is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.in_stock IS NOT OLD.in_stock;
    SELECT RAISE(ABORT, 'ecwid-sync: products.default_category_id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.default_category_id IS NOT OLD.default_category_id;
    SELECT RAISE(ABORT, 'ecwid-sync: products.created_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.created_at IS NOT OLD.created_at;
    SELECT RAISE(ABORT, 'ecwid-sync: products.updated_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.updated_at IS NOT OLD.updated_at;
    SELECT RAISE(ABORT, 'ecwid-sync: products.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: products.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, name, enabled, sku and weight (see schema/README.md)')
     WHERE NEW.synced_at IS NOT OLD.synced_at;
    SELECT RAISE(ABORT, 'ecwid-sync: products.price must be a number of 0 or more')
     WHERE NEW.price IS NOT OLD.price AND (typeof(NEW.price) NOT IN ('integer', 'real') OR NEW.price < 0);
    SELECT RAISE(ABORT, 'ecwid-sync: products.compare_to_price must be NULL or a number of 0 or more')
     WHERE NEW.compare_to_price IS NOT OLD.compare_to_price AND (NEW.compare_to_price IS NOT NULL AND (typeof(NEW.compare_to_price) NOT IN ('integer', 'real') OR NEW.compare_to_price < 0));
    SELECT RAISE(ABORT, 'ecwid-sync: products.name must be text that is not empty')
     WHERE NEW.name IS NOT OLD.name AND (typeof(NEW.name) <> 'text' OR trim(NEW.name) = '');
    SELECT RAISE(ABORT, 'ecwid-sync: products.enabled must be 1 (shown in the storefront) or 0 (hidden)')
     WHERE NEW.enabled IS NOT OLD.enabled AND (NEW.enabled IS NULL OR NEW.enabled NOT IN (0, 1) OR typeof(NEW.enabled) <> 'integer');
    SELECT RAISE(ABORT, 'ecwid-sync: products.sku must be text that is not empty')
     WHERE NEW.sku IS NOT OLD.sku AND (typeof(NEW.sku) <> 'text' OR trim(NEW.sku) = '');
    SELECT RAISE(ABORT, 'ecwid-sync: products.weight must be NULL or a number of 0 or more')
     WHERE NEW.weight IS NOT OLD.weight AND (NEW.weight IS NOT NULL AND (typeof(NEW.weight) NOT IN ('integer', 'real') OR NEW.weight < 0));
END;

-- Each changed field becomes an outbox row with the value from Ecwid it replaced.
CREATE TRIGGER products_fields_captured AFTER UPDATE ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'price', NEW.price, json_extract(OLD.raw_json, '$.price'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.price IS NOT OLD.price;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'compare_to_price', NEW.compare_to_price, json_extract(OLD.raw_json, '$.compareToPrice'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.compare_to_price IS NOT OLD.compare_to_price;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'name', NEW.name, json_extract(OLD.raw_json, '$.name'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.name IS NOT OLD.name;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'enabled', NEW.enabled, json_extract(OLD.raw_json, '$.enabled'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.enabled IS NOT OLD.enabled;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'sku', NEW.sku, json_extract(OLD.raw_json, '$.sku'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.sku IS NOT OLD.sku;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'weight', NEW.weight, json_extract(OLD.raw_json, '$.weight'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.weight IS NOT OLD.weight;
END;

CREATE TRIGGER products_insert_refused BEFORE INSERT ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to products: products are created in Ecwid (the next pull brings them)');
END;

CREATE TRIGGER products_delete_refused BEFORE DELETE ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from products: delete it in Ecwid, or hide it: UPDATE products SET enabled = 0');
END;

-- product_variations: what a tool may write, checked; any other column refused.
CREATE TRIGGER product_variations_writes_checked BEFORE UPDATE ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price and sku (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.product_id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price and sku (see schema/README.md)')
     WHERE NEW.product_id IS NOT OLD.product_id;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.unlimited is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price and sku (see schema/README.md)')
     WHERE NEW.unlimited IS NOT OLD.unlimited;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.options_json is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price and sku (see schema/README.md)')
     WHERE NEW.options_json IS NOT OLD.options_json;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price and sku (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price and sku (see schema/README.md)')
     WHERE NEW.synced_at IS NOT OLD.synced_at;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.price must be a number of 0 or more')
     WHERE NEW.price IS NOT OLD.price AND (typeof(NEW.price) NOT IN ('integer', 'real') OR NEW.price < 0);
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.sku must be text that is not empty')
     WHERE NEW.sku IS NOT OLD.sku AND (typeof(NEW.sku) <> 'text' OR trim(NEW.sku) = '');
END;

-- Each changed field becomes an outbox row with the value from Ecwid it replaced.
CREATE TRIGGER product_variations_fields_captured AFTER UPDATE ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'variation', NEW.product_id, NEW.id, NULL, 'price', NEW.price, json_extract(OLD.raw_json, '$.price'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.price IS NOT OLD.price;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'variation', NEW.product_id, NEW.id, NULL, 'sku', NEW.sku, json_extract(OLD.raw_json, '$.sku'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.sku IS NOT OLD.sku;
END;

CREATE TRIGGER product_variations_insert_refused BEFORE INSERT ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to product_variations: variations are created in Ecwid (the next pull brings them)');
END;

CREATE TRIGGER product_variations_delete_refused BEFORE DELETE ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from product_variations: delete it in Ecwid');
END;

-- orders: what a tool may write, checked; any other column refused.
CREATE TRIGGER orders_writes_checked BEFORE UPDATE ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: orders.order_number is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.order_number IS NOT OLD.order_number;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.id is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.email is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.email IS NOT OLD.email;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.customer_id is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.customer_id IS NOT OLD.customer_id;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.total is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.total IS NOT OLD.total;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.subtotal is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.subtotal IS NOT OLD.subtotal;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.tax is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.tax IS NOT OLD.tax;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.created_at is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.created_at IS NOT OLD.created_at;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.updated_at is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.updated_at IS NOT OLD.updated_at;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.hidden is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.hidden IS NOT OLD.hidden;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status and tracking_number (see schema/README.md)')
     WHERE NEW.synced_at IS NOT OLD.synced_at;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.fulfillment_status must be one of AWAITING_PROCESSING, PROCESSING, SHIPPED, DELIVERED, WILL_NOT_DELIVER, RETURNED, READY_FOR_PICKUP, OUT_FOR_DELIVERY, CUSTOM_FULFILLMENT_STATUS_1, CUSTOM_FULFILLMENT_STATUS_2, CUSTOM_FULFILLMENT_STATUS_3')
     WHERE NEW.fulfillment_status IS NOT OLD.fulfillment_status AND (NEW.fulfillment_status IS NULL OR NEW.fulfillment_status NOT IN ('AWAITING_PROCESSING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'WILL_NOT_DELIVER', 'RETURNED', 'READY_FOR_PICKUP', 'OUT_FOR_DELIVERY', 'CUSTOM_FULFILLMENT_STATUS_1', 'CUSTOM_FULFILLMENT_STATUS_2', 'CUSTOM_FULFILLMENT_STATUS_3'));
    SELECT RAISE(ABORT, 'ecwid-sync: orders.payment_status must be one of AWAITING_PAYMENT, PAID, CANCELLED, REFUNDED, PARTIALLY_REFUNDED, CUSTOM_PAYMENT_STATUS_1, CUSTOM_PAYMENT_STATUS_2, CUSTOM_PAYMENT_STATUS_3')
     WHERE NEW.payment_status IS NOT OLD.payment_status AND (NEW.payment_status IS NULL OR NEW.payment_status NOT IN ('AWAITING_PAYMENT', 'PAID', 'CANCELLED', 'REFUNDED', 'PARTIALLY_REFUNDED', 'CUSTOM_PAYMENT_STATUS_1', 'CUSTOM_PAYMENT_STATUS_2', 'CUSTOM_PAYMENT_STATUS_3'));
    SELECT RAISE(ABORT, 'ecwid-sync: orders.tracking_number must be text, or NULL for none')
     WHERE NEW.tracking_number IS NOT OLD.tracking_number AND (NEW.tracking_number IS NOT NULL AND typeof(NEW.tracking_number) <> 'text');
END;

-- Each changed field becomes an outbox row with the value from Ecwid it replaced.
CREATE TRIGGER orders_fields_captured AFTER UPDATE ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'fulfillment_status', NEW.fulfillment_status, json_extract(OLD.raw_json, '$.fulfillmentStatus'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.fulfillment_status IS NOT OLD.fulfillment_status;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'payment_status', NEW.payment_status, json_extract(OLD.raw_json, '$.paymentStatus'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.payment_status IS NOT OLD.payment_status;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'tracking_number', NEW.tracking_number, json_extract(OLD.raw_json, '$.trackingNumber'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.tracking_number IS NOT OLD.tracking_number;
END;

CREATE TRIGGER orders_insert_refused BEFORE INSERT ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to orders: orders are created by the storefront or in Ecwid (the next pull brings them)');
END;

CREATE TRIGGER orders_delete_refused BEFORE DELETE ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from orders: cancel it instead: UPDATE orders SET payment_status = ''CANCELLED''');
END;

-- Tables that are Ecwid's copy only.
CREATE TRIGGER categories_insert_refused BEFORE INSERT ON categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: categories is Ecwid''s copy and is not written back: categories are changed in the Ecwid admin');
END;

CREATE TRIGGER categories_update_refused BEFORE UPDATE ON categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: categories is Ecwid''s copy and is not written back: categories are changed in the Ecwid admin');
END;

CREATE TRIGGER categories_delete_refused BEFORE DELETE ON categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: categories is Ecwid''s copy and is not written back: categories are changed in the Ecwid admin');
END;

CREATE TRIGGER product_categories_insert_refused BEFORE INSERT ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_categories is Ecwid''s copy and is not written back: a product''s categories are changed in the Ecwid admin');
END;

CREATE TRIGGER product_categories_update_refused BEFORE UPDATE ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_categories is Ecwid''s copy and is not written back: a product''s categories are changed in the Ecwid admin');
END;

CREATE TRIGGER product_categories_delete_refused BEFORE DELETE ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_categories is Ecwid''s copy and is not written back: a product''s categories are changed in the Ecwid admin');
END;

CREATE TRIGGER order_items_insert_refused BEFORE INSERT ON order_items
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: order_items is Ecwid''s copy and is not written back: an order''s items are changed in the Ecwid admin');
END;

CREATE TRIGGER order_items_update_refused BEFORE UPDATE ON order_items
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: order_items is Ecwid''s copy and is not written back: an order''s items are changed in the Ecwid admin');
END;

CREATE TRIGGER order_items_delete_refused BEFORE DELETE ON order_items
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: order_items is Ecwid''s copy and is not written back: an order''s items are changed in the Ecwid admin');
END;

CREATE TRIGGER customers_insert_refused BEFORE INSERT ON customers
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: customers is Ecwid''s copy and is not written back: customers are changed in the Ecwid admin');
END;

CREATE TRIGGER customers_update_refused BEFORE UPDATE ON customers
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: customers is Ecwid''s copy and is not written back: customers are changed in the Ecwid admin');
END;

CREATE TRIGGER customers_delete_refused BEFORE DELETE ON customers
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: customers is Ecwid''s copy and is not written back: customers are changed in the Ecwid admin');
END;

-- What the mirror's order columns add to Ecwid's, as for products (outbox_open).
CREATE INDEX outbox_open_orders ON outbox(order_number)
 WHERE state IN ('pending', 'sending') AND order_number IS NOT NULL;
