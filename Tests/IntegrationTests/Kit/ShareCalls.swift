import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Auth, Keystore, Vault and Sharing on a new database, with `environment` on top: Auth, the Keystore and the
    /// Vault with 2 workers each (these tests do not load them), Sharing with its default 4 (about 13 database
    /// connections in all). The Vault's own peer, Classification, is not in the stack (switched off).
    static func shareStack(environment: [TestService: [String: String]] = [:]) async throws -> TestStack {
        var wired: [TestService: [String: String]] = [
            .auth: ["SVX_WORKERS": "2"], .keystore: ["SVX_WORKERS": "2"], .vault: ["SVX_WORKERS": "2"],
        ]
        wired.merge(environment) { base, set in base.merging(set) { $1 } }
        return try await TestStack.start([.auth, .keystore, .vault, .sharing], environment: wired)
    }
}

/// Two connected users, each side's connection as its owner sees it, and the keys of both sides (their private
/// halves stay in the test, as in each user's SDK).
struct SharingLink: Sendable {
    let inviter: SharingUser
    let invitee: SharingUser
    let inviterSide: Svx_Sharing_V1_Connection
    let inviteeSide: Svx_Sharing_V1_Connection
    let inviterKey: ConnectionKey
    let inviteeKey: ConnectionKey

    /// The same link seen from the invitee (sender) to the inviter (recipient).
    var reversed: SharingLink {
        SharingLink(
            inviter: invitee, invitee: inviter, inviterSide: inviteeSide, inviteeSide: inviterSide, inviterKey: inviteeKey,
            inviteeKey: inviterKey)
    }

    /// The sender's side (the inviter's) and the recipient's key (the invitee's), in the words of a share.
    var senderSide: Svx_Sharing_V1_Connection { inviterSide }
    var recipientKey: ConnectionKey { inviteeKey }
}

/// An item as its owner wrote it: the Vault's answer and the plaintext of each valued slot, by name.
struct PlainItem: Sendable {
    let item: Svx_Vault_V1_Item
    let values: [String: String]

    func slot(_ name: String) -> Svx_Vault_V1_Slot { item.slots.first { $0.name == name }! }
    var valuedSlots: [Svx_Vault_V1_Slot] { item.slots.filter { values[$0.name] != nil } }
}

/// A share as its recipient's SDK opens it: values decrypted with the DEK unwrapped by the connection's private key,
/// each checked against its HMAC.
struct OpenedShare: Sendable {
    let dek: SymmetricKey
    /// Plaintext by slot name, and the 64-byte value verification key by slot id (what an on-share re-encrypts).
    let values: [String: String]
    let verificationKeys: [String: [UInt8]]
    let slots: [Svx_Sharing_V1_ShareSlot]
    /// Names of slots whose HMAC did not match (an SDK shows none of them).
    let unverified: [String]
}

extension SharingUser {
    /// A connection with `other`: this user invites, `other` accepts (both with new keys).
    func connect(to other: SharingUser) async throws -> SharingLink {
        let inviterKey = try await newKey()
        let inviteeKey = try await other.newKey()
        let sent = try await invite(key: inviterKey)
        let inviteeSide = try await other.accept(sent, key: inviteeKey)
        let inviterSide = try await connection(try #require(try await invitation(sent.invitationID)).connectionID)
        return SharingLink(
            inviter: self, invitee: other, inviterSide: inviterSide, inviteeSide: inviteeSide, inviterKey: inviterKey,
            inviteeKey: inviteeKey)
    }

    /// A passport item with `values` (slot name → plaintext) encrypted under the user's private DEK, as the SDK
    /// writes it; `attachmentSlot` adds an empty attachment slot (metadata only).
    func passport(
        _ values: [String: String] = ["full_name": "Ada Lovelace", "passport_number": "P-1815-1210"],
        attachmentSlot: Bool = false
    ) async throws -> PlainItem {
        var slots = try values.sorted { $0.key < $1.key }.map { name, value in
            Svx_Vault_V1_SlotInput(name: name, value: try user.encrypt(value))
        }
        if attachmentSlot { slots.append(.init(name: "scan", label: "Scan", type: "attachment")) }
        let item = try await user.createItem(template: "passport", label: "My passport", slots: slots)
        return PlainItem(item: item, values: values)
    }

    func share(_ request: Svx_Sharing_V1_CreateShareRequest) async throws -> [Svx_Sharing_V1_Share] {
        try await call(SharingRPC.createShare, request).shares
    }

    func incoming(_ shareID: String, content: Bool = false) async throws -> Svx_Sharing_V1_GetIncomingShareResponse {
        try await call(SharingRPC.getIncomingShare, .init(shareID: shareID, includeContent: content))
    }
}

/// What a sender's SDK sends for one recipient (sharing.md §2.7), with the primitives of the Cryppo core: a fresh
/// 32-byte DEK, each value as AES-GCM under it, a fresh 64-byte verification key per slot (or the one given, for an
/// on-share) likewise, the hex HMAC-SHA256 of the value (none on an on-share), the DEK wrapped with RSA-OAEP for the
/// connection's other key, and terms under their own key.
enum ShareCrypto {
    static func recipient(
        over connection: Svx_Sharing_V1_Connection, values: [(slotID: String, value: String)],
        verificationKeys: [String: [UInt8]] = [:], withHashes: Bool = true, terms: String? = nil
    ) throws -> (recipient: Svx_Sharing_V1_ShareRecipient, dek: SymmetricKey) {
        let dek = try SymmetricKey.random()
        let publicKey = try RSAPublicKey(pem: connection.otherPublicKeyPem)
        var recipient = Svx_Sharing_V1_ShareRecipient()
        recipient.connectionID = connection.connectionID
        recipient.recipientKeySha256 = connection.otherKeySha256
        recipient.encryptedDek = try Cryppo.encrypt(dek.bytes, publicKey: publicKey)
        if let terms {
            let termsKey = try SymmetricKey.random()
            recipient.encryptedTerms = try Cryppo.encrypt(Array(terms.utf8), key: termsKey)
            recipient.encryptedTermsKey = try Cryppo.encrypt(termsKey.bytes, publicKey: publicKey)
        }
        recipient.slots = try values.map { slotID, value in
            let verificationKey = try verificationKeys[slotID] ?? SecureRandom.bytes(count: 64)
            var slot = Svx_Sharing_V1_ShareSlot()
            slot.slotID = slotID
            slot.encryptedValue = try Cryppo.encrypt(Array(value.utf8), key: dek)
            slot.encryptedValueVerificationKey = try Cryppo.encrypt(verificationKey, key: dek)
            if withHashes { slot.valueVerificationHash = Cryppo.valueVerificationHash(key: verificationKey, value: value) }
            return slot
        }
        return (recipient, dek)
    }

    /// A CreateShare of the owner's `item` (all its valued slots, or `slot` only) to the other side of each of
    /// `connections`.
    static func ownedShare(
        _ item: PlainItem, to connections: [Svx_Sharing_V1_Connection], slot: String? = nil,
        mode: Svx_Sharing_V1_SharingMode = .owner, terms: String? = nil, expiresAtMs: UInt64 = 0, maxFetches: UInt32 = 0
    ) throws -> Svx_Sharing_V1_CreateShareRequest {
        var request = Svx_Sharing_V1_CreateShareRequest()
        request.itemID = item.item.itemID
        request.expectedItemVersion = item.item.version
        request.sharingMode = mode
        request.acceptanceRequired = terms != nil
        request.expiresAtMs = expiresAtMs
        request.maxContentFetches = maxFetches
        let shared = item.valuedSlots.filter { slot == nil || $0.name == slot }
        if let slot { request.slotID = item.slot(slot).slotID }
        request.recipients = try connections.map { connection in
            try recipient(over: connection, values: shared.map { ($0.slotID, item.values[$0.name]!) }, terms: terms).recipient
        }
        return request
    }

    /// An on-share of `opened` (a share the caller received) to the other side of `connection`: values and
    /// verification keys re-encrypted under a new DEK, no hash (Sharing copies the owner's).
    static func onShare(
        _ shareID: String, opened: OpenedShare, to connection: Svx_Sharing_V1_Connection,
        mode: Svx_Sharing_V1_SharingMode = .owner, expiresAtMs: UInt64 = 0
    ) throws -> Svx_Sharing_V1_CreateShareRequest {
        var request = Svx_Sharing_V1_CreateShareRequest()
        request.parentShareID = shareID
        request.sharingMode = mode
        request.expiresAtMs = expiresAtMs
        let values = opened.slots.filter { !$0.encryptedValue.isEmpty }.map { ($0.slotID, opened.values[$0.name]!) }
        request.recipients = [
            try recipient(over: connection, values: values, verificationKeys: opened.verificationKeys, withHashes: false)
                .recipient
        ]
        return request
    }

    /// What a recipient's SDK does with a GetIncomingShare answer: unwrap the DEK with the connection's private key,
    /// decrypt every valued slot and its verification key, and check the HMAC.
    static func open(_ response: Svx_Sharing_V1_GetIncomingShareResponse, key: ConnectionKey) throws -> OpenedShare {
        let dek = SymmetricKey(bytes: try Cryppo.decrypt(response.encryptedDek, privateKey: key.privateKey))
        var values: [String: String] = [:]
        var keys: [String: [UInt8]] = [:]
        var unverified: [String] = []
        for slot in response.item.slots where !slot.encryptedValue.isEmpty {
            let value = String(decoding: try Cryppo.decrypt(slot.encryptedValue, key: dek), as: UTF8.self)
            let verificationKey = try Cryppo.decrypt(slot.encryptedValueVerificationKey, key: dek)
            if Cryppo.valueVerificationHash(key: verificationKey, value: value) != slot.valueVerificationHash {
                unverified.append(slot.name)
            }
            values[slot.name] = value
            keys[slot.slotID] = verificationKey
        }
        return OpenedShare(dek: dek, values: values, verificationKeys: keys, slots: response.item.slots, unverified: unverified)
    }
}

extension TestDatabase {
    /// `sharing.share_slots` rows of a share.
    func shareSlotRows(_ shareID: String) throws -> Int {
        try count("SELECT count(*)::int FROM sharing.share_slots WHERE share_id = $1::uuid", shareID)
    }

    /// Moves a share's expiry into the past (by `milliseconds` before now), created that much earlier still: what
    /// time does, without waiting.
    func expireShare(_ shareID: String, millisecondsAgo: Int = 1) throws {
        try change(
            """
            UPDATE sharing.shares SET created_at = now() - interval '1 day',
                expires_at = now() - $2::int * interval '1 millisecond'
            WHERE share_id = $1::uuid
            """, shareID, millisecondsAgo)
    }
}

// MARK: Requests

extension Svx_Sharing_V1_GetIncomingShareRequest {
    init(shareID: String, includeContent: Bool = false) {
        self.init()
        self.shareID = shareID
        self.includeContent = includeContent
    }
}

extension Svx_Sharing_V1_RevokeShareRequest {
    init(shareID: String) {
        self.init()
        self.shareID = shareID
    }
}

extension Svx_Sharing_V1_AcceptShareRequest {
    init(shareID: String) {
        self.init()
        self.shareID = shareID
    }
}

extension Svx_Sharing_V1_RejectShareRequest {
    init(shareID: String) {
        self.init()
        self.shareID = shareID
    }
}

extension Svx_Sharing_V1_ForgetSharedEntitiesRequest {
    init(itemIDs: [String] = [], slotIDs: [String] = []) {
        self.init()
        self.itemIds = itemIDs
        self.slotIds = slotIDs
    }
}

extension Svx_Sharing_V1_DeleteIncomingShareRequest {
    init(shareID: String) {
        self.init()
        self.shareID = shareID
    }
}

extension Svx_Sharing_V1_ListIncomingSharesRequest {
    init(state: Svx_Sharing_V1_ShareState = .unspecified, connectionID: String = "", pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.state = state
        self.connectionID = connectionID
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Sharing_V1_ListOutgoingSharesRequest {
    init(itemID: String = "", connectionID: String = "", state: Svx_Sharing_V1_ShareState = .unspecified, pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.itemID = itemID
        self.connectionID = connectionID
        self.state = state
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Sharing_V1_ListItemSharesRequest {
    init(itemID: String, pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.itemID = itemID
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

// MARK: Owner updates (Sharing III)

extension SharingUser {
    /// The passport `item` with `changes` (slot name → new plaintext) written to the Vault as an SDK writes them: the
    /// item at its next version and every value it now holds.
    func update(_ item: PlainItem, _ changes: [String: String]) async throws -> PlainItem {
        let upsert = try changes.sorted { $0.key < $1.key }.map { name, value in
            Svx_Vault_V1_SlotInput(name: name, value: try user.encrypt(value))
        }
        let updated = try await user.update(item.item, upsert: upsert)
        return PlainItem(item: updated, values: item.values.merging(changes) { $1 })
    }

    /// Every live share of the user's item, on-shares included, with each recipient's key (ListItemShares).
    func itemShares(_ itemID: String) async throws -> [Svx_Sharing_V1_ItemShare] {
        try await call(SharingRPC.listItemShares, .init(itemID: itemID)).shares
    }

    /// The user's stale shares (ListOutgoingShares `stale_only`), every page.
    func staleShares(itemID: String = "", pageSize: UInt32 = 0) async throws -> [Svx_Sharing_V1_Share] {
        try await allPages("ListOutgoingShares stale_only") { token in
            var request = Svx_Sharing_V1_ListOutgoingSharesRequest(itemID: itemID, pageSize: pageSize, pageToken: token)
            request.staleOnly = true
            let page = try await call(SharingRPC.listOutgoingShares, request)
            return (page.shares, page.nextPageToken)
        }.elements
    }
}

extension ShareCrypto {
    /// What an owner's SDK sends after updating `item` (sharing.md §2.7 "Owner update"): for each of `shares` a fresh
    /// DEK wrapped with the recipient's key, and every valued slot the share covers (its one slot, or all) under it
    /// with a fresh verification key and the owner's hash (on-shares too).
    static func update(_ item: PlainItem, shares: [Svx_Sharing_V1_ItemShare]) throws -> Svx_Sharing_V1_UpdateSharesRequest {
        var request = Svx_Sharing_V1_UpdateSharesRequest()
        request.itemID = item.item.itemID
        request.expectedItemVersion = item.item.version
        request.shares = try shares.map { entry in
            let dek = try SymmetricKey.random()
            var input = Svx_Sharing_V1_UpdateShareInput()
            input.shareID = entry.share.shareID
            input.encryptedDek = try Cryppo.encrypt(dek.bytes, publicKey: try RSAPublicKey(pem: entry.recipientPublicKeyPem))
            input.slots = try item.valuedSlots.filter { entry.share.slotID.isEmpty || $0.slotID == entry.share.slotID }.map { slot in
                try sealed(slotID: slot.slotID, value: item.values[slot.name]!, dek: dek)
            }
            return input
        }
        return request
    }

    /// One slot of an owned item under `dek`: the value, a fresh 64-byte verification key, and the hash.
    static func sealed(slotID: String, value: String, dek: SymmetricKey) throws -> Svx_Sharing_V1_ShareSlot {
        let verificationKey = try SecureRandom.bytes(count: 64)
        var slot = Svx_Sharing_V1_ShareSlot()
        slot.slotID = slotID
        slot.encryptedValue = try Cryppo.encrypt(Array(value.utf8), key: dek)
        slot.encryptedValueVerificationKey = try Cryppo.encrypt(verificationKey, key: dek)
        slot.valueVerificationHash = Cryppo.valueVerificationHash(key: verificationKey, value: value)
        return slot
    }
}

extension TestDatabase {
    /// `dek_generation` and `item_version` of a share.
    func shareGeneration(_ shareID: String) throws -> (dekGeneration: Int, itemVersion: Int) {
        let connection = try connect()
        defer { connection.close() }
        let row = try connection.query(
            "SELECT dek_generation, item_version::int FROM sharing.shares WHERE share_id = $1::uuid", shareID)[0]
        return (Int(try row.decode(Int32.self, at: 0)), Int(try row.decode(Int32.self, at: 1)))
    }

    /// The value hashes a share's rows hold, by slot id.
    func shareHashes(_ shareID: String) throws -> [String: String] {
        let connection = try connect()
        defer { connection.close() }
        return Dictionary(uniqueKeysWithValues: try connection.query(
            """
            SELECT slot_id::text, value_verification_hash FROM sharing.share_slots
            WHERE share_id = $1::uuid AND value_verification_hash IS NOT NULL
            """, shareID
        ).map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) })
    }
}
