import Cryppo

/// The invitation secret `S` (sharing.md §2.2): 32 random bytes made by the inviter's SDK, handed to the invitee
/// inside the invitation code and never sent to any server in clear. Each side keeps it encrypted under its own
/// private DEK (`encrypted_key_secret`), so any of its devices can check the connection's keys again. Wiped from
/// memory when released.
public struct InvitationSecret: Sendable, Equatable {
    public static let byteCount = 32

    let key: SymmetricKey

    /// A new random secret.
    public static func random() throws -> InvitationSecret {
        InvitationSecret(key: try SymmetricKey.random(byteCount: byteCount))
    }

    /// A secret from its 32 bytes (anything else is ``SVXClientError/Code/invalidInput``).
    public init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else {
            throw SVXClientError(.invalidInput, "an invitation secret is \(Self.byteCount) bytes, not \(bytes.count)")
        }
        key = SymmetricKey(bytes: bytes)
    }

    init(key: SymmetricKey) { self.key = key }

    /// Base58 (the Secret Key's alphabet), as the invitation code carries it.
    var base58: String {
        var raw = key.bytes
        defer { secureZero(&raw) }
        return Base58.encode(raw)
    }

    /// Cryppo(`dek`, S): what a connection row keeps as `encrypted_key_secret`.
    public func encrypted(under dek: SymmetricKey) throws -> String {
        try key.withUnsafeBytes { try Cryppo.encrypt(bytes: $0, key: dek) }
    }

    /// S from `encrypted_key_secret` under `dek`; a string that does not open to 32 bytes is
    /// ``SVXClientError/Code/keyUnwrapFailed``.
    static func decrypting(_ encrypted: String, with dek: SymmetricKey) throws -> InvitationSecret {
        var raw = try KeyringClient.unwrap(encrypted, with: dek, what: "the connection's invitation secret", bytes: byteCount)
        defer { secureZero(&raw) }
        return try InvitationSecret(bytes: raw)
    }

    /// HMAC-SHA256 under S.
    func authenticate(_ message: [UInt8]) -> [UInt8] {
        var raw = key.bytes
        defer { secureZero(&raw) }
        return HMAC.sha256(key: raw, message: message)
    }
}

/// The proofs that bind both public keys of a connection to the invitation secret S (sharing.md §2.2). Only the
/// two users hold S, so a server that hands either of them another public key cannot make a proof that matches it.
///
/// - `inviter_proof` = hex HMAC-SHA256(S, ASCII `svx-connection-v1|inviter|` ‖ fpr(inviter key))
/// - `invitee_proof` = hex HMAC-SHA256(S, ASCII `svx-connection-v1|invitee|` ‖ fpr(inviter key) ‖ fpr(invitee key))
public enum ConnectionProof {
    static let inviterLabel = Array("svx-connection-v1|inviter|".utf8)
    static let inviteeLabel = Array("svx-connection-v1|invitee|".utf8)

    /// The inviter's proof over its own key: 64 lowercase hex digits.
    public static func inviter(secret: InvitationSecret, inviterKey: KeyFingerprint) -> String {
        Hex.encode(secret.authenticate(inviterLabel + inviterKey.bytes))
    }

    /// The invitee's proof over both keys: 64 lowercase hex digits.
    public static func invitee(secret: InvitationSecret, inviterKey: KeyFingerprint, inviteeKey: KeyFingerprint) -> String {
        Hex.encode(secret.authenticate(inviteeLabel + inviterKey.bytes + inviteeKey.bytes))
    }

    /// Whether a proof received from the server is the one computed here, in time that does not depend on where
    /// they differ. Only the exact form (64 lowercase hex digits) matches.
    public static func matches(_ received: String, _ computed: String) -> Bool {
        ConstantTime.equals(Array(received.utf8), Array(computed.utf8))
    }
}
