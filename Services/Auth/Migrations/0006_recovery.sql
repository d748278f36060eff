-- Account recovery with an offline Recovery Key (docs/ADR-002-auth.md "Recovery", docs/ADR-009-recovery.md).
-- A user's second SRP credential: salt and verifier of P_r, the SRP password the Recovery Key gives. At most one
-- per user; CompleteRecovery deletes it (single use).
CREATE TABLE auth.recovery_credentials (
    user_id      uuid PRIMARY KEY REFERENCES auth.users (user_id) ON DELETE CASCADE,
    srp_salt     bytea NOT NULL CHECK (octet_length(srp_salt) = 32),
    srp_verifier bytea NOT NULL CHECK (octet_length(srp_verifier) = 256),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- What a session may do: 'full', or 'recovery' (from FinishRecovery: usable only from usable_at, and only for the
-- methods of a recovery). usable_at is set exactly for recovery sessions.
ALTER TABLE auth.sessions
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('full', 'recovery')),
    ADD COLUMN usable_at timestamptz,
    ADD CONSTRAINT sessions_usable_at_iff_recovery CHECK ((scope = 'recovery') = (usable_at IS NOT NULL));
-- The pending recovery of a user IS its unrevoked recovery session: at most one. FinishRecovery revokes the old
-- one (live or not) before it makes a new one.
CREATE UNIQUE INDEX sessions_one_recovery_per_user ON auth.sessions (user_id)
    WHERE scope = 'recovery' AND revoked_at IS NULL;

-- Which credential a challenge proves: 'login' (the passphrase: FinishLogin, credential proofs) or 'recovery'
-- (the recovery verifier: FinishRecovery only). Existing challenges are login challenges.
ALTER TABLE auth.login_challenges
    ADD COLUMN purpose text NOT NULL DEFAULT 'login' CHECK (purpose IN ('login', 'recovery'));
