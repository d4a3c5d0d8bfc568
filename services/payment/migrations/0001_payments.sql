-- Every payment attempt, approved or not. Only the card's last four digits are ever stored.
CREATE TABLE payments (
    id             TEXT PRIMARY KEY NOT NULL,
    order_id       TEXT NOT NULL,
    amount_cents   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    card_last4     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('approved', 'declined')),
    decline_reason TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX payments_order_id ON payments (order_id);
