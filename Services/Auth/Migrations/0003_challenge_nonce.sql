-- The SRP ephemeral b is no longer stored: it is HMAC(challenge key, login id || nonce), the key held by the
-- Auth replicas outside PostgreSQL (SVX_AUTH_CHALLENGE_KEY). Challenges are short-lived, so existing ones go.
DELETE FROM auth.login_challenges;
ALTER TABLE auth.login_challenges RENAME COLUMN srp_b_priv TO srp_b_nonce;
