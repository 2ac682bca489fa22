-- The mirror of an Ecwid store. Read with plain SQL; see schema/README.md for the contract.
-- Times are unix seconds (UTC). Money is stored as Ecwid sends it. raw_json holds the whole
-- document Ecwid returned, so fields without a column of their own are never lost.

CREATE TABLE products (
    id                  INTEGER PRIMARY KEY,  -- Ecwid product id
    sku                 TEXT,
    name                TEXT,
    price               REAL,
    compare_to_price    REAL,                 -- the strike-through "was" price, NULL when not set
    quantity            INTEGER,              -- NULL when unlimited = 1
    unlimited           INTEGER NOT NULL DEFAULT 0,  -- 1: stock is not tracked
    in_stock            INTEGER NOT NULL DEFAULT 0,
    enabled             INTEGER NOT NULL DEFAULT 1,
    weight              REAL,
    default_category_id INTEGER,              -- 0 or NULL: none
    created_at          INTEGER,
    updated_at          INTEGER,              -- Ecwid's updateTimestamp; an older document never overwrites a newer one
    raw_json            TEXT NOT NULL,
    synced_at           INTEGER NOT NULL      -- when the mirror last wrote this row
);
CREATE INDEX products_sku ON products(sku);

CREATE TABLE product_variations (
    id           INTEGER PRIMARY KEY,         -- Ecwid variation ("combination") id
    product_id   INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    sku          TEXT,                        -- the variation's own SKU, or the product's when it has none
    quantity     INTEGER,                     -- NULL when unlimited = 1
    unlimited    INTEGER NOT NULL DEFAULT 0,
    price        REAL,                        -- the variation's price, or the product's when it has none
    options_json TEXT,                        -- [{"name":..,"value":..}, ...] identifying the variation
    raw_json     TEXT NOT NULL,
    synced_at    INTEGER NOT NULL
);
CREATE INDEX product_variations_product ON product_variations(product_id);
CREATE INDEX product_variations_sku ON product_variations(sku);

CREATE TABLE categories (
    id        INTEGER PRIMARY KEY,            -- Ecwid category id
    parent_id INTEGER,                        -- NULL for a root category
    name      TEXT,
    enabled   INTEGER NOT NULL DEFAULT 1,
    order_by  INTEGER,                        -- position among siblings in the storefront
    raw_json  TEXT NOT NULL,
    synced_at INTEGER NOT NULL
);

-- Which categories a product is in (from the product's categoryIds). No foreign key to
-- categories: the categories kind may be pulled later than products, or not at all.
CREATE TABLE product_categories (
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    category_id INTEGER NOT NULL,
    PRIMARY KEY (product_id, category_id)
) WITHOUT ROWID;
CREATE INDEX product_categories_category ON product_categories(category_id);

CREATE TABLE orders (
    order_number       INTEGER PRIMARY KEY,   -- Ecwid orderNumber, the key of the orders API
    id                 TEXT,                  -- the platform's string id where it sends one
    email              TEXT,
    customer_id        INTEGER,
    payment_status     TEXT,                  -- AWAITING_PAYMENT, PAID, CANCELLED, REFUNDED, PARTIALLY_REFUNDED
    fulfillment_status TEXT,                  -- AWAITING_PROCESSING, PROCESSING, SHIPPED, DELIVERED, ...
    total              REAL,
    subtotal           REAL,
    tax                REAL,
    tracking_number    TEXT,
    created_at         INTEGER,
    updated_at         INTEGER,               -- Ecwid's updateTimestamp
    hidden             INTEGER NOT NULL DEFAULT 0,
    raw_json           TEXT NOT NULL,
    synced_at          INTEGER NOT NULL
);
CREATE INDEX orders_updated_at ON orders(updated_at);
CREATE INDEX orders_customer ON orders(customer_id);

CREATE TABLE order_items (
    order_number INTEGER NOT NULL REFERENCES orders(order_number) ON DELETE CASCADE,
    line         INTEGER NOT NULL,            -- 0-based position in the order's items
    item_id      INTEGER,                     -- Ecwid's order item id
    product_id   INTEGER,
    sku          TEXT,                        -- the variation's SKU when bought as a variation
    name         TEXT,
    quantity     INTEGER,
    price        REAL,                        -- unit price paid
    options_json TEXT,                        -- selectedOptions as Ecwid sent them
    PRIMARY KEY (order_number, line)
) WITHOUT ROWID;
CREATE INDEX order_items_product ON order_items(product_id);
CREATE INDEX order_items_sku ON order_items(sku);

-- Only filled when [sync] kinds includes customers.
CREATE TABLE customers (
    id         INTEGER PRIMARY KEY,           -- Ecwid customer id
    email      TEXT,
    name       TEXT,
    updated_at INTEGER,                       -- from Ecwid's "updated" date
    raw_json   TEXT NOT NULL,
    synced_at  INTEGER NOT NULL
);
CREATE INDEX customers_email ON customers(email);

-- The daemon's own bookkeeping, one row per kind; readable by anyone curious.
CREATE TABLE sync_state (
    kind                 TEXT PRIMARY KEY,    -- products, categories, orders, customers
    cursor               INTEGER,             -- highest Ecwid updateTimestamp seen; the next incremental pull starts at cursor - overlap
    deleted_cursor       INTEGER,             -- date of the newest deletion record applied
    stats_marker         TEXT,                -- latest-stats value already pulled; equal value = nothing to do
    last_full_started    INTEGER,
    last_full_finished   INTEGER,
    last_incremental     INTEGER,
    last_error           TEXT,                -- NULL after a successful run
    last_error_at        INTEGER
);

-- One row per sellable SKU: a product without variations, or each variation of one.
CREATE VIEW stock_levels AS
    SELECT p.sku         AS sku,
           p.id          AS product_id,
           NULL          AS variation_id,
           p.name        AS name,
           p.quantity    AS quantity,
           p.unlimited   AS unlimited,
           p.in_stock    AS in_stock
      FROM products p
     WHERE NOT EXISTS (SELECT 1 FROM product_variations v WHERE v.product_id = p.id)
    UNION ALL
    SELECT v.sku,
           v.product_id,
           v.id,
           p.name,
           v.quantity,
           v.unlimited,
           CASE WHEN v.unlimited = 1 OR v.quantity > 0 THEN 1 ELSE 0 END
      FROM product_variations v
      JOIN products p ON p.id = v.product_id;
