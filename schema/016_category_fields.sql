-- Category names and visibility, written by tools under the rules of 006 and 014 (see
-- schema/README.md, "Changing prices, names and order status"): `categories.name` and
-- `categories.enabled` are checked here, captured into the outbox with the value from Ecwid
-- they replaced, settled by the same base/local/remote decision and [conflicts] policies,
-- and sent as `PUT /categories/{id}` in the keyed batches. Every other column of a category
-- stays Ecwid's, and categories are still created, moved and deleted in the Ecwid admin.

-- Which category a change or a conflict is about (entity 'category').
ALTER TABLE outbox ADD COLUMN category_id INTEGER;       -- the category (categories.id); NULL for other entities
ALTER TABLE conflicts ADD COLUMN category_id INTEGER;    -- the category (categories.id); NULL for other entities

DROP TRIGGER categories_update_refused;

CREATE TRIGGER categories_writes_checked BEFORE UPDATE ON categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: categories.id is Ecwid''s and cannot be changed in the mirror; tools may change name and enabled (see schema/README.md)')
     WHERE NEW.id IS NOT OLD.id;
    SELECT RAISE(ABORT, 'ecwid-sync: categories.parent_id is Ecwid''s and cannot be changed in the mirror; tools may change name and enabled (see schema/README.md)')
     WHERE NEW.parent_id IS NOT OLD.parent_id;
    SELECT RAISE(ABORT, 'ecwid-sync: categories.order_by is Ecwid''s and cannot be changed in the mirror; tools may change name and enabled (see schema/README.md)')
     WHERE NEW.order_by IS NOT OLD.order_by;
    SELECT RAISE(ABORT, 'ecwid-sync: categories.raw_json is Ecwid''s and cannot be changed in the mirror; tools may change name and enabled (see schema/README.md)')
     WHERE NEW.raw_json IS NOT OLD.raw_json;
    SELECT RAISE(ABORT, 'ecwid-sync: categories.synced_at is Ecwid''s and cannot be changed in the mirror; tools may change name and enabled (see schema/README.md)')
     WHERE NEW.synced_at IS NOT OLD.synced_at;
    SELECT RAISE(ABORT, 'ecwid-sync: categories.name must be text that is not empty')
     WHERE NEW.name IS NOT OLD.name AND (typeof(NEW.name) <> 'text' OR trim(NEW.name) = '');
    -- The bound of a product's name (008): Ecwid documents none.
    SELECT RAISE(ABORT, 'ecwid-sync: categories.name must be at most 4096 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.name IS NOT OLD.name AND length(NEW.name) > 4096;
    SELECT RAISE(ABORT, 'ecwid-sync: categories.enabled must be 1 (shown in the storefront) or 0 (hidden)')
     WHERE NEW.enabled IS NOT OLD.enabled AND (NEW.enabled IS NULL OR NEW.enabled NOT IN (0, 1) OR typeof(NEW.enabled) <> 'integer');
END;

-- A category's document without `enabled` is a visible category (the pull reads it so), hence
-- the COALESCE of the base.
CREATE TRIGGER categories_fields_captured AFTER UPDATE OF name, enabled ON categories
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, category_id, field, value, base, created_at)
    SELECT 'category', NULL, NULL, NULL, NEW.id, 'name', NEW.name, json_extract(OLD.raw_json, '$.name'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.name IS NOT OLD.name;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, category_id, field, value, base, created_at)
    SELECT 'category', NULL, NULL, NULL, NEW.id, 'enabled', NEW.enabled, COALESCE(json_extract(OLD.raw_json, '$.enabled'), 1), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.enabled IS NOT OLD.enabled;
    DELETE FROM capture_writing;
END;
