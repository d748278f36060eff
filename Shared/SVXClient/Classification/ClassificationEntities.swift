import Foundation

extension VaultClient {
    /// The entity a person names for a classification, found with the Vault without decrypting anything (no key is
    /// needed): the item `itemID`, or with `slot` (its name, a label the name derives from, or its id) that slot of
    /// the item. Naming a slot reads the item to check the slot is one of its.
    public func classificationEntity(session: AuthenticatedSession, itemID: String, slot: String? = nil) async throws -> ClassificationEntity {
        guard let slot else { return .item(itemID) }
        let found = try SlotOutline.find(slot, in: try await slotOutlines(session: session, itemID: itemID), itemID: itemID)
        return .slot(found.id, itemID: itemID)
    }

    /// A template (a system one or the caller's) as a classification entity: its id as given, or looked up by name.
    public func templateEntity(session: AuthenticatedSession, nameOrID: String) async throws -> ClassificationEntity {
        if let uuid = UUID(uuidString: nameOrID) { return .template(uuid.uuidString.lowercased()) }
        return .template(try await template(session: session, name: nameOrID).id)
    }
}
