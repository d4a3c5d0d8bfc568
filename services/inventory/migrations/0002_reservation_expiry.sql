-- A reservation still held after RESERVATION_TTL_MS is released by the expiry sweep, which marks
-- it here. The reserve call's trace context lets that release join the order's trace.
ALTER TABLE reservations ADD COLUMN expired_at TEXT;
ALTER TABLE reservations ADD COLUMN trace_context TEXT;
CREATE INDEX reservations_held_since ON reservations (created_at) WHERE status = 'held';
