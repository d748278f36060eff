-- Invitations and connections (Sharing I). docs/ADR-008-sharing.md. Only ids, timestamps, states, public keys,
-- hashes and client-made ciphertext: the invitation token only as SHA-256, and only while the invitation is pending;
-- the invitation secret S never (each side keeps it encrypted under its own private DEK); names encrypted the same
-- way. Every table carries its owner first in its key (the Citus distribution column to come).

-- state: 1 pending, 2 accepted, 3 revoked, 4 expired (the proto's InvitationState). A pending row past expires_at is
-- answered as expired at once and stored as expired by housekeeping, which drops its token hash.
CREATE TABLE sharing.invitations (
    inviter_id               uuid NOT NULL,
    invitation_id            uuid NOT NULL,
    token_sha256             bytea CHECK (octet_length(token_sha256) = 32),
    inviter_username         text NOT NULL CHECK (inviter_username ~ '^[A-Za-z0-9_-]{1,64}$'),
    inviter_keypair_id       uuid NOT NULL,
    inviter_public_key_pem   text NOT NULL CHECK (inviter_public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%'),
    inviter_key_sha256       char(64) NOT NULL CHECK (inviter_key_sha256 ~ '^[0-9a-f]{64}$'),
    encrypted_recipient_name text NOT NULL CHECK (encrypted_recipient_name LIKE 'Aes256Gcm.%'),
    encrypted_key_secret     text NOT NULL CHECK (encrypted_key_secret LIKE 'Aes256Gcm.%'),
    inviter_proof            char(64) NOT NULL CHECK (inviter_proof ~ '^[0-9a-f]{64}$'),
    intended_username        text CHECK (intended_username ~ '^[A-Za-z0-9_-]{1,64}$'),
    state                    smallint NOT NULL CHECK (state IN (1, 2, 3, 4)),
    expires_at               timestamptz NOT NULL,
    created_at               timestamptz NOT NULL DEFAULT now(),
    decided_at               timestamptz,
    accepted_by              uuid,
    accepted_by_username     text CHECK (accepted_by_username ~ '^[A-Za-z0-9_-]{1,64}$'),
    connection_id            uuid,
    PRIMARY KEY (inviter_id, invitation_id),
    CHECK (expires_at > created_at),
    -- The token hash exists exactly while the invitation is stored as pending.
    CHECK ((state = 1) = (token_sha256 IS NOT NULL)),
    -- Accepted and revoked ones say when; only accepted ones say by whom and name the inviter's connection.
    CHECK ((state IN (2, 3)) = (decided_at IS NOT NULL)),
    CHECK ((state = 2) = (accepted_by IS NOT NULL AND accepted_by_username IS NOT NULL AND connection_id IS NOT NULL)),
    CHECK (accepted_by IS NULL OR accepted_by <> inviter_id)
);
-- Housekeeping finds pending invitations past their time, and the caps count a user's pending ones.
CREATE INDEX invitations_pending_expiry ON sharing.invitations (expires_at) WHERE state = 1;
CREATE INDEX invitations_pending_by_inviter ON sharing.invitations (inviter_id, expires_at) WHERE state = 1;
-- Housekeeping deletes invitations settled (accepted, revoked or expired) longer ago than their retention.
CREATE INDEX invitations_settled ON sharing.invitations ((coalesce(decided_at, expires_at))) WHERE state <> 1;

-- One row per side of a connection, owned by user_id; other_connection_id is the other side's row.
-- role: 1 inviter, 2 invitee; state: 1 active, 2 ended (the proto's ConnectionRole, ConnectionState).
CREATE TABLE sharing.connections (
    user_id                  uuid NOT NULL,
    connection_id            uuid NOT NULL,
    other_user_id            uuid NOT NULL,
    other_username           text NOT NULL CHECK (other_username ~ '^[A-Za-z0-9_-]{1,64}$'),
    other_connection_id      uuid NOT NULL,
    invitation_id            uuid NOT NULL,
    role                     smallint NOT NULL CHECK (role IN (1, 2)),
    own_keypair_id           uuid NOT NULL,
    own_public_key_pem       text NOT NULL CHECK (own_public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%'),
    own_proof                char(64) NOT NULL CHECK (own_proof ~ '^[0-9a-f]{64}$'),
    other_keypair_id         uuid NOT NULL,
    other_public_key_pem     text NOT NULL CHECK (other_public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%'),
    other_key_sha256         char(64) NOT NULL CHECK (other_key_sha256 ~ '^[0-9a-f]{64}$'),
    other_proof              char(64) NOT NULL CHECK (other_proof ~ '^[0-9a-f]{64}$'),
    encrypted_recipient_name text NOT NULL CHECK (encrypted_recipient_name LIKE 'Aes256Gcm.%'),
    encrypted_key_secret     text NOT NULL CHECK (encrypted_key_secret LIKE 'Aes256Gcm.%'),
    state                    smallint NOT NULL CHECK (state IN (1, 2)),
    created_at               timestamptz NOT NULL DEFAULT now(),
    ended_at                 timestamptz,
    ended_by                 uuid,
    PRIMARY KEY (user_id, connection_id),
    CHECK (other_user_id <> user_id),
    CHECK ((state = 2) = (ended_at IS NOT NULL AND ended_by IS NOT NULL)),
    CHECK (ended_by IS NULL OR ended_by IN (user_id, other_user_id))
);
-- At most one active connection between two users (each side's row is unique for its owner).
CREATE UNIQUE INDEX connections_one_active_per_pair ON sharing.connections (user_id, other_user_id) WHERE state = 1;
-- Housekeeping finds ended connections past their retention.
CREATE INDEX connections_ended ON sharing.connections (ended_at) WHERE state = 2;
