-- Bounds on the text tools write: a value longer than Ecwid takes is refused when it is
-- written, not when the pusher meets Ecwid's refusal later (or, where Ecwid takes anything,
-- never), and a buggy tool cannot put megabytes into a row, the outbox and every log line
-- that shows it. Ecwid's API reference documents no maximum length for any of these
-- columns, so each bound is a generous one chosen here, far above any real value (see
-- schema/README.md, "Changing prices, names and order status"). Separate triggers beside
-- those of 006, which check the type first: these look only at text, so a value of the
-- wrong type still gets 006's message.

CREATE TRIGGER products_text_bounded BEFORE UPDATE OF name, sku ON products
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: products.name must be at most 4096 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.name IS NOT OLD.name AND typeof(NEW.name) = 'text' AND length(NEW.name) > 4096;
    SELECT RAISE(ABORT, 'ecwid-sync: products.sku must be at most 1024 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.sku IS NOT OLD.sku AND typeof(NEW.sku) = 'text' AND length(NEW.sku) > 1024;
END;

CREATE TRIGGER product_variations_text_bounded BEFORE UPDATE OF sku ON product_variations
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: product_variations.sku must be at most 1024 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.sku IS NOT OLD.sku AND typeof(NEW.sku) = 'text' AND length(NEW.sku) > 1024;
END;

CREATE TRIGGER orders_text_bounded BEFORE UPDATE OF tracking_number ON orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: orders.tracking_number must be at most 1024 characters (a bound ecwid-sync sets, as Ecwid documents none; see schema/README.md)')
     WHERE NEW.tracking_number IS NOT OLD.tracking_number AND typeof(NEW.tracking_number) = 'text' AND length(NEW.tracking_number) > 1024;
END;
