-- The users' audit trail in Sharing (issue #19, reference/sharing.md §5b, docs/ADR-010-audit.md): one hash chain per
-- user, each event written in the transaction of the change it records (invitations, connections, shares, content
-- fetches; ids and codes only). Exactly the tables of SVXService AuditTrail.tablesSQL(schema: "sharing"), the
-- retention anchor included.
CREATE TABLE sharing.audit_events (
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
CREATE TABLE sharing.audit_heads (
    user_id     uuid PRIMARY KEY,
    seq         bigint NOT NULL CHECK (seq >= 0),
    head_hash   bytea NOT NULL CHECK (octet_length(head_hash) = 32),
    anchor_seq  bigint NOT NULL DEFAULT 0 CHECK (anchor_seq >= 0 AND anchor_seq <= seq),
    anchor_hash bytea CHECK (octet_length(anchor_hash) = 32),
    CHECK ((anchor_seq = 0) = (anchor_hash IS NULL))
);
