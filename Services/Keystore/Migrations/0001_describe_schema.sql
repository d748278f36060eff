-- The keystore schema belongs to the svx_keystore role (compose/bootstrap.sql). Its tables arrive with the Keystore issue.
COMMENT ON SCHEMA keystore IS 'svx Keystore service: the key hierarchy: wrapped KEKs, DEKs, keypairs, derivation artefacts';
