import Cryppo
import Foundation
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC

/// The client half of Sharing, part II (proto/svx/sharing/v1/sharing.proto; sharing.md §1.3-1.5, §2.3, §2.5, §2.7):
/// shares of an item or of one slot, sent over connections whose keys this client checks first, and read back with
/// every value verified against the owner's hash.
///
/// - A sender encrypts the values afresh for each recipient: a new 32-byte share DEK per recipient, wrapped with the
///   recipient's connection key; per valued slot the value and a new 64-byte verification key under that DEK and the
///   HMAC of the value (``ShareCrypto``). Terms, if any, go under a key of their own, wrapped the same way. Before
///   anything is encrypted for a connection, its keys are checked against its invitation secret
///   (``SharingClient/verifiedConnection(session:keys:id:)``): a swapped key stops the share before it is sent.
/// - An on-sharer opens its copy (verifying it), and encrypts each value and the same verification key for the next
///   recipient under a new DEK; it sends no hash: the service copies the owner's, so every later recipient verifies
///   against the owner's values, not the on-sharer's.
/// - A recipient unwraps the DEK with its connection private key (from its Keystore, opened with its KEK), decrypts
///   every slot and verifies its hash; a slot that does not verify is an error naming it, and nothing is shown.
///
/// Public signatures use the SDK's own types; the service's refusals arrive as the transport's status (read with
/// ``ServiceError``), the client's own as ``SVXClientError``.
/// A CreateShare made and encrypted for its recipients, not yet sent (``SharesClient/prepareShare(session:keys:itemID:to:options:now:)``).
/// It holds ciphertext and wrapped keys only; each recipient's DEK is gone once it is made.
public struct PreparedShare: Sendable {
    /// The request as it goes on the wire (for tools of this package that send it themselves).
    package let request: Svx_Sharing_V1_CreateShareRequest
    /// How many recipients it goes to.
    public var recipientCount: Int { request.recipients.count }
}

/// One UpdateShares made and encrypted, not yet sent (``SharesClient/prepareShareUpdates(session:keys:item:)``).
public struct PreparedShareUpdate: Sendable {
    /// The request as it goes on the wire (for tools of this package that send it themselves).
    package let request: Svx_Sharing_V1_UpdateSharesRequest
    /// How many shares it updates.
    public var shareCount: Int { request.shares.count }
}

/// The UpdateShares batches of one item's sync, and how many live shares already held its version.
public struct PreparedShareUpdates: Sendable {
    public let batches: [PreparedShareUpdate]
    public let alreadyCurrent: Int
}

public struct SharesClient: Sendable {
    /// Recipients of one CreateShare.
    public static let maximumRecipients = 50
    /// Terms are at most this many bytes of UTF-8.
    public static let maximumTermsBytes = 4_096
    /// Keyset pages are asked for this size.
    static let pageSize: UInt32 = 500

    /// Connections, their key checks and the Keystore (connection keypairs).
    public let sharing: SharingClient
    /// Where owned items are read from before they are shared.
    public let vault: VaultClient
    public var timeout: Duration

    public init(sharing: SharingClient, vault: VaultClient, timeout: Duration = .seconds(30)) {
        self.sharing = sharing
        self.vault = vault
        self.timeout = timeout
    }

    var service: RPCClient { sharing.sharing }

    // MARK: Sharing (sender)

    /// Shares the caller's item `itemID` (or the one slot `options.slot`) with each of `connectionIDs` (1...50, the
    /// caller's own connections), in one CreateShare: every recipient gets the share or none does.
    ///
    /// The item is read from the Vault and decrypted with the private DEK; each connection is read again and its keys
    /// checked (a mismatch is ``SVXClientError/Code/keyVerificationFailed`` and nothing is sent); then per recipient
    /// a fresh DEK and fresh verification keys. Slots without a value are shared without one; an attachment slot's
    /// file goes with its own key under the share's DEK (the file itself stays in the Vault, where the recipient reads
    /// it through the Sharing service). The Vault
    /// version read is sent as `expected_item_version`: an item changed in between is ABORTED `item_version_changed`.
    /// Returns the shares in the order of `connectionIDs`.
    public func createShare(
        session: AuthenticatedSession, keys: UnlockedKeys, itemID: String, to connectionIDs: [String],
        options: ShareOptions = .init(), now: Date = Date()
    ) async throws -> [ShareRecord] {
        let prepared = try await prepareShare(
            session: session, keys: keys, itemID: itemID, to: connectionIDs, options: options, now: now)
        return try await send(prepared, session: session)
    }

    /// What ``createShare(session:keys:itemID:to:options:now:)`` sends, made and encrypted but not sent: the same
    /// reads and checks, fresh keys for every recipient. A benchmark prepares shares ahead so that its timing holds
    /// the service's work only; ``send(_:session:)`` sends one.
    public func prepareShare(
        session: AuthenticatedSession, keys: UnlockedKeys, itemID: String, to connectionIDs: [String],
        options: ShareOptions = .init(), now: Date = Date()
    ) async throws -> PreparedShare {
        try Self.check(options, recipients: connectionIDs, now: now)
        let item = try await vault.item(session: session, keys: keys, id: itemID)
        var singleSlotID = ""
        var slots = item.slots
        if let wanted = options.slot {
            let slot = try Self.findSlot(wanted, among: item.slots.map { ($0.id, $0.name, $0.label) }, in: "item \(itemID)")
            guard let chosen = item.slots.first(where: { $0.id == slot }) else { throw Self.noSlot(wanted, "item \(itemID)") }
            singleSlotID = chosen.id
            slots = [chosen]
        }
        let files = try await sharedFiles(of: slots, session: session, keys: keys)
        let values = slots.filter { $0.value != nil || files[$0.id] != nil }
        let recipients = try await verifiedRecipients(session: session, keys: keys, connectionIDs: connectionIDs)
        var request = Svx_Sharing_V1_CreateShareRequest()
        request.itemID = item.id
        request.slotID = singleSlotID
        request.expectedItemVersion = item.version
        Self.apply(options, to: &request)
        request.recipients = try recipients.map { recipient in
            try Self.seal(for: recipient, options: options) { dek in
                try values.map { try ShareCrypto.ownedSlot(id: $0.id, value: $0.value, file: files[$0.id], dek: dek) }
            }
        }
        return PreparedShare(request: request)
    }

    /// The file of each attachment slot among `slots` that holds one, with its DEK (unwrapped with the private DEK),
    /// by slot id: what a share carries under its own DEK.
    func sharedFiles(
        of slots: [DecryptedSlot], session: AuthenticatedSession, keys: UnlockedKeys
    ) async throws -> [String: ShareCrypto.SharedFile] {
        var files: [String: ShareCrypto.SharedFile] = [:]
        for slot in slots where slot.type == .attachment {
            guard let attachmentID = slot.attachmentID else { continue }
            let (_, key) = try await vault.attachmentKey(session: session, keys: keys, attachmentID: attachmentID)
            files[slot.id] = ShareCrypto.SharedFile(attachmentID: attachmentID, key: key)
        }
        return files
    }

    /// Sends a prepared share (CreateShare): every recipient gets it or none does.
    public func send(_ prepared: PreparedShare, session: AuthenticatedSession) async throws -> [ShareRecord] {
        let response = try await service.call(
            SharingRPC.createShare, prepared.request, sessionToken: session.token, timeout: timeout)
        return try response.shares.map(Self.record)
    }

    /// On-shares the share `parentShareID` the caller received (or the one slot `options.slot` of it) with each of
    /// `connectionIDs`, if its sender allowed it (``ShareOnwardMode/anyone``).
    ///
    /// The parent is checked first without fetching its content (active, on-sharing allowed, the expiry no later than
    /// the parent's), and each connection's keys are checked; then the parent's content is fetched (this counts as one of its content fetches), decrypted and
    /// verified against the owner's hashes: a value that does not verify stops the on-share
    /// (``SVXClientError/Code/valueVerificationFailed``). Each value and its verification key are encrypted for each
    /// recipient under a fresh DEK, with no hash: the service copies the owner's. An on-share of a single-slot share
    /// covers that slot.
    public func onShare(
        session: AuthenticatedSession, keys: UnlockedKeys, parentShareID: String, to connectionIDs: [String],
        options: ShareOptions = .init(), now: Date = Date()
    ) async throws -> [ShareRecord] {
        try Self.check(options, recipients: connectionIDs, now: now)
        let parent = try Self.record(try await incoming(session: session, id: parentShareID, includeContent: false).share)
        guard parent.state == .active else {
            throw SVXClientError(
                .invalidInput, "share \(parentShareID) is \(parent.state.rawValue): only an active share can be shared on")
        }
        guard parent.onwardMode == .anyone else {
            throw SVXClientError(
                .invalidInput, "share \(parentShareID) may not be shared on: its sender did not allow it (onsharing_not_permitted)")
        }
        if let parentExpiry = parent.expiresAt, let expiry = options.expiresAt, expiry > parentExpiry {
            throw SVXClientError(
                .invalidInput, "an on-share ends no later than share \(parentShareID), which expires \(parentExpiry)")
        }
        // The recipients' keys before the content: a refusal then costs the parent no content fetch.
        let recipients = try await verifiedRecipients(session: session, keys: keys, connectionIDs: connectionIDs)
        let opened = try await open(session: session, keys: keys, id: parentShareID, now: now)
        guard let content = opened.slots else {
            throw SVXClientError(.malformedResponse, "the Sharing service sent no content for the active share \(parentShareID)")
        }
        var chosen = content
        var singleSlotID = parent.slotID ?? ""
        if let wanted = options.slot {
            let id = try Self.findSlot(wanted, among: content.map { ($0.slot.id, $0.slot.name, $0.slot.label) }, in: "share \(parentShareID)")
            chosen = content.filter { $0.slot.id == id }
            singleSlotID = id
        }
        let valued = chosen.filter { $0.slot.value != nil || $0.file != nil }
        var request = Svx_Sharing_V1_CreateShareRequest()
        request.parentShareID = parent.id
        request.slotID = singleSlotID
        Self.apply(options, to: &request)
        request.recipients = try recipients.map { recipient in
            try Self.seal(for: recipient, options: options) { dek in try valued.map { try ShareCrypto.onSharedSlot($0, dek: dek) } }
        }
        let response = try await service.call(SharingRPC.createShare, request, sessionToken: session.token, timeout: timeout)
        return try response.shares.map(Self.record)
    }

    /// The shares the caller sent, newest first: of one item, over one connection, in one state (nil: any).
    /// `staleOnly`: instead, the live shares of the caller's own items (on-shares its recipients made included) that
    /// hold an older version than the Vault's: what ``syncStaleShares(session:keys:itemID:)`` brings up to date.
    public func outgoingShares(
        session: AuthenticatedSession, itemID: String? = nil, connectionID: String? = nil, state: ShareState? = nil,
        staleOnly: Bool = false, maximumPages: Int = 1_000
    ) async throws -> [ShareRecord] {
        var request = Svx_Sharing_V1_ListOutgoingSharesRequest()
        request.staleOnly = staleOnly
        request.itemID = itemID ?? ""
        request.connectionID = connectionID ?? ""
        request.state = state.map(Self.wire) ?? .unspecified
        request.pageSize = Self.pageSize
        return try await Paging.collect("outgoing shares", maximumPages: maximumPages) { token in
            request.pageToken = token
            let page = try await service.call(SharingRPC.listOutgoingShares, request, sessionToken: session.token, timeout: timeout)
            return (try page.shares.map(Self.record), page.nextPageToken)
        }
    }

    /// Every live share (pending or active) of the caller's item `itemID`, on-shares made by its recipients included,
    /// with each recipient's public key: who can read it now, and what the owner can revoke.
    public func itemShares(
        session: AuthenticatedSession, itemID: String, maximumPages: Int = 1_000
    ) async throws -> [ItemShareRecord] {
        var request = Svx_Sharing_V1_ListItemSharesRequest()
        request.itemID = itemID
        request.pageSize = Self.pageSize
        return try await Paging.collect("the shares of item \(itemID)", maximumPages: maximumPages) { token in
            request.pageToken = token
            let page = try await service.call(SharingRPC.listItemShares, request, sessionToken: session.token, timeout: timeout)
            return (
                try page.shares.map { ItemShareRecord(share: try Self.record($0.share), recipientPublicKeyPEM: $0.recipientPublicKeyPem) },
                page.nextPageToken
            )
        }
    }

    /// Revokes a share the caller sent, or any share of an item the caller owns: the service deletes its content at
    /// once, and every on-share made from it is revoked in the same transaction. What a recipient already read
    /// cannot be recalled.
    public func revokeShare(session: AuthenticatedSession, id: String) async throws -> RevokedShare {
        var request = Svx_Sharing_V1_RevokeShareRequest()
        request.shareID = id
        let response = try await service.call(SharingRPC.revokeShare, request, sessionToken: session.token, timeout: timeout)
        return RevokedShare(share: try Self.record(response.share), revoked: Int(response.revoked))
    }

    // MARK: Receiving (recipient)

    /// The shares the caller received, newest first: in one state (nil: any), over one connection.
    public func incomingShares(
        session: AuthenticatedSession, state: ShareState? = nil, connectionID: String? = nil, maximumPages: Int = 1_000
    ) async throws -> [ShareRecord] {
        var request = Svx_Sharing_V1_ListIncomingSharesRequest()
        request.state = state.map(Self.wire) ?? .unspecified
        request.connectionID = connectionID ?? ""
        request.pageSize = Self.pageSize
        return try await Paging.collect("incoming shares", maximumPages: maximumPages) { token in
            request.pageToken = token
            let page = try await service.call(SharingRPC.listIncomingShares, request, sessionToken: session.token, timeout: timeout)
            return (try page.shares.map(Self.record), page.nextPageToken)
        }
    }

    /// One share the caller received, its terms decrypted and, with `includeContent` while it is active, its content
    /// decrypted and every value verified against the owner's hash (``VerifiedSharedItem``). A value that does not
    /// verify is ``SVXClientError/Code/valueVerificationFailed`` naming the slot, and nothing is returned.
    ///
    /// Each content fetch is counted by the service (a view-once share gives its content once, then is consumed).
    /// A share still waiting for its terms to be accepted comes back with its terms and no content; an ended one is
    /// the service's FAILED_PRECONDITION naming its state.
    public func incomingShare(
        session: AuthenticatedSession, keys: UnlockedKeys, id: String, includeContent: Bool = true, now: Date = Date()
    ) async throws -> ReceivedShare {
        let opened = try await open(session: session, keys: keys, id: id, includeContent: includeContent, now: now)
        return ReceivedShare(share: opened.share, terms: opened.terms, item: opened.item)
    }

    /// Downloads the file in attachment slot `slot` (its name, label or id; nil: the share's one slot holding a file)
    /// of share `shareID` the caller received into `destination` (mode 0600; an existing file only with `overwrite`;
    /// a failed download leaves nothing under its name).
    ///
    /// The share's content is fetched first (counted like any fetch: a view-once share is consumed by it, and its
    /// files stay readable for a quarter of an hour after), every value verified, and the file's key taken from it.
    /// The blocks come from the owner's Vault through the Sharing service, and are checked as the owner's own download
    /// checks them: the encrypted metadata must be there and agree with the announced size and the slot's file name
    /// (verified against the owner's hash), every block's tag and size, and the SHA-256 of the blocks in order;
    /// anything else is ``SVXClientError/Code/integrityFailed`` and nothing is written.
    @discardableResult
    public func downloadSharedAttachment(
        session: AuthenticatedSession, keys: UnlockedKeys, shareID: String, slot: String? = nil, to destination: URL,
        overwrite: Bool = false, now: Date = Date(), progress: TransferProgress = { _, _ in }
    ) async throws -> SharedFileDownload {
        let opened = try await open(session: session, keys: keys, id: shareID, now: now)
        guard let content = opened.slots else {
            throw SVXClientError(
                .invalidInput,
                opened.share.state == .pendingAcceptance
                    ? "share \(shareID) waits for you to accept its terms: accept it first"
                    : "share \(shareID) is \(opened.share.state.rawValue): it has no content to read")
        }
        let chosen: ShareCrypto.OpenedSlot
        if let slot {
            let id = try Self.findSlot(slot, among: content.map { ($0.slot.id, $0.slot.name, $0.slot.label) }, in: "share \(shareID)")
            guard let found = content.first(where: { $0.slot.id == id }) else { throw Self.noSlot(slot, "share \(shareID)") }
            chosen = found
        } else {
            let withFiles = content.filter { $0.file != nil }
            guard withFiles.count == 1 else {
                throw SVXClientError(
                    withFiles.isEmpty ? .notFound : .ambiguous,
                    withFiles.isEmpty
                        ? "share \(shareID) holds no file"
                        : "share \(shareID) holds \(withFiles.count) files (slots \(withFiles.map(\.slot.name).joined(separator: ", "))): name the slot")
            }
            chosen = withFiles[0]
        }
        let metadata = try await download(chosen, of: shareID, session: session, to: destination, overwrite: overwrite, progress: progress)
        return SharedFileDownload(share: opened.share, slot: chosen.slot, metadata: metadata, path: destination)
    }

    /// One content fetch of share `shareID` (counted: a view-once share is consumed by it) and every file its slots
    /// carry downloaded into `directory` in that same view, each under its own file name (the last component of the
    /// slot's verified value, never a path; the slot's name when that gives none; `NAME_2`, `NAME_3`, ... for names
    /// taken already, compared without case), checked as
    /// ``downloadSharedAttachment(session:keys:shareID:slot:to:overwrite:now:progress:)`` checks one. The first failure
    /// stops the rest (files already written stay); a consumed share's files can still be read for a while with the
    /// keys of this view, but not by a later call.
    public func incomingShareWithFiles(
        session: AuthenticatedSession, keys: UnlockedKeys, id: String, into directory: URL, overwrite: Bool = false,
        now: Date = Date()
    ) async throws -> (share: ReceivedShare, files: [SharedFileDownload]) {
        let opened = try await open(session: session, keys: keys, id: id, now: now)
        let received = ReceivedShare(share: opened.share, terms: opened.terms, item: opened.item)
        var files: [SharedFileDownload] = []
        var used: Set<String> = []
        for slot in opened.slots ?? [] where slot.file != nil {
            let name = Self.uniqueName(Self.fileName(slot.slot.value) ?? slot.slot.name, among: &used)
            let destination = directory.appendingPathComponent(name)
            guard Self.fileName(name) == name,
                destination.deletingLastPathComponent().standardizedFileURL.path == directory.standardizedFileURL.path
            else {
                throw SVXClientError(.malformedResponse, "slot \(slot.slot.name) of share \(id) gives no usable file name")
            }
            let metadata = try await download(slot, of: id, session: session, to: destination, overwrite: overwrite, progress: { _, _ in })
            files.append(SharedFileDownload(share: opened.share, slot: slot.slot, metadata: metadata, path: destination))
        }
        return (received, files)
    }

    /// A file name taken from a value: its last path component, unless that is empty, `.`, `..`, starts with `-` or
    /// holds a NUL.
    static func fileName(_ value: String?) -> String? {
        guard let value, let last = value.split(separator: "/").last else { return nil }
        let name = String(last)
        guard name != ".", name != "..", !name.contains("\0"), !name.hasPrefix("-") else { return nil }
        return name
    }

    /// `name`, or `name_2`, `name_3`, ... (before its extension) when `used` holds it already without regard to case;
    /// the name chosen goes into `used`.
    static func uniqueName(_ name: String, among used: inout Set<String>) -> String {
        // The extension: after the last dot, unless the dot starts the name (`.profile`) or ends it.
        var stem = name
        var ext = ""
        if let dot = name.lastIndex(of: "."), dot != name.startIndex, name.index(after: dot) != name.endIndex {
            stem = String(name[..<dot])
            ext = String(name[name.index(after: dot)...])
        }
        var candidate = name
        var number = 2
        while used.contains(candidate.lowercased()) {
            candidate = ext.isEmpty ? "\(stem)_\(number)" : "\(stem)_\(number).\(ext)"
            number += 1
        }
        used.insert(candidate.lowercased())
        return candidate
    }

    /// The file of an opened slot of share `shareID`, downloaded through Sharing/GetSharedAttachmentBlock and checked.
    func download(
        _ chosen: ShareCrypto.OpenedSlot, of shareID: String, session: AuthenticatedSession, to destination: URL,
        overwrite: Bool, progress: TransferProgress
    ) async throws -> AttachmentMetadata {
        guard let file = chosen.file else {
            throw SVXClientError(
                .invalidInput,
                chosen.slot.type == .attachment
                    ? "slot \(chosen.slot.name) of share \(shareID) carries no file key (shared before files travelled in shares, or empty): ask the owner to update the share"
                    : "slot \(chosen.slot.name) of share \(shareID) holds no attachment")
        }
        guard chosen.slot.value != nil else {
            throw SVXClientError(
                .invalidInput,
                "slot \(chosen.slot.name) of share \(shareID) carries a file but no file name to check it against: it cannot be read safely")
        }
        // The first block also says what the file is; it is kept for the download rather than fetched twice. (Its id
        // is the server's word as much as the share's is: the checks that count are the key's, the name's and the
        // digest's.)
        let first = try await sharedBlock(session: session, shareID: shareID, slotID: chosen.slot.id, index: 0)
        guard first.attachment.attachmentID == file.attachmentID else {
            throw SVXClientError(
                .integrityFailed,
                "the Sharing service served attachment \(first.attachment.attachmentID) for slot \(chosen.slot.name), whose file is \(file.attachmentID)")
        }
        let firstBlock = first.encryptedBlock
        return try await VaultClient.download(
            attachmentID: file.attachmentID,
            announced: VaultClient.AnnouncedAttachment(
                encryptedMetadata: first.attachment.encryptedMetadata, plaintextSize: first.attachment.plaintextSize,
                blockCount: first.attachment.blockCount, blockSize: first.attachment.blockSize),
            key: file.key, slotName: chosen.slot.name, slotValue: chosen.slot.value, to: destination, overwrite: overwrite,
            progress: progress
        ) { index in
            if index == 0 { return firstBlock }
            return try await self.sharedBlock(session: session, shareID: shareID, slotID: chosen.slot.id, index: index).encryptedBlock
        }
    }

    /// Sharing/GetSharedAttachmentBlock.
    func sharedBlock(
        session: AuthenticatedSession, shareID: String, slotID: String, index: Int
    ) async throws -> Svx_Sharing_V1_GetSharedAttachmentBlockResponse {
        var request = Svx_Sharing_V1_GetSharedAttachmentBlockRequest()
        request.shareID = shareID
        request.slotID = slotID
        request.index = UInt32(index)
        return try await service.call(SharingRPC.getSharedAttachmentBlock, request, sessionToken: session.token, timeout: timeout)
    }

    /// Accepts the terms of a share the caller received: it becomes active and its content readable.
    public func acceptShare(session: AuthenticatedSession, id: String) async throws -> ShareRecord {
        var request = Svx_Sharing_V1_AcceptShareRequest()
        request.shareID = id
        return try Self.record(try await service.call(SharingRPC.acceptShare, request, sessionToken: session.token, timeout: timeout).share)
    }

    /// Rejects a share waiting for the caller to accept its terms; its content is deleted.
    public func rejectShare(session: AuthenticatedSession, id: String) async throws -> ShareRecord {
        var request = Svx_Sharing_V1_RejectShareRequest()
        request.shareID = id
        return try Self.record(try await service.call(SharingRPC.rejectShare, request, sessionToken: session.token, timeout: timeout).share)
    }

    /// Deletes the caller's copy of a share it received (its on-shares live on until their own end).
    public func deleteIncomingShare(session: AuthenticatedSession, id: String) async throws -> ShareRecord {
        var request = Svx_Sharing_V1_DeleteIncomingShareRequest()
        request.shareID = id
        return try Self.record(
            try await service.call(SharingRPC.deleteIncomingShare, request, sessionToken: session.token, timeout: timeout).share)
    }

    // MARK: Connections named by people

    /// The caller's connection ids that `references` name: each a connection id (passed on as given: the service
    /// answers for it), else the caller's own name for an active connection, else the other user's username on an
    /// active connection (any case). A name that matches nothing is ``SVXClientError/Code/notFound``; one that matches
    /// several connections is ``SVXClientError/Code/ambiguous`` (give the id). Connections are listed (and their names
    /// decrypted) only when some reference is not an id.
    public func connectionIDs(
        session: AuthenticatedSession, keys: UnlockedKeys, naming references: [String]
    ) async throws -> [String] {
        let trimmed = references.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        guard !trimmed.allSatisfy({ UUID(uuidString: $0) != nil }) else { return trimmed.map { $0.lowercased() } }
        let connections = try await sharing.connections(session: session, keys: keys)
        return try trimmed.map { UUID(uuidString: $0) != nil ? $0.lowercased() : try Self.connection(named: $0, among: connections).id }
    }

    /// The active connection among `connections` that the caller calls `name`, else the one with the other user
    /// `name` (any case); see ``connectionIDs(session:keys:naming:)``.
    public static func connection(named name: String, among connections: [SharingConnection]) throws -> SharingConnection {
        let active = connections.filter { $0.state == .active }
        for matches in [
            active.filter { $0.name?.compare(name, options: .caseInsensitive) == .orderedSame },
            active.filter { $0.otherUsername.compare(name, options: .caseInsensitive) == .orderedSame },
        ] {
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 {
                throw SVXClientError(
                    .ambiguous,
                    "\"\(name)\" names \(matches.count) connections (\(matches.map(\.id).joined(separator: ", "))): give the connection id")
            }
        }
        throw SVXClientError(.notFound, "no active connection is called \"\(name)\" (see `svx connections list`)")
    }

    // MARK: Steps

    /// A recipient as the sender encrypts for it: the connection's id and the other user's key, checked.
    struct Recipient {
        let connectionID: String
        let publicKey: RSAPublicKey
        let fingerprint: KeyFingerprint
    }

    /// Each connection read again and its keys checked under its invitation secret, one after the other.
    func verifiedRecipients(
        session: AuthenticatedSession, keys: UnlockedKeys, connectionIDs: [String]
    ) async throws -> [Recipient] {
        var recipients: [Recipient] = []
        for id in connectionIDs {
            let connection = try await sharing.verifiedConnection(session: session, keys: keys, id: id)
            let publicKey: RSAPublicKey
            do {
                publicKey = try RSAPublicKey(pem: connection.otherPublicKeyPEM)
            } catch {
                throw SVXClientError(.keyVerificationFailed, "connection \(id): the other user's key is not an RSA public key")
            }
            guard let fingerprint = connection.otherKey else {
                throw SVXClientError(.keyVerificationFailed, "connection \(id): the other user's key has no fingerprint")
            }
            recipients.append(Recipient(connectionID: connection.id, publicKey: publicKey, fingerprint: fingerprint))
        }
        return recipients
    }

    /// One recipient's part of a CreateShare: a fresh DEK wrapped for it, the slots `slots` seals under that DEK, and
    /// the terms under a fresh terms key wrapped the same way.
    static func seal(
        for recipient: Recipient, options: ShareOptions, slots: (SymmetricKey) throws -> [Svx_Sharing_V1_ShareSlot]
    ) throws -> Svx_Sharing_V1_ShareRecipient {
        let dek = try SymmetricKey.random(byteCount: ShareCrypto.keyByteCount)
        var wire = Svx_Sharing_V1_ShareRecipient()
        wire.connectionID = recipient.connectionID
        wire.recipientKeySha256 = recipient.fingerprint.hex
        wire.encryptedDek = try ShareCrypto.wrap(dek, for: recipient.publicKey)
        if let terms = options.terms {
            let termsKey = try SymmetricKey.random(byteCount: ShareCrypto.keyByteCount)
            wire.encryptedTerms = try ShareCrypto.encryptTerms(terms, key: termsKey)
            wire.encryptedTermsKey = try ShareCrypto.wrap(termsKey, for: recipient.publicKey)
        }
        wire.slots = try slots(dek)
        return wire
    }

    /// What a recipient opened: the record, the terms, and with content the verified item and its slots' keys.
    struct Opened {
        let share: ShareRecord
        let terms: String?
        let item: VerifiedSharedItem?
        let slots: [ShareCrypto.OpenedSlot]?
    }

    /// GetIncomingShare (with content when asked and the share is not waiting for acceptance), the connection private
    /// key from the Keystore, the DEK and terms key unwrapped, the terms and the slots opened and verified.
    func open(
        session: AuthenticatedSession, keys: UnlockedKeys, id: String, includeContent: Bool = true, now: Date
    ) async throws -> Opened {
        var response: Svx_Sharing_V1_GetIncomingShareResponse
        do {
            response = try await incoming(session: session, id: id, includeContent: includeContent)
        } catch let status as RPCStatus where includeContent && status.code == .failedPrecondition
            && status.details["reason"] == "acceptance_pending"
        {
            // Waiting for its terms to be accepted: the terms are what there is to show.
            response = try await incoming(session: session, id: id, includeContent: false)
        }
        let share = try Self.record(response.share)
        let needsKey = !response.encryptedTerms.isEmpty || response.hasItem
        guard needsKey else { return Opened(share: share, terms: nil, item: nil, slots: nil) }
        let privateKey = try await connectionPrivateKey(
            session: session, keys: keys, keypairID: share.recipientKeypairID, expected: share.recipientKeySHA256, shareID: id)
        var terms: String?
        if !response.encryptedTerms.isEmpty {
            let termsKey = try ShareCrypto.unwrap(response.encryptedTermsKey, with: privateKey, what: "the terms key of share \(id)")
            terms = try ShareCrypto.decryptTerms(response.encryptedTerms, key: termsKey, shareID: id)
        }
        guard response.hasItem else { return Opened(share: share, terms: terms, item: nil, slots: nil) }
        if let expiry = share.expiresAt, expiry <= now {
            throw SVXClientError(
                .malformedResponse, "the Sharing service served share \(id), which expired at \(expiry) by this machine's clock: nothing is shown")
        }
        let dek = try ShareCrypto.unwrap(response.encryptedDek, with: privateKey, what: "the key of share \(id)")
        let (item, slots) = try ShareCrypto.open(response.item, dek: dek, shareID: id)
        return Opened(share: share, terms: terms, item: item, slots: slots)
    }

    func incoming(
        session: AuthenticatedSession, id: String, includeContent: Bool
    ) async throws -> Svx_Sharing_V1_GetIncomingShareResponse {
        var request = Svx_Sharing_V1_GetIncomingShareRequest()
        request.shareID = id
        request.includeContent = includeContent
        return try await service.call(SharingRPC.getIncomingShare, request, sessionToken: session.token, timeout: timeout)
    }

    /// The private key of the caller's connection keypair `keypairID`, opened with its KEK, and checked to be the
    /// half of the key the sender says it encrypted for (`expected`, a fingerprint; empty: not said).
    func connectionPrivateKey(
        session: AuthenticatedSession, keys: UnlockedKeys, keypairID: String, expected: String, shareID: String
    ) async throws -> RSAPrivateKey {
        guard !keypairID.isEmpty else {
            throw SVXClientError(.malformedResponse, "share \(shareID) names no keypair of yours to open it with")
        }
        var request = Svx_Keystore_V1_GetKeypairRequest()
        request.keypairID = keypairID
        let stored = try await sharing.keyring.keystore.call(
            KeystoreRPC.getKeypair, request, sessionToken: session.token, timeout: timeout
        ).keypair
        try KeyringClient.requireVersion(stored.kekVersion, keys.kekVersion)
        var pem = try KeyringClient.unwrap(stored.wrappedPrivateKey, with: keys.kek, what: "the private key of connection keypair \(keypairID)")
        defer { secureZero(&pem) }
        let privateKey: RSAPrivateKey
        do {
            privateKey = try RSAPrivateKey(pem: String(decoding: pem, as: UTF8.self))
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "the private key of connection keypair \(keypairID) is not a PEM RSA key")
        }
        if !expected.isEmpty {
            let own = try KeyFingerprint(publicKey: try privateKey.publicKey)
            guard ConstantTime.equals(Array(own.hex.utf8), Array(expected.utf8)) else {
                throw SVXClientError(
                    .keyVerificationFailed, "share \(shareID) was encrypted for another key than your connection key \(keypairID)")
            }
        }
        return privateKey
    }

    // MARK: Checks and conversions

    /// The options and recipients of a CreateShare, before anything is read or encrypted.
    static func check(_ options: ShareOptions, recipients: [String], now: Date) throws {
        guard (1...maximumRecipients).contains(recipients.count) else {
            throw SVXClientError(.invalidInput, "a share goes to 1 to \(maximumRecipients) connections, not \(recipients.count)")
        }
        guard Set(recipients.map { $0.lowercased() }).count == recipients.count else {
            throw SVXClientError(.invalidInput, "a connection is named twice among the recipients")
        }
        if let terms = options.terms {
            guard !terms.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw SVXClientError(.invalidInput, "terms must not be empty")
            }
            guard terms.utf8.count <= maximumTermsBytes else {
                throw SVXClientError(.invalidInput, "terms are at most \(maximumTermsBytes) bytes")
            }
        }
        if let expiry = options.expiresAt, expiry <= now {
            throw SVXClientError(.invalidInput, "a share's expiry must be in the future")
        }
        if let fetches = options.maximumContentFetches, !(1...Int(UInt32.max)).contains(fetches) {
            throw SVXClientError(.invalidInput, "the content fetches allowed are at least 1 (nil: unlimited)")
        }
        if let slot = options.slot, slot.trimmingCharacters(in: .whitespaces).isEmpty {
            throw SVXClientError(.invalidInput, "the slot to share must be named")
        }
    }

    static func apply(_ options: ShareOptions, to request: inout Svx_Sharing_V1_CreateShareRequest) {
        request.sharingMode = wire(options.onwardMode)
        request.acceptanceRequired = options.terms != nil
        request.expiresAtMs = options.expiresAt.map(\.wireMilliseconds) ?? 0
        request.maxContentFetches = options.maximumContentFetches.map(UInt32.init) ?? 0
    }

    /// The id of the slot `wanted` names among `slots`: its id (any case), its name, its label, or a label from which
    /// its name is derived (`"Passport Number"` → `passport_number`).
    static func findSlot(_ wanted: String, among slots: [(id: String, name: String, label: String)], in what: String) throws -> String {
        let wanted = wanted.trimmingCharacters(in: .whitespaces)
        let derived = SlotName.derive(fromLabel: wanted)
        if let slot = slots.first(where: { $0.id.lowercased() == wanted.lowercased() }) ?? slots.first(where: { $0.name == wanted })
            ?? slots.first(where: { $0.label == wanted }) ?? slots.first(where: { $0.name == derived })
        {
            return slot.id
        }
        throw noSlot(wanted, what)
    }

    static func noSlot(_ wanted: String, _ what: String) -> SVXClientError {
        SVXClientError(.notFound, "\(what) has no slot \(wanted)")
    }

    static func record(_ wire: Svx_Sharing_V1_Share) throws -> ShareRecord {
        let state: ShareState
        switch wire.state {
        case .pendingAcceptance: state = .pendingAcceptance
        case .active: state = .active
        case .rejected: state = .rejected
        case .expired: state = .expired
        case .revoked: state = .revoked
        case .deleted: state = .deleted
        case .consumed: state = .consumed
        case .unspecified, .UNRECOGNIZED:
            throw SVXClientError(.malformedResponse, "share \(wire.shareID) has no state this client knows")
        }
        let mode: ShareOnwardMode
        switch wire.sharingMode {
        case .owner, .unspecified: mode = .owner
        case .anyone: mode = .anyone
        case .UNRECOGNIZED:
            throw SVXClientError(.malformedResponse, "share \(wire.shareID) has a sharing mode this client does not know")
        }
        func optional(_ text: String) -> String? { text.isEmpty ? nil : text }
        func date(_ milliseconds: UInt64) -> Date? { milliseconds == 0 ? nil : Date(wireMilliseconds: milliseconds) }
        return ShareRecord(
            id: wire.shareID, ownerID: optional(wire.ownerID), senderID: wire.senderID, senderUsername: wire.senderUsername,
            recipientID: wire.recipientID, recipientUsername: wire.recipientUsername,
            senderConnectionID: optional(wire.senderConnectionID), recipientConnectionID: optional(wire.recipientConnectionID),
            itemID: wire.itemID, slotID: optional(wire.slotID), parentShareID: optional(wire.parentShareID),
            depth: Int(wire.depth), itemLabel: wire.itemLabel, templateName: wire.templateName, itemVersion: wire.itemVersion,
            onwardMode: mode, acceptanceRequired: wire.acceptanceRequired, state: state, expiresAt: date(wire.expiresAtMs),
            maximumContentFetches: Int(wire.maxContentFetches), contentFetches: Int(wire.contentFetches),
            firstFetchedAt: date(wire.firstFetchedAtMs), lastFetchedAt: date(wire.lastFetchedAtMs),
            createdAt: Date(wireMilliseconds: wire.createdAtMs), acceptedAt: date(wire.acceptedAtMs),
            updatedAt: date(wire.updatedAtMs), endedAt: date(wire.endedAtMs), endReason: optional(wire.endReason),
            recipientKeypairID: wire.recipientKeypairID, recipientKeySHA256: wire.recipientKeySha256)
    }

    static func wire(_ state: ShareState) -> Svx_Sharing_V1_ShareState {
        switch state {
        case .pendingAcceptance: .pendingAcceptance
        case .active: .active
        case .rejected: .rejected
        case .expired: .expired
        case .revoked: .revoked
        case .deleted: .deleted
        case .consumed: .consumed
        }
    }

    static func wire(_ mode: ShareOnwardMode) -> Svx_Sharing_V1_SharingMode {
        switch mode {
        case .owner: .owner
        case .anyone: .anyone
        }
    }
}
