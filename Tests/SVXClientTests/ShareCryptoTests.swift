import Cryppo
import Foundation
import SVXProto
import Testing

@testable import SVXClient

/// The cryptography of shares without I/O (sharing.md §2.7, §4 T11, T24; reference/meeco-compat.md §1): the value
/// verification vectors, the refusal of a slot that does not verify, and a share made by the SDK read back with the
/// Cryppo core alone, as Meeco's libraries would.
@Suite struct ShareCryptoTests {
    /// The key of the vectors: bytes 00..3f.
    static let vectorKey = Array(UInt8(0)..<64)
    /// The recipient's connection key (the 4096-bit test key of the Cryppo suite).
    static let recipientPrivate = try! RSAPrivateKey(pem: SharingVectors.fixture("rsa4096-private.pem"))
    static let recipient = SharesClient.Recipient(
        connectionID: "0190d6f0-0000-7000-8000-000000000001", publicKey: try! recipientPrivate.publicKey,
        fingerprint: try! KeyFingerprint(publicKey: try! recipientPrivate.publicKey))
    static let next = try! RSAPrivateKey(pem: SharingVectors.fixture("rsa4096-other-private.pem"))

    // MARK: Vectors

    @Test func theHMACVectorsOfSharingAndMeecoCompat() {
        // meeco-compat.md §1.
        #expect(ShareCrypto.verificationHash(key: Self.vectorKey, value: "Toyota Corolla")
            == "98c1bf56d727968598a26c3fb00d988c06e5e31418d24423b0adaca053151e51")
        // sharing.md §2.7: the UTF-8 and the Latin-1 (Meeco's forge "raw") hashes of one value.
        #expect(ShareCrypto.verificationHash(key: Self.vectorKey, value: "Crème brûlée")
            == "52fd8c150600a19d315346d21603c06ba719bcc41b4610edc2e56bb64c26a571")
        #expect(ShareCrypto.latin1VerificationHash(key: Self.vectorKey, value: "Crème brûlée")
            == "24b88d19ae92363c7f4230f1e72d1431105104432ba32dacaa7b91c794fa0242")
        // ASCII: both are the same bytes.
        #expect(ShareCrypto.latin1VerificationHash(key: Self.vectorKey, value: "Toyota Corolla")
            == ShareCrypto.verificationHash(key: Self.vectorKey, value: "Toyota Corolla"))
        // Beyond U+00FF there is no Latin-1 form.
        #expect(ShareCrypto.latin1VerificationHash(key: Self.vectorKey, value: "Crème brûlée €") == nil)
    }

    @Test func verificationAcceptsUTF8ThenLatin1AndNothingElse() {
        let key = Self.vectorKey
        #expect(ShareCrypto.verify(
            value: "Crème brûlée", key: key, hash: "52fd8c150600a19d315346d21603c06ba719bcc41b4610edc2e56bb64c26a571") == .utf8)
        #expect(ShareCrypto.verify(
            value: "Crème brûlée", key: key, hash: "24b88d19ae92363c7f4230f1e72d1431105104432ba32dacaa7b91c794fa0242") == .latin1)
        #expect(ShareCrypto.verify(
            value: "Toyota Corolla", key: key, hash: "98c1bf56d727968598a26c3fb00d988c06e5e31418d24423b0adaca053151e51") == .utf8)
        // Another value, another key, the hash in capitals, cut short or empty: no match.
        #expect(ShareCrypto.verify(
            value: "Toyota Corolla ", key: key, hash: "98c1bf56d727968598a26c3fb00d988c06e5e31418d24423b0adaca053151e51") == nil)
        #expect(ShareCrypto.verify(
            value: "Toyota Corolla", key: Array(key.reversed()), hash: "98c1bf56d727968598a26c3fb00d988c06e5e31418d24423b0adaca053151e51") == nil)
        #expect(ShareCrypto.verify(
            value: "Toyota Corolla", key: key, hash: "98C1BF56D727968598A26C3FB00D988C06E5E31418D24423B0ADACA053151E51") == nil)
        #expect(ShareCrypto.verify(value: "Toyota Corolla", key: key, hash: "98c1bf56d727968598a26c3fb00d988c") == nil)
        #expect(ShareCrypto.verify(value: "Toyota Corolla", key: key, hash: "") == nil)
    }

    // MARK: Sealing and opening

    /// The owner's copy of a passport item for one recipient, as CreateShare carries it, with the metadata the
    /// service adds from the Vault.
    static func ownerShare(_ values: [(name: String, value: String?)]) throws -> (Svx_Sharing_V1_ShareRecipient, Svx_Sharing_V1_SharedItem) {
        let slots = values.enumerated().map { (id: "0190d6f0-0000-7000-8000-00000000010\($0.offset)", name: $0.element.name, value: $0.element.value) }
        let recipient = try SharesClient.seal(for: Self.recipient, options: ShareOptions(terms: "Only for the visa application")) { dek in
            try slots.compactMap { slot in try slot.value.map { try ShareCrypto.ownedSlot(id: slot.id, value: $0, dek: dek) } }
        }
        return (recipient, served(recipient, slots: slots.map { ($0.id, $0.name) }))
    }

    /// What GetIncomingShare serves for `recipient`'s slots: the service's metadata around the client's ciphertext.
    static func served(_ recipient: Svx_Sharing_V1_ShareRecipient, slots: [(id: String, name: String)], hashes: [String: String] = [:]) -> Svx_Sharing_V1_SharedItem {
        var item = Svx_Sharing_V1_SharedItem()
        item.label = "My passport"
        item.templateName = "passport"
        item.itemVersion = 3
        item.slots = slots.enumerated().map { index, slot in
            var served = recipient.slots.first { $0.slotID == slot.id } ?? Svx_Sharing_V1_ShareSlot()
            served.slotID = slot.id
            served.name = slot.name
            served.label = slot.name.capitalized
            served.slotType = "key_value"
            served.ordinal = Int32(index)
            if let hash = hashes[slot.id] { served.valueVerificationHash = hash }
            return served
        }
        return item
    }

    static func dek(_ recipient: Svx_Sharing_V1_ShareRecipient, _ key: RSAPrivateKey = recipientPrivate) throws -> SymmetricKey {
        try ShareCrypto.unwrap(recipient.encryptedDek, with: key, what: "the test share's key")
    }

    @Test func aShareOpensWithEveryValueVerified() throws {
        let (recipient, item) = try Self.ownerShare([
            ("passport_number", "PA1234567"), ("surname", "Liddell"), ("given_names", "Crème brûlée"), ("remarks", nil),
        ])
        // One slot per value: the empty one travels without a value.
        #expect(recipient.slots.count == 3)
        #expect(recipient.recipientKeySha256 == Self.recipient.fingerprint.hex)
        let (opened, slots) = try ShareCrypto.open(item, dek: try Self.dek(recipient), shareID: "s")
        #expect(opened.label == "My passport" && opened.itemVersion == 3)
        #expect(opened.slots.map(\.value) == ["PA1234567", "Liddell", "Crème brûlée", nil])
        #expect(opened.slots.map(\.verifiedAs) == [.utf8, .utf8, .utf8, nil])
        #expect(slots.compactMap(\.verificationKey).count == 3)
        // The terms open with their own key, wrapped for the same recipient.
        let termsKey = try ShareCrypto.unwrap(recipient.encryptedTermsKey, with: Self.recipientPrivate, what: "terms key")
        #expect(try ShareCrypto.decryptTerms(recipient.encryptedTerms, key: termsKey, shareID: "s") == "Only for the visa application")
        #expect(termsKey != (try Self.dek(recipient)))
    }

    @Test func aTamperedSlotIsRefusedByNameAndNothingIsShown() throws {
        let (recipient, item) = try Self.ownerShare([("passport_number", "PA1234567"), ("surname", "Liddell")])
        let dek = try Self.dek(recipient)

        // A value replaced by someone who holds the DEK (an on-sharer), under the same verification key and hash.
        var altered = item
        altered.slots[0].encryptedValue = try Cryppo.encrypt(Array("PA7654321".utf8), key: dek)
        #expect(throws: SVXClientError.self) { try ShareCrypto.open(altered, dek: dek, shareID: "s") }
        do {
            _ = try ShareCrypto.open(altered, dek: dek, shareID: "s-1")
            Issue.record("an altered value was shown")
        } catch let error as SVXClientError {
            #expect(error.code == .valueVerificationFailed)
            #expect(error.message.contains("share s-1") && error.message.contains("slot passport_number"), "\(error.message)")
            #expect(!error.message.contains("surname"), "only the slot that fails is named: \(error.message)")
            #expect(!error.message.contains("PA7654321") && !error.message.contains("PA1234567"), "no value in the message")
        }

        // A hash the server changed; a verification key removed; a value under another key; a value of another slot's
        // hash: each refused, naming the slot.
        var rehashed = item
        rehashed.slots[1].valueVerificationHash = ShareCrypto.verificationHash(key: Self.vectorKey, value: "Liddell")
        var keyless = item
        keyless.slots[1].encryptedValueVerificationKey = ""
        var foreign = item
        foreign.slots[1].encryptedValue = try Cryppo.encrypt(Array("Liddell".utf8), key: try SymmetricKey.random())
        var crossed = item
        crossed.slots[1].valueVerificationHash = item.slots[0].valueVerificationHash
        for (tampered, why) in [
            (rehashed, "does not match"), (keyless, "no verification key"), (foreign, "does not decrypt"), (crossed, "does not match"),
        ] {
            let error = try #require(throws: SVXClientError.self) { try ShareCrypto.open(tampered, dek: dek, shareID: "s") }
            #expect(error.code == .valueVerificationFailed && error.message.contains("slot surname") && error.message.contains(why), "\(error.message)")
        }

        // Both slots altered: both named.
        var both = altered
        both.slots[1].valueVerificationHash = item.slots[0].valueVerificationHash
        let error = try #require(throws: SVXClientError.self) { try ShareCrypto.open(both, dek: dek, shareID: "s") }
        #expect(error.message.contains("slot passport_number") && error.message.contains("slot surname"))
    }

    @Test func anOnShareCarriesTheOwnersVerificationKeyAndVerifiesAgainstTheOwnersHash() throws {
        let (recipient, item) = try Self.ownerShare([("passport_number", "PA1234567"), ("given_names", "Crème brûlée")])
        let (_, opened) = try ShareCrypto.open(item, dek: try Self.dek(recipient), shareID: "parent")
        let ownerHashes = Dictionary(uniqueKeysWithValues: item.slots.map { ($0.slotID, $0.valueVerificationHash) })

        // Bob on-shares to Carol: a fresh DEK, the same vvk, no hash; the service copies the owner's.
        let carol = SharesClient.Recipient(
            connectionID: "c", publicKey: try Self.next.publicKey, fingerprint: try KeyFingerprint(publicKey: try Self.next.publicKey))
        let onShare = try SharesClient.seal(for: carol, options: ShareOptions()) { dek in
            try opened.map { try ShareCrypto.onSharedSlot($0, dek: dek) }
        }
        #expect(onShare.slots.allSatisfy { $0.valueVerificationHash.isEmpty && !$0.encryptedValue.isEmpty })
        #expect(onShare.encryptedTerms.isEmpty && onShare.encryptedTermsKey.isEmpty)
        let carolsDEK = try Self.dek(onShare, Self.next)
        #expect(carolsDEK != (try Self.dek(recipient)))
        let served = Self.served(onShare, slots: item.slots.map { ($0.slotID, $0.name) }, hashes: ownerHashes)
        let (carolSees, _) = try ShareCrypto.open(served, dek: carolsDEK, shareID: "on-share")
        #expect(carolSees.slots.map(\.value) == ["PA1234567", "Crème brûlée"])

        // Bob alters a value before on-sharing (and even gives it its own verification key): Carol's SDK refuses it.
        var altered = onShare
        let forged = try SymmetricKey.random(byteCount: 64)
        altered.slots[0].encryptedValue = try Cryppo.encrypt(Array("PA0000000".utf8), key: carolsDEK)
        altered.slots[0].encryptedValueVerificationKey = try Cryppo.encrypt(forged.bytes, key: carolsDEK)
        let refused = Self.served(altered, slots: item.slots.map { ($0.slotID, $0.name) }, hashes: ownerHashes)
        let error = try #require(throws: SVXClientError.self) { try ShareCrypto.open(refused, dek: carolsDEK, shareID: "on-share") }
        #expect(error.code == .valueVerificationFailed && error.message.contains("slot passport_number"))
        #expect(!error.message.contains("given_names"))
    }

    /// A file's key travels under the share's DEK, to the recipient and on to the next one; a slot whose file comes
    /// without its key (or its key without the file, or a key of another size) is refused by name like a bad value.
    @Test func aFileKeyTravelsUnderTheShareDEKAndIsCheckedLikeAValue() throws {
        let dek = try SymmetricKey.random()
        let fileKey = try SymmetricKey.random()
        let file = ShareCrypto.SharedFile(attachmentID: "0190f0d4-0000-7000-8000-000000000001", key: fileKey)
        var withValue = try ShareCrypto.ownedSlot(id: "s1", value: "scan.pdf", file: file, dek: dek)
        withValue.name = "scan"
        var fileOnly = try ShareCrypto.ownedSlot(id: "s2", value: nil, file: file, dek: dek)
        fileOnly.name = "visa"
        #expect(fileOnly.encryptedValue.isEmpty && fileOnly.valueVerificationHash.isEmpty && !fileOnly.encryptedAttachmentDek.isEmpty)
        #expect(!withValue.encryptedAttachmentDek.contains(Hex.encode(fileKey.bytes)))
        var item = Svx_Sharing_V1_SharedItem()
        item.slots = [withValue, fileOnly]
        let (verified, opened) = try ShareCrypto.open(item, dek: dek, shareID: "share")
        #expect(verified.slots.map(\.attachmentID) == [file.attachmentID, file.attachmentID])
        #expect(verified.slots.map(\.value) == ["scan.pdf", nil])
        #expect(opened.allSatisfy { $0.file?.key == fileKey })
        // On to the next recipient under a new DEK: the same file key.
        let next = try SymmetricKey.random()
        let onward = try ShareCrypto.onSharedSlot(opened[0], dek: next)
        #expect(onward.attachmentID == file.attachmentID)
        #expect(try Cryppo.decrypt(onward.encryptedAttachmentDek, key: next) == fileKey.bytes)

        let cases: [(String, (inout Svx_Sharing_V1_ShareSlot) -> Void)] = [
            ("names a file without its key", { $0.encryptedAttachmentDek = "" }),
            ("names a file without its key", { $0.attachmentID = "" }),
            ("does not decrypt", { $0.encryptedAttachmentDek = try! Cryppo.encrypt(fileKey.bytes, key: try! SymmetricKey.random()) }),
            ("of 31 bytes", { $0.encryptedAttachmentDek = try! Cryppo.encrypt(Array(fileKey.bytes.prefix(31)), key: dek) }),
        ]
        for (words, change) in cases {
            var bad = item
            change(&bad.slots[1])
            let error = try #require(throws: SVXClientError.self) { try ShareCrypto.open(bad, dek: dek, shareID: "share") }
            #expect(error.code == .valueVerificationFailed && error.message.contains("slot visa"), "\(words)")
            #expect(error.message.contains(words), "\(error.message)")
        }
    }

    /// Files saved from a share are named after the last component of their verified value, never a path, and never
    /// twice (without regard to case).
    @Test func savedFilesGetPlainUniqueNames() {
        #expect(SharesClient.fileName("scan.pdf") == "scan.pdf")
        #expect(SharesClient.fileName("/etc/passwd") == "passwd")
        #expect(SharesClient.fileName("../../escaped") == "escaped")
        #expect(SharesClient.fileName("dir/") == "dir")
        for bad in ["", ".", "..", "a/..", "-rf", "/", "//", "a\0b"] {
            #expect(SharesClient.fileName(bad) == nil, "\(bad)")
        }
        var used: Set<String> = []
        #expect(SharesClient.uniqueName("scan.pdf", among: &used) == "scan.pdf")
        #expect(SharesClient.uniqueName("scan.pdf", among: &used) == "scan_2.pdf")
        #expect(SharesClient.uniqueName("Scan.PDF", among: &used) == "Scan_3.PDF")
        #expect(SharesClient.uniqueName("scan_2.pdf", among: &used) == "scan_2_2.pdf")
        #expect(SharesClient.uniqueName("notes", among: &used) == "notes")
        #expect(SharesClient.uniqueName("NOTES", among: &used) == "NOTES_2")
        #expect(SharesClient.uniqueName(".profile", among: &used) == ".profile")
        #expect(SharesClient.uniqueName(".profile", among: &used) == ".profile_2")
    }

    /// Meeco-written data: a value hashed over its Latin-1 bytes verifies, and says so.
    @Test func aMeecoLatin1HashVerifies() throws {
        let dek = try SymmetricKey.random()
        let vvk = Self.vectorKey
        var slot = Svx_Sharing_V1_ShareSlot()
        slot.slotID = "x"
        slot.name = "dessert"
        slot.encryptedValue = try Cryppo.encrypt(Array("Crème brûlée".utf8), key: dek)
        slot.encryptedValueVerificationKey = try Cryppo.encrypt(vvk, key: dek)
        slot.valueVerificationHash = "24b88d19ae92363c7f4230f1e72d1431105104432ba32dacaa7b91c794fa0242"
        var item = Svx_Sharing_V1_SharedItem()
        item.slots = [slot]
        let (opened, _) = try ShareCrypto.open(item, dek: dek, shareID: "meeco")
        #expect(opened.slots.first?.value == "Crème brûlée" && opened.slots.first?.verifiedAs == .latin1)
    }

    /// A share the SDK made, read with the Cryppo core alone from the recipient's private key, in Meeco's formats:
    /// `Rsa4096.<512 bytes>.QQUAAAAA` holding the 32-byte DEK (OAEP SHA-1); `Aes256Gcm` values and 64-byte verification
    /// keys with the current BSON artefacts (`iv`, `at`, `ad: none`); the lowercase hex HMAC-SHA256 of the UTF-8 value,
    /// recomputed here with the HMAC primitive itself.
    @Test func aShareDecryptsWithTheCryppoCoreAloneInMeecosFormats() throws {
        let (recipient, _) = try Self.ownerShare([("passport_number", "PA1234567"), ("given_names", "Crème brûlée")])

        let dekParts = recipient.encryptedDek.split(separator: ".", omittingEmptySubsequences: false)
        #expect(dekParts.count == 3 && dekParts[0] == "Rsa4096" && dekParts[2] == "QQUAAAAA")
        #expect(try Base64URL.decode(String(dekParts[1])).count == 512)
        let dekBytes = try Cryppo.decrypt(recipient.encryptedDek, privateKey: Self.recipientPrivate)
        #expect(dekBytes.count == 32)
        let dek = SymmetricKey(bytes: dekBytes)

        var values: [String] = []
        for slot in recipient.slots {
            for string in [slot.encryptedValue, slot.encryptedValueVerificationKey] {
                let parts = string.split(separator: ".", omittingEmptySubsequences: false)
                #expect(parts.count == 3 && parts[0] == "Aes256Gcm", "\(string)")
                let artefacts = try Base64URL.decode(String(parts[2]))
                #expect(artefacts.first == UInt8(ascii: "A"))
                let parsed = try CryppoString(parsing: string)
                #expect(parsed.strategy == .aes256Gcm)
            }
            let value = String(decoding: try Cryppo.decrypt(slot.encryptedValue, key: dek), as: UTF8.self)
            let vvk = try Cryppo.decrypt(slot.encryptedValueVerificationKey, key: dek)
            #expect(vvk.count == 64)
            #expect(slot.valueVerificationHash == Hex.encode(HMAC.sha256(key: vvk, message: Array(value.utf8))))
            values.append(value)
        }
        #expect(values == ["PA1234567", "Crème brûlée"])
        // Terms: the same two formats, under a key of their own.
        let termsKey = SymmetricKey(bytes: try Cryppo.decrypt(recipient.encryptedTermsKey, privateKey: Self.recipientPrivate))
        #expect(String(decoding: try Cryppo.decrypt(recipient.encryptedTerms, key: termsKey), as: UTF8.self) == "Only for the visa application")
    }

    @Test func eachRecipientAndEachSlotGetsFreshKeys() throws {
        let (first, _) = try Self.ownerShare([("a", "same value"), ("b", "same value")])
        let (second, _) = try Self.ownerShare([("a", "same value"), ("b", "same value")])
        #expect(try Self.dek(first) != (try Self.dek(second)))
        let dek = try Self.dek(first)
        let keys = try first.slots.map { try Cryppo.decrypt($0.encryptedValueVerificationKey, key: dek) }
        #expect(keys[0] != keys[1])
        #expect(first.slots[0].valueVerificationHash != first.slots[1].valueVerificationHash)
        #expect(first.slots[0].encryptedValue != first.slots[1].encryptedValue)
    }

    // MARK: Options, names, pages

    @Test func optionsAreCheckedBeforeAnythingIsRead() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let one = ["0190d6f0-0000-7000-8000-000000000001"]
        try SharesClient.check(ShareOptions(expiresAt: now.addingTimeInterval(60)), recipients: one, now: now)
        let refusals: [(ShareOptions, [String])] = [
            (ShareOptions(), []),
            (ShareOptions(), Array(repeating: "x", count: 51).enumerated().map { "\($0.offset)" }),
            (ShareOptions(), one + one.map { $0.uppercased() }),
            (ShareOptions(terms: "  "), one),
            (ShareOptions(terms: String(repeating: "t", count: SharesClient.maximumTermsBytes + 1)), one),
            (ShareOptions(expiresAt: now), one),
            (ShareOptions(maximumContentFetches: 0), one),
            (ShareOptions(slot: " "), one),
        ]
        for (options, recipients) in refusals {
            #expect(throws: SVXClientError.self, "\(options) \(recipients.count)") {
                try SharesClient.check(options, recipients: recipients, now: now)
            }
        }
        var request = Svx_Sharing_V1_CreateShareRequest()
        SharesClient.apply(.viewOnce(terms: "t", expiresAt: Date(timeIntervalSince1970: 1_800_000_000.0005)), to: &request)
        #expect(request.maxContentFetches == 1 && request.acceptanceRequired && request.sharingMode == .owner)
        #expect(request.expiresAtMs == 1_800_000_000_001)
        SharesClient.apply(ShareOptions(onwardMode: .anyone), to: &request)
        #expect(request.maxContentFetches == 0 && !request.acceptanceRequired && request.sharingMode == .anyone && request.expiresAtMs == 0)
    }

    static func connection(_ id: String, name: String?, username: String, state: ConnectionState = .active) -> SharingConnection {
        SharingConnection(
            id: id, otherUserID: "u-\(id)", otherUsername: username, name: name, role: .inviter, state: state,
            invitationID: "", createdAt: Date(), endedAt: nil, ownKeypairID: "", ownKey: nil, otherKey: nil,
            otherPublicKeyPEM: "", keyCheck: .verified)
    }

    @Test func connectionsAreNamedByOwnNameThenUsername() throws {
        let connections = [
            Self.connection("1", name: "Bob", username: "kq7m2xa"),
            Self.connection("2", name: "Carol", username: "bob"),
            Self.connection("3", name: "Dave", username: "zz9"),
            Self.connection("4", name: "Dave", username: "zz8"),
            Self.connection("5", name: "Eve", username: "ee1", state: .ended),
        ]
        #expect(try SharesClient.connection(named: "bob", among: connections).id == "1")  // own name first
        #expect(try SharesClient.connection(named: "CAROL", among: connections).id == "2")
        #expect(try SharesClient.connection(named: "zz9", among: connections).id == "3")
        #expect(throws: SVXClientError.self) { try SharesClient.connection(named: "Dave", among: connections) }
        #expect(throws: SVXClientError.self) { try SharesClient.connection(named: "Eve", among: connections) }
        #expect(throws: SVXClientError.self) { try SharesClient.connection(named: "nobody", among: connections) }
        let ambiguous = try #require(throws: SVXClientError.self) { try SharesClient.connection(named: "dave", among: connections) }
        #expect(ambiguous.code == .ambiguous && ambiguous.message.contains("3") && ambiguous.message.contains("4"))
    }

    @Test func slotsAreNamedByIdNameOrLabel() throws {
        let slots = [
            (id: "0190D6F0-AAAA-7000-8000-000000000001", name: "passport_number", label: "Passport Number"),
            (id: "0190d6f0-aaaa-7000-8000-000000000002", name: "surname", label: "Family name"),
        ]
        #expect(try SharesClient.findSlot("passport_number", among: slots, in: "item") == slots[0].id)
        #expect(try SharesClient.findSlot("Passport Number", among: slots, in: "item") == slots[0].id)
        #expect(try SharesClient.findSlot("0190d6f0-aaaa-7000-8000-000000000001", among: slots, in: "item") == slots[0].id)
        #expect(try SharesClient.findSlot("Family name", among: slots, in: "item") == slots[1].id)
        let missing = try #require(throws: SVXClientError.self) { try SharesClient.findSlot("nationality", among: slots, in: "item 7") }
        #expect(missing.code == .notFound && missing.message.contains("item 7 has no slot nationality"))
    }

    @Test func pagingReadsToTheEndAndStopsAServiceThatNeverEnds() async throws {
        let pages = ["": ([1, 2], "a"), "a": ([3], "b"), "b": ([4, 5], "")]
        var asked: [String] = []
        let all = try await Paging.collect("numbers") { token in
            asked.append(token)
            return try #require(pages[token])
        }
        #expect(all == [1, 2, 3, 4, 5] && asked == ["", "a", "b"])
        var calls = 0
        let endless = try await #require(throws: SVXClientError.self) {
            _ = try await Paging.collect("numbers", maximumPages: 3) { token -> ([Int], String) in
                calls += 1
                return ([calls], "t\(calls)")
            }
        }
        #expect(calls == 3 && endless.message.contains("did not end after 3 pages"))
        let stuck = try await #require(throws: SVXClientError.self) {
            _ = try await Paging.collect("numbers") { _ -> ([Int], String) in ([0], "same") }
        }
        #expect(stuck.message.contains("same page token twice"))
    }
}

@Suite struct ShareExpiryTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    @Test func durationsDatesAndTimes() throws {
        #expect(try ShareExpiry.date(parsing: "45s", now: Self.now) == Self.now.addingTimeInterval(45))
        #expect(try ShareExpiry.date(parsing: "90m", now: Self.now) == Self.now.addingTimeInterval(5_400))
        #expect(try ShareExpiry.date(parsing: "7d", now: Self.now) == Self.now.addingTimeInterval(7 * 86_400))
        #expect(try ShareExpiry.date(parsing: "2w", now: Self.now) == Self.now.addingTimeInterval(14 * 86_400))
        #expect(try ShareExpiry.date(parsing: "2027-01-31", now: Self.now) == Date(timeIntervalSince1970: 1_801_353_600))
        #expect(try ShareExpiry.date(parsing: "2027-01-31T18:00:00Z", now: Self.now) == Date(timeIntervalSince1970: 1_801_418_400))
        #expect(try ShareExpiry.date(parsing: "2027-01-31T19:00:00+01:00", now: Self.now) == Date(timeIntervalSince1970: 1_801_418_400))
        for bad in ["", "0d", "7", "d", "7y", "-1d", "3651d", "99999999999d", "2027-02-30", "2027-1-31", "2026-12-31", "2027-01-15T07:59:59Z", "tomorrow"] {
            #expect(throws: SVXClientError.self, "\(bad)") { try ShareExpiry.date(parsing: bad, now: Self.now) }
        }
    }
}
