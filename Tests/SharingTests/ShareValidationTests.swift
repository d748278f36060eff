import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService
import Testing

@testable import Sharing

/// What Sharing accepts in a CreateShare, pure (before the Vault is asked or the database touched), and the Rsa4096
/// shape check it shares with nobody yet.
@Suite struct ShareValidationTests {
    static let dek = try! SymmetricKey.random()
    static let publicKey = try! RSAPrivateKey.generate(bits: 2048).publicKey
    static let slots = [UUID(), UUID()]

    static func request(onShare: Bool = false, _ change: (inout Svx_Sharing_V1_CreateShareRequest) -> Void = { _ in }) throws
        -> Svx_Sharing_V1_CreateShareRequest
    {
        var request = Svx_Sharing_V1_CreateShareRequest()
        if onShare { request.parentShareID = UUID().uuidString } else {
            request.itemID = UUID().uuidString
            request.expectedItemVersion = 3
        }
        var recipient = Svx_Sharing_V1_ShareRecipient()
        recipient.connectionID = UUID().uuidString
        recipient.recipientKeySha256 = Hex.encode(try publicKey.fingerprintSHA256)
        recipient.encryptedDek = try Cryppo.encrypt(dek.bytes, publicKey: publicKey)
        recipient.slots = try slots.map { id in
            var slot = Svx_Sharing_V1_ShareSlot()
            slot.slotID = id.uuidString
            slot.encryptedValue = try Cryppo.encrypt(Array("value".utf8), key: dek)
            slot.encryptedValueVerificationKey = try Cryppo.encrypt(try SecureRandom.bytes(count: 64), key: dek)
            if !onShare { slot.valueVerificationHash = Hex.encode(try SecureRandom.bytes(count: 32)) }
            return slot
        }
        request.recipients = [recipient]
        change(&request)
        return request
    }

    static func field(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let status as RPCStatus {
            #expect(status.code == .invalidArgument)
            return status.details["field"]
        } catch {
            return "\(error)"
        }
    }

    @Test func aWellFormedShareAndOnShareAreTakenAsSent() throws {
        let owned = try SharingValidation.newShare(try Self.request { $0.expiresAtMs = 2_000; $0.maxContentFetches = 1 })
        #expect(owned.parentShareID == nil && owned.expectedItemVersion == 3 && owned.sharingMode == .owner)
        #expect(owned.expiresAt == 2_000_000 && owned.maxContentFetches == 1)
        #expect(owned.recipients[0].slots.map(\.slotID) == Self.slots)
        #expect(owned.lifecycleRequest.hashFields == ["recipients[0].slots[0].value_verification_hash",
                                                       "recipients[0].slots[1].value_verification_hash"])
        let onShare = try SharingValidation.newShare(try Self.request(onShare: true) { $0.sharingMode = .anyone })
        #expect(onShare.itemID == nil && onShare.sharingMode == .anyone && onShare.expiresAt == nil)
        #expect(onShare.lifecycleRequest.hashFields.isEmpty)
        // On an on-share a hash is kept for ShareLifecycle to refuse by name.
        let withHash = try SharingValidation.newShare(try Self.request(onShare: true) {
            $0.recipients[0].slots[1].valueVerificationHash = String(repeating: "0", count: 64)
        })
        #expect(withHash.lifecycleRequest.hashFields == ["recipients[0].slots[1].value_verification_hash"])
    }

    @Test func everyFieldOfCreateShareIsChecked() throws {
        let key3072 = try RSAPrivateKey.generate(bits: 3072).publicKey
        let cases: [(String, (inout Svx_Sharing_V1_CreateShareRequest) -> Void)] = [
            ("item_id", { $0.itemID = "" }),
            ("parent_share_id", { $0.parentShareID = UUID().uuidString }),
            ("expected_item_version", { $0.expectedItemVersion = 0 }),
            ("slot_id", { $0.slotID = "x" }),
            ("expires_at_ms", { $0.expiresAtMs = .max }),
            ("max_content_fetches", { $0.maxContentFetches = 1_000_001 }),
            ("recipients", { $0.recipients = [] }),
            ("recipients", { $0.recipients = Array(repeating: $0.recipients[0], count: 51) }),
            ("recipients[1].connection_id", { $0.recipients.append($0.recipients[0]) }),
            ("recipients[0].encrypted_dek", { $0.recipients[0].encryptedDek = "Rsa4096.AAAA.QQUAAAAA" }),
            ("recipients[0].encrypted_dek", { $0.recipients[0].encryptedDek = try! Cryppo.encrypt([1], key: Self.dek) }),
            ("recipients[0].encrypted_terms_key", { $0.recipients[0].encryptedTerms = try! Cryppo.encrypt([1], key: Self.dek) }),
            ("recipients[0].slots[0].encrypted_value", { $0.recipients[0].slots[0].encryptedValue = "-----BEGIN PRIVATE KEY-----" }),
            ("recipients[0].slots[1].encrypted_value_verification_key", {
                $0.recipients[0].slots[1].encryptedValueVerificationKey = try! Cryppo.encrypt([1, 2], key: Self.dek) }),
            ("recipients[0].slots[0].value_verification_hash", { $0.recipients[0].slots[0].valueVerificationHash = "" }),
        ]
        for (expected, change) in cases {
            let request = try Self.request(change)
            #expect(Self.field { _ = try SharingValidation.newShare(request) } == expected, "\(expected)")
        }
        // The recipient's modulus decides the length, once it is known.
        let dek3072 = try Cryppo.encrypt(Self.dek.bytes, publicKey: key3072)
        #expect(try FieldValidation.rsaString(dek3072, field: "d") == 384)
        #expect(Self.field { try FieldValidation.rsaString(dek3072, field: "d", modulusBytes: 256) } == "d")
        #expect(Self.field { try FieldValidation.rsaString("-----BEGIN PUBLIC KEY-----", field: "d") } == "d")
    }

    /// Slots that carry a value and no file, as a share expects them.
    static func valued(_ ids: [UUID]) -> [SharingValidation.CarriedSlot] {
        ids.map { SharingValidation.CarriedSlot(slotID: $0, valued: true, attachmentID: nil) }
    }

    @Test func theSlotsSentAreExactlyTheValuedOnes() throws {
        let valid = try SharingValidation.newShare(try Self.request())
        let recipient = valid.recipients[0]
        #expect(try SharingValidation.matchSlots(recipient, expected: Self.valued(Self.slots)).count == 2)
        #expect(Self.field { _ = try SharingValidation.matchSlots(recipient, expected: Self.valued([Self.slots[0]])) }
            == "recipients[0].slots[1].slot_id")
        #expect(Self.field { _ = try SharingValidation.matchSlots(recipient, expected: Self.valued(Self.slots + [UUID()])) }
            == "recipients[0].slots")
        // A slot the share holds without a value (an empty one) is not sent.
        let empty = SharingValidation.CarriedSlot(slotID: UUID(), valued: false, attachmentID: nil)
        #expect(try SharingValidation.matchSlots(recipient, expected: Self.valued(Self.slots) + [empty]).count == 2)
    }

    /// An attachment slot's file: its id and its key (32 bytes under the share DEK, never in clear), exactly on the
    /// slots that hold a file and naming that file; a slot may carry its file without a value.
    @Test func theFilesSentAreExactlyTheSlotsFiles() throws {
        let file = UUID()
        let fileKey = try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: Self.dek)
        func request(_ change: (inout Svx_Sharing_V1_ShareSlot) -> Void) throws -> Svx_Sharing_V1_CreateShareRequest {
            try Self.request { request in
                request.recipients[0].slots[1].attachmentID = file.uuidString
                request.recipients[0].slots[1].encryptedAttachmentDek = fileKey
                change(&request.recipients[0].slots[1])
            }
        }
        let expected = [
            SharingValidation.CarriedSlot(slotID: Self.slots[0], valued: true, attachmentID: nil),
            SharingValidation.CarriedSlot(slotID: Self.slots[1], valued: true, attachmentID: file),
        ]
        let valid = try SharingValidation.newShare(try request { _ in })
        let matched = try SharingValidation.matchSlots(valid.recipients[0], expected: expected)
        #expect(matched[Self.slots[1]]?.file?.attachmentID == file && matched[Self.slots[1]]?.file?.encryptedDEK == fileKey)
        #expect(matched[Self.slots[0]]?.file == nil)

        // The shapes, before anything is read.
        let shapes: [(String, (inout Svx_Sharing_V1_ShareSlot) -> Void)] = [
            ("recipients[0].slots[1].attachment_id", { $0.attachmentID = "" }),
            ("recipients[0].slots[1].attachment_id", { $0.attachmentID = "not an id" }),
            ("recipients[0].slots[1].encrypted_attachment_dek", { $0.encryptedAttachmentDek = "" }),
            ("recipients[0].slots[1].encrypted_attachment_dek", { $0.encryptedAttachmentDek = Hex.encode([UInt8](repeating: 7, count: 32)) }),
            ("recipients[0].slots[1].encrypted_attachment_dek", {
                $0.encryptedAttachmentDek = try! Cryppo.encrypt(try! SecureRandom.bytes(count: 31), key: Self.dek)
            }),
        ]
        for (field, change) in shapes {
            #expect(Self.field { _ = try SharingValidation.newShare(try request(change)) } == field, "\(field)")
        }
        // Against what the share holds.
        func matchField(_ expected: [SharingValidation.CarriedSlot], _ change: (inout Svx_Sharing_V1_ShareSlot) -> Void = { _ in })
            -> String?
        {
            Self.field {
                let valid = try SharingValidation.newShare(try request(change))
                _ = try SharingValidation.matchSlots(valid.recipients[0], expected: expected)
            }
        }
        // Another file than the slot's (replaced since it was read), a file on a slot that holds none, no file on a
        // slot that holds one.
        #expect(matchField(expected) { $0.attachmentID = UUID().uuidString } == "recipients[0].slots[1].attachment_id")
        #expect(matchField(Self.valued(Self.slots)) == "recipients[0].slots[1].attachment_id")
        let clean = try SharingValidation.newShare(try Self.request())
        #expect(Self.field { _ = try SharingValidation.matchSlots(clean.recipients[0], expected: expected) }
            == "recipients[0].slots[1].encrypted_attachment_dek")
        // A file without a value: the value fields empty, taken when the slot has no value, refused when it has one.
        let fileOnly: (inout Svx_Sharing_V1_ShareSlot) -> Void = {
            $0.encryptedValue = ""
            $0.encryptedValueVerificationKey = ""
            $0.valueVerificationHash = ""
        }
        let noValue = [expected[0], SharingValidation.CarriedSlot(slotID: Self.slots[1], valued: false, attachmentID: file)]
        #expect(matchField(noValue, fileOnly) == nil)
        #expect(matchField(expected, fileOnly) == "recipients[0].slots[1].encrypted_value")
        #expect(matchField(noValue) == "recipients[0].slots[1].encrypted_value")
        // No file on a slot that carries none and no value: a value is then required.
        #expect(Self.field { _ = try SharingValidation.newShare(try Self.request { $0.recipients[0].slots[1].encryptedValue = "" } ) }
            == "recipients[0].slots[1].encrypted_value")
    }

    /// An UpdateShares request: every hash required (on-shares too), 1-50 shares, none twice, the same slot checks as
    /// CreateShare's, all before anything is asked or read.
    @Test func everyFieldOfUpdateSharesIsChecked() throws {
        func request(_ change: (inout Svx_Sharing_V1_UpdateSharesRequest) -> Void = { _ in }) throws -> Svx_Sharing_V1_UpdateSharesRequest {
            let created = try Self.request().recipients[0]
            var share = Svx_Sharing_V1_UpdateShareInput()
            share.shareID = UUID().uuidString
            share.encryptedDek = created.encryptedDek
            share.slots = created.slots
            var request = Svx_Sharing_V1_UpdateSharesRequest()
            request.itemID = UUID().uuidString
            request.expectedItemVersion = 4
            request.shares = [share]
            change(&request)
            return request
        }
        let valid = try SharingValidation.shareUpdates(try request())
        #expect(valid.expectedItemVersion == 4 && valid.shares.count == 1 && valid.shares[0].field == "shares[0]")
        #expect(valid.shares[0].slots.map(\.slotID) == Self.slots && valid.shares[0].slots.allSatisfy { $0.hash != nil })
        let cases: [(String, (inout Svx_Sharing_V1_UpdateSharesRequest) -> Void)] = [
            ("item_id", { $0.itemID = "not an id" }),
            ("expected_item_version", { $0.expectedItemVersion = 0 }),
            ("expected_item_version", { $0.expectedItemVersion = UInt64(Int64.max) + 1 }),
            ("shares", { $0.shares = [] }),
            ("shares", { $0.shares = Array(repeating: $0.shares[0], count: 51) }),
            ("shares[1].share_id", { $0.shares.append($0.shares[0]) }),
            ("shares[0].share_id", { $0.shares[0].shareID = "" }),
            ("shares[0].encrypted_dek", { $0.shares[0].encryptedDek = $0.shares[0].slots[0].encryptedValue }),
            ("shares[0].slots[1].value_verification_hash", { $0.shares[0].slots[1].valueVerificationHash = "" }),
            ("shares[0].slots[0].encrypted_value", { $0.shares[0].slots[0].encryptedValue = "in clear" }),
            ("shares[0].slots[1].slot_id", { $0.shares[0].slots[1].slotID = $0.shares[0].slots[0].slotID }),
        ]
        for (field, change) in cases {
            #expect(Self.field { _ = try SharingValidation.shareUpdates(try request(change)) } == field, "\(field)")
        }
        // The slots an owner sends for one share are matched as a recipient's are.
        #expect(Self.field { _ = try SharingValidation.matchSlots(valid.shares[0].slots, field: "shares[0]", expected: Self.valued([Self.slots[0]])) }
            == "shares[0].slots[1].slot_id")
    }
}
