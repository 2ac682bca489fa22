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
