-- Wraps that left use are kept aside for SVX_KEYSTORE_WRAP_RETENTION_DAYS, then purged, so that an operator can
-- undo a rotation or passphrase change that destroyed the only working copy of a key (docs/ADR-004-keystore.md,
-- "Superseded wraps", which gives the restore procedure). Nothing here is ever read by the service.

-- KEK wraps deleted by a rotation (reason 'rotated') or by the cleanup of a passphrase change ('passphrase_changed':
-- wraps of earlier generations, staged wraps that can no longer become current). kek_check is the KEK check of
-- kek_version when the wrap left (NULL: the user had none).
CREATE TABLE keystore.superseded_kek_wraps (
    user_id                uuid NOT NULL REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    superseded_id          uuid NOT NULL DEFAULT gen_random_uuid(),
    credential_generation  bigint NOT NULL,
    kek_version            integer NOT NULL,
    wrapped_kek            text NOT NULL,
    derivation_algorithm   text NOT NULL,
    derivation_salt_source text NOT NULL,
    derivation_iterations  integer NOT NULL,
    derivation_key_length  integer NOT NULL,
    derivation_version     integer NOT NULL,
    staged_from            bigint,
    kek_check              bytea,
    created_at             timestamptz NOT NULL,
    superseded_at          timestamptz NOT NULL DEFAULT now(),
    reason                 text NOT NULL CHECK (reason IN ('rotated', 'passphrase_changed')),
    PRIMARY KEY (user_id, superseded_id)
);
CREATE INDEX superseded_kek_wraps_superseded_at ON keystore.superseded_kek_wraps (superseded_at);

-- DEK and private-key wraps replaced by a rotation: the same key, wrapped by KEK version kek_version.
CREATE TABLE keystore.superseded_key_wraps (
    user_id       uuid NOT NULL REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    superseded_id uuid NOT NULL DEFAULT gen_random_uuid(),
    key_kind      text NOT NULL CHECK (key_kind IN ('dek', 'private_key')),
    key_id        uuid NOT NULL,
    kek_version   integer NOT NULL,
    wrapped_key   text NOT NULL,
    superseded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, superseded_id)
);
CREATE INDEX superseded_key_wraps_version ON keystore.superseded_key_wraps (user_id, kek_version);
CREATE INDEX superseded_key_wraps_superseded_at ON keystore.superseded_key_wraps (superseded_at);
