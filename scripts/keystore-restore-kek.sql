-- Puts a user's key hierarchy back to KEK version :version from the wraps the Keystore kept aside when they left use
-- (keystore.superseded_kek_wraps, keystore.superseded_key_wraps; kept SVX_KEYSTORE_WRAP_RETENTION_DAYS). For an
-- operator, when a rotation replaced working wraps with ones that open nothing. docs/ADR-004-keystore.md,
-- "Superseded wraps", says when to use it and what it cannot do.
--
--   psql -X -v ON_ERROR_STOP=1 -v user_id=<uuid> -v version=<KEK version to go back to> \
--        -v generation=<the user's credential generation at Auth now> -f scripts/keystore-restore-kek.sql <keystore database URL>
--
-- The generation is `SELECT credential_generation FROM auth.users WHERE user_id = '<uuid>'`: the restored KEK wrap is
-- the one made for that generation (the passphrase the user logs in with now). One transaction: everything or nothing.
-- What is replaced is kept aside in turn, so a restore can be undone the same way. The restored wraps get a new KEK
-- version, one above the current one: clients refuse a version lower than one they have already seen (a rollback).
\set QUIET on
BEGIN;

-- The user's row, locked: no rotation, passphrase change or key creation runs meanwhile.
SELECT kek_version AS current_version FROM keystore.users WHERE user_id = :'user_id' FOR UPDATE \gset

-- Something to restore: the KEK wrap of that version for that generation.
SELECT count(*) > 0 AS found FROM keystore.superseded_kek_wraps
WHERE user_id = :'user_id' AND kek_version = :version AND credential_generation = :generation \gset
\if :found
\else
    \echo 'nothing to restore: no kept KEK wrap of version' :version 'for generation' :generation
    ROLLBACK;
    \quit
\endif

-- What is in use now goes aside first.
INSERT INTO keystore.superseded_key_wraps (user_id, key_kind, key_id, kek_version, wrapped_key)
    SELECT user_id, 'dek', dek_id, kek_version, wrapped_dek FROM keystore.data_encryption_keys WHERE user_id = :'user_id'
    UNION ALL
    SELECT user_id, 'private_key', keypair_id, kek_version, wrapped_private_key FROM keystore.keypairs WHERE user_id = :'user_id'
    UNION ALL
    SELECT user_id, 'recovery_wrap', user_id, kek_version, kek_recovery_wrap FROM keystore.recovery_keys WHERE user_id = :'user_id'
    UNION ALL
    SELECT user_id, 'recovery_mac', user_id, kek_version, encode(public_key_mac, 'hex')
    FROM keystore.recovery_keys WHERE user_id = :'user_id';
WITH gone AS (DELETE FROM keystore.kek_wraps WHERE user_id = :'user_id' RETURNING *)
INSERT INTO keystore.superseded_kek_wraps (
        user_id, credential_generation, kek_version, wrapped_kek, derivation_algorithm, derivation_salt_source,
        derivation_iterations, derivation_key_length, derivation_version, staged_from, kek_check, created_at, reason)
    SELECT g.user_id, g.credential_generation, g.kek_version, g.wrapped_kek, g.derivation_algorithm,
           g.derivation_salt_source, g.derivation_iterations, g.derivation_key_length, g.derivation_version,
           g.staged_from, u.kek_check, g.created_at, 'rotated'
    FROM gone g JOIN keystore.users u USING (user_id);

-- The wraps of :version back (for each key, the latest one kept), under the new version.
UPDATE keystore.data_encryption_keys d
SET wrapped_dek = s.wrapped_key, kek_version = :current_version + 1, updated_at = now()
FROM (SELECT DISTINCT ON (key_id) key_id, wrapped_key FROM keystore.superseded_key_wraps
      WHERE user_id = :'user_id' AND key_kind = 'dek' AND kek_version = :version
      ORDER BY key_id, superseded_at DESC) s
WHERE d.user_id = :'user_id' AND d.dek_id = s.key_id;
UPDATE keystore.keypairs k
SET wrapped_private_key = s.wrapped_key, kek_version = :current_version + 1, updated_at = now()
FROM (SELECT DISTINCT ON (key_id) key_id, wrapped_key FROM keystore.superseded_key_wraps
      WHERE user_id = :'user_id' AND key_kind = 'private_key' AND kek_version = :version
      ORDER BY key_id, superseded_at DESC) s
WHERE k.user_id = :'user_id' AND k.keypair_id = s.key_id;
-- The recovery key's wrap of :version, if it was made for the recovery key the user has now (enrolled before the wrap
-- was kept aside; PutRecoveryKey resets created_at when it replaces the key).
UPDATE keystore.recovery_keys r
SET kek_recovery_wrap = s.wrapped_key, kek_version = :current_version + 1, updated_at = now()
FROM (SELECT wrapped_key, superseded_at FROM keystore.superseded_key_wraps
      WHERE user_id = :'user_id' AND key_kind = 'recovery_wrap' AND kek_version = :version
      ORDER BY superseded_at DESC LIMIT 1) s
WHERE r.user_id = :'user_id' AND r.created_at <= s.superseded_at;
-- ... and its public key's MAC by the KEK of :version, kept beside it.
UPDATE keystore.recovery_keys r
SET public_key_mac = decode(s.wrapped_key, 'hex')
FROM (SELECT wrapped_key, superseded_at FROM keystore.superseded_key_wraps
      WHERE user_id = :'user_id' AND key_kind = 'recovery_mac' AND kek_version = :version
      ORDER BY superseded_at DESC LIMIT 1) s
WHERE r.user_id = :'user_id' AND r.created_at <= s.superseded_at AND r.kek_version = :current_version + 1;
INSERT INTO keystore.kek_wraps (
        user_id, credential_generation, kek_version, wrapped_kek, derivation_algorithm, derivation_salt_source,
        derivation_iterations, derivation_key_length, derivation_version)
    SELECT user_id, credential_generation, :current_version + 1, wrapped_kek, derivation_algorithm,
           derivation_salt_source, derivation_iterations, derivation_key_length, derivation_version
    FROM keystore.superseded_kek_wraps
    WHERE user_id = :'user_id' AND kek_version = :version AND credential_generation = :generation
    ORDER BY superseded_at DESC LIMIT 1;
UPDATE keystore.users
SET kek_version = :current_version + 1, rotated_at = now(),
    kek_check = (SELECT kek_check FROM keystore.superseded_kek_wraps
                 WHERE user_id = :'user_id' AND kek_version = :version AND credential_generation = :generation
                 ORDER BY superseded_at DESC LIMIT 1)
WHERE user_id = :'user_id';
-- Unused KEK proof nonces were for the KEK being undone.
DELETE FROM keystore.kek_proof_challenges WHERE user_id = :'user_id';

COMMIT;
\set QUIET off
-- Keys with no kept wrap of :version (made after it was replaced) stay wrapped by the KEK that was undone: listed
-- here, they cannot be opened with the restored KEK (a recovery key listed opens the undone KEK: the user enrols
-- a new one).
SELECT 'dek' AS kind, dek_id AS key_id, kek_version FROM keystore.data_encryption_keys
WHERE user_id = :'user_id' AND kek_version <> :current_version + 1
UNION ALL
SELECT 'keypair', keypair_id, kek_version FROM keystore.keypairs
WHERE user_id = :'user_id' AND kek_version <> :current_version + 1
UNION ALL
SELECT 'recovery_key', user_id, kek_version FROM keystore.recovery_keys
WHERE user_id = :'user_id' AND kek_version <> :current_version + 1;
