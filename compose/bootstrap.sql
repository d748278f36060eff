-- svx database bootstrap: one LOGIN role and one schema per service; nothing shared.
-- Run by a superuser, connected to the svx database (psql -v ON_ERROR_STOP=1 -f compose/bootstrap.sql).
-- Idempotent: running it again changes nothing. Passwords are not set here (the stack script sets them with
-- ALTER ROLE ... PASSWORD, or tests use trust authentication on loopback).
-- Roles are cluster-wide; schemas and database privileges are per database, so run it in every svx database.

-- 1. Service roles: can log in, nothing else (no superuser, no CREATEDB/CREATEROLE, no inherited memberships).
DO $bootstrap$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['svx_auth', 'svx_keystore', 'svx_vault', 'svx_sharing', 'svx_classification'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS', r);
        ELSE
            EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS', r);
        END IF;
    END LOOP;
END
$bootstrap$;

-- 2. The database: only the service roles (and superusers) may connect; no one gets TEMP or CREATE (schemas).
DO $bootstrap$
DECLARE
    r text;
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    FOREACH r IN ARRAY ARRAY['svx_auth', 'svx_keystore', 'svx_vault', 'svx_sharing', 'svx_classification'] LOOP
        EXECUTE format('REVOKE ALL ON DATABASE %I FROM %I', current_database(), r);
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
    END LOOP;
END
$bootstrap$;

-- 3. The public schema is closed: no USAGE, no CREATE for anyone but its owner.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- 4. One schema per service, owned by its role; nobody else has any privilege on it.
DO $bootstrap$
DECLARE
    s text;
    r text;
BEGIN
    FOR s, r IN
        SELECT * FROM (VALUES ('auth', 'svx_auth'), ('keystore', 'svx_keystore'), ('vault', 'svx_vault'),
                              ('sharing', 'svx_sharing'), ('classification', 'svx_classification')) AS t(s, r)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = s) THEN
            EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', s, r);
        ELSE
            EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s, r);
        END IF;
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s);
        -- Unqualified names of a service resolve in its own schema only.
        EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = %I', r, current_database(), s);
    END LOOP;
END
$bootstrap$;
