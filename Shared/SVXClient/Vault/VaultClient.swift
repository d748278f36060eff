import Cryppo
import Foundation
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC

/// The client half of the Vault (proto/svx/vault/v1/vault.proto): items, templates and attachments. Every value is
/// encrypted here with the user's private DEK before it is sent, and decrypted here after it is read: the Vault
/// stores and returns only Cryppo strings.
public struct VaultClient: Sendable {
    public let vault: RPCClient
    public var timeout: Duration

    public init(vault: RPCClient, timeout: Duration = .seconds(30)) {
        self.vault = vault
        self.timeout = timeout
    }

    // MARK: Vault user

    /// Makes sure the Vault knows which Keystore DEK wraps the caller's values (the private DEK, by its external
    /// id, as Meeco's vault user records it): creates the record on first use, repairs one that names another
    /// key. Cheap to call before every session's first vault call. `keys` is the hierarchy just unlocked: the
    /// record is only written once the private DEK it names exists in the Keystore.
    public func ensureVaultUser(session: AuthenticatedSession, keys: UnlockedKeys) async throws {
        guard !keys.privateDEKID.isEmpty else {
            throw SVXClientError(.keystoreInconsistent, "the keys hold no private DEK: log in again")
        }
        let expected = KeyringClient.privateDEKIdentifier
        do {
            let user = try await vault.call(VaultRPC.getVaultUser, .init(), sessionToken: session.token, timeout: timeout).user
            if user.privateDekExternalID == expected { return }
        } catch let status as RPCStatus where status.code == .notFound {
            // First use of the vault by this user.
        }
        var put = Svx_Vault_V1_PutVaultUserRequest()
        put.privateDekExternalID = expected
        _ = try await vault.call(VaultRPC.putVaultUser, put, sessionToken: session.token, timeout: timeout)
    }

    // MARK: Templates

    /// The system templates and the caller's own, by name; `nameContains` filters on name and label (any case).
    public func templates(
        session: AuthenticatedSession, nameContains: String? = nil, onlyOwn: Bool = false
    ) async throws -> [VaultTemplate] {
        var request = Svx_Vault_V1_ListTemplatesRequest()
        request.nameContains = nameContains ?? ""
        request.onlyOwn = onlyOwn
        let response = try await vault.call(VaultRPC.listTemplates, request, sessionToken: session.token, timeout: timeout)
        return try response.templates.map(SlotCrypto.template)
    }

    public func template(session: AuthenticatedSession, name: String) async throws -> VaultTemplate {
        var request = Svx_Vault_V1_GetTemplateRequest()
        request.name = name
        return try SlotCrypto.template(
            try await vault.call(VaultRPC.getTemplate, request, sessionToken: session.token, timeout: timeout).template)
    }

    public func template(session: AuthenticatedSession, id: String) async throws -> VaultTemplate {
        var request = Svx_Vault_V1_GetTemplateRequest()
        request.templateID = id
        return try SlotCrypto.template(
            try await vault.call(VaultRPC.getTemplate, request, sessionToken: session.token, timeout: timeout).template)
    }

    // MARK: Items

    /// A new item cloned from the template `templateName`. `values` fill the template's slots by name (a slot not
    /// named stays empty); `extraSlots` add slots the template does not have (each needs a label or a name). An
    /// empty or nil `label` takes the template's.
    public func createItem(
        session: AuthenticatedSession, keys: UnlockedKeys, templateName: String, label: String? = nil,
        values: [(name: String, value: String)] = [], extraSlots: [SlotEdit] = []
    ) async throws -> DecryptedItem {
        var request = Svx_Vault_V1_CreateItemRequest()
        request.templateName = templateName
        request.label = label ?? ""
        request.slots = try values.map { try SlotCrypto.input(SlotEdit(name: $0.name, value: $0.value), key: keys.privateDEK) }
        request.slots += try extraSlots.map { try SlotCrypto.input($0, key: keys.privateDEK) }
        let response = try await vault.call(VaultRPC.createItem, request, sessionToken: session.token, timeout: timeout)
        return try SlotCrypto.decrypt(response.item, key: keys.privateDEK)
    }

    public func item(session: AuthenticatedSession, keys: UnlockedKeys, id: String) async throws -> DecryptedItem {
        var request = Svx_Vault_V1_GetItemRequest()
        request.itemID = id
        let response = try await vault.call(VaultRPC.getItem, request, sessionToken: session.token, timeout: timeout)
        return try SlotCrypto.decrypt(response.item, key: keys.privateDEK)
    }

    /// The item's slots by id, name, label and type, with no value decrypted (no key is needed): what naming a slot
    /// to another service (a classification) takes.
    public func slotOutlines(session: AuthenticatedSession, itemID: String) async throws -> [SlotOutline] {
        var request = Svx_Vault_V1_GetItemRequest()
        request.itemID = itemID
        let response = try await vault.call(VaultRPC.getItem, request, sessionToken: session.token, timeout: timeout)
        return response.item.slots.map { SlotOutline(id: $0.slotID, name: $0.name, label: $0.label, type: $0.slotType) }
    }

    /// One page of the caller's items, oldest first. `pageSize` 1...500 (nil: the Vault's default, 50).
    /// Without `includeSlots` the items come without slots (a lighter listing: ids, labels, versions).
    public func items(
        session: AuthenticatedSession, keys: UnlockedKeys, filter: ItemFilter = .init(), pageSize: Int? = nil,
        pageToken: String? = nil, includeSlots: Bool = true
    ) async throws -> ItemPage {
        var request = Svx_Vault_V1_ListItemsRequest()
        if let pageSize {
            guard (1...500).contains(pageSize) else { throw SVXClientError(.invalidInput, "page size \(pageSize) is not in 1...500") }
            request.pageSize = UInt32(pageSize)
        }
        request.pageToken = pageToken ?? ""
        request.templateName = filter.templateName ?? ""
        request.labelContains = filter.labelContains ?? ""
        request.classificationNode = filter.classificationNode ?? ""
        request.includeSlots = includeSlots
        let response = try await vault.call(VaultRPC.listItems, request, sessionToken: session.token, timeout: timeout)
        return ItemPage(
            items: try response.items.map { try SlotCrypto.decrypt($0, key: keys.privateDEK) },
            nextPageToken: response.nextPageToken.isEmpty ? nil : response.nextPageToken)
    }

    /// Every page of ``items(session:keys:filter:pageSize:pageToken:includeSlots:)``, at most `maximumPages` of 500
    /// (a bound against a Vault that never ends its pages, not a limit anyone should meet).
    public func allItems(
        session: AuthenticatedSession, keys: UnlockedKeys, filter: ItemFilter = .init(), includeSlots: Bool = false,
        maximumPages: Int = 1_000
    ) async throws -> [DecryptedItem] {
        try await Paging.collect("items", maximumPages: maximumPages) { token in
            let page = try await self.items(
                session: session, keys: keys, filter: filter, pageSize: 500, pageToken: token.isEmpty ? nil : token,
                includeSlots: includeSlots)
            return (page.items, page.nextPageToken ?? "")
        }
    }

    /// Changes an item if it is still at `expectedVersion` (else the Vault answers ABORTED and writes nothing: read
    /// it again and retry). `set` adds slots or replaces the ones with the same names; `remove` deletes slots by
    /// name. A nil or empty `label` keeps the item's.
    ///
    /// The Vault replaces an upserted slot as given: to keep an existing slot's label and type while changing only
    /// its value, use ``updateItem(session:keys:item:label:set:remove:)``, which fills them in.
    public func updateItem(
        session: AuthenticatedSession, keys: UnlockedKeys, id: String, expectedVersion: UInt64, label: String? = nil,
        set: [SlotEdit] = [], remove: [String] = []
    ) async throws -> DecryptedItem {
        var request = Svx_Vault_V1_UpdateItemRequest()
        request.itemID = id
        request.expectedVersion = expectedVersion
        request.label = label ?? ""
        request.upsertSlots = try set.map { try SlotCrypto.input($0, key: keys.privateDEK) }
        request.removeSlots = remove
        let response = try await vault.call(VaultRPC.updateItem, request, sessionToken: session.token, timeout: timeout)
        return try SlotCrypto.decrypt(response.item, key: keys.privateDEK)
    }

    /// ``updateItem(session:keys:id:expectedVersion:label:set:remove:)`` against `item` as last read: its version is
    /// the expected one, and an edit of one of its slots keeps that slot's label and type unless it gives new ones.
    /// An attachment slot cannot be edited this way (its value is its file's name): attach a file again.
    /// Shares of the item keep the previous version until ``SharesClient/syncShares(session:keys:item:)`` re-shares
    /// the item this returns.
    public func updateItem(
        session: AuthenticatedSession, keys: UnlockedKeys, item: DecryptedItem, label: String? = nil,
        set: [SlotEdit] = [], remove: [String] = []
    ) async throws -> DecryptedItem {
        let edits = try set.map { edit in
            guard let existing = item.slot(named: edit.name) else { return edit }
            guard existing.type != .attachment else {
                throw SVXClientError(.invalidInput, "slot \(edit.name) holds an attachment: attach a file to change it")
            }
            var filled = edit
            filled.label = edit.label ?? existing.label
            filled.type = edit.type ?? existing.type
            return filled
        }
        return try await updateItem(
            session: session, keys: keys, id: item.id, expectedVersion: item.version, label: label, set: edits, remove: remove)
    }

    /// Deletes the item, its slots and their attachments.
    public func deleteItem(session: AuthenticatedSession, id: String) async throws {
        var request = Svx_Vault_V1_DeleteItemRequest()
        request.itemID = id
        _ = try await vault.call(VaultRPC.deleteItem, request, sessionToken: session.token, timeout: timeout)
    }
}
