-- Privacy requests (contract 17.8): a customer asks the store to erase, or hand over, their
-- personal data, and the mirror must answer too. The erasure log holds ids and times only:
-- a log of what was erased must not itself keep what was erased.

CREATE TABLE privacy_requests (
    event_id     TEXT PRIMARY KEY,   -- Ecwid's eventId of the webhook that asked
    event_type   TEXT NOT NULL,      -- customer.personalDataRemovalRequest, customer.personalDataExportRequest, profile.personalDataRemovalRequest, profile.personalDataExportRequest
    subject      TEXT NOT NULL,      -- 'customer' (a shopper) or 'profile' (the store owner)
    request      TEXT NOT NULL,      -- 'removal' or 'export'
    subject_id   INTEGER,            -- the customer's id, or the store id for 'profile'
    requested_at INTEGER NOT NULL,   -- Ecwid's eventCreated (unix seconds)
    handled_at   INTEGER NOT NULL    -- when the daemon recorded it (and, for a customer's removal, erased)
);

CREATE TABLE erasures (
    customer_id     INTEGER PRIMARY KEY, -- the customer whose personal data the mirror erased
    requested_at    INTEGER NOT NULL,    -- Ecwid's eventCreated of the first removal request
    erased_at       INTEGER NOT NULL,    -- when the mirror erased it (unix seconds)
    orders_redacted INTEGER NOT NULL     -- orders whose personal fields were blanked then
);

-- Orders redacted at an erasure, so that their later documents are stored redacted too, also
-- guest orders matched by the customer's email (which is not kept).
CREATE TABLE erased_orders (
    order_number INTEGER PRIMARY KEY,    -- orders.order_number (Ecwid's internalId)
    customer_id  INTEGER NOT NULL        -- erasures.customer_id
);

-- The top-level fields of an order document blanked for erased customers: `privacy.order_fields`
-- of the configuration, written by the daemon when it opens the mirror.
CREATE TABLE privacy_policy (
    field TEXT PRIMARY KEY
);
INSERT INTO privacy_policy (field) VALUES
    ('email'), ('ipAddress'), ('billingPerson'), ('shippingPerson'), ('orderComments'),
    ('privateAdminNotes'), ('customerTaxId'), ('orderExtraFields');

CREATE TRIGGER privacy_requests_insert_refused BEFORE INSERT ON privacy_requests
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to privacy_requests, the daemon''s record of privacy requests; see them with `ecwid-sync status`; answer an export request with `ecwid-sync customer export`');
END;

CREATE TRIGGER privacy_requests_update_refused BEFORE UPDATE ON privacy_requests
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in privacy_requests, the daemon''s record of privacy requests; see them with `ecwid-sync status`; answer an export request with `ecwid-sync customer export`');
END;

CREATE TRIGGER privacy_requests_delete_refused BEFORE DELETE ON privacy_requests
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from privacy_requests, the daemon''s record of privacy requests; see them with `ecwid-sync status`; answer an export request with `ecwid-sync customer export`');
END;

CREATE TRIGGER erasures_insert_refused BEFORE INSERT ON erasures
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to erasures, the daemon''s log of customers erased at their request; erasure comes only from Ecwid''s signed customer.personalDataRemovalRequest; see the count with `ecwid-sync status`');
END;

CREATE TRIGGER erasures_update_refused BEFORE UPDATE ON erasures
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in erasures, the daemon''s log of customers erased at their request; erasure comes only from Ecwid''s signed customer.personalDataRemovalRequest; see the count with `ecwid-sync status`');
END;

CREATE TRIGGER erasures_delete_refused BEFORE DELETE ON erasures
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from erasures, the daemon''s log of customers erased at their request; erasure comes only from Ecwid''s signed customer.personalDataRemovalRequest; see the count with `ecwid-sync status`');
END;

CREATE TRIGGER erased_orders_insert_refused BEFORE INSERT ON erased_orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to erased_orders, the daemon''s list of orders kept redacted for erased customers; see `ecwid-sync status`');
END;

CREATE TRIGGER erased_orders_update_refused BEFORE UPDATE ON erased_orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in erased_orders, the daemon''s list of orders kept redacted for erased customers; see `ecwid-sync status`');
END;

CREATE TRIGGER erased_orders_delete_refused BEFORE DELETE ON erased_orders
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from erased_orders, the daemon''s list of orders kept redacted for erased customers; see `ecwid-sync status`');
END;

CREATE TRIGGER privacy_policy_insert_refused BEFORE INSERT ON privacy_policy
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be added to privacy_policy, the order fields blanked for erased customers, as the configuration says; set them with `privacy.order_fields` in the configuration file');
END;

CREATE TRIGGER privacy_policy_update_refused BEFORE UPDATE ON privacy_policy
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be changed in privacy_policy, the order fields blanked for erased customers, as the configuration says; set them with `privacy.order_fields` in the configuration file');
END;

CREATE TRIGGER privacy_policy_delete_refused BEFORE DELETE ON privacy_policy
WHEN NOT EXISTS (SELECT 1 FROM capture_paused)
BEGIN
    SELECT RAISE(ABORT, 'ecwid-sync: rows cannot be deleted from privacy_policy, the order fields blanked for erased customers, as the configuration says; set them with `privacy.order_fields` in the configuration file');
END;
