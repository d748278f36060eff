-- Attachments in shares (issue #20, docs/ADR-008-sharing.md "Attachments in shares"): an attachment slot of a share
-- that holds a file carries the file's attachment id (the Vault's) and the file's DEK as Cryppo(share DEK, attachment
-- DEK), written by the sender's client; its value (the file's name) now travels like any other value. Rows written
-- before keep an attachment slot as metadata only (no id, no key): the owner's next update of the share fills them.
ALTER TABLE sharing.share_slots
    ADD COLUMN attachment_id uuid,
    ADD COLUMN encrypted_attachment_dek text CHECK (encrypted_attachment_dek LIKE 'Aes256Gcm.%'),
    ADD CONSTRAINT share_slots_attachment_key CHECK ((attachment_id IS NULL) = (encrypted_attachment_dek IS NULL)),
    ADD CONSTRAINT share_slots_attachment_type CHECK (attachment_id IS NULL OR slot_type = 'attachment');

-- 0003's CHECK (slot_type <> 'attachment' OR encrypted_value IS NULL) kept attachment slots valueless; it goes. It
-- was declared without a name, so it is found by its definition.
DO $$
DECLARE
    name text;
BEGIN
    SELECT c.conname INTO name FROM pg_constraint c
    WHERE c.conrelid = 'sharing.share_slots'::regclass AND c.contype = 'c'
      AND pg_get_constraintdef(c.oid) LIKE '%slot_type <> ''attachment''::text%';
    IF name IS NULL THEN
        RAISE EXCEPTION 'the CHECK on attachment slots of sharing.share_slots was not found';
    END IF;
    EXECUTE format('ALTER TABLE sharing.share_slots DROP CONSTRAINT %I', name);
END $$;

-- The files of a share consumed by its last permitted content fetch (a view-once share's one) stay readable for a
-- while after it (the share's ciphertext is gone with that fetch; the recipient holds the files' keys from it). One
-- row per file of such a share: ids and a time only. A revocation of the share or up its chain deletes its rows;
-- housekeeping deletes rows past `readable_until`.
CREATE TABLE sharing.consumed_share_files (
    owner_id       uuid NOT NULL,
    share_id       uuid NOT NULL,
    slot_id        uuid NOT NULL,
    recipient_id   uuid NOT NULL,
    item_id        uuid NOT NULL,
    attachment_id  uuid NOT NULL,
    readable_until timestamptz NOT NULL,
    PRIMARY KEY (owner_id, share_id, slot_id),
    FOREIGN KEY (owner_id, share_id) REFERENCES sharing.shares (owner_id, share_id) ON DELETE CASCADE
);
CREATE INDEX consumed_share_files_until ON sharing.consumed_share_files (readable_until);
