-- The recovery key of a user (docs/ADR-004-keystore.md, "Recovery key"; docs/ADR-009-recovery.md): an RSA-4096
-- keypair the client made at enrolment. public_key_pem is its SPKI PEM (canonical, as OpenSSL writes it);
-- wrapped_private_key its PKCS#1 PEM wrapped with AES-256-GCM by RWK, a key derived from the Recovery Key that never
-- reaches the server; kek_recovery_wrap the KEK of version kek_version wrapped by the public key (Rsa4096), moved by
-- every RotateKEK. At most one per user.
-- spent_by_generation: the credential generation a RECOVERY session staged (StagePassphraseChange); the
-- CommitPassphraseChange at exactly that generation deletes the row (the completed recovery spent the key). NULL
-- while unused; an upsert (PutRecoveryKey) resets it.
-- public_key_mac: HMAC-SHA256(HMAC-SHA256(KEK, "svx-recovery-key-mac-v1"), SPKI DER) by the KEK of kek_version, made
-- by the client; it checks it before it wraps a new KEK for public_key_pem (docs/ADR-009-recovery.md).
CREATE TABLE keystore.recovery_keys (
    user_id             uuid PRIMARY KEY REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    public_key_pem      text NOT NULL,
    wrapped_private_key text NOT NULL,
    kek_recovery_wrap   text NOT NULL,
    kek_version         integer NOT NULL CHECK (kek_version >= 1),
    public_key_mac      bytea NOT NULL CHECK (octet_length(public_key_mac) = 32),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    spent_by_generation bigint CHECK (spent_by_generation IS NULL OR spent_by_generation >= 1)
);

-- A rotation keeps the recovery wrap it replaces aside with the other key wraps (key_id = user_id), for the
-- restore script (scripts/keystore-restore-kek.sql).
ALTER TABLE keystore.superseded_key_wraps DROP CONSTRAINT superseded_key_wraps_key_kind_check;
ALTER TABLE keystore.superseded_key_wraps ADD CONSTRAINT superseded_key_wraps_key_kind_check
    CHECK (key_kind IN ('dek', 'private_key', 'recovery_wrap', 'recovery_mac'));
