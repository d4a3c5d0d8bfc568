-- Record attempts the processor failed on ('failed'), beside approved and declined ones.
-- SQLite cannot change a CHECK constraint in place: rebuild the table.
CREATE TABLE payments_v2 (
    id             TEXT PRIMARY KEY NOT NULL,
    order_id       TEXT NOT NULL,
    amount_cents   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    card_last4     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'failed')),
    decline_reason TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
INSERT INTO payments_v2 SELECT * FROM payments;
DROP TABLE payments;
ALTER TABLE payments_v2 RENAME TO payments;
CREATE INDEX payments_order_id ON payments (order_id);
