-- Shares (Sharing II). docs/ADR-008-sharing.md. A share is one recipient's copy of an item (or of one slot of it),
-- re-encrypted by the sender's client: the share DEK wrapped with the recipient's connection public key, each valued
-- slot as Cryppo(share DEK, value), its 64-byte value verification key likewise, and the hex HMAC of the value. Only
-- ids, timestamps, states, public keys, hashes, metadata copied from the Vault and client-made ciphertext. Both
-- tables carry the item's owner first in their key (the Citus distribution column to come): every share of an item,
-- on-shares included, lives with its owner.

-- sharing_mode: 1 owner (no on-sharing), 2 anyone; state: 1 pending_acceptance, 2 active, 3 rejected, 4 expired,
-- 5 revoked, 6 deleted, 7 consumed (the proto's SharingMode, ShareState). A live (pending or active) row past
-- expires_at is answered as expired at once and stored as expired by the first read or by housekeeping. An ended row
-- keeps no ciphertext (DEK and terms NULL, its share_slots rows deleted) and stays 30 days as a tombstone.
CREATE TABLE sharing.shares (
    owner_id                 uuid NOT NULL,
    share_id                 uuid NOT NULL,
    item_id                  uuid NOT NULL,
    slot_id                  uuid,
    sender_id                uuid NOT NULL,
    sender_username          text NOT NULL CHECK (sender_username ~ '^[A-Za-z0-9_-]{1,64}$'),
    recipient_id             uuid NOT NULL,
    recipient_username       text NOT NULL CHECK (recipient_username ~ '^[A-Za-z0-9_-]{1,64}$'),
    sender_connection_id     uuid NOT NULL,
    recipient_connection_id  uuid NOT NULL,
    parent_share_id          uuid,
    depth                    smallint NOT NULL CHECK (depth BETWEEN 1 AND 8),
    recipient_keypair_id     uuid NOT NULL,
    recipient_public_key_pem text NOT NULL CHECK (recipient_public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%'),
    recipient_key_sha256     char(64) NOT NULL CHECK (recipient_key_sha256 ~ '^[0-9a-f]{64}$'),
    encrypted_dek            text CHECK (encrypted_dek LIKE 'Rsa4096.%'),
    dek_generation           integer NOT NULL DEFAULT 1 CHECK (dek_generation >= 1),
    item_version             bigint NOT NULL CHECK (item_version >= 1),
    item_label               text NOT NULL,
    template_name            text NOT NULL,
    sharing_mode             smallint NOT NULL CHECK (sharing_mode IN (1, 2)),
    acceptance_required      boolean NOT NULL,
    state                    smallint NOT NULL CHECK (state BETWEEN 1 AND 7),
    encrypted_terms          text CHECK (encrypted_terms LIKE 'Aes256Gcm.%'),
    encrypted_terms_key      text CHECK (encrypted_terms_key LIKE 'Rsa4096.%'),
    expires_at               timestamptz,
    max_content_fetches      integer NOT NULL CHECK (max_content_fetches >= 0),
    content_fetches          integer NOT NULL DEFAULT 0 CHECK (content_fetches >= 0),
    first_fetched_at         timestamptz,
    last_fetched_at          timestamptz,
    created_at               timestamptz NOT NULL DEFAULT now(),
    accepted_at              timestamptz,
    updated_at               timestamptz NOT NULL DEFAULT now(),
    ended_at                 timestamptz,
    end_reason               text CHECK (end_reason IN (
                                 'rejected', 'expired', 'revoked', 'parent_revoked', 'connection_ended', 'deleted',
                                 'consumed')),
    PRIMARY KEY (owner_id, share_id),
    -- The owner shares at depth 1; an on-share is made by a recipient of its parent, never by the owner.
    CHECK ((parent_share_id IS NULL) = (depth = 1)),
    CHECK ((parent_share_id IS NULL) = (sender_id = owner_id)),
    CHECK (recipient_id <> sender_id AND recipient_id <> owner_id),
    -- Terms come with their key, and only on a share that needs acceptance.
    CHECK ((encrypted_terms IS NULL) = (encrypted_terms_key IS NULL)),
    CHECK (encrypted_terms IS NULL OR acceptance_required),
    -- Live rows hold the wrapped DEK; ended ones hold none, and say when and why they ended.
    CHECK ((state IN (1, 2)) = (encrypted_dek IS NOT NULL)),
    CHECK (state IN (1, 2) OR encrypted_terms IS NULL),
    CHECK ((state IN (1, 2)) = (ended_at IS NULL AND end_reason IS NULL)),
    CHECK (state <> 1 OR acceptance_required),
    CHECK ((accepted_at IS NOT NULL) <= acceptance_required),
    CHECK (max_content_fetches = 0 OR content_fetches <= max_content_fetches),
    CHECK ((content_fetches = 0) = (first_fetched_at IS NULL AND last_fetched_at IS NULL)),
    CHECK (expires_at IS NULL OR expires_at > created_at)
);
CREATE INDEX shares_by_recipient ON sharing.shares (recipient_id, share_id);
CREATE INDEX shares_by_sender ON sharing.shares (sender_id, share_id);
CREATE INDEX shares_by_item ON sharing.shares (owner_id, item_id);
-- Revocation walks the tree of on-shares down from a share.
CREATE INDEX shares_by_parent ON sharing.shares (owner_id, parent_share_id) WHERE parent_share_id IS NOT NULL;
-- Housekeeping finds live shares past their time, and tombstones past their retention.
CREATE INDEX shares_live_expiry ON sharing.shares (expires_at) WHERE state IN (1, 2) AND expires_at IS NOT NULL;
CREATE INDEX shares_ended ON sharing.shares (ended_at) WHERE state NOT IN (1, 2);

-- The slots of a live share: metadata copied from the owner's Vault (name, label, type, ordinal) and, for a valued
-- slot, the three value fields (an attachment slot or an empty one: metadata only). Deleted when the share ends.
CREATE TABLE sharing.share_slots (
    owner_id                         uuid NOT NULL,
    share_id                         uuid NOT NULL,
    slot_id                          uuid NOT NULL,
    name                             text NOT NULL,
    label                            text NOT NULL,
    slot_type                        text NOT NULL,
    ordinal                          integer NOT NULL,
    encrypted_value                  text CHECK (encrypted_value LIKE 'Aes256Gcm.%'),
    encrypted_value_verification_key text CHECK (encrypted_value_verification_key LIKE 'Aes256Gcm.%'),
    value_verification_hash          char(64) CHECK (value_verification_hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (owner_id, share_id, slot_id),
    FOREIGN KEY (owner_id, share_id) REFERENCES sharing.shares (owner_id, share_id) ON DELETE CASCADE,
    -- A value comes with its key and its hash, or none of them does.
    CHECK ((encrypted_value IS NULL) = (encrypted_value_verification_key IS NULL)),
    CHECK ((encrypted_value IS NULL) = (value_verification_hash IS NULL)),
    CHECK (slot_type <> 'attachment' OR encrypted_value IS NULL)
);
