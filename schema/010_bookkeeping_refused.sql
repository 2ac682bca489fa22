-- The daemon's bookkeeping is the daemon's: tools may read these tables but not write them
-- (see schema/README.md, "What tools may write"). A tool that deleted an outbox row, say,
-- would leave the mirror off the store for good; these triggers refuse such writes with
-- the command to use instead. The daemon's own connections run with triggers off, so they
-- are not refused; a connection that raises capture_paused (as the daemon's writes once
-- did) is let through too.

-- Raised by the capture triggers for the length of their own insert into outbox, which the
-- refusal below lets through. Like capture_paused, never holds a committed row.
CREATE TABLE capture_writing (
    since INTEGER
);

CREATE TRIGGER outbox_insert_refused BEFORE INSERT ON outbox
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
 AND NOT EXISTS (SELECT 1 FROM capture_writing)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to outbox, the daemon''s record of local changes; see them with `ecwid-sync outbox list` and settle them with `ecwid-sync outbox resolve` or `ecwid-sync outbox dismiss`; to change stock or a field, write the mirror''s column instead');
END;

CREATE TRIGGER outbox_update_refused BEFORE UPDATE ON outbox
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in outbox, the daemon''s record of local changes; see them with `ecwid-sync outbox list` and settle them with `ecwid-sync outbox resolve` or `ecwid-sync outbox dismiss`; to change stock or a field, write the mirror''s column instead');
END;

CREATE TRIGGER outbox_delete_refused BEFORE DELETE ON outbox
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from outbox, the daemon''s record of local changes; see them with `ecwid-sync outbox list` and settle them with `ecwid-sync outbox resolve` or `ecwid-sync outbox dismiss`; to change stock or a field, write the mirror''s column instead');
END;

CREATE TRIGGER push_batches_insert_refused BEFORE INSERT ON push_batches
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to push_batches, the daemon''s record of the batches it sent Ecwid; see the changes they carry with `ecwid-sync outbox list`');
END;

CREATE TRIGGER push_batches_update_refused BEFORE UPDATE ON push_batches
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in push_batches, the daemon''s record of the batches it sent Ecwid; see the changes they carry with `ecwid-sync outbox list`');
END;

CREATE TRIGGER push_batches_delete_refused BEFORE DELETE ON push_batches
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from push_batches, the daemon''s record of the batches it sent Ecwid; see the changes they carry with `ecwid-sync outbox list`');
END;

CREATE TRIGGER conflicts_insert_refused BEFORE INSERT ON conflicts
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to conflicts, the daemon''s record of conflicts; see them with `ecwid-sync conflicts list` and settle them with `ecwid-sync conflicts resolve`');
END;

CREATE TRIGGER conflicts_update_refused BEFORE UPDATE ON conflicts
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in conflicts, the daemon''s record of conflicts; see them with `ecwid-sync conflicts list` and settle them with `ecwid-sync conflicts resolve`');
END;

CREATE TRIGGER conflicts_delete_refused BEFORE DELETE ON conflicts
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from conflicts, the daemon''s record of conflicts; see them with `ecwid-sync conflicts list` and settle them with `ecwid-sync conflicts resolve`');
END;

CREATE TRIGGER sync_state_insert_refused BEFORE INSERT ON sync_state
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to sync_state, the daemon''s pull bookkeeping; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER sync_state_update_refused BEFORE UPDATE ON sync_state
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in sync_state, the daemon''s pull bookkeeping; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER sync_state_delete_refused BEFORE DELETE ON sync_state
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from sync_state, the daemon''s pull bookkeeping; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER webhook_events_insert_refused BEFORE INSERT ON webhook_events
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to webhook_events, the daemon''s inbox of Ecwid''s webhooks; the daemon settles every event itself; `ecwid-sync status` shows what is pending');
END;

CREATE TRIGGER webhook_events_update_refused BEFORE UPDATE ON webhook_events
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in webhook_events, the daemon''s inbox of Ecwid''s webhooks; the daemon settles every event itself; `ecwid-sync status` shows what is pending');
END;

CREATE TRIGGER webhook_events_delete_refused BEFORE DELETE ON webhook_events
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from webhook_events, the daemon''s inbox of Ecwid''s webhooks; the daemon settles every event itself; `ecwid-sync status` shows what is pending');
END;

CREATE TRIGGER quarantine_insert_refused BEFORE INSERT ON quarantine
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to quarantine, the daemon''s record of documents that do not fit the model; every pass reads them again; `ecwid-sync status` lists them');
END;

CREATE TRIGGER quarantine_update_refused BEFORE UPDATE ON quarantine
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in quarantine, the daemon''s record of documents that do not fit the model; every pass reads them again; `ecwid-sync status` lists them');
END;

CREATE TRIGGER quarantine_delete_refused BEFORE DELETE ON quarantine
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from quarantine, the daemon''s record of documents that do not fit the model; every pass reads them again; `ecwid-sync status` lists them');
END;

CREATE TRIGGER full_pull_progress_insert_refused BEFORE INSERT ON full_pull_progress
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to full_pull_progress, the daemon''s record of an interrupted full pull; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER full_pull_progress_update_refused BEFORE UPDATE ON full_pull_progress
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in full_pull_progress, the daemon''s record of an interrupted full pull; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER full_pull_progress_delete_refused BEFORE DELETE ON full_pull_progress
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from full_pull_progress, the daemon''s record of an interrupted full pull; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER full_pull_pages_insert_refused BEFORE INSERT ON full_pull_pages
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to full_pull_pages, the daemon''s record of an interrupted full pull; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER full_pull_pages_update_refused BEFORE UPDATE ON full_pull_pages
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in full_pull_pages, the daemon''s record of an interrupted full pull; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER full_pull_pages_delete_refused BEFORE DELETE ON full_pull_pages
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from full_pull_pages, the daemon''s record of an interrupted full pull; to pull everything again run `ecwid-sync sync --full`');
END;

CREATE TRIGGER mirror_identity_insert_refused BEFORE INSERT ON mirror_identity
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to mirror_identity, the mirror''s own name, from which the daemon derives its batch keys; nothing to do: it is made once');
END;

CREATE TRIGGER mirror_identity_update_refused BEFORE UPDATE ON mirror_identity
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in mirror_identity, the mirror''s own name, from which the daemon derives its batch keys; nothing to do: it is made once');
END;

CREATE TRIGGER mirror_identity_delete_refused BEFORE DELETE ON mirror_identity
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from mirror_identity, the mirror''s own name, from which the daemon derives its batch keys; nothing to do: it is made once');
END;

-- The capture triggers again, each raising capture_writing around its insert into outbox.
-- Unchanged otherwise (schemas 005 and 006).

DROP TRIGGER products_quantity_captured;
CREATE TRIGGER products_quantity_captured AFTER UPDATE OF quantity ON products
WHEN NEW.quantity IS NOT OLD.quantity AND NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, delta, base, created_at)
    VALUES ('product', NEW.id, NULL, NEW.quantity - coalesce(OLD.quantity, 0),
            json_extract(OLD.raw_json, '$.quantity'), CAST(strftime('%s', 'now') AS INTEGER));
    DELETE FROM capture_writing;
END;

DROP TRIGGER product_variations_quantity_captured;
CREATE TRIGGER product_variations_quantity_captured AFTER UPDATE OF quantity ON product_variations
WHEN NEW.quantity IS NOT OLD.quantity AND NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, delta, base, created_at)
    VALUES ('variation', NEW.product_id, NEW.id, NEW.quantity - coalesce(OLD.quantity, 0),
            json_extract(OLD.raw_json, '$.quantity'), CAST(strftime('%s', 'now') AS INTEGER));
    DELETE FROM capture_writing;
END;

DROP TRIGGER products_fields_captured;
CREATE TRIGGER products_fields_captured AFTER UPDATE ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
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
    DELETE FROM capture_writing;
END;

DROP TRIGGER product_variations_fields_captured;
CREATE TRIGGER product_variations_fields_captured AFTER UPDATE ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'variation', NEW.product_id, NEW.id, NULL, 'price', NEW.price, json_extract(OLD.raw_json, '$.price'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.price IS NOT OLD.price;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'variation', NEW.product_id, NEW.id, NULL, 'sku', NEW.sku, json_extract(OLD.raw_json, '$.sku'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.sku IS NOT OLD.sku;
    DELETE FROM capture_writing;
END;

DROP TRIGGER orders_fields_captured;
CREATE TRIGGER orders_fields_captured AFTER UPDATE ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    INSERT INTO capture_writing (since) VALUES (CAST(strftime('%s', 'now') AS INTEGER));
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'fulfillment_status', NEW.fulfillment_status, json_extract(OLD.raw_json, '$.fulfillmentStatus'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.fulfillment_status IS NOT OLD.fulfillment_status;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'payment_status', NEW.payment_status, json_extract(OLD.raw_json, '$.paymentStatus'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.payment_status IS NOT OLD.payment_status;
    INSERT INTO outbox (entity, product_id, variation_id, order_number, field, value, base, created_at)
    SELECT 'order', NULL, NULL, NEW.order_number, 'tracking_number', NEW.tracking_number, json_extract(OLD.raw_json, '$.trackingNumber'), CAST(strftime('%s', 'now') AS INTEGER)
     WHERE NEW.tracking_number IS NOT OLD.tracking_number;
    DELETE FROM capture_writing;
END;
