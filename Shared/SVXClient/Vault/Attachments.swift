import Cryppo
import Foundation
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC

/// What the client keeps about a file in its attachment's `encrypted_metadata` (JSON, encrypted with the
/// attachment's DEK): the Vault sees none of it. This JSON is svx's own format (Meeco's SDK keeps no such record).
///
/// A download is refused unless the metadata is there and its size, the Vault's size and the bytes decrypted agree,
/// and `sha256`, when present, is the digest of the blocks in the order they are written.
public struct AttachmentMetadata: Sendable, Codable, Equatable {
    public var fileName: String
    public var size: UInt64
    public var mediaType: String
    /// Lowercase hex SHA-256 of the whole plaintext (`sha256` in the JSON). Written with every attachment since
    /// integrity checks were added; nil in older ones, whose block order cannot be checked.
    public var sha256: String?

    public init(fileName: String, size: UInt64, mediaType: String, sha256: String? = nil) {
        self.fileName = fileName
        self.size = size
        self.mediaType = mediaType
        self.sha256 = sha256
    }

    private enum CodingKeys: String, CodingKey {
        case fileName = "file_name"
        case size
        case mediaType = "media_type"
        case sha256
    }
}

/// A file put in an item: the item as updated, and the attachment slot that holds the file.
public struct AttachedFile: Sendable {
    public let item: DecryptedItem
    public let slot: DecryptedSlot
}

/// Bytes done of bytes in all, after each block (called from the transfer's task, in order).
public typealias TransferProgress = @Sendable (_ done: UInt64, _ total: UInt64) -> Void

/// Files in attachment slots (vault.proto, "Attachments"; reference/meeco-compat.md §4): each file has its own
/// 32-byte DEK, wrapped by the private DEK; the file is encrypted in 1 MiB blocks, each `Aes256Gcm` with its own IV
/// under that DEK, and moved one block per call with a few calls in flight. Neither direction holds the whole file
/// in memory: at most ``VaultClient/blocksInFlight`` blocks (and their ciphertexts) at a time.
extension VaultClient {
    /// Plaintext bytes per block, fixed by the contract.
    public static let attachmentBlockSize = 1_048_576
    /// The largest attachment the Vault takes.
    public static let maximumAttachmentSize: UInt64 = 256 << 20
    /// Block calls in flight at once: enough to hide the round trip, few enough to bound memory and the Vault's load.
    public static let blocksInFlight = 4

    /// Encrypts and uploads the file at `fileURL`, then puts it in the slot `slotName` of item `itemID` (type
    /// `attachment`, value the file's name), added or replacing an attachment slot of that name. Returns the item as
    /// updated.
    ///
    /// Slot labels are stored in clear, so the file's name is never one by default: it is kept only in the encrypted
    /// value and metadata. `slotName` nil derives the name from `slotLabel`; with neither, the file goes to a new
    /// slot `attachment` (or `attachment_2`, ...) labelled "Attachment" ("Attachment 2", ...). A replaced slot keeps
    /// its label unless `slotLabel` gives one.
    ///
    /// If the item changes while the file is uploading, the slot is put in again on the new version (a few times).
    /// If this fails after the upload started, the unfinished or unused attachment is left to the Vault, which
    /// deletes it after a day.
    public func attachFile(
        session: AuthenticatedSession, keys: UnlockedKeys, itemID: String, slotName: String? = nil,
        slotLabel: String? = nil, fileURL: URL, mediaType: String? = nil, progress: TransferProgress = { _, _ in }
    ) async throws -> AttachedFile {
        let fileName = fileURL.lastPathComponent
        // The slot is checked before anything is uploaded: a slot of another type is never silently replaced.
        let before = try await item(session: session, keys: keys, id: itemID)
        let (firstName, firstLabel) = Self.attachmentSlot(in: before, name: slotName, label: slotLabel)
        guard SlotName.isValid(firstName) else {
            throw SVXClientError(
                .invalidInput, "slot name \"\(firstName)\" is not valid: 1..\(SlotName.maximumLength) of a-z, 0-9 and _")
        }
        try Self.checkAttachmentSlot(before, name: firstName)

        let file = try BlockFileReader(url: fileURL)
        guard file.size <= Self.maximumAttachmentSize else {
            throw SVXClientError(.invalidInput, "\(fileName) is \(file.size) bytes; an attachment is at most 256 MiB")
        }
        // The Vault takes 1 byte to 256 MiB (an empty block is not a block it stores).
        guard file.size > 0 else { throw SVXClientError(.invalidInput, "\(fileName) is empty: there is nothing to attach") }
        // The digest goes into the metadata, which the Vault takes before the first block: one pass to hash the
        // file, one to encrypt it (which hashes it again, so a file changed in between is never finished).
        let digest = try Self.sha256(of: file)
        let attachmentID = try await upload(
            session: session, keys: keys, file: file,
            metadata: AttachmentMetadata(
                fileName: fileName, size: file.size, mediaType: mediaType ?? Self.mediaType(forFileName: fileName),
                sha256: Hex.encode(digest)),
            digest: digest, progress: progress)

        var current = before
        var (name, label) = (firstName, firstLabel)
        for attempt in 1...3 {
            var slot = Svx_Vault_V1_SlotInput()
            slot.name = name
            slot.label = label
            slot.slotType = SlotType.attachment.rawValue
            slot.encryptedValue = try SlotCrypto.encrypt(fileName, key: keys.privateDEK)
            slot.attachmentID = attachmentID
            var request = Svx_Vault_V1_UpdateItemRequest()
            request.itemID = itemID
            request.expectedVersion = current.version
            request.upsertSlots = [slot]
            do {
                let response = try await vault.call(VaultRPC.updateItem, request, sessionToken: session.token, timeout: timeout)
                let updated = try SlotCrypto.decrypt(response.item, key: keys.privateDEK)
                guard let attached = updated.slot(named: name), attached.attachmentID == attachmentID else {
                    throw SVXClientError(.malformedResponse, "the Vault's answer does not hold the attachment in slot \(name)")
                }
                return AttachedFile(item: updated, slot: attached)
            } catch let status as RPCStatus where status.code == .aborted && attempt < 3 {
                // Someone else changed the item: the slot is chosen and checked again on the version now there.
                current = try await item(session: session, keys: keys, id: itemID)
                (name, label) = Self.attachmentSlot(in: current, name: slotName, label: slotLabel)
                try Self.checkAttachmentSlot(current, name: name)
            }
        }
        throw SVXClientError(.invalidInput, "item \(itemID) kept changing while the attachment was put in it")
    }

    /// Decrypts the file in attachment slot `slotName` of item `itemID` into `destination` (mode 0600). An existing
    /// file is refused unless `overwrite`; a failed download leaves nothing under the destination's name.
    ///
    /// Nothing the Vault says is taken on trust: the attachment's encrypted metadata must be there, its size must be
    /// the Vault's and its file name the slot's; every block is checked (GCM tag and size), the total must be that
    /// size, and the SHA-256 of the blocks in order must be the metadata's before the file gets its name. Any
    /// disagreement is ``SVXClientError/Code/integrityFailed``. An attachment written before svx recorded digests
    /// (``AttachmentMetadata/sha256`` nil in the result) passes on the size checks alone: the order of its blocks is
    /// not checked.
    @discardableResult
    public func downloadAttachment(
        session: AuthenticatedSession, keys: UnlockedKeys, itemID: String, slotName: String, to destination: URL,
        overwrite: Bool = false, progress: TransferProgress = { _, _ in }
    ) async throws -> AttachmentMetadata {
        let item = try await item(session: session, keys: keys, id: itemID)
        guard let slot = item.slot(named: slotName) else {
            throw SVXClientError(.invalidInput, "item \(itemID) has no slot \(slotName)")
        }
        guard slot.type == .attachment, let attachmentID = slot.attachmentID else {
            throw SVXClientError(.invalidInput, "slot \(slotName) of item \(itemID) holds no attachment")
        }
        let (attachment, dek) = try await attachmentKey(session: session, keys: keys, attachmentID: attachmentID)
        return try await Self.download(
            attachmentID: attachmentID,
            announced: AnnouncedAttachment(
                encryptedMetadata: attachment.encryptedMetadata, plaintextSize: attachment.plaintextSize,
                blockCount: attachment.blockCount, blockSize: attachment.blockSize),
            key: dek, slotName: slotName, slotValue: slot.value, to: destination, overwrite: overwrite, progress: progress
        ) { index in
            try await self.downloadBlock(session: session, attachmentID: attachmentID, index: index)
        }
    }

    /// The caller's complete attachment `attachmentID` and its own DEK, unwrapped with the private DEK (what a
    /// download decrypts with, and what a share carries under the share's DEK).
    func attachmentKey(
        session: AuthenticatedSession, keys: UnlockedKeys, attachmentID: String
    ) async throws -> (Svx_Vault_V1_Attachment, SymmetricKey) {
        var get = Svx_Vault_V1_GetAttachmentRequest()
        get.attachmentID = attachmentID
        let attachment = try await vault.call(VaultRPC.getAttachment, get, sessionToken: session.token, timeout: timeout).attachment
        guard attachment.complete else {
            throw SVXClientError(.malformedResponse, "attachment \(attachmentID) is not complete")
        }
        var dekBytes = try KeyringClient.unwrap(
            attachment.wrappedDek, with: keys.privateDEK, what: "the key of attachment \(attachmentID)", bytes: 32)
        defer { secureZero(&dekBytes) }
        return (attachment, SymmetricKey(bytes: dekBytes))
    }

    /// What a service says of an attachment before its blocks: its encrypted metadata and its layout.
    struct AnnouncedAttachment: Sendable {
        let encryptedMetadata: String
        let plaintextSize: UInt64
        let blockCount: UInt32
        let blockSize: UInt32
    }

    /// The checked download both the owner's and a share recipient's go through: the metadata decrypted with `key` and
    /// checked against `announced` and the slot's value (``AttachmentExpectation``), then every block fetched with
    /// `fetchBlock` (its Cryppo string; a few in flight), decrypted, checked and written in order to a temporary file
    /// that gets `destination`'s name only once the size and the digest agree.
    static func download(
        attachmentID: String, announced: AnnouncedAttachment, key dek: SymmetricKey, slotName: String, slotValue: String?,
        to destination: URL, overwrite: Bool, progress: TransferProgress,
        fetchBlock: @escaping @Sendable (Int) async throws -> String
    ) async throws -> AttachmentMetadata {
        let metadata = try AttachmentMetadata.decrypt(announced.encryptedMetadata, key: dek, attachmentID: attachmentID)
        let expectation = try AttachmentExpectation.check(
            attachmentID: attachmentID, announcedSize: announced.plaintextSize, blockCount: announced.blockCount,
            blockSize: announced.blockSize, metadata: metadata, slotName: slotName, slotValue: slotValue)
        let verifier = AttachmentVerifier(attachmentID: attachmentID, expectation: expectation)
        let blockCount = expectation.blockSizes.count

        let file = try DownloadFile(destination: destination, overwrite: overwrite)
        defer { file.abandon() }
        progress(0, expectation.size)
        try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            var next = 0
            var ready: [Int: [UInt8]] = [:]
            var written = 0
            // A window of blocks in flight; they are checked and written in order as soon as the next one is there.
            while written < blockCount {
                while next < blockCount && next < written + Self.blocksInFlight {
                    let index = next
                    group.addTask {
                        let encrypted = try await fetchBlock(index)
                        do {
                            return (index, try Cryppo.decrypt(encrypted, key: dek))
                        } catch {
                            throw SVXClientError(
                                .keyUnwrapFailed, "block \(index) of attachment \(attachmentID) does not decrypt with its key")
                        }
                    }
                    next += 1
                }
                guard let (index, block) = try await group.next() else { break }
                ready[index] = block
                while let block = ready.removeValue(forKey: written) {
                    try verifier.add(index: written, block: block)
                    try file.write(block)
                    written += 1
                    progress(file.written, expectation.size)
                }
            }
        }
        // Size and digest, before the file is given its name (`file.abandon` removes it otherwise).
        try verifier.finish()
        guard file.written == expectation.size else {
            throw SVXClientError(
                .integrityFailed, "attachment \(attachmentID) decrypted to \(file.written) bytes, not \(expectation.size)")
        }
        try file.commit(overwrite: overwrite)
        return metadata
    }

    // MARK: Upload

    /// CreateAttachment, every block (a few in flight), FinishAttachment; returns the complete attachment's id. The
    /// blocks read must hash to `digest` (the one in `metadata`), else the attachment is left unfinished.
    private func upload(
        session: AuthenticatedSession, keys: UnlockedKeys, file: BlockFileReader, metadata: AttachmentMetadata,
        digest: [UInt8], progress: TransferProgress
    ) async throws -> String {
        let blockSize = Self.attachmentBlockSize
        let blockCount = max(1, Int((file.size + UInt64(blockSize) - 1) / UInt64(blockSize)))
        let dek = try SymmetricKey.random()
        var create = Svx_Vault_V1_CreateAttachmentRequest()
        // Wrapped straight from the key's own wiped storage: no unwiped copy of the DEK.
        create.wrappedDek = try dek.withUnsafeBytes { try Cryppo.encrypt(bytes: $0, key: keys.privateDEK) }
        create.encryptedMetadata = try Cryppo.encrypt(try metadata.encoded(), key: dek)
        create.plaintextSize = file.size
        create.blockCount = UInt32(blockCount)
        create.blockSize = UInt32(blockSize)
        let attachmentID = try await vault.call(
            VaultRPC.createAttachment, create, sessionToken: session.token, timeout: timeout
        ).attachment.attachmentID

        progress(0, file.size)
        let sent = StreamingDigest(.sha256)
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0
            var inFlight = 0
            var done: UInt64 = 0
            while next < blockCount || inFlight > 0 {
                if next < blockCount && inFlight < Self.blocksInFlight {
                    // Read and hash here, in order; encrypt and send in the child task.
                    let offset = UInt64(next) * UInt64(blockSize)
                    let plaintext = try file.read(offset: offset, count: Int(min(UInt64(blockSize), file.size - offset)))
                    sent.update(plaintext)
                    let index = next
                    group.addTask {
                        var request = Svx_Vault_V1_UploadAttachmentBlockRequest()
                        request.attachmentID = attachmentID
                        request.index = UInt32(index)
                        request.encryptedBlock = try Cryppo.encrypt(plaintext, key: dek)
                        _ = try await self.vault.call(
                            VaultRPC.uploadAttachmentBlock, request, sessionToken: session.token, timeout: self.timeout)
                        return plaintext.count
                    }
                    next += 1
                    inFlight += 1
                } else if let count = try await group.next() {
                    inFlight -= 1
                    done += UInt64(count)
                    progress(done, file.size)
                }
            }
        }
        // What was sent is what the metadata's digest says, or the file changed between the two reads.
        guard ConstantTime.equals(sent.finish(), digest) else {
            throw SVXClientError(.invalidInput, "\(file.path) changed while it was being read: attach it again")
        }
        var finish = Svx_Vault_V1_FinishAttachmentRequest()
        finish.attachmentID = attachmentID
        _ = try await vault.call(VaultRPC.finishAttachment, finish, sessionToken: session.token, timeout: timeout)
        return attachmentID
    }

    // MARK: Download

    /// Block `index` of the caller's attachment, as its Cryppo string.
    private func downloadBlock(session: AuthenticatedSession, attachmentID: String, index: Int) async throws -> String {
        var request = Svx_Vault_V1_GetAttachmentBlockRequest()
        request.attachmentID = attachmentID
        request.index = UInt32(index)
        return try await vault.call(
            VaultRPC.getAttachmentBlock, request, sessionToken: session.token, timeout: timeout
        ).encryptedBlock
    }

    /// SHA-256 of the whole file, read a block at a time.
    private static func sha256(of file: BlockFileReader) throws -> [UInt8] {
        let digest = StreamingDigest(.sha256)
        var offset: UInt64 = 0
        while offset < file.size {
            let count = Int(min(UInt64(attachmentBlockSize), file.size - offset))
            digest.update(try file.read(offset: offset, count: count))
            offset += UInt64(count)
        }
        return digest.finish()
    }

    /// The name and label of the slot a file goes to (see ``attachFile(session:keys:itemID:slotName:slotLabel:fileURL:mediaType:progress:)``).
    static func attachmentSlot(in item: DecryptedItem, name: String?, label: String?) -> (name: String, label: String) {
        if let name { return (name, label ?? item.slot(named: name)?.label ?? "Attachment") }
        if let label { return (SlotName.derive(fromLabel: label), label) }
        var number = 1
        while item.slot(named: number == 1 ? "attachment" : "attachment_\(number)") != nil { number += 1 }
        return number == 1 ? ("attachment", "Attachment") : ("attachment_\(number)", "Attachment \(number)")
    }

    /// A slot `name` in `item` may receive a file only if it is absent or already an attachment slot.
    private static func checkAttachmentSlot(_ item: DecryptedItem, name: String) throws {
        if let existing = item.slot(named: name), existing.type != .attachment {
            throw SVXClientError(
                .invalidInput, "slot \(name) of item \(item.id) is a \(existing.type.rawValue) slot, not an attachment: choose another slot name")
        }
    }

    /// A media type from the file name's extension (the common ones; else `application/octet-stream`).
    public static func mediaType(forFileName name: String) -> String {
        let types = [
            "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
            "webp": "image/webp", "heic": "image/heic", "svg": "image/svg+xml", "txt": "text/plain", "csv": "text/csv",
            "json": "application/json", "xml": "application/xml", "html": "text/html", "zip": "application/zip",
            "doc": "application/msword", "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "xls": "application/vnd.ms-excel", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "mp3": "audio/mpeg", "mp4": "video/mp4", "mov": "video/quicktime",
        ]
        let ext = (name as NSString).pathExtension.lowercased()
        return types[ext] ?? "application/octet-stream"
    }
}
