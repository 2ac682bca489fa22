-- What the operator decided, from the command line or the console: each change sent again,
-- recorded as applied or dismissed, each conflict settled, with who, how, why and what it
-- did. Written in the same transaction as the settlement it records; never pruned, so the
-- record answers "who changed this, and why" for as long as the mirror lives. A refused
-- attempt (a change already settled, say) is recorded too, with the refusal as its outcome.
CREATE TABLE operator_actions (
    id       INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL,  -- unix seconds
    operator TEXT    NOT NULL,  -- the command line: $SUDO_USER, else $USER; the console: who signed in
    via      TEXT    NOT NULL CHECK (via IN ('cli', 'console')),
    action   TEXT    NOT NULL,  -- resend, mark_applied, dismiss, take_local, take_remote
    target   TEXT    NOT NULL,  -- e.g. 'change 12', 'conflict 3', 'failed changes of product 77'
    reason   TEXT,              -- the operator's words; required for a dismissal
    outcome  TEXT    NOT NULL   -- what it did, e.g. 'changes 12, 13: pending again', or 'refused: ...'
);

-- The record is the daemon's: tools may read it but not write it (like schema 010).
CREATE TRIGGER operator_actions_insert_refused BEFORE INSERT ON operator_actions
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to operator_actions, the record of what the operator decided; act with `ecwid-sync outbox resolve`, `ecwid-sync outbox dismiss`, `ecwid-sync conflicts resolve` or the console, which record it');
END;

CREATE TRIGGER operator_actions_update_refused BEFORE UPDATE ON operator_actions
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in operator_actions, the record of what the operator decided; it is kept as written');
END;

CREATE TRIGGER operator_actions_delete_refused BEFORE DELETE ON operator_actions
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from operator_actions, the record of what the operator decided; it is kept as written');
END;

-- The console finds an order by the public id the shop knows it by (`BK1G6`), in any case.
CREATE INDEX orders_public_id ON orders(id COLLATE NOCASE);
