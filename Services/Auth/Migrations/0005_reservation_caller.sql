-- Who reserved a username: the caller key of docs/ADR-002-auth.md (the peer's IP address for tcp://,
-- 'localhost:<uid>' for ipc://). One caller may hold at most SVX_AUTH_RESERVATIONS_PER_CALLER live reservations.
-- Register deletes the row, so the address is kept only until the sign-up or the expiry. Rows from before this
-- migration count for nobody and expire.
ALTER TABLE auth.username_reservations ADD COLUMN caller text NOT NULL DEFAULT '';
CREATE INDEX username_reservations_caller ON auth.username_reservations (caller, reserved_until);
