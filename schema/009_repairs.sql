-- Full pulls repair rows that disagree with the document they hold (see src/mirror/repair.rs
-- and schema/README.md, "Repairs"): how many entities of each kind were written again so.
-- Anything above 0 means something wrote the mirror around ecwid-sync.
ALTER TABLE sync_state ADD COLUMN rows_repaired INTEGER NOT NULL DEFAULT 0;
