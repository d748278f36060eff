-- The auth schema belongs to the svx_auth role (compose/bootstrap.sql). Its tables arrive with the Auth issue.
COMMENT ON SCHEMA auth IS 'svx Auth service: SRP-6a sign-up and login, sessions';
