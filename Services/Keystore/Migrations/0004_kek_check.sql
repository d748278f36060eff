-- Proving possession of the KEK (docs/ADR-004-keystore.md): what replaces keys (StagePassphraseChange,
-- RotateKEK) must be signed by the KEK check key, the Ed25519 key whose seed is HMAC-SHA256(KEK,
-- "svx-kek-check-v1"). kek_check is its public key, for the user's current KEK version: it opens nothing and
-- cannot make a proof. NULL for a KEK created before this migration, until SetKEKCheck sets it (with a proof of
-- the current passphrase that Auth checks); until then the user can neither stage nor rotate.
ALTER TABLE keystore.users ADD COLUMN kek_check bytea CHECK (kek_check IS NULL OR octet_length(kek_check) = 32);

-- Single-use nonces of KEK proofs (BeginKEKProof), bound to one user, living two minutes.
CREATE TABLE keystore.kek_proof_challenges (
    user_id      uuid NOT NULL REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    challenge_id uuid NOT NULL,
    nonce        bytea NOT NULL CHECK (octet_length(nonce) = 32),
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, challenge_id)
);
CREATE INDEX kek_proof_challenges_expires_at ON keystore.kek_proof_challenges (expires_at);
