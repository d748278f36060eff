-- What each user stores, for the per-user quotas (security review M4; docs/ADR-005-vault.md, "Quotas"). Kept by
-- triggers on the rows themselves, so every path that adds or removes an item or an attachment (handlers, cascades,
-- housekeeping) keeps it exact. A write updates its user's row inside its own transaction, so the row is locked until
-- commit and two writes of one user cannot both pass a quota check against the same count.
CREATE TABLE vault.user_usage (
    user_id                uuid PRIMARY KEY,
    items                  bigint NOT NULL DEFAULT 0 CHECK (items >= 0),
    attachment_bytes       bigint NOT NULL DEFAULT 0 CHECK (attachment_bytes >= 0),
    unfinished_attachments bigint NOT NULL DEFAULT 0 CHECK (unfinished_attachments >= 0)
);

CREATE FUNCTION vault.count_items() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO vault.user_usage AS u (user_id, items) VALUES (NEW.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET items = u.items + 1;
    ELSE
        UPDATE vault.user_usage SET items = items - 1 WHERE user_id = OLD.user_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER items_count_usage AFTER INSERT OR DELETE ON vault.items
    FOR EACH ROW EXECUTE FUNCTION vault.count_items();

-- An attachment counts its declared plaintext size from CreateAttachment on (an upload in progress holds its room),
-- and counts as unfinished until FinishAttachment.
CREATE FUNCTION vault.count_attachments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO vault.user_usage AS u (user_id, attachment_bytes, unfinished_attachments)
        VALUES (NEW.user_id, NEW.plaintext_size, CASE WHEN NEW.complete THEN 0 ELSE 1 END)
        ON CONFLICT (user_id) DO UPDATE SET
            attachment_bytes = u.attachment_bytes + EXCLUDED.attachment_bytes,
            unfinished_attachments = u.unfinished_attachments + EXCLUDED.unfinished_attachments;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE vault.user_usage SET
            attachment_bytes = attachment_bytes - OLD.plaintext_size,
            unfinished_attachments = unfinished_attachments - CASE WHEN OLD.complete THEN 0 ELSE 1 END
        WHERE user_id = OLD.user_id;
    ELSE
        UPDATE vault.user_usage SET
            attachment_bytes = attachment_bytes - OLD.plaintext_size + NEW.plaintext_size,
            unfinished_attachments = unfinished_attachments - CASE WHEN OLD.complete THEN 0 ELSE 1 END
                + CASE WHEN NEW.complete THEN 0 ELSE 1 END
        WHERE user_id = NEW.user_id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER attachments_count_usage AFTER INSERT OR DELETE OR UPDATE OF complete, plaintext_size ON vault.attachments
    FOR EACH ROW EXECUTE FUNCTION vault.count_attachments();

-- What is stored already.
INSERT INTO vault.user_usage (user_id, items, attachment_bytes, unfinished_attachments)
SELECT user_id, sum(items), sum(bytes), sum(unfinished) FROM (
    SELECT user_id, count(*) AS items, 0::bigint AS bytes, 0::bigint AS unfinished FROM vault.items GROUP BY user_id
    UNION ALL
    SELECT user_id, 0, sum(plaintext_size), count(*) FILTER (WHERE NOT complete) FROM vault.attachments GROUP BY user_id
) AS stored GROUP BY user_id;
