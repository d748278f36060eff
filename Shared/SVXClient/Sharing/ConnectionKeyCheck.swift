import Cryppo

extension ConnectionKeyCheck {
    /// Checks one side of a connection as the service returned it (no I/O): both keys are read and fingerprinted,
    /// the other side's proof and this side's own are recomputed under the invitation secret and compared in
    /// constant time, and the service's fingerprint of the other key must be that key's.
    ///
    /// - Parameters:
    ///   - role: this side's role.
    ///   - secret: S, decrypted from this side's `encrypted_key_secret`.
    ///   - ownPublicKeyPEM, otherPublicKeyPEM: the keys as the service holds them.
    ///   - ownProof, otherProof: the proofs as the service holds them.
    ///   - otherKeySHA256: the service's fingerprint of the other key (hex; empty: none given).
    public static func evaluate(
        role: ConnectionRole, secret: InvitationSecret, ownPublicKeyPEM: String, otherPublicKeyPEM: String,
        ownProof: String, otherProof: String, otherKeySHA256: String
    ) -> ConnectionKeyCheck {
        guard let own = try? KeyFingerprint(publicKeyPEM: ownPublicKeyPEM) else {
            return .mismatch("your own public key on this connection is not an RSA public key")
        }
        guard let other = try? KeyFingerprint(publicKeyPEM: otherPublicKeyPEM) else {
            return .mismatch("the other user's public key on this connection is not an RSA public key")
        }
        if !otherKeySHA256.isEmpty, !ConstantTime.equals(Array(otherKeySHA256.utf8), Array(other.hex.utf8)) {
            return .mismatch("the service's fingerprint of the other user's key is not that key's")
        }
        let (inviterKey, inviteeKey) = role == .inviter ? (own, other) : (other, own)
        let inviterProof = ConnectionProof.inviter(secret: secret, inviterKey: inviterKey)
        let inviteeProof = ConnectionProof.invitee(secret: secret, inviterKey: inviterKey, inviteeKey: inviteeKey)
        let (ownExpected, otherExpected) = role == .inviter ? (inviterProof, inviteeProof) : (inviteeProof, inviterProof)
        guard ConnectionProof.matches(otherProof, otherExpected) else {
            return .mismatch("the other user's public key is not the one proved with the invitation secret: it was changed after the invitation")
        }
        guard ConnectionProof.matches(ownProof, ownExpected) else {
            return .mismatch("your own public key on this connection is not the one you proved: it was changed after the invitation")
        }
        return .verified
    }

    /// The invitee's check before accepting (no I/O): the inviter's key the service returned must be the one the
    /// code's secret vouches for. Returns its fingerprint; a mismatch is ``SVXClientError/Code/keyVerificationFailed``.
    public static func inviterKey(
        publicKeyPEM: String, proof: String, secret: InvitationSecret
    ) throws -> KeyFingerprint {
        let refusal = SVXClientError(
            .keyVerificationFailed,
            "the inviter's public key from the service is not the one the invitation code vouches for: someone changed it. Nothing was accepted: ask the inviter for a new code over another channel")
        guard let key = try? KeyFingerprint(publicKeyPEM: publicKeyPEM) else { throw refusal }
        guard ConnectionProof.matches(proof, ConnectionProof.inviter(secret: secret, inviterKey: key)) else { throw refusal }
        return key
    }
}
