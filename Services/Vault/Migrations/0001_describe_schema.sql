-- The vault schema belongs to the svx_vault role (compose/bootstrap.sql). Its tables arrive with the Vault issue.
COMMENT ON SCHEMA vault IS 'svx Vault service: items of typed encrypted slots, item templates';
