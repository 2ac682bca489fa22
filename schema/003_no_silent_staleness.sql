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

-- Pulls no longer rewrite a row whose document is unchanged, so order lines mirrored before
-- version 2 would keep combination_id NULL until their order changes: read it from the
-- order's document now (line n is the document's items[n]).
UPDATE order_items
   SET combination_id = (
       SELECT json_extract(o.raw_json, '$.items[' || order_items.line || '].combinationId')
         FROM orders o
        WHERE o.order_number = order_items.order_number)
 WHERE combination_id IS NULL;
