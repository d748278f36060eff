-- The caps of CreateShare (sharing.md §2.8) count live shares: a sender's outgoing, a recipient's incoming, an item's.
-- These indexes hold the live rows only (pending or active), with their expiry, so a count reads the index entries
-- of live shares and not those of the tombstones; the counts' `expires_at` condition is answered from the index.
CREATE INDEX shares_live_by_sender ON sharing.shares (sender_id, expires_at) WHERE state IN (1, 2);
CREATE INDEX shares_live_by_recipient ON sharing.shares (recipient_id, expires_at) WHERE state IN (1, 2);
CREATE INDEX shares_live_by_item ON sharing.shares (owner_id, item_id, expires_at) WHERE state IN (1, 2);
