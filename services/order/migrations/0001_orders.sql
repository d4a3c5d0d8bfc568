-- Orders with the reservation and payment that back them.
CREATE TABLE orders (
    id             TEXT PRIMARY KEY NOT NULL,
    user_id        INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('confirmed', 'payment_declined', 'fulfilled')),
    total_cents    INTEGER NOT NULL,
    currency       TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    payment_id     TEXT,
    card_last4     TEXT NOT NULL,
    receipt_email  TEXT NOT NULL,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX orders_user_id ON orders (user_id);

CREATE TABLE order_items (
    order_id TEXT NOT NULL REFERENCES orders (id),
    sku      TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
