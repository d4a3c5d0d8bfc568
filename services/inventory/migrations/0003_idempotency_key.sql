-- The reserve request's Idempotency-Key: a repeat of it is answered with the reservation it made,
-- and the key used again for other lines is refused (422).
ALTER TABLE reservations ADD COLUMN idempotency_key TEXT;
