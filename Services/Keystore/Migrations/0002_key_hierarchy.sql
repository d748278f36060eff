-- The key hierarchy of each user, stored wrapped: the Keystore never sees a key in the clear.
-- docs/ADR-004-keystore.md. Every table carries user_id first in its key (the Citus distribution column to come).

-- One row per user with a KEK: its current version (one more with every rotation).
CREATE TABLE keystore.users (
    user_id     uuid PRIMARY KEY,
    kek_version integer NOT NULL CHECK (kek_version >= 1),
    created_at  timestamptz NOT NULL DEFAULT now(),
    rotated_at  timestamptz
);

-- The KEK wrapped by the passphrase-derived key of one credential generation (Auth's users.credential_generation).
-- The current generation always has a row; a staged passphrase change adds one for a later generation; the rows of
-- earlier generations are deleted once Auth is known to have moved past them.
CREATE TABLE keystore.kek_wraps (
    user_id                uuid NOT NULL REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    credential_generation  bigint NOT NULL CHECK (credential_generation >= 1),
    kek_version            integer NOT NULL CHECK (kek_version >= 1),
    wrapped_kek            text NOT NULL CHECK (wrapped_kek LIKE 'Aes256Gcm.%'),
    derivation_algorithm   text NOT NULL,
    derivation_salt_source text NOT NULL,
    derivation_iterations  integer NOT NULL CHECK (derivation_iterations > 0),
    derivation_key_length  integer NOT NULL CHECK (derivation_key_length > 0),
    derivation_version     integer NOT NULL,
    created_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, credential_generation)
);

-- Data encryption keys wrapped by the KEK version kek_version (always the user's current one).
CREATE TABLE keystore.data_encryption_keys (
    user_id     uuid NOT NULL REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    dek_id      uuid NOT NULL,
    external_id text,
    kek_version integer NOT NULL CHECK (kek_version >= 1),
    wrapped_dek text NOT NULL CHECK (wrapped_dek LIKE 'Aes256Gcm.%'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, dek_id),
    UNIQUE (user_id, external_id)
);

-- RSA keypairs: the public key in clear (SPKI PEM), the private key wrapped by the KEK.
CREATE TABLE keystore.keypairs (
    user_id             uuid NOT NULL REFERENCES keystore.users (user_id) ON DELETE CASCADE,
    keypair_id          uuid NOT NULL,
    public_key_pem      text NOT NULL CHECK (public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%'),
    wrapped_private_key text NOT NULL CHECK (wrapped_private_key LIKE 'Aes256Gcm.%'),
    metadata            jsonb NOT NULL DEFAULT '{}'::jsonb,
    kek_version         integer NOT NULL CHECK (kek_version >= 1),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, keypair_id)
);

-- A keypair's external identifiers ("auth", a connection id, ...), each unique per user.
CREATE TABLE keystore.keypair_external_ids (
    user_id     uuid NOT NULL,
    external_id text NOT NULL,
    keypair_id  uuid NOT NULL,
    PRIMARY KEY (user_id, external_id),
    FOREIGN KEY (user_id, keypair_id) REFERENCES keystore.keypairs (user_id, keypair_id) ON DELETE CASCADE
);
CREATE INDEX keypair_external_ids_keypair ON keystore.keypair_external_ids (user_id, keypair_id);
