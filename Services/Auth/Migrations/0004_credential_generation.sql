-- Credential generations (docs/ADR-004-keystore.md): every passphrase change moves a user's generation up by
-- at least one, never down. The Keystore keeps the KEK wrapped once per live generation, so a passphrase
-- change that stops half-way never locks the user out. A login challenge remembers the generation it began
-- with: FinishLogin refuses it if the passphrase changed in between.
ALTER TABLE auth.users ADD COLUMN credential_generation bigint NOT NULL DEFAULT 1
    CHECK (credential_generation >= 1);
ALTER TABLE auth.login_challenges ADD COLUMN credential_generation bigint;
