-- CheckEntities finds a slot by its id alone (Classification links nodes to slots by slot_id): without this
-- index that is a scan of every slot of the user. docs/ADR-005-vault.md.
CREATE INDEX slots_by_id ON vault.slots (user_id, slot_id);
