-- Events to publish, written in the same transaction as the order they describe (the
-- transactional outbox): an order is never confirmed without its event, nor the other way round.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Also the JetStream Nats-Msg-Id: a republished duplicate is dropped by the stream.
    message_id    TEXT NOT NULL UNIQUE,
    subject       TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    -- JSON map of the request's traceparent / tracestate / baggage: the publish span, however
    -- late, joins the trace of the request that wrote the row.
    trace_context TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    published_at  TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;
