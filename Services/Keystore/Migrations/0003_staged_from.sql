-- A staged KEK wrap (a passphrase change between its Keystore step and Auth's) records the credential generation
-- it was staged from. Auth moves a generation only from the one it holds (compare-and-set), so once Auth is past
-- `staged_from`, the staged wrap can never become current and is deleted. docs/ADR-004-keystore.md.
ALTER TABLE keystore.kek_wraps ADD COLUMN staged_from bigint;
