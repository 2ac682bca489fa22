-- Failed changes the operator ends by hand (`ecwid-sync outbox dismiss`): Ecwid refused them
-- for good, so the mirror shows Ecwid's value again and the change becomes 'dismissed',
-- settled_at saying when. The row keeps Ecwid's refusal in last_error, and who ended it and
-- why here.
ALTER TABLE outbox ADD COLUMN dismissed_by TEXT;   -- the operator: $SUDO_USER, else $USER, else "uid N"
ALTER TABLE outbox ADD COLUMN dismiss_reason TEXT; -- the --reason given
