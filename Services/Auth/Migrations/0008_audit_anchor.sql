-- Retention of the audit trail (SVX_AUDIT_RETENTION_DAYS): the seq and entry_hash of the last pruned event of each
-- user, from which the kept chain goes on. The same columns as AuditTrail.tablesSQL.
ALTER TABLE auth.audit_heads
    ADD COLUMN anchor_seq  bigint NOT NULL DEFAULT 0 CHECK (anchor_seq >= 0 AND anchor_seq <= seq),
    ADD COLUMN anchor_hash bytea CHECK (octet_length(anchor_hash) = 32),
    ADD CHECK ((anchor_seq = 0) = (anchor_hash IS NULL));
