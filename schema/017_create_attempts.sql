-- How many batches a request of `new_products` was put in. A create Ecwid did not run goes
-- again in a new batch, and its key must then differ from the first one's: Ecwid answers a
-- key it remembers with the first batch's outcome ("not run") without running anything.
ALTER TABLE new_products ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER new_products_insert_checked;
CREATE TRIGGER new_products_insert_checked BEFORE INSERT ON new_products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: a new product starts as pending: leave state, product_id, error, batch_key, ticket, first_sent, settled_at and attempts to the daemon')
    WHERE NEW.state IS NOT 'pending' OR NEW.product_id IS NOT NULL OR NEW.error IS NOT NULL
       OR NEW.batch_key IS NOT NULL OR NEW.ticket IS NOT NULL OR NEW.first_sent IS NOT NULL
       OR NEW.settled_at IS NOT NULL OR NEW.attempts IS NOT 0;
    SELECT RAISE(ABORT, 'ecwid-sync: new_products.category_ids must be a JSON array of category ids, e.g. ''[12, 40]''')
    WHERE NEW.category_ids IS NOT NULL
      AND EXISTS (SELECT 1 FROM json_each(NEW.category_ids) WHERE type IS NOT 'integer');
END;
