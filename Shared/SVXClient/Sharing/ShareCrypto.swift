import Cryppo
import SVXModels
import SVXProto

/// The cryptography of a share's content, without I/O (sharing.md §2.7; reference/meeco-compat.md §1), in Meeco's
/// formats: per recipient a fresh 32-byte share DEK wrapped with the recipient's connection key (`Rsa4096`,
/// RSA-OAEP SHA-1); every valued slot as Cryppo(DEK, UTF-8 value); per slot a 64-byte value verification key (vvk)
/// as Cryppo(DEK, vvk) and the lowercase hex HMAC-SHA256(vvk, UTF-8 value) that lets every later reader check the
/// value is the owner's.
///
/// The hash guards against a server, or an on-sharer, that changes a value: an on-share carries the owner's hash
/// (the service copies it), and the recipient verifies each value against it. It does not bind a value to its slot
/// (AAD `none`, the hash is over the value only): a server that swaps the (value, vvk, hash) triples of two slots of
/// one share is not detected (sharing.md §4 T24, as ADR-005 says of the Vault).
public enum ShareCrypto {
    /// Bytes of a share DEK and of a terms key (AES-256).
    public static let keyByteCount = 32
    /// Bytes of a value verification key (Meeco's `VALUE_VERIFICATION_KEY_LENGTH`).
    public static let verificationKeyByteCount = 64

    // MARK: Value verification

    /// Lowercase hex HMAC-SHA256(`key`, UTF-8 `value`): what svx writes as `value_verification_hash`.
    public static func verificationHash(key: [UInt8], value: String) -> String {
        Cryppo.valueVerificationHash(key: key, value: value)
    }

    /// Lowercase hex HMAC-SHA256(`key`, Latin-1 `value`): what Meeco's SDK wrote for values beyond ASCII (forge's
    /// "raw" strings take one byte per character). Nil when a character of `value` is beyond U+00FF (no Latin-1 form).
    public static func latin1VerificationHash(key: [UInt8], value: String) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(value.unicodeScalars.count)
        for scalar in value.unicodeScalars {
            guard scalar.value <= 0xFF else { return nil }
            bytes.append(UInt8(scalar.value))
        }
        return Hex.encode(HMAC.sha256(key: key, message: bytes))
    }

    /// How `value` matches `hash` under `key`: over its UTF-8 bytes, else (Meeco-written data) over its Latin-1
    /// bytes; nil when neither matches. Compared in constant time over the exact text (64 lowercase hex digits).
    public static func verify(value: String, key: [UInt8], hash: String) -> ValueEncoding? {
        let received = Array(hash.utf8)
        if ConstantTime.equals(received, Array(verificationHash(key: key, value: value).utf8)) { return .utf8 }
        if let latin1 = latin1VerificationHash(key: key, value: value), latin1 != verificationHash(key: key, value: value),
            ConstantTime.equals(received, Array(latin1.utf8))
        {
            return .latin1
        }
        return nil
    }

    // MARK: Sealing for a recipient

    /// A file in a share: the attachment's id and its own 32-byte DEK.
    struct SharedFile: Sendable {
        let attachmentID: String
        let key: SymmetricKey
    }

    /// An attachment slot's file for one recipient: its id and Cryppo(`dek`, the file's DEK).
    static func seal(_ file: SharedFile, into slot: inout Svx_Sharing_V1_ShareSlot, dek: SymmetricKey) throws {
        slot.attachmentID = file.attachmentID
        slot.encryptedAttachmentDek = try file.key.withUnsafeBytes { try Cryppo.encrypt(bytes: $0, key: dek) }
    }

    /// One slot of an owned item for one recipient: the value under `dek`, a fresh vvk under `dek`, and the hash; and
    /// the file of an attachment slot (`file`). A slot with a file and no value (`value` nil) carries the file only.
    static func ownedSlot(id: String, value: String?, file: SharedFile? = nil, dek: SymmetricKey) throws -> Svx_Sharing_V1_ShareSlot {
        var slot = Svx_Sharing_V1_ShareSlot()
        slot.slotID = id
        if let file { try seal(file, into: &slot, dek: dek) }
        guard let value else { return slot }
        var verificationKey = try SecureRandom.bytes(count: verificationKeyByteCount)
        defer { secureZero(&verificationKey) }
        slot.encryptedValue = try Cryppo.encrypt(Array(value.utf8), key: dek)
        slot.encryptedValueVerificationKey = try Cryppo.encrypt(verificationKey, key: dek)
        slot.valueVerificationHash = verificationHash(key: verificationKey, value: value)
        return slot
    }

    /// One slot of a received share for the next recipient (an on-share): the value and the same vvk under the new
    /// `dek`, no hash (the service copies the owner's, against which the next recipient verifies), and the file's key
    /// under the new `dek`.
    static func onSharedSlot(_ opened: OpenedSlot, dek: SymmetricKey) throws -> Svx_Sharing_V1_ShareSlot {
        var slot = Svx_Sharing_V1_ShareSlot()
        slot.slotID = opened.slot.id
        if let file = opened.file { try seal(file, into: &slot, dek: dek) }
        guard let value = opened.slot.value, let verificationKey = opened.verificationKey else { return slot }
        slot.encryptedValue = try Cryppo.encrypt(Array(value.utf8), key: dek)
        slot.encryptedValueVerificationKey = try verificationKey.withUnsafeBytes { try Cryppo.encrypt(bytes: $0, key: dek) }
        return slot
    }

    /// A 32-byte key (share DEK or terms key) as an `Rsa4096` string for `recipient`.
    static func wrap(_ key: SymmetricKey, for recipient: RSAPublicKey) throws -> String {
        var raw = key.bytes
        defer { secureZero(&raw) }
        return try Cryppo.encrypt(raw, publicKey: recipient)
    }

    /// A 32-byte key (share DEK or terms key) from its `Rsa4096` string; anything else is
    /// ``SVXClientError/Code/keyUnwrapFailed`` naming `what`.
    static func unwrap(_ wrapped: String, with privateKey: RSAPrivateKey, what: String) throws -> SymmetricKey {
        var bytes: [UInt8]
        do {
            bytes = try Cryppo.decrypt(wrapped, privateKey: privateKey)
        } catch {
            throw SVXClientError(.keyUnwrapFailed, "\(what) does not open with your connection key")
        }
        defer { secureZero(&bytes) }
        guard bytes.count == keyByteCount else {
            throw SVXClientError(.keyUnwrapFailed, "\(what) opened to \(bytes.count) bytes, not \(keyByteCount)")
        }
        return SymmetricKey(bytes: bytes)
    }

    /// Cryppo(`key`, UTF-8 `terms`).
    static func encryptTerms(_ terms: String, key: SymmetricKey) throws -> String {
        try Cryppo.encrypt(Array(terms.utf8), key: key)
    }

    /// The terms from Cryppo(`key`, UTF-8 terms).
    static func decryptTerms(_ encrypted: String, key: SymmetricKey, shareID: String) throws -> String {
        guard let bytes = try? Cryppo.decrypt(encrypted, key: key), let terms = String(validating: bytes, as: UTF8.self) else {
            throw SVXClientError(.keyUnwrapFailed, "the terms of share \(shareID) do not open with their key")
        }
        return terms
    }

    // MARK: Opening as a recipient

    /// A slot opened with the share DEK: its verified value and, for on-sharing, its vvk (wiped when released); the
    /// file of an attachment slot with its key.
    struct OpenedSlot: Sendable {
        let slot: VerifiedSharedSlot
        let verificationKey: SymmetricKey?
        let file: SharedFile?
    }

    /// Every slot of `item` opened with `dek` and verified against its hash. Any slot whose value does not decrypt,
    /// lacks its vvk or hash, or does not match the hash is a failure, and then nothing is returned:
    /// ``SVXClientError/Code/valueVerificationFailed`` naming every such slot.
    static func open(_ item: Svx_Sharing_V1_SharedItem, dek: SymmetricKey, shareID: String) throws -> (VerifiedSharedItem, [OpenedSlot]) {
        var opened: [OpenedSlot] = []
        var failures: [String] = []
        for slot in item.slots {
            switch open(slot, dek: dek) {
            case .success(let slot): opened.append(slot)
            case .failure(let reason): failures.append("slot \(slot.name) (\"\(slot.label)\") \(reason)")
            }
        }
        guard failures.isEmpty else {
            throw SVXClientError(
                .valueVerificationFailed,
                "share \(shareID) does not verify: \(failures.joined(separator: "; ")). Nothing of it is shown: the value was changed after the owner shared it (by the server, or by whoever shared it on)")
        }
        let verified = VerifiedSharedItem(
            label: item.label, templateName: item.templateName, itemVersion: item.itemVersion, slots: opened.map(\.slot))
        return (verified, opened)
    }

    /// Why a slot failed, in words that follow its name.
    enum SlotResult {
        case success(OpenedSlot)
        case failure(String)
    }

    static func open(_ slot: Svx_Sharing_V1_ShareSlot, dek: SymmetricKey) -> SlotResult {
        // Names are the server's metadata, shown and used to name saved files: only what the Vault allows.
        guard SlotName.isValid(slot.name) else { return .failure("has a name that is not a slot name") }
        var file: SharedFile?
        switch (slot.attachmentID.isEmpty, slot.encryptedAttachmentDek.isEmpty) {
        case (true, true):
            break
        case (false, false):
            guard var bytes = try? Cryppo.decrypt(slot.encryptedAttachmentDek, key: dek) else {
                return .failure("has a file key that does not decrypt with the share's key")
            }
            defer { secureZero(&bytes) }
            guard bytes.count == keyByteCount else {
                return .failure("has a file key of \(bytes.count) bytes, not \(keyByteCount)")
            }
            file = SharedFile(attachmentID: slot.attachmentID, key: SymmetricKey(bytes: bytes))
        default:
            return .failure("names a file without its key, or a key without its file")
        }
        func opened(value: String?, key: SymmetricKey?, as encoding: ValueEncoding?) -> SlotResult {
            .success(OpenedSlot(
                slot: VerifiedSharedSlot(
                    id: slot.slotID, name: slot.name, label: slot.label, typeName: slot.slotType, ordinal: slot.ordinal,
                    value: value, verifiedAs: encoding, attachmentID: file?.attachmentID),
                verificationKey: key, file: file))
        }
        guard !slot.encryptedValue.isEmpty else { return opened(value: nil, key: nil, as: nil) }
        guard !slot.encryptedValueVerificationKey.isEmpty, !slot.valueVerificationHash.isEmpty else {
            return .failure("has a value but no verification key or hash")
        }
        guard let bytes = try? Cryppo.decrypt(slot.encryptedValue, key: dek) else {
            return .failure("does not decrypt with the share's key")
        }
        guard let value = String(validating: bytes, as: UTF8.self) else { return .failure("is not UTF-8 text") }
        guard var verificationKey = try? Cryppo.decrypt(slot.encryptedValueVerificationKey, key: dek) else {
            return .failure("has a verification key that does not decrypt with the share's key")
        }
        defer { secureZero(&verificationKey) }
        guard verificationKey.count == verificationKeyByteCount else {
            return .failure("has a verification key of \(verificationKey.count) bytes, not \(verificationKeyByteCount)")
        }
        guard let encoding = verify(value: value, key: verificationKey, hash: slot.valueVerificationHash) else {
            return .failure("does not match the owner's original value")
        }
        return opened(value: value, key: SymmetricKey(bytes: verificationKey), as: encoding)
    }
}
