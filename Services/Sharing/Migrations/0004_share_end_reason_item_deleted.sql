-- Sharing III, ForgetSharedEntities (docs/ADR-008-sharing.md, "Deletions in the Vault"): a share revoked because the
-- owner deleted its item, or removed the one slot it shares, ends with end_reason 'item_deleted'. The column's
-- CHECK (named by PostgreSQL after the column in 0003) gains that value; nothing else changes.
ALTER TABLE sharing.shares DROP CONSTRAINT shares_end_reason_check;
ALTER TABLE sharing.shares ADD CONSTRAINT shares_end_reason_check CHECK (end_reason IN (
    'rejected', 'expired', 'revoked', 'parent_revoked', 'connection_ended', 'deleted', 'consumed', 'item_deleted'));
