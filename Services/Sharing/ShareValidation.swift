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

    /// One slot's value as a sender sends it.
    struct ShareSlotValue: Equatable, Sendable {
        let slotID: UUID
        let encryptedValue: String
        let verificationKey: String
        /// nil on an on-share (Sharing copies the parent's).
        let hash: String?
        /// `recipients[i].slots[j]`, for messages.
        let field: String
    }

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

    /// The value fields of a share's slots (`field`.slots): a UUID once each, `encrypted_value` `Aes256Gcm` (at
    /// most 48 KiB), the verification key `Aes256Gcm` of exactly 64 bytes, the hash 64 lowercase hex (required when
    /// `hashRequired`; otherwise kept as given, for ShareLifecycle to refuse by name).
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
                slotID: slotID, encryptedValue: slot.encryptedValue, verificationKey: slot.encryptedValueVerificationKey,
                hash: hash, field: slotField))
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

    /// Whether a recipient's slots are exactly `valued` (the slots of the share that hold a value): a slot missing
    /// or one more is INVALID_ARGUMENT naming it. Returns the values by slot id.
    static func matchSlots(_ recipient: ShareRecipientInput, valued: [UUID]) throws(RPCStatus) -> [UUID: ShareSlotValue] {
        try matchSlots(recipient.slots, field: recipient.field, valued: valued)
    }

    /// Whether `slots` (of `field`) are exactly `valued`; see ``matchSlots(_:valued:)``.
    static func matchSlots(_ slots: [ShareSlotValue], field: String, valued: [UUID]) throws(RPCStatus) -> [UUID: ShareSlotValue] {
        var given: [UUID: ShareSlotValue] = [:]
        let wanted = Set(valued)
        for slot in slots {
            guard wanted.contains(slot.slotID) else {
                throw invalid(
                    "\(slot.field).slot_id", "\(slot.field).slot_id is not a slot with a value of what is shared")
            }
            given[slot.slotID] = slot
        }
        if let missing = valued.first(where: { given[$0] == nil }) {
            throw invalid("\(field).slots", "\(field).slots misses slot \(missing.wire), which has a value")
        }
        return given
    }
}
