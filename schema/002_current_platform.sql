-- The platform as it is today (contract section 17): the variation an order line sold, and
-- the count check against latest-stats.

-- Ecwid's combinationId: the variation sold; NULL for a product without variations and on
-- orders placed before Ecwid sent it (2023).
ALTER TABLE order_items ADD COLUMN combination_id INTEGER;

-- How often latest-stats' count of this kind disagreed with the mirror's rows while the
-- store was quiet, each time scheduling a full pull; and the store's count the last time.
ALTER TABLE sync_state ADD COLUMN count_mismatches INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN count_mismatch_store INTEGER;
