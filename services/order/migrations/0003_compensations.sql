-- Compensations as durable intents. Both are armed before the steps they undo (hold the stock,
-- charge the card) and settled in the transaction that stores the order: disarmed when the order
-- is placed, made due when it is not and the step may have taken effect. A worker drains due
-- ones — and, after a restart, armed ones whose order died with the process — until the callee
-- answers. Both actions act by order id and are idempotent at the callee: done exactly once in
-- effect however often they are sent.
CREATE TABLE compensations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id        TEXT NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('release_stock', 'void_payment')),
    state           TEXT NOT NULL CHECK (state IN ('armed', 'due', 'done', 'disarmed')),
    -- JSON map of the order request's traceparent / tracestate (no baggage): every attempt is a
    -- span in the order's trace, however late.
    trace_context   TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_error      TEXT,
    -- What the callee answered: released / nothing_held, voided / declined / failed.
    outcome         TEXT,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    done_at         TEXT,
    UNIQUE (order_id, action)
);
CREATE INDEX compensations_open ON compensations (next_attempt_at) WHERE state IN ('armed', 'due');
