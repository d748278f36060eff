import Cryppo
import Foundation
import SVXProto
import SVXRPC
import SVXService

/// Checks of the share requests' fields before any call out or database work; every refusal is INVALID_ARGUMENT
/// naming the field (sharing.md §2.8). Sharing cannot read a value, a key or the terms, but it can tell ciphertext
/// from plaintext: values, verification keys and terms are `Aes256Gcm` Cryppo strings (a verification key exactly
/// 64 bytes), the DEK and the terms key `Rsa4096` strings (their length against the recipient's key is checked once
/// the connection is read), hashes 64 lowercase hex characters. Pure: unit-tested in SharingTests.
extension SharingValidation {
    /// Recipients of one CreateShare.
    static let maximumRecipients = 50
    /// Slots of one share (an item has at most 500).
    static let maximumShareSlots = 500
    /// As the Vault's own limit on a slot's encrypted value.
    static let maximumValueCharacters = 64 * 1024
    static let maximumValueBytes = 48 * 1024
    /// The value verification key is 64 random bytes.
    static let verificationKeyBytes = 64
    /// Terms are at most 16 KiB of UTF-8.
    static let maximumTermsBytes = 16 * 1024
    static let maximumTermsCharacters = 24 * 1024
    /// A share is fetched at most this many times before it is consumed (0: unlimited).
    static let maximumContentFetches: UInt32 = 1_000_000
    /// Expiries up to the year 9999.
    static let latestExpiryMilliseconds: UInt64 = 253_402_300_799_000

    /// One slot as a sender sends it: its value, its file, or both.
    struct ShareSlotValue: Equatable, Sendable {
        let slotID: UUID
        /// The value and its verification key; nil for a slot sent for its file only.
        let value: (encryptedValue: String, verificationKey: String)?
        /// nil on an on-share (Sharing copies the parent's), and with no value.
        let hash: String?
        /// An attachment slot's file: its attachment id and Cryppo(share DEK, the file's DEK); nil for none.
        let file: (attachmentID: UUID, encryptedDEK: String)?
        /// `recipients[i].slots[j]`, for messages.
        let field: String

        var encryptedValue: String? { value?.encryptedValue }
        var verificationKey: String? { value?.verificationKey }

        static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.slotID == rhs.slotID && lhs.value?.encryptedValue == rhs.value?.encryptedValue
                && lhs.value?.verificationKey == rhs.value?.verificationKey && lhs.hash == rhs.hash
                && lhs.file?.attachmentID == rhs.file?.attachmentID && lhs.file?.encryptedDEK == rhs.file?.encryptedDEK
                && lhs.field == rhs.field
        }
    }

    /// The bytes of a file's DEK (AES-256).
    static let attachmentKeyBytes = 32

    /// What a sender sends for one recipient, every field checked.
    struct ShareRecipientInput: Equatable, Sendable {
        let connectionID: UUID
        let keySHA256: String
        let encryptedDEK: String
        let encryptedTerms: String?
        let encryptedTermsKey: String?
        let slots: [ShareSlotValue]
        /// `recipients[i]`.
        let field: String
    }

    /// A CreateShare request, every field checked.
    struct NewShare: Equatable, Sendable {
        /// The caller's own item, or nil for an on-share.
        let itemID: UUID?
        /// The share an on-share is made from, or nil.
        let parentShareID: UUID?
        let slotID: UUID?
        /// Owned items: the version the client encrypted from.
        let expectedItemVersion: Int64
        let sharingMode: ShareLifecycle.SharingMode
        let acceptanceRequired: Bool
        /// Microseconds since the epoch (the database clock's resolution), nil: none asked.
        let expiresAt: DatabaseInstant?
        let maxContentFetches: Int
        let recipients: [ShareRecipientInput]

        /// The rules ShareLifecycle decides on.
        var lifecycleRequest: ShareLifecycle.Request {
            ShareLifecycle.Request(
                slotID: slotID, sharingMode: sharingMode, acceptanceRequired: acceptanceRequired, expiresAt: expiresAt,
                maxContentFetches: maxContentFetches,
                termsFields: recipients.filter { $0.encryptedTerms != nil }.map { "\($0.field).encrypted_terms" },
                hashFields: recipients.flatMap { recipient in
                    recipient.slots.filter { $0.hash != nil }.map { "\($0.field).value_verification_hash" }
                })
        }
    }

    static func sharingMode(_ mode: Svx_Sharing_V1_SharingMode, field: String = "sharing_mode") throws(RPCStatus)
        -> ShareLifecycle.SharingMode
    {
        if mode == .unspecified { return .owner }
        guard let known = ShareLifecycle.SharingMode(rawValue: Int32(clamping: mode.rawValue)) else {
            throw invalid(field, "\(field) \(mode.rawValue) is not a sharing mode")
        }
        return known
    }

    static func shareState(_ state: Svx_Sharing_V1_ShareState, field: String = "state") throws(RPCStatus)
        -> ShareLifecycle.State?
    {
        if state == .unspecified { return nil }
        guard let known = ShareLifecycle.State(rawValue: Int32(clamping: state.rawValue)) else {
            throw invalid(field, "\(field) \(state.rawValue) is not a share state")
        }
        return known
    }

    static func newShare(_ request: Svx_Sharing_V1_CreateShareRequest) throws(RPCStatus) -> NewShare {
        let itemID: UUID?
        let parentShareID: UUID?
        switch (request.itemID.isEmpty, request.parentShareID.isEmpty) {
        case (true, true):
            throw invalid("item_id", "item_id (your own item) or parent_share_id (an on-share) is required")
        case (false, false):
            throw invalid("parent_share_id", "give item_id or parent_share_id, not both")
        case (false, true):
            itemID = try FieldValidation.uuid(request.itemID, field: "item_id")
            parentShareID = nil
        case (true, false):
            itemID = nil
            parentShareID = try FieldValidation.uuid(request.parentShareID, field: "parent_share_id")
        }
        let slotID = request.slotID.isEmpty ? nil : try FieldValidation.uuid(request.slotID, field: "slot_id")
        if itemID != nil {
            guard request.expectedItemVersion > 0, request.expectedItemVersion <= UInt64(Int64.max) else {
                throw invalid("expected_item_version", "expected_item_version (the item version you encrypted from) is required")
            }
        } else if request.expectedItemVersion != 0 {
            throw invalid("expected_item_version", "expected_item_version is for a share of your own item, not an on-share")
        }
        guard request.expiresAtMs <= latestExpiryMilliseconds else {
            throw invalid("expires_at_ms", "expires_at_ms is after the year 9999")
        }
        guard request.maxContentFetches <= maximumContentFetches else {
            throw invalid("max_content_fetches", "max_content_fetches must be at most \(maximumContentFetches) (0: unlimited)")
        }
        guard !request.recipients.isEmpty else { throw invalid("recipients", "recipients is required (1 to \(maximumRecipients))") }
        guard request.recipients.count <= maximumRecipients else {
            throw invalid("recipients", "at most \(maximumRecipients) recipients a call")
        }
        var connections: Set<UUID> = []
        var recipients: [ShareRecipientInput] = []
        for (index, input) in request.recipients.enumerated() {
            let recipient = try shareRecipient(input, field: "recipients[\(index)]", onShare: itemID == nil)
            guard connections.insert(recipient.connectionID).inserted else {
                throw invalid("recipients[\(index)].connection_id", "recipients[\(index)].connection_id names a connection twice")
            }
            recipients.append(recipient)
        }
        return NewShare(
            itemID: itemID, parentShareID: parentShareID, slotID: slotID,
            expectedItemVersion: Int64(request.expectedItemVersion), sharingMode: try sharingMode(request.sharingMode),
            acceptanceRequired: request.acceptanceRequired,
            expiresAt: request.expiresAtMs == 0 ? nil : Int64(request.expiresAtMs) * 1000,
            maxContentFetches: Int(request.maxContentFetches), recipients: recipients)
    }

    /// One recipient's part. On a share of the caller's own item every slot carries its hash; on an on-share a hash
    /// is kept here (as given) for ShareLifecycle to refuse by name.
    static func shareRecipient(_ input: Svx_Sharing_V1_ShareRecipient, field: String, onShare: Bool) throws(RPCStatus)
        -> ShareRecipientInput
    {
        let connectionID = try FieldValidation.uuid(input.connectionID, field: "\(field).connection_id")
        _ = try FieldValidation.lowercaseHex(input.recipientKeySha256, field: "\(field).recipient_key_sha256", bytes: 32)
        try FieldValidation.rsaString(input.encryptedDek, field: "\(field).encrypted_dek")
        var terms: String?
        var termsKey: String?
        if !input.encryptedTerms.isEmpty || !input.encryptedTermsKey.isEmpty {
            _ = try FieldValidation.aesGCMString(
                input.encryptedTerms, field: "\(field).encrypted_terms", maximumCharacters: maximumTermsCharacters,
                ciphertextBytes: 1...maximumTermsBytes, what: "the terms")
            try FieldValidation.rsaString(input.encryptedTermsKey, field: "\(field).encrypted_terms_key")
            terms = input.encryptedTerms
            termsKey = input.encryptedTermsKey
        }
        let slots = try shareSlots(input.slots, field: field, hashRequired: !onShare)
        return ShareRecipientInput(
            connectionID: connectionID, keySHA256: input.recipientKeySha256, encryptedDEK: input.encryptedDek,
            encryptedTerms: terms, encryptedTermsKey: termsKey, slots: slots, field: field)
    }

    /// The slots of a share as sent (`field`.slots): a UUID once each; a value (`encrypted_value` `Aes256Gcm` of at
    /// most 48 KiB, the verification key `Aes256Gcm` of exactly 64 bytes, the hash 64 lowercase hex, required when
    /// `hashRequired`, otherwise kept as given for ShareLifecycle to refuse by name) and/or a file (`attachment_id` a
    /// UUID with `encrypted_attachment_dek` `Aes256Gcm` of exactly 32 bytes). A slot with neither is INVALID_ARGUMENT
    /// naming its `encrypted_value`.
    static func shareSlots(_ input: [Svx_Sharing_V1_ShareSlot], field: String, hashRequired: Bool) throws(RPCStatus)
        -> [ShareSlotValue]
    {
        guard input.count <= maximumShareSlots else {
            throw invalid("\(field).slots", "\(field).slots has more than \(maximumShareSlots) slots")
        }
        var seen: Set<UUID> = []
        var slots: [ShareSlotValue] = []
        for (index, slot) in input.enumerated() {
            let slotField = "\(field).slots[\(index)]"
            let slotID = try FieldValidation.uuid(slot.slotID, field: "\(slotField).slot_id")
            guard seen.insert(slotID).inserted else {
                throw invalid("\(slotField).slot_id", "\(slotField).slot_id names a slot twice")
            }
            var file: (attachmentID: UUID, encryptedDEK: String)?
            if !slot.attachmentID.isEmpty || !slot.encryptedAttachmentDek.isEmpty {
                let attachmentID = try FieldValidation.uuid(slot.attachmentID, field: "\(slotField).attachment_id")
                _ = try FieldValidation.aesGCMString(
                    slot.encryptedAttachmentDek, field: "\(slotField).encrypted_attachment_dek", maximumCharacters: 1_024,
                    ciphertextBytes: attachmentKeyBytes...attachmentKeyBytes, what: "the file's key")
                file = (attachmentID, slot.encryptedAttachmentDek)
            }
            // A slot sent for its file only carries no value fields at all.
            let valueless = slot.encryptedValue.isEmpty && slot.encryptedValueVerificationKey.isEmpty
                && slot.valueVerificationHash.isEmpty
            if valueless, let file {
                slots.append(ShareSlotValue(slotID: slotID, value: nil, hash: nil, file: file, field: slotField))
                continue
            }
            _ = try FieldValidation.aesGCMString(
                slot.encryptedValue, field: "\(slotField).encrypted_value", maximumCharacters: maximumValueCharacters,
                ciphertextBytes: 0...maximumValueBytes, what: "a value")
            _ = try FieldValidation.aesGCMString(
                slot.encryptedValueVerificationKey, field: "\(slotField).encrypted_value_verification_key",
                maximumCharacters: 1_024, ciphertextBytes: verificationKeyBytes...verificationKeyBytes,
                what: "the value verification key")
            var hash: String?
            if !slot.valueVerificationHash.isEmpty || hashRequired {
                _ = try FieldValidation.lowercaseHex(
                    slot.valueVerificationHash, field: "\(slotField).value_verification_hash", bytes: 32)
                hash = slot.valueVerificationHash
            }
            slots.append(ShareSlotValue(
                slotID: slotID, value: (slot.encryptedValue, slot.encryptedValueVerificationKey), hash: hash, file: file,
                field: slotField))
        }
        return slots
    }

    /// Shares of one UpdateShares.
    static let maximumUpdatedShares = 50

    /// One share of an UpdateShares, every field checked.
    struct ShareUpdateInput: Equatable, Sendable {
        let shareID: UUID
        let encryptedDEK: String
        /// Every slot with its hash: the owner's, on-shares included.
        let slots: [ShareSlotValue]
        /// `shares[i]`.
        let field: String
    }

    /// An UpdateShares request, every field checked.
    struct ShareUpdates: Equatable, Sendable {
        let itemID: UUID
        let expectedItemVersion: Int64
        let shares: [ShareUpdateInput]
    }

    /// An UpdateShares request: `item_id`, `expected_item_version` (required), 1...50 shares, no share twice, each
    /// with its `Rsa4096` DEK (its length checked against the recipient's key once the share is read) and slots
    /// whose hashes are all given (the owner's hashes, for on-shares too).
    static func shareUpdates(_ request: Svx_Sharing_V1_UpdateSharesRequest) throws(RPCStatus) -> ShareUpdates {
        let itemID = try FieldValidation.uuid(request.itemID, field: "item_id")
        guard request.expectedItemVersion > 0, request.expectedItemVersion <= UInt64(Int64.max) else {
            throw invalid("expected_item_version", "expected_item_version (the item version you encrypted from) is required")
        }
        guard !request.shares.isEmpty else { throw invalid("shares", "shares is required (1 to \(maximumUpdatedShares))") }
        guard request.shares.count <= maximumUpdatedShares else {
            throw invalid("shares", "at most \(maximumUpdatedShares) shares a call")
        }
        var seen: Set<UUID> = []
        var shares: [ShareUpdateInput] = []
        for (index, input) in request.shares.enumerated() {
            let field = "shares[\(index)]"
            let shareID = try FieldValidation.uuid(input.shareID, field: "\(field).share_id")
            guard seen.insert(shareID).inserted else {
                throw invalid("\(field).share_id", "\(field).share_id names a share twice")
            }
            try FieldValidation.rsaString(input.encryptedDek, field: "\(field).encrypted_dek")
            shares.append(ShareUpdateInput(
                shareID: shareID, encryptedDEK: input.encryptedDek,
                slots: try shareSlots(input.slots, field: field, hashRequired: true), field: field))
        }
        return ShareUpdates(itemID: itemID, expectedItemVersion: Int64(request.expectedItemVersion), shares: shares)
    }

    /// What a share holds of one of its slots, for ``matchSlots(_:expected:)``: whether the slot has a value, and the
    /// file it holds (an attachment slot), nil for none.
    struct CarriedSlot: Equatable, Sendable {
        let slotID: UUID
        let valued: Bool
        let attachmentID: UUID?
    }

    /// Whether a recipient's slots are exactly what the share carries (`expected`): every slot with a value with its
    /// value, every slot holding a file with that file's id and key, nothing else. A slot missing, one more, a value or
    /// a file where the slot has none, or another file's id is INVALID_ARGUMENT naming it. Returns the slots by id.
    static func matchSlots(_ recipient: ShareRecipientInput, expected: [CarriedSlot]) throws(RPCStatus) -> [UUID: ShareSlotValue] {
        try matchSlots(recipient.slots, field: recipient.field, expected: expected)
    }

    /// Whether `slots` (of `field`) are exactly what the share carries; see ``matchSlots(_:expected:)``.
    static func matchSlots(_ slots: [ShareSlotValue], field: String, expected: [CarriedSlot]) throws(RPCStatus)
        -> [UUID: ShareSlotValue]
    {
        let carried = expected.filter { $0.valued || $0.attachmentID != nil }
        let wanted = Dictionary(uniqueKeysWithValues: carried.map { ($0.slotID, $0) })
        var given: [UUID: ShareSlotValue] = [:]
        for slot in slots {
            guard let expected = wanted[slot.slotID] else {
                throw invalid(
                    "\(slot.field).slot_id", "\(slot.field).slot_id is not a slot with a value or a file of what is shared")
            }
            if expected.valued, slot.value == nil {
                throw invalid("\(slot.field).encrypted_value", "\(slot.field).encrypted_value is required: the slot has a value")
            }
            if !expected.valued, slot.value != nil {
                throw invalid(
                    "\(slot.field).encrypted_value", "\(slot.field).encrypted_value must be empty: the slot has no value")
            }
            switch (expected.attachmentID, slot.file) {
            case (nil, nil):
                break
            case (let held?, nil):
                throw invalid(
                    "\(slot.field).encrypted_attachment_dek",
                    "\(slot.field).encrypted_attachment_dek is required: the slot holds file \(held.wire)")
            case (nil, _?):
                throw invalid("\(slot.field).attachment_id", "\(slot.field).attachment_id must be empty: the slot holds no file")
            case (let held?, let sent?):
                guard held == sent.attachmentID else {
                    throw invalid(
                        "\(slot.field).attachment_id",
                        "\(slot.field).attachment_id is not the file in the slot (\(held.wire)): read the item again")
                }
            }
            given[slot.slotID] = slot
        }
        if let missing = carried.first(where: { given[$0.slotID] == nil }) {
            throw invalid(
                "\(field).slots",
                "\(field).slots misses slot \(missing.slotID.wire), which has \(missing.valued ? "a value" : "a file")")
        }
        return given
    }
}
