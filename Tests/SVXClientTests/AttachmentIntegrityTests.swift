import Cryppo
import Foundation
import Testing

@testable import SVXClient

/// The checks a download makes before it gives a file its name (security review M1), without a service: the
/// metadata against the Vault's announcement and the slot, and the blocks against the metadata's size and digest.
@Suite struct AttachmentIntegrityTests {
    static let block = VaultClient.attachmentBlockSize
    /// Three blocks: two full ones that differ, and a short last one.
    static let blocks: [[UInt8]] = [
        [UInt8](repeating: 0xA1, count: block), [UInt8](repeating: 0xB2, count: block), [UInt8](repeating: 0xC3, count: 12_345),
    ]
    static let size = UInt64(2 * block + 12_345)
    static let digest = HashFunction.sha256.hash(parts: blocks)
    static let metadata = AttachmentMetadata(
        fileName: "scan.pdf", size: size, mediaType: "application/pdf", sha256: Hex.encode(digest))

    func expectation(
        size: UInt64 = Self.size, blockCount: UInt32 = 3, blockSize: UInt32 = UInt32(Self.block),
        metadata: AttachmentMetadata = Self.metadata, slotValue: String? = "scan.pdf"
    ) throws -> AttachmentExpectation {
        try AttachmentExpectation.check(
            attachmentID: "a1", announcedSize: size, blockCount: blockCount, blockSize: blockSize, metadata: metadata,
            slotName: "scan", slotValue: slotValue)
    }

    func expectIntegrityFailure(
        _ what: String, code: SVXClientError.Code = .integrityFailed, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () throws -> Void
    ) {
        do {
            try body()
            Issue.record("\(what): accepted", sourceLocation: sourceLocation)
        } catch let error as SVXClientError {
            #expect(error.code == code, "\(what): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): \(error)", sourceLocation: sourceLocation)
        }
    }

    /// Adds `blocks` in order as the download does (index = position) and finishes.
    func verify(_ blocks: [[UInt8]], against expectation: AttachmentExpectation) throws {
        let verifier = AttachmentVerifier(attachmentID: "a1", expectation: expectation)
        for (index, block) in blocks.enumerated() { try verifier.add(index: index, block: block) }
        try verifier.finish()
    }

    @Test func anHonestAttachmentPasses() throws {
        let expected = try expectation()
        #expect(expected == AttachmentExpectation(size: Self.size, blockSizes: [Self.block, Self.block, 12_345], sha256: Self.digest))
        try verify(Self.blocks, against: expected)
        // One block exactly, and one byte.
        let one = AttachmentMetadata(
            fileName: "x", size: UInt64(Self.block), mediaType: "", sha256: Hex.encode(HashFunction.sha256.hash(Self.blocks[0])))
        try verify([Self.blocks[0]], against: try expectation(size: UInt64(Self.block), blockCount: 1, metadata: one, slotValue: "x"))
        let byte = AttachmentMetadata(fileName: "x", size: 1, mediaType: "", sha256: Hex.encode(HashFunction.sha256.hash([7])))
        try verify([[7]], against: try expectation(size: 1, blockCount: 1, metadata: byte, slotValue: "x"))
    }

    @Test func theVaultsSizeAndLayoutMustBeTheMetadatas() {
        // (a) A shorter file announced: size and block count shrunk together, or the size alone.
        expectIntegrityFailure("2 of 3 blocks") { _ = try expectation(size: UInt64(2 * Self.block), blockCount: 2) }
        expectIntegrityFailure("size alone") { _ = try expectation(size: Self.size - 1) }
        expectIntegrityFailure("a longer file") { _ = try expectation(size: Self.size + 1) }
        // The size agrees, the layout does not.
        expectIntegrityFailure("block count") { _ = try expectation(blockCount: 2) }
        expectIntegrityFailure("block count") { _ = try expectation(blockCount: 4) }
        expectIntegrityFailure("block size") { _ = try expectation(blockSize: UInt32(Self.block / 2)) }
        // A metadata that itself says nothing or too much (only a key holder writes one, but it is still checked).
        var empty = Self.metadata
        empty.size = 0
        expectIntegrityFailure("empty") { _ = try expectation(size: 0, blockCount: 1, metadata: empty) }
        var huge = Self.metadata
        huge.size = VaultClient.maximumAttachmentSize + 1
        expectIntegrityFailure("too big") { _ = try expectation(size: huge.size, blockCount: 257, metadata: huge) }
    }

    @Test func theSlotMustNameTheSameFile() {
        expectIntegrityFailure("another name") { _ = try expectation(slotValue: "other.pdf") }
        expectIntegrityFailure("no value") { _ = try expectation(slotValue: nil) }
        expectIntegrityFailure("case differs") { _ = try expectation(slotValue: "Scan.pdf") }
    }

    @Test func aDigestThatIsNotHexIsMalformed() {
        for bad in ["", "00", String(repeating: "g", count: 64), String(repeating: "0", count: 65)] {
            var metadata = Self.metadata
            metadata.sha256 = bad
            expectIntegrityFailure("digest \(bad)", code: .malformedResponse) { _ = try expectation(metadata: metadata) }
        }
    }

    @Test func blocksOutOfOrderRepeatedOrMissingAreRefused() throws {
        let expected = try expectation()
        let (a, b, c) = (Self.blocks[0], Self.blocks[1], Self.blocks[2])
        // (b) Two full blocks swapped: every size is right, only the digest sees it.
        expectIntegrityFailure("swapped") { try verify([b, a, c], against: expected) }
        // (c) A block served twice.
        expectIntegrityFailure("repeated") { try verify([a, a, c], against: expected) }
        expectIntegrityFailure("repeated last") { try verify([a, b, c, c], against: expected) }
        // Missing blocks, or a block of another size.
        expectIntegrityFailure("missing last") { try verify([a, b], against: expected) }
        expectIntegrityFailure("short block") { try verify([a, Array(b.dropLast()), c], against: expected) }
        expectIntegrityFailure("long last block") { try verify([a, b, c + [0]], against: expected) }
        // A block replaced by another of the same size.
        var changed = b
        changed[500] ^= 1
        expectIntegrityFailure("one bit") { try verify([a, changed, c], against: expected) }
        // The verifier takes blocks in order only.
        let verifier = AttachmentVerifier(attachmentID: "a1", expectation: expected)
        expectIntegrityFailure("index 1 first") { try verifier.add(index: 1, block: b) }
    }

    /// Attachments written before digests: the sizes are checked, the order cannot be (documented in ADR-005).
    @Test func anAttachmentWithoutDigestIsCheckedOnSizesOnly() throws {
        var legacy = Self.metadata
        legacy.sha256 = nil
        let expected = try expectation(metadata: legacy)
        #expect(expected.sha256 == nil)
        try verify(Self.blocks, against: expected)
        try verify([Self.blocks[1], Self.blocks[0], Self.blocks[2]], against: expected)  // the limit that remains
        expectIntegrityFailure("missing last") { try verify(Array(Self.blocks.prefix(2)), against: expected) }
        expectIntegrityFailure("shrunk") { _ = try expectation(size: UInt64(2 * Self.block), blockCount: 2, metadata: legacy) }
    }

    @Test func metadataJSON() throws {
        let json = try JSONSerialization.jsonObject(with: Data(try Self.metadata.encoded())) as? [String: Any]
        #expect(json.map { Set($0.keys) } == ["file_name", "size", "media_type", "sha256"])
        #expect(json?["sha256"] as? String == Hex.encode(Self.digest))
        // The JSON of attachments written before digests still reads, without one.
        let old = try JSONDecoder().decode(
            AttachmentMetadata.self, from: Data(#"{"file_name":"a.txt","size":3,"media_type":"text/plain"}"#.utf8))
        #expect(old == AttachmentMetadata(fileName: "a.txt", size: 3, mediaType: "text/plain"))
        #expect(old.sha256 == nil)
        #expect(!String(decoding: try old.encoded(), as: UTF8.self).contains("sha256"))
    }

    @Test func metadataMustBeThereAndOpenWithTheAttachmentsKey() throws {
        let key = try SymmetricKey.random()
        let encrypted = try Cryppo.encrypt(try Self.metadata.encoded(), key: key)
        #expect(try AttachmentMetadata.decrypt(encrypted, key: key, attachmentID: "a1") == Self.metadata)
        // (d) No metadata at all.
        expectIntegrityFailure("absent") { _ = try AttachmentMetadata.decrypt("", key: key, attachmentID: "a1") }
        expectIntegrityFailure("another key", code: .keyUnwrapFailed) {
            _ = try AttachmentMetadata.decrypt(encrypted, key: try SymmetricKey.random(), attachmentID: "a1")
        }
        let notJSON = try Cryppo.encrypt(Array("file.bin".utf8), key: key)
        expectIntegrityFailure("not JSON", code: .malformedResponse) {
            _ = try AttachmentMetadata.decrypt(notJSON, key: key, attachmentID: "a1")
        }
    }
}
