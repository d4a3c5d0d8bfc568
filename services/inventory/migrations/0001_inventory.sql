-- The catalogue with stock split into what can be sold, what is held for orders, and what is sold.
CREATE TABLE products (
    sku         TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    available   INTEGER NOT NULL CHECK (available >= 0),
    reserved    INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold        INTEGER NOT NULL DEFAULT 0 CHECK (sold >= 0)
);

-- Stock held for one order until it is paid (committed) or given back (released).
CREATE TABLE reservations (
    id          TEXT PRIMARY KEY NOT NULL,
    order_id    TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL CHECK (status IN ('held', 'released', 'committed')),
    total_cents INTEGER NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE reservation_items (
    reservation_id TEXT NOT NULL REFERENCES reservations (id),
    sku            TEXT NOT NULL REFERENCES products (sku),
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    price_cents    INTEGER NOT NULL,
    PRIMARY KEY (reservation_id, sku)
);

INSERT INTO products (sku, name, price_cents, available) VALUES
    ('widget', 'Widget', 999, 1000),
    ('gadget', 'Gadget', 2450, 1000),
    ('gizmo', 'Gizmo', 19900, 5);
