-- The classification schema belongs to the svx_classification role (compose/bootstrap.sql). Its tables arrive with the Classification issue.
COMMENT ON SCHEMA classification IS 'svx Classification service: schemes, node trees, classifications';
