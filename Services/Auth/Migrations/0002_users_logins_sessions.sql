-- Users, username reservations, login challenges, sessions, throttle buckets and the server secret.
-- Every user-owned table carries user_id (the Citus distribution column to come). docs/ADR-002-auth.md.

CREATE TABLE auth.users (
    user_id      uuid PRIMARY KEY,
    username     text NOT NULL UNIQUE,
    srp_salt     bytea NOT NULL CHECK (octet_length(srp_salt) = 32),
    srp_verifier bytea NOT NULL CHECK (octet_length(srp_verifier) = 256),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- A server-generated username handed to a client for sign-up; Register needs a live one.
CREATE TABLE auth.username_reservations (
    username       text PRIMARY KEY,
    reserved_until timestamptz NOT NULL
);

-- One SRP-6a exchange between BeginLogin and FinishLogin. Single use: FinishLogin deletes it whatever the
-- outcome. user_id is NULL for an unknown username (the fake challenge). b is the server's ephemeral private
-- value: it lives here at most the challenge TTL.
CREATE TABLE auth.login_challenges (
    login_id   uuid PRIMARY KEY,
    user_id    uuid,
    username   text NOT NULL,
    srp_a      bytea NOT NULL CHECK (octet_length(srp_a) = 256),
    srp_b_priv bytea NOT NULL CHECK (octet_length(srp_b_priv) = 32),
    srp_b      bytea NOT NULL CHECK (octet_length(srp_b) = 256),
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_challenges_expires_at ON auth.login_challenges (expires_at);

-- Only the SHA-256 of a session token is stored.
CREATE TABLE auth.sessions (
    session_id   uuid PRIMARY KEY,
    user_id      uuid NOT NULL REFERENCES auth.users (user_id) ON DELETE CASCADE,
    token_sha256 bytea NOT NULL UNIQUE CHECK (octet_length(token_sha256) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);
CREATE INDEX sessions_user_id ON auth.sessions (user_id);

-- Token buckets of failed logins, keyed 'u:<username>' or 'c:<caller address>'. A row exists only after a
-- failure; a full bucket is the same as no row.
CREATE TABLE auth.throttle_buckets (
    bucket_key text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz NOT NULL
);

-- Secrets the service makes itself at first start (INSERT ... ON CONFLICT DO NOTHING: every replica agrees).
-- 'fake_salt': the HMAC key of the fake salts and verifiers of unknown usernames.
CREATE TABLE auth.server_secrets (
    name   text PRIMARY KEY,
    secret bytea NOT NULL CHECK (octet_length(secret) >= 32)
);
