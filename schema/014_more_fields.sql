-- More fields tools write, under the rules of 006 (see schema/README.md, "Changing prices,
-- names and order status"): a product's description, purchase price and categories, a
-- variation's compare-to price and weight, and an order's private admin note. Each is
-- validated here, captured into the outbox with the value from Ecwid it replaced (raising
-- capture_writing around the insert, as 010 does), and settled by the same base/local/remote
-- decision and [conflicts] policies as the fields of 006.

ALTER TABLE products ADD COLUMN description TEXT;          -- Ecwid's description (HTML), '' when empty
ALTER TABLE products ADD COLUMN cost_price REAL;           -- the purchase price (costPrice), NULL when not set
ALTER TABLE product_variations ADD COLUMN compare_to_price REAL; -- the variation's own compare-to price, NULL: none of its own
ALTER TABLE product_variations ADD COLUMN weight REAL;      -- the variation's own weight, NULL: its product's applies
ALTER TABLE orders ADD COLUMN private_admin_note TEXT;     -- privateAdminNotes: the staff's note, never shown to the buyer

-- Existing rows take their values from the documents the mirror already holds; the pull's
-- mapping fills them from now on. Before the triggers below, which would capture this fill.
UPDATE products SET description = json_extract(raw_json, '$.description'),
                    cost_price = json_extract(raw_json, '$.costPrice');
UPDATE product_variations SET compare_to_price = json_extract(raw_json, '$.compareToPrice'),
                              weight = json_extract(raw_json, '$.weight');
UPDATE orders SET private_admin_note = json_extract(raw_json, '$.privateAdminNotes');

-- Ecwid documents no maximum length for a description or a note; the bounds are generous
-- ones chosen here (as in 008), so a buggy tool cannot put megabytes into the outbox.
CREATE TRIGGER products_more_fields_checked BEFORE UPDATE OF description, cost_price ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: products.description must be text (HTML; '''' for none) of at most 65536 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.description IS NOT OLD.description AND (typeof(NEW.description) <> 'text' OR length(NEW.description) > 65536);
    SELECT RAISE(ABORT, 'ecwid-sync: products.cost_price must be NULL (no purchase price) or a number of 0 or more')
     WHERE NEW.cost_price IS NOT OLD.cost_price AND (NEW.cost_price IS NOT NULL AND (typeof(NEW.cost_price) NOT IN ('integer', 'real') OR NEW.cost_price < 0));
END;

CREATE TRIGGER products_more_fields_captured AFTER UPDATE OF description, cost_price ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'description', NEW.description, json_extract(OLD.raw_json, '$.description'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.description IS NOT OLD.description;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', NEW.id, NULL, NULL, 'cost_price', NEW.cost_price, json_extract(OLD.raw_json, '$.costPrice'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.cost_price IS NOT OLD.cost_price;
    DELETE FROM capture_writing;
END;

CREATE TRIGGER product_variations_more_fields_checked BEFORE UPDATE OF compare_to_price, weight ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.compare_to_price must be NULL (none of its own) or a number of 0 or more')
     WHERE NEW.compare_to_price IS NOT OLD.compare_to_price AND (NEW.compare_to_price IS NOT NULL AND (typeof(NEW.compare_to_price) NOT IN ('integer', 'real') OR NEW.compare_to_price < 0));
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.weight must be NULL (its product''s weight applies) or a number of 0 or more')
     WHERE NEW.weight IS NOT OLD.weight AND (NEW.weight IS NOT NULL AND (typeof(NEW.weight) NOT IN ('integer', 'real') OR NEW.weight < 0));
END;

CREATE TRIGGER product_variations_more_fields_captured AFTER UPDATE OF compare_to_price, weight ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'variation', NEW.product_id, NEW.id, NULL, 'compare_to_price', NEW.compare_to_price, json_extract(OLD.raw_json, '$.compareToPrice'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.compare_to_price IS NOT OLD.compare_to_price;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'variation', NEW.product_id, NEW.id, NULL, 'weight', NEW.weight, json_extract(OLD.raw_json, '$.weight'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.weight IS NOT OLD.weight;
    DELETE FROM capture_writing;
END;

-- An erased customer's order keeps no private note (privacy.order_fields blanks
-- privateAdminNotes by default): a tool may not write one back, which would both keep it in
-- the mirror and send it to Ecwid.
CREATE TRIGGER orders_more_fields_checked BEFORE UPDATE OF private_admin_note ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: orders.private_admin_note must be text, or NULL for none, of at most 65536 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.private_admin_note IS NOT OLD.private_admin_note AND NEW.private_admin_note IS NOT NULL
       AND (typeof(NEW.private_admin_note) <> 'text' OR length(NEW.private_admin_note) > 65536);
    SELECT RAISE(ABORT, 'ecwid-sync: orders.private_admin_note cannot be written: the order''s customer had their personal data erased, and privacy.order_fields blanks privateAdminNotes (see schema/README.md, "Privacy requests")')
     WHERE NEW.private_admin_note IS NOT OLD.private_admin_note
       AND EXISTS (SELECT 1 FROM erased_orders WHERE order_number = NEW.order_number)
       AND EXISTS (SELECT 1 FROM privacy_policy WHERE field = 'privateAdminNotes');
END;

CREATE TRIGGER orders_more_fields_captured AFTER UPDATE OF private_admin_note ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'private_admin_note', NEW.private_admin_note, json_extract(OLD.raw_json, '$.privateAdminNotes'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.private_admin_note IS NOT OLD.private_admin_note;
    DELETE FROM capture_writing;
END;

-- Category membership: a tool adds a product to a category by inserting a row of
-- product_categories and takes it out by deleting one. The change is the product's whole
-- set of categories (Ecwid's `categoryIds`), written as a JSON array sorted ascending, so
-- that equal sets compare equal whatever order Ecwid lists them in.
DROP TRIGGER product_categories_insert_refused;
DROP TRIGGER product_categories_delete_refused;

CREATE TRIGGER product_categories_insert_checked BEFORE INSERT ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_categories.product_id must be the id of a product in the mirror')
     WHERE NOT EXISTS (SELECT 1 FROM products WHERE id = NEW.product_id);
    SELECT RAISE(ABORT, 'ecwid-sync: product_categories.category_id must be the id of a category in the mirror (categories themselves are created in the Ecwid admin)')
     WHERE typeof(NEW.category_id) <> 'integer' OR NOT EXISTS (SELECT 1 FROM categories WHERE id = NEW.category_id);
END;

CREATE TRIGGER product_categories_insert_captured AFTER INSERT ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', p.id, NULL, NULL, 'category_ids',
           (SELECT json_group_array(category_id) FROM (SELECT category_id FROM product_categories WHERE product_id = p.id ORDER BY category_id)),
           (SELECT json_group_array(value) FROM (SELECT value FROM json_each(p.raw_json, '$.categoryIds') ORDER BY value)),
           CAST(strftime('%s', 'now') AS INTEGER)
      FROM products p WHERE p.id = NEW.product_id;
    DELETE FROM capture_writing;
END;

CREATE TRIGGER product_categories_delete_captured AFTER DELETE ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'product', p.id, NULL, NULL, 'category_ids',
           (SELECT json_group_array(category_id) FROM (SELECT category_id FROM product_categories WHERE product_id = p.id ORDER BY category_id)),
           (SELECT json_group_array(value) FROM (SELECT value FROM json_each(p.raw_json, '$.categoryIds') ORDER BY value)),
           CAST(strftime('%s', 'now') AS INTEGER)
      FROM products p WHERE p.id = OLD.product_id;
    DELETE FROM capture_writing;
END;

-- The refusals of 006 name the columns tools may write: again, with the ones above.
DROP TRIGGER products_writes_checked;
CREATE TRIGGER products_writes_checked BEFORE UPDATE ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: products.id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: products.unlimited is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.unlimited IS NOT OLD.unlimited;
    SELECT RAISE(ABORT, 'ecwid-sync: products.in_stock is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.in_stock IS NOT OLD.in_stock;
    SELECT RAISE(ABORT, 'ecwid-sync: products.default_category_id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.default_category_id IS NOT OLD.default_category_id;
    SELECT RAISE(ABORT, 'ecwid-sync: products.created_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.created_at IS NOT OLD.created_at;
    SELECT RAISE(ABORT, 'ecwid-sync: products.updated_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.updated_at IS NOT OLD.updated_at;
    SELECT RAISE(ABORT, 'ecwid-sync: products.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: products.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, cost_price, name, description, enabled, sku and weight, and add or remove its rows of product_categories (see schema/README.md)')
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

DROP TRIGGER product_variations_writes_checked;
CREATE TRIGGER product_variations_writes_checked BEFORE UPDATE ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, sku and weight (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.product_id is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, sku and weight (see schema/README.md)')
     WHERE NEW.product_id IS NOT OLD.product_id;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.unlimited is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, sku and weight (see schema/README.md)')
     WHERE NEW.unlimited IS NOT OLD.unlimited;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.options_json is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, sku and weight (see schema/README.md)')
     WHERE NEW.options_json IS NOT OLD.options_json;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, sku and weight (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change quantity, price, compare_to_price, sku and weight (see schema/README.md)')
     WHERE NEW.synced_at IS NOT OLD.synced_at;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.price must be a number of 0 or more')
     WHERE NEW.price IS NOT OLD.price AND (typeof(NEW.price) NOT IN ('integer', 'real') OR NEW.price < 0);
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.sku must be text that is not empty')
     WHERE NEW.sku IS NOT OLD.sku AND (typeof(NEW.sku) <> 'text' OR trim(NEW.sku) = '');
END;

DROP TRIGGER orders_writes_checked;
CREATE TRIGGER orders_writes_checked BEFORE UPDATE ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: orders.order_number is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.order_number IS NOT OLD.order_number;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.id is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.email is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.email IS NOT OLD.email;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.customer_id is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.customer_id IS NOT OLD.customer_id;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.total is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.total IS NOT OLD.total;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.subtotal is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.subtotal IS NOT OLD.subtotal;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.tax is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.tax IS NOT OLD.tax;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.created_at is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.created_at IS NOT OLD.created_at;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.updated_at is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.updated_at IS NOT OLD.updated_at;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.hidden is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.hidden IS NOT OLD.hidden;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change fulfillment_status, payment_status, tracking_number and private_admin_note (see schema/README.md)')
     WHERE NEW.synced_at IS NOT OLD.synced_at;
    SELECT RAISE(ABORT, 'ecwid-sync: orders.fulfillment_status must be one of AWAITING_PROCESSING, PROCESSING, SHIPPED, DELIVERED, WILL_NOT_DELIVER, RETURNED, READY_FOR_PICKUP, OUT_FOR_DELIVERY, CUSTOM_FULFILLMENT_STATUS_1, CUSTOM_FULFILLMENT_STATUS_2, CUSTOM_FULFILLMENT_STATUS_3')
     WHERE NEW.fulfillment_status IS NOT OLD.fulfillment_status AND (NEW.fulfillment_status IS NULL OR NEW.fulfillment_status NOT IN ('AWAITING_PROCESSING', 'PROCESSING', 'SHIPPED', 'DELIVERED', 'WILL_NOT_DELIVER', 'RETURNED', 'READY_FOR_PICKUP', 'OUT_FOR_DELIVERY', 'CUSTOM_FULFILLMENT_STATUS_1', 'CUSTOM_FULFILLMENT_STATUS_2', 'CUSTOM_FULFILLMENT_STATUS_3'));
    SELECT RAISE(ABORT, 'ecwid-sync: orders.payment_status must be one of AWAITING_PAYMENT, PAID, CANCELLED, REFUNDED, PARTIALLY_REFUNDED, CUSTOM_PAYMENT_STATUS_1, CUSTOM_PAYMENT_STATUS_2, CUSTOM_PAYMENT_STATUS_3')
     WHERE NEW.payment_status IS NOT OLD.payment_status AND (NEW.payment_status IS NULL OR NEW.payment_status NOT IN ('AWAITING_PAYMENT', 'PAID', 'CANCELLED', 'REFUNDED', 'PARTIALLY_REFUNDED', 'CUSTOM_PAYMENT_STATUS_1', 'CUSTOM_PAYMENT_STATUS_2', 'CUSTOM_PAYMENT_STATUS_3'));
    SELECT RAISE(ABORT, 'ecwid-sync: orders.tracking_number must be text, or NULL for none')
     WHERE NEW.tracking_number IS NOT OLD.tracking_number AND (NEW.tracking_number IS NOT NULL AND typeof(NEW.tracking_number) <> 'text');
END;

DROP TRIGGER product_categories_update_refused;
CREATE TRIGGER product_categories_update_refused BEFORE UPDATE ON product_categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows of product_categories cannot be changed: delete the row and insert the new one (see schema/README.md)');
END;
