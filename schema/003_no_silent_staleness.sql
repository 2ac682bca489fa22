-- Nothing goes stale silently (issue: no silent staleness).

-- Entities whose document from Ecwid did not fit the model. Their mirror rows keep the last
-- copy that did; each pass reads them again by id, and a row leaves this table only when
-- its entity reads again (or Ecwid no longer has it).
CREATE TABLE quarantine (
    kind       TEXT    NOT NULL,            -- products, categories, orders, customers
    key        INTEGER NOT NULL,            -- the mirror's key (orders: the internal id)
    error      TEXT    NOT NULL,            -- names the field and its problem
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;

-- A full pull in progress, recorded with every page it commits, so that one interrupted by
-- a crash, a stop or a failure resumes where it stopped instead of from the first page.
-- Both tables are emptied when the full pull finishes.
CREATE TABLE full_pull_progress (
    kind        TEXT PRIMARY KEY,
    read_at     INTEGER NOT NULL,            -- the store's clock when the pull began
    started_at  INTEGER NOT NULL,            -- this machine's clock when the pull began
    next_offset INTEGER NOT NULL DEFAULT 0,  -- the listing's offset after the last committed page
    first_total INTEGER,                     -- the listing's total on its first page
    newest      INTEGER                      -- the newest update time listed so far
);

-- The keys each committed page of that listing returned: what the pull has seen, so that
-- rows it has not seen can still be checked and removed at its end.
CREATE TABLE full_pull_pages (
    kind        TEXT    NOT NULL,
    page_offset INTEGER NOT NULL,
    keys        TEXT    NOT NULL,            -- JSON array of keys
    PRIMARY KEY (kind, page_offset)
) WITHOUT ROWID;

-- Pulls no longer rewrite a row whose document is unchanged, so order lines mirrored before
-- version 2 would keep combination_id NULL until their order changes: read it from the
-- order's document now (line n is the document's items[n]).
UPDATE order_items
   SET combination_id = (
       SELECT json_extract(o.raw_json, '$.items[' || order_items.line || '].combinationId')
         FROM orders o
        WHERE o.order_number = order_items.order_number)
 WHERE combination_id IS NULL;
