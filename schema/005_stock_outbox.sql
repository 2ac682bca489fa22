-- Two-way stock: stock changes that tools write into the mirror, captured for the pusher,
-- which brings them to Ecwid as quantity deltas (see schema/README.md, "Changing stock").

-- The mirror's own random name, made once. Batch deduplication keys derive from it and the
-- ids of the outbox rows they carry, so a mirror created anew (whose row ids start again
-- at 1) never repeats a key that Ecwid still remembers from the old one.
CREATE TABLE mirror_identity (
    uid TEXT NOT NULL                       -- 32 hex digits
);
INSERT INTO mirror_identity (uid) VALUES (lower(hex(randomblob(16))));

-- One row per local stock change: a tool's UPDATE of products.quantity or
-- product_variations.quantity, recorded by the triggers below as new - old.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so no key is derived twice
    entity       TEXT    NOT NULL,          -- product or variation
    product_id   INTEGER NOT NULL,          -- the product, or the variation's product
    variation_id INTEGER,                   -- the variation; NULL for a product's own stock
    delta        INTEGER NOT NULL,          -- new quantity - old quantity
    base         INTEGER,                   -- the quantity Ecwid last reported when the change was made
    created_at   INTEGER NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending', -- pending, sending, applied, uncertain, failed
    attempts     INTEGER NOT NULL DEFAULT 0, -- batches it was sent in
    last_error   TEXT,
    batch_key    TEXT,                      -- deduplicationKey of the batch carrying it, stored before sending
    seen_updated INTEGER,                   -- when it was put in that batch: its product's updateTimestamp
    seen_quantity INTEGER,                  --   and its entity's quantity in Ecwid, as the mirror knew them
    settled_at   INTEGER                    -- when it became applied, failed or uncertain
);
-- What the mirror's quantities add to Ecwid's (see the pull's overlay) and what to send.
CREATE INDEX outbox_open ON outbox(product_id, variation_id) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_batch ON outbox(batch_key) WHERE state = 'sending';
-- Counts by state (status, /metrics) and pruning of what was applied long ago.
CREATE INDEX outbox_state ON outbox(state, settled_at);

-- The keyed batches the pusher made. Ecwid remembers a deduplicationKey for an hour from its
-- first create; `first_sent` is stored before that create, so the pusher knows when sending
-- the key again stops being safe, and a batch whose outcome is still unknown then is
-- decided by its ticket or by reading the products (see src/sync/push/expired.rs).
CREATE TABLE push_batches (
    key        TEXT PRIMARY KEY,
    first_sent INTEGER NOT NULL,            -- unix seconds, before the first create
    ticket     TEXT                         -- Ecwid's ticket, once a create's answer came back
) WITHOUT ROWID;

-- The daemon's own writes (pulls, webhook deltas, push results) are not local changes.
-- The daemon inserts a row here inside each such write transaction and deletes it before
-- the commit: a transaction's uncommitted rows are seen by no other connection, so this
-- table is empty for every tool, and the triggers capture all their writes. Never holds a
-- committed row (the daemon empties it when it starts, in case one ever did).
CREATE TABLE capture_paused (
    since INTEGER
);

-- Quantities a tool may not write: they would not mean anything to Ecwid.
CREATE TRIGGER products_quantity_refused BEFORE UPDATE OF quantity ON products
WHEN NEW.quantity IS NOT OLD.quantity AND NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: this product has unlimited stock in Ecwid (products.unlimited = 1); its quantity is not tracked and cannot be changed in the mirror')
     WHERE OLD.unlimited = 1;
    SELECT RAISE(ABORT, 'ecwid-sync: products.quantity must be a whole number')
     WHERE typeof(NEW.quantity) <> 'integer';
END;

CREATE TRIGGER products_quantity_captured AFTER UPDATE OF quantity ON products
WHEN NEW.quantity IS NOT OLD.quantity AND NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO outbox (entity, product_id, variation_id, delta, base, created_at)
    VALUES ('product', NEW.id, NULL, NEW.quantity - coalesce(OLD.quantity, 0),
            json_extract(OLD.raw_json, '$.quantity'), CAST(strftime('%s', 'now') AS INTEGER));
END;

CREATE TRIGGER product_variations_quantity_refused BEFORE UPDATE OF quantity ON product_variations
WHEN NEW.quantity IS NOT OLD.quantity AND NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: this variation has unlimited stock in Ecwid (product_variations.unlimited = 1); its quantity is not tracked and cannot be changed in the mirror')
     WHERE OLD.unlimited = 1;
    SELECT RAISE(ABORT, 'ecwid-sync: this variation has no SKU of its own in Ecwid, so its stock is its product''s: change products.quantity instead')
     WHERE json_extract(OLD.raw_json, '$.sku') IS NULL;
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.quantity must be a whole number')
     WHERE typeof(NEW.quantity) <> 'integer';
END;

CREATE TRIGGER product_variations_quantity_captured AFTER UPDATE OF quantity ON product_variations
WHEN NEW.quantity IS NOT OLD.quantity AND NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO outbox (entity, product_id, variation_id, delta, base, created_at)
    VALUES ('variation', NEW.product_id, NEW.id, NEW.quantity - coalesce(OLD.quantity, 0),
            json_extract(OLD.raw_json, '$.quantity'), CAST(strftime('%s', 'now') AS INTEGER));
END;
