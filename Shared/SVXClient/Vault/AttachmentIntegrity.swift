import Cryppo
import Foundation

/// What a downloaded file must be, taken from the attachment's encrypted metadata (which only a holder of the
/// attachment's DEK can write) and checked against what the Vault says about the attachment and what the slot says.
///
/// Each block is authenticated on its own (AES-GCM with Meeco's fixed AAD `none`), so the Vault could announce a
/// shorter file, or serve blocks in another order or twice, without failing a tag. The expectation closes that:
/// the metadata must be there and agree with the Vault's size and layout and with the slot's file name, and its
/// SHA-256 of the whole plaintext (``AttachmentMetadata/sha256``) must match the blocks as they are written.
struct AttachmentExpectation: Sendable, Equatable {
    /// Plaintext bytes of the file.
    let size: UInt64
    /// Plaintext bytes of each block, in order.
    let blockSizes: [Int]
    /// SHA-256 of the whole plaintext; nil for an attachment written before svx recorded one (its size and every
    /// block's size are checked, the order of its blocks is not).
    let sha256: [UInt8]?

    /// Checks `metadata` against the Vault's announcement (`announcedSize` bytes in `blockCount` blocks of
    /// `blockSize`) and the slot's decrypted value; any disagreement is ``SVXClientError/Code/integrityFailed``.
    static func check(
        attachmentID: String, announcedSize: UInt64, blockCount: UInt32, blockSize: UInt32, metadata: AttachmentMetadata,
        slotName: String, slotValue: String?
    ) throws -> AttachmentExpectation {
        guard metadata.size == announcedSize else {
            throw SVXClientError(
                .integrityFailed,
                "attachment \(attachmentID): the Vault announces \(announcedSize) bytes, its encrypted metadata \(metadata.size)")
        }
        let size = metadata.size
        let fixedBlockSize = UInt64(VaultClient.attachmentBlockSize)
        let count = Int(blockCount)
        guard UInt64(blockSize) == fixedBlockSize, size >= 1, size <= VaultClient.maximumAttachmentSize,
            count == Int((size + fixedBlockSize - 1) / fixedBlockSize)
        else {
            throw SVXClientError(
                .integrityFailed,
                "attachment \(attachmentID) has an impossible layout: \(size) bytes in \(count) blocks of \(blockSize)")
        }
        // The slot's value is the file's name, encrypted by the client with the private DEK (never in clear).
        guard let slotValue, slotValue == metadata.fileName else {
            throw SVXClientError(
                .integrityFailed,
                "attachment \(attachmentID) holds another file than slot \(slotName) names (the file names differ)")
        }
        let digest: [UInt8]?
        if let hex = metadata.sha256 {
            guard hex.utf8.count == 64, let bytes = try? Hex.decode(hex) else {
                throw SVXClientError(.malformedResponse, "the digest in the metadata of attachment \(attachmentID) is not 64 hex digits")
            }
            digest = bytes
        } else {
            digest = nil
        }
        let sizes = (0..<count).map { index in Int(min(fixedBlockSize, size - UInt64(index) * fixedBlockSize)) }
        return AttachmentExpectation(size: size, blockSizes: sizes, sha256: digest)
    }
}

/// Checks the decrypted blocks of one download, given in order, against an ``AttachmentExpectation``: each block's
/// size as it arrives, and the total and the digest at the end, before the file is given its name.
final class AttachmentVerifier {
    let attachmentID: String
    let expectation: AttachmentExpectation
    private let digest = StreamingDigest(.sha256)
    private(set) var blocks = 0
    private(set) var bytes: UInt64 = 0

    init(attachmentID: String, expectation: AttachmentExpectation) {
        self.attachmentID = attachmentID
        self.expectation = expectation
    }

    /// Block `index` (0-based), checked before it is written: it must be the next one and have its size.
    func add(index: Int, block: [UInt8]) throws {
        guard index == blocks, index < expectation.blockSizes.count else {
            throw SVXClientError(.integrityFailed, "attachment \(attachmentID): block \(index) out of order")
        }
        guard block.count == expectation.blockSizes[index] else {
            throw SVXClientError(
                .integrityFailed,
                "block \(index) of attachment \(attachmentID) holds \(block.count) bytes, not \(expectation.blockSizes[index])")
        }
        digest.update(block)
        blocks += 1
        bytes += UInt64(block.count)
    }

    /// Every block was added, they add up to the file's size and, when the metadata has one, to its digest.
    func finish() throws {
        guard blocks == expectation.blockSizes.count, bytes == expectation.size else {
            throw SVXClientError(
                .integrityFailed, "attachment \(attachmentID) decrypted to \(bytes) bytes, not \(expectation.size)")
        }
        let actual = digest.finish()
        if let expected = expectation.sha256, !ConstantTime.equals(actual, expected) {
            throw SVXClientError(
                .integrityFailed,
                "the blocks of attachment \(attachmentID) do not make up the file that was attached (blocks reordered, repeated or replaced)")
        }
    }
}

extension AttachmentMetadata {
    /// Decrypts and reads an attachment's `encrypted_metadata`. It must be there: svx writes it with every
    /// attachment, and without it nothing tells the client how big the file is.
    static func decrypt(_ encrypted: String, key: SymmetricKey, attachmentID: String) throws -> AttachmentMetadata {
        guard !encrypted.isEmpty else {
            throw SVXClientError(
                .integrityFailed, "attachment \(attachmentID) comes without its encrypted metadata (size, name, digest): refused")
        }
        let bytes: [UInt8]
        do {
            bytes = try Cryppo.decrypt(encrypted, key: key)
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "the metadata of attachment \(attachmentID) does not decrypt with its key")
        }
        guard let metadata = try? JSONDecoder().decode(AttachmentMetadata.self, from: Data(bytes)) else {
            throw SVXClientError(.malformedResponse, "the metadata of attachment \(attachmentID) is not svx's JSON")
        }
        return metadata
    }

    /// The JSON encrypted into `encrypted_metadata`.
    func encoded() throws -> [UInt8] { Array(try JSONEncoder().encode(self)) }
}
