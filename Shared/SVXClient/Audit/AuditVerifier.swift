import Cryppo
import Foundation
import SVXContracts

/// The checks of one service's chain, without I/O (``AuditClient/verify(session:storedHeads:keys:acceptPrunedHeads:)``
/// reads the chains and runs these). In order, the first failure wins:
///
/// 1. the service answered under the name asked, with a well-formed anchor;
/// 2. ``AuditChain/firstBreak(_:service:userID:anchor:sha256:)`` from the anchor (or the genesis);
/// 3. the head the service claims is the last event listed (or the anchor when nothing is kept);
/// 4. the head this device stored last is still in the chain (``AuditChain/contains(head:in:)``), equal to the anchor
///    when it is the anchor, and not below it (pruned past it) unless the caller accepts that;
/// 5. every `audit.checkpoint` event: its shape, its signature by the user's `auth` key (when the key is given), and
///    the head it signs, which must be the chain's event at that seq (or the anchor) when that is still kept.
public enum AuditVerifier {
    /// The public half of the user's own `auth` key, as a device derives it from its private key: what checkpoints
    /// are checked with.
    public struct SigningKey: Sendable {
        public let publicKey: RSAPublicKey
        /// Lowercase hex SHA-256 of the public key PEM (UTF-8): what a checkpoint's `public_key_sha256` must be.
        public let publicKeySHA256: String

        public init(publicKeyPEM: String) throws {
            publicKey = try RSAPublicKey(pem: publicKeyPEM)
            publicKeySHA256 = Hex.encode(HashFunction.sha256.hash(Array(publicKeyPEM.utf8)))
        }
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] { HashFunction.sha256.hash(bytes) }

    /// Verifies `chain` against `storedHead` (the head this device verified last for this service and user, nil when
    /// none), checking checkpoint signatures with `key` when given. `acceptPrunedHead`: a stored head below the
    /// retention anchor passes (the caller knows retention pruned past it) instead of failing `pruned_past_head`.
    public static func verify(
        _ chain: AuditServiceChain, storedHead: AuditHead?, key: SigningKey?, acceptPrunedHead: Bool = false
    ) -> AuditServiceVerification {
        var checkpointsVerified = 0
        var checkpointsUnchecked = 0
        func result(_ state: AuditServiceVerification.State) -> AuditServiceVerification {
            AuditServiceVerification(
                service: chain.service, state: state, eventCount: chain.entries.count, anchor: chain.anchor,
                checkpointsVerified: checkpointsVerified, checkpointsUnchecked: checkpointsUnchecked)
        }
        func failed(_ seq: UInt64, _ reason: AuditFailureReason, _ message: String) -> AuditServiceVerification {
            result(.failed(AuditFailure(service: chain.service, seq: seq, reason: reason, message: message)))
        }

        // 1. The answer's shape.
        guard chain.answeredService == chain.service else {
            return failed(0, .malformed, "the service answered as \"\(chain.answeredService.prefix(40))\", not \"\(chain.service)\"")
        }
        if let anchor = chain.anchor, anchor.hash.count != 32 || anchor.seq > chain.head.seq {
            return failed(anchor.seq, .malformed, "the retention anchor is not a 32-byte hash at or below the head")
        }

        // 2. The chain from its anchor or genesis.
        if let broken = AuditChain.firstBreak(
            chain.entries, service: chain.service, userID: chain.userID, anchor: chain.anchor.map { ($0.seq, $0.hash) },
            sha256: sha256)
        {
            switch broken.reason {
            case .gap:
                return failed(broken.seq, .gap, "an event is missing or out of order (deleted or reordered)")
            case .brokenLink:
                return failed(broken.seq, .brokenLink, "the event does not link to the one before it")
            case .edited:
                return failed(broken.seq, .edited, "the event's fields do not give its hash: it was edited")
            case .headMissing:
                return failed(broken.seq, .headMissing, "a head is missing")
            }
        }

        // 3. The claimed head is the last event listed (or the anchor, or nothing).
        let last = chain.entries.last.map { AuditHead(seq: $0.seq, hash: $0.entryHash) }
            ?? chain.anchor ?? AuditHead(seq: 0, hash: [])
        guard chain.head.seq == last.seq, last.seq == 0 || chain.head.hash == last.hash else {
            return failed(
                min(chain.head.seq, last.seq) + 1, .headMismatch,
                "the service claims head \(chain.head.seq) but listed events up to \(last.seq)")
        }

        // 4. The head this device verified last is still there.
        if let stored = storedHead {
            let anchorSeq = chain.anchor?.seq ?? 0
            if let anchor = chain.anchor, stored.seq < anchor.seq {
                if !acceptPrunedHead {
                    return failed(
                        stored.seq, .prunedPastHead,
                        "retention pruned past this device's last verified head (\(stored.seq); the chain now starts after \(anchor.seq))")
                }
            } else if let anchor = chain.anchor, stored.seq == anchorSeq {
                guard stored.hash == anchor.hash else {
                    return failed(stored.seq, .headMissing, "the head this device verified last is not the chain's anchor: history was rewritten")
                }
            } else if AuditChain.contains(head: (stored.seq, stored.hash), in: chain.entries) != nil {
                return failed(
                    stored.seq, .headMissing,
                    "the head this device verified last is no longer in the chain: history was rewritten or truncated")
            }
        }

        // 5. Checkpoints.
        let anchorSeq = chain.anchor?.seq ?? 0
        for entry in chain.entries where entry.type == AuditClient.checkpointEventType {
            guard entry.subjectType == "audit_event", let signedSeq = UInt64(entry.subjectID), signedSeq >= 1,
                signedSeq < entry.seq, let signatureText = entry.details["signature"],
                let keyDigest = entry.details["public_key_sha256"],
                let signature = try? CryppoSignature(parsing: signatureText)
            else {
                return failed(entry.seq, .checkpointMalformed, "the checkpoint is not a signed head of an earlier event")
            }
            if let key {
                guard keyDigest == key.publicKeySHA256 else {
                    return failed(entry.seq, .checkpointSignature, "the checkpoint was signed by another key than your auth key")
                }
                guard signature.isValid(publicKey: key.publicKey) else {
                    return failed(entry.seq, .checkpointSignature, "the checkpoint's signature is not valid for your auth key")
                }
                checkpointsVerified += 1
            } else {
                checkpointsUnchecked += 1
            }
            let signedHead: [UInt8]?
            if signedSeq > anchorSeq {
                signedHead = chain.entries[Int(signedSeq - anchorSeq - 1)].entryHash  // dense from the anchor (step 2)
            } else if signedSeq == anchorSeq {
                signedHead = chain.anchor?.hash
            } else {
                signedHead = nil  // pruned: only the message's shape can be checked
            }
            if let signedHead {
                guard signature.data == AuditChain.checkpointMessage(
                    service: chain.service, userID: chain.userID, seq: signedSeq, head: signedHead)
                else {
                    return failed(
                        entry.seq, .checkpointMismatch,
                        "the checkpoint signs a head that is not event \(signedSeq) of the chain: history was rewritten below it")
                }
            } else {
                let prefix = AuditChain.checkpointMessage(service: chain.service, userID: chain.userID, seq: signedSeq, head: [])
                guard signature.data.count == prefix.count + 64, signature.data.starts(with: prefix) else {
                    return failed(entry.seq, .checkpointMismatch, "the checkpoint signs another chain or event than it says")
                }
            }
        }
        return result(.verified(head: last))
    }
}
