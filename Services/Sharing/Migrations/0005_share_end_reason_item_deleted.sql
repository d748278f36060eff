-- Sharing III, ForgetSharedEntities (docs/ADR-008-sharing.md, "Deletions in the Vault"): a share revoked because the
-- owner deleted its item, or removed the one slot it shares, ends with end_reason 'item_deleted'. The column's
-- CHECK (named by PostgreSQL after the column in 0003) gains that value; nothing else changes.
ALTER TABLE sharing.shares DROP CONSTRAINT shares_end_reason_check;
ALTER TABLE sharing.shares ADD CONSTRAINT shares_end_reason_check CHECK (end_reason IN (
    'rejected', 'expired', 'revoked', 'parent_revoked', 'connection_ended', 'deleted', 'consumed', 'item_deleted'));

-- Items and slots ForgetSharedEntities was told about, for an hour (docs/ADR-008-sharing.md, "Deletions in the
-- Vault"): CreateShare of the owner's item refuses one forgotten meanwhile, which closes the race with a share whose
-- outline the Vault gave just before the deletion. Only ids and times; at most 100 000 live rows per owner.
CREATE TABLE sharing.forgotten_entities (
    owner_id     uuid NOT NULL,
    entity_id    uuid NOT NULL,
    forgotten_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, entity_id)
);
CREATE INDEX forgotten_entities_age ON sharing.forgotten_entities (owner_id, forgotten_at);
