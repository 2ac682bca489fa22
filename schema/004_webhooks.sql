-- Real-time deltas: Ecwid's webhooks, kept durably from the moment they are acknowledged
-- until the change they announce is in the mirror.

-- Every correctly signed event received. A row is committed before the 200 goes out, so an
-- acknowledged event survives any crash; eventId is unique, so a repeated delivery is
-- acknowledged and ignored.
CREATE TABLE webhook_events (
    event_id      TEXT    PRIMARY KEY,        -- Ecwid's eventId as sent (string or number)
    event_type    TEXT    NOT NULL,           -- e.g. product.updated, order.created
    kind          TEXT,                       -- products, categories, orders, customers; NULL for events not mirrored
    entity_key    INTEGER,                    -- the mirror's key (orders: the internal id)
    order_id      TEXT,                       -- orders: data.orderId, the string id API paths take
    event_created INTEGER NOT NULL,           -- Ecwid's eventCreated (unix seconds)
    received_at   INTEGER NOT NULL,
    state         TEXT    NOT NULL,           -- pending, applied, echo, ignored, too_old
    attempts      INTEGER NOT NULL DEFAULT 0, -- fetches tried for it
    last_error    TEXT,
    processed_at  INTEGER
);
CREATE INDEX webhook_events_pending ON webhook_events(received_at) WHERE state = 'pending';
CREATE INDEX webhook_events_processed ON webhook_events(processed_at) WHERE state <> 'pending';
CREATE INDEX webhook_events_entity ON webhook_events(kind, entity_key, received_at);

-- Entities a pull found changed although no webhook had announced them: lost or late
-- webhooks, which the scheduled pull repaired.
ALTER TABLE sync_state ADD COLUMN webhook_gaps INTEGER NOT NULL DEFAULT 0;
