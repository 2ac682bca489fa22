-- Products a tool asks the daemon to create in Ecwid. A tool INSERTs a row (state
-- 'pending'); the daemon sends it once, in a keyed batch (contract 17.4), and writes back
-- Ecwid's id and the outcome. The created product then appears in `products` as if pulled.
-- A tool may DELETE a row while it is 'pending' (the request is cancelled and never sent)
-- or once it 'failed'; the daemon's columns (state onwards) are its own.
-- AUTOINCREMENT: a row's id names its batch key, so an id is never handed out twice.
CREATE TABLE new_products (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL CHECK (length(trim(name)) > 0),
    sku              TEXT    NOT NULL CHECK (length(trim(sku)) > 0),  -- unique in the store: Ecwid refuses a SKU it has
    price            REAL    NOT NULL DEFAULT 0 CHECK (price >= 0),
    compare_to_price REAL    CHECK (compare_to_price IS NULL OR compare_to_price >= 0),
    quantity         INTEGER CHECK (quantity IS NULL OR quantity >= 0),  -- NULL: unlimited stock
    enabled          INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    description      TEXT,  -- HTML, as Ecwid stores it
    weight           REAL    CHECK (weight IS NULL OR weight >= 0),
    category_ids     TEXT    CHECK (category_ids IS NULL OR json_type(category_ids) = 'array'),  -- JSON array of category ids, e.g. '[12, 40]'
    requested_at     INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),  -- unix seconds
    -- The daemon's columns:
    state            TEXT    NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'created', 'failed')),
    product_id       INTEGER,  -- Ecwid's id once created (products.id)
    error            TEXT,     -- why it failed, in Ecwid's words
    batch_key        TEXT,     -- the deduplicationKey it went (or may have gone) with
    ticket           TEXT,     -- Ecwid's ticket for that batch, once answered
    first_sent       INTEGER,  -- unix seconds
    settled_at       INTEGER   -- unix seconds
);

CREATE INDEX new_products_open ON new_products(state) WHERE state IN ('pending', 'sending');

CREATE TRIGGER new_products_insert_checked BEFORE INSERT ON new_products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: a new product starts as pending: leave state, product_id, error, batch_key, ticket, first_sent and settled_at to the daemon')
    WHERE NEW.state IS NOT 'pending' OR NEW.product_id IS NOT NULL OR NEW.error IS NOT NULL
       OR NEW.batch_key IS NOT NULL OR NEW.ticket IS NOT NULL OR NEW.first_sent IS NOT NULL
       OR NEW.settled_at IS NOT NULL;
    SELECT RAISE(ABORT, 'ecwid-sync: new_products.category_ids must be a JSON array of category ids, e.g. ''[12, 40]''')
    WHERE NEW.category_ids IS NOT NULL
      AND EXISTS (SELECT 1 FROM json_each(NEW.category_ids) WHERE type IS NOT 'integer');
END;

CREATE TRIGGER new_products_update_refused BEFORE UPDATE ON new_products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows of new_products cannot be changed; to change a pending request, DELETE it and INSERT it again; a created product is changed in products');
END;

CREATE TRIGGER new_products_delete_checked BEFORE DELETE ON new_products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused) AND OLD.state IN ('sending', 'created')
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: this new product is already on its way to Ecwid or created there, so it cannot be cancelled; a created product is retired with DELETE FROM products');
END;

-- The publisher's switches as the daemon's configuration sets them ([push] deletes), so
-- that the mirror's triggers follow the configuration. One row; the daemon's to write.
CREATE TABLE push_switches (
    deletes INTEGER NOT NULL DEFAULT 0 CHECK (deletes IN (0, 1))  -- [push] deletes
);
INSERT INTO push_switches (deletes) VALUES (0);

CREATE TRIGGER push_switches_write_refused BEFORE UPDATE ON push_switches
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: push_switches mirrors the daemon''s configuration; set [push] deletes in the config file instead');
END;

CREATE TRIGGER push_switches_insert_refused BEFORE INSERT ON push_switches
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: push_switches mirrors the daemon''s configuration; set [push] deletes in the config file instead');
END;

CREATE TRIGGER push_switches_delete_refused BEFORE DELETE ON push_switches
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: push_switches mirrors the daemon''s configuration; set [push] deletes in the config file instead');
END;

-- A tool's DELETE FROM products: refused while [push] deletes is false (deletion is
-- destructive, and the default must never lose a product); otherwise a deletion request
-- (an outbox row with field 'delete') and the row stays until Ecwid confirms. A product
-- whose other local changes have not settled is refused: a deletion would drop them.
DROP TRIGGER products_delete_refused;
CREATE TRIGGER products_delete_requested BEFORE DELETE ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: products are not deleted while [push] deletes = false (the default; deletion is destructive); to hide a product instead: UPDATE products SET enabled = 0; to retire it in Ecwid, set [push] deletes = true')
    WHERE NOT EXISTS (SELECT 1 FROM push_switches WHERE deletes = 1);
    SELECT RAISE(ABORT, 'ecwid-sync: this product has local changes not yet settled (see `ecwid-sync outbox list`); they are settled first: delete it once they are applied, failed or dismissed')
    WHERE EXISTS (SELECT 1 FROM outbox WHERE product_id = OLD.id AND field <> 'delete'
                     AND state IN ('pending', 'sending', 'uncertain', 'conflict'));
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, field, created_at)
    SELECT 'product', OLD.id, 'delete', CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE product_id = OLD.id AND field = 'delete'
                          AND state IN ('pending', 'sending'));
    DELETE FROM capture_writing;
    -- The row stays, marked by its open 'delete' change, until Ecwid confirms.
    SELECT RAISE(IGNORE);
END;
