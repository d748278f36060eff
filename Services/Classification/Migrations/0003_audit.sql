-- The users' audit trail in this service (reference/sharing.md §5b, SVXService AuditTrail): one hash chain per user,
-- each event written in the transaction of the change it records. The same tables as AuditTrail.tablesSQL, anchor
-- columns (retention) included.
CREATE TABLE classification.audit_events (
    user_id        uuid NOT NULL,
    seq            bigint NOT NULL CHECK (seq >= 1),
    occurred_at_ms bigint NOT NULL,
    type           text NOT NULL,
    session_id     text NOT NULL DEFAULT '',
    peer_address   text NOT NULL DEFAULT '',
    subject_type   text NOT NULL DEFAULT '',
    subject_id     text NOT NULL DEFAULT '',
    details        jsonb NOT NULL DEFAULT '{}',
    prev_hash      bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
    entry_hash     bytea NOT NULL CHECK (octet_length(entry_hash) = 32),
    PRIMARY KEY (user_id, seq)
);
CREATE TABLE classification.audit_heads (
    user_id     uuid PRIMARY KEY,
    seq         bigint NOT NULL CHECK (seq >= 0),
    head_hash   bytea NOT NULL CHECK (octet_length(head_hash) = 32),
    anchor_seq  bigint NOT NULL DEFAULT 0 CHECK (anchor_seq >= 0 AND anchor_seq <= seq),
    anchor_hash bytea CHECK (octet_length(anchor_hash) = 32),
    CHECK ((anchor_seq = 0) = (anchor_hash IS NULL))
);
