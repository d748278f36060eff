-- The sharing schema belongs to the svx_sharing role (compose/bootstrap.sql). Its tables arrive with the Sharing issue.
COMMENT ON SCHEMA sharing IS 'svx Sharing service: connections and shares re-encrypted for a recipient';
