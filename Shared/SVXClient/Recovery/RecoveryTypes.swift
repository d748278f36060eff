import Cryppo
import Foundation
import SVXProto

/// What Auth and the Keystore say of the user's recovery (``RecoveryClient/status(session:)``).
public struct RecoveryStatus: Sendable, Equatable {
    /// Auth holds a recovery credential: a Recovery Key can start a recovery.
    public let enrolled: Bool
    public let enrolledAt: Date?
    /// The Keystore holds a recovery key (the KEK wrapped for the recovery keypair).
    public let keystoreHasRecoveryKey: Bool
    /// A recovery under way (someone proved the Recovery Key and waits for the delay to end).
    public let pending: PendingRecovery?

    /// Both halves are there: a recovery would work.
    public var isUsable: Bool { enrolled && keystoreHasRecoveryKey }
}

/// A recovery under way: the user's RECOVERY session.
public struct PendingRecovery: Sendable, Equatable {
    public let sessionID: String
    public let startedAt: Date
    /// When the recovery can be completed.
    public let usableAt: Date
    /// When the recovery session ends if it was not completed.
    public let expiresAt: Date

    static func from(_ wire: Svx_Auth_V1_PendingRecovery) -> PendingRecovery {
        PendingRecovery(
            sessionID: wire.sessionID, startedAt: Date(wireMilliseconds: wire.startedAtMs),
            usableAt: Date(wireMilliseconds: wire.usableAtMs), expiresAt: Date(wireMilliseconds: wire.expiresAtMs))
    }
}

/// A RECOVERY session (Auth's FinishRecovery): usable for the recovery methods only, and only from ``usableAt``.
/// Its token is a bearer secret like a login's; a client keeps it with owner-only permissions.
public struct RecoverySession: Sendable, Codable, Equatable {
    /// The session (its credential generation is the user's when the recovery began: CompleteRecovery's expected one).
    public var session: AuthenticatedSession
    public var usableAt: Date

    public init(session: AuthenticatedSession, usableAt: Date) {
        self.session = session
        self.usableAt = usableAt
    }
}

/// The MAC that binds the recovery public key to the user's KEK (RecoveryKey.public_key_mac in the Keystore's
/// proto): HMAC-SHA256(HMAC-SHA256(KEK, "svx-recovery-key-mac-v1"), SPKI DER). The client checks it before it wraps
/// a KEK for the stored public key, so a Keystore cannot swap in a key of its own and receive the next KEK.
public enum RecoveryKeyMAC {
    public static let label = "svx-recovery-key-mac-v1"

    public static func mac(publicKey: RSAPublicKey, kek: SymmetricKey) throws -> [UInt8] {
        var kekBytes = kek.bytes
        defer { secureZero(&kekBytes) }
        var macKey = HMAC.sha256(key: kekBytes, message: Array(label.utf8))
        defer { secureZero(&macKey) }
        return HMAC.sha256(key: macKey, message: try publicKey.subjectPublicKeyInfoDER)
    }

    /// Whether `mac` is the MAC of `publicKey` under `kek` (constant time).
    public static func verify(_ mac: [UInt8], publicKey: RSAPublicKey, kek: SymmetricKey) -> Bool {
        guard let expected = try? self.mac(publicKey: publicKey, kek: kek) else { return false }
        return ConstantTime.equals(mac, expected)
    }
}
