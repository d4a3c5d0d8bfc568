-- Authorise, then capture: an approved charge is held until order-service confirms its order
-- (captured_at). One that no order captures within PAYMENT_CAPTURE_TTL_MS is voided by this
-- service itself, so a card is never left charged for an order that was never placed.
ALTER TABLE payments ADD COLUMN captured_at TEXT;
-- The charge request's trace context: the expiry's span joins the order's trace.
ALTER TABLE payments ADD COLUMN trace_context TEXT;
-- The charge request's Idempotency-Key: a repeat of it is answered as the first charge was, and
-- the key used again for another amount or currency is refused (422).
ALTER TABLE payments ADD COLUMN idempotency_key TEXT;
-- Approved charges stored before captures existed belong to placed orders.
UPDATE payments SET captured_at = created_at WHERE status = 'approved';
CREATE INDEX payments_uncaptured ON payments (created_at)
    WHERE status = 'approved' AND captured_at IS NULL;
