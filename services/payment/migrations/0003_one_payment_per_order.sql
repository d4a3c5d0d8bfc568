-- One payment per order, and a 'voided' status: an order-service that lost track of a charge
-- (its call timed out) voids it by order id. A void that comes first leaves a 'voided' row, so a
-- charge still on its way for that order can no longer be recorded.
CREATE TABLE payments_v3 (
    id             TEXT PRIMARY KEY NOT NULL,
    order_id       TEXT NOT NULL UNIQUE,
    amount_cents   INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    card_last4     TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('approved', 'declined', 'failed', 'voided')),
    decline_reason TEXT,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Earlier versions could store more than one attempt per order id: keep the first.
INSERT OR IGNORE INTO payments_v3 SELECT * FROM payments ORDER BY created_at;
DROP TABLE payments;
ALTER TABLE payments_v3 RENAME TO payments;
