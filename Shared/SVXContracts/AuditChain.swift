/// The tamper-evident chain of one user's audit events in one service (reference/sharing.md §5b), written once for
/// the service that appends to it and the client that verifies it.
///
/// Every event links to the one before: `entry_hash = SHA-256(prev_hash ‖ canonical encoding of the other fields)`,
/// and the first event's `prev_hash` is `SHA-256("svx-audit-v1|" ‖ service ‖ "|" ‖ user_id)`. The canonical encoding
/// is ``ProofTranscript``'s: a domain string, then every field as a 4-byte big-endian length and its bytes, integers as
/// 8 bytes big-endian, the details sorted by key. So an edited, deleted, inserted or reordered event changes every
/// hash after it, and a client that kept an earlier head notices.
///
/// SHA-256 is the caller's (SVXContracts holds no crypto): the service and the SDK pass Cryppo's.
public struct AuditEntry: Sendable, Equatable {
    /// The user's id, as the services write it (lowercase UUID).
    public var userID: String
    /// 1, 2, 3, ... per user and service, with no gap.
    public var seq: UInt64
    public var occurredAtMs: UInt64
    /// What happened, e.g. `login.succeeded`, `kek.rotated`, `share.created`.
    public var type: String
    /// The session that did it (empty when none, e.g. a failed login).
    public var sessionID: String
    /// The caller's address as the service saw it (empty when none).
    public var peerAddress: String
    /// What it happened to, e.g. `item` and the item's id (both empty when nothing in particular).
    public var subjectType: String
    public var subjectID: String
    /// Ids and codes only, never a value, a key or a name in clear.
    public var details: [String: String]
    public var prevHash: [UInt8]
    public var entryHash: [UInt8]

    public init(
        userID: String, seq: UInt64, occurredAtMs: UInt64, type: String, sessionID: String = "", peerAddress: String = "",
        subjectType: String = "", subjectID: String = "", details: [String: String] = [:], prevHash: [UInt8] = [],
        entryHash: [UInt8] = []
    ) {
        self.userID = userID
        self.seq = seq
        self.occurredAtMs = occurredAtMs
        self.type = type
        self.sessionID = sessionID
        self.peerAddress = peerAddress
        self.subjectType = subjectType
        self.subjectID = subjectID
        self.details = details
        self.prevHash = prevHash
        self.entryHash = entryHash
    }
}

/// Where a chain stops being what it claims (``AuditChain/firstBreak(_:service:userID:anchor:sha256:)``).
public struct AuditChainBreak: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// A sequence number is missing (an event deleted, or the list truncated) or out of order.
        case gap
        /// The event does not link to the one before (one before it was edited, inserted or deleted).
        case brokenLink = "broken_link"
        /// The event's own fields do not give its hash (the event was edited).
        case edited
        /// The chain does not contain a head this client had seen (history rewritten or truncated below it).
        case headMissing = "head_missing"
    }

    /// The first sequence number that fails.
    public let seq: UInt64
    public let reason: Reason

    public init(seq: UInt64, reason: Reason) {
        self.seq = seq
        self.reason = reason
    }

    public var description: String { "event \(seq): \(reason.rawValue)" }
}

/// A point of one service's chain: an event's seq and its entry hash, 32 bytes (seq 0 and the genesis hash, or no hash,
/// before any event). Where a service's chain ends (its head), or what a device verified last.
public struct AuditHead: Sendable, Equatable {
    public var seq: UInt64
    /// The event's `entry_hash`.
    public var hash: [UInt8]

    public init(seq: UInt64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }
}

public enum AuditChain {
    /// The domain of every entry's encoding and of the genesis.
    public static let domain = "svx-audit-v1"
    /// The domain of a signed checkpoint.
    public static let checkpointDomain = "svx-audit-checkpoint-v1"

    /// The bytes whose SHA-256 is the `prev_hash` of a user's first event in `service`.
    public static func genesisInput(service: String, userID: String) -> [UInt8] {
        Array("\(domain)|\(service)|\(userID)".utf8)
    }

    /// The bytes whose SHA-256 is `entry.entryHash`: its `prevHash`, then the canonical encoding of the other fields.
    public static func entryInput(_ entry: AuditEntry) -> [UInt8] {
        var transcript = ProofTranscript(domain: domain)
        transcript.append(entry.userID)
        transcript.append(entry.seq)
        transcript.append(entry.occurredAtMs)
        transcript.append(entry.type)
        transcript.append(entry.sessionID)
        transcript.append(entry.peerAddress)
        transcript.append(entry.subjectType)
        transcript.append(entry.subjectID)
        let details = entry.details.sorted { $0.key < $1.key }
        transcript.append(UInt64(details.count))
        for (key, value) in details {
            transcript.append(key)
            transcript.append(value)
        }
        return entry.prevHash + transcript.bytes
    }

    /// `entry` with its `prevHash` set to `previous` and its `entryHash` computed: what the service stores.
    public static func linked(_ entry: AuditEntry, after previous: [UInt8], sha256: ([UInt8]) -> [UInt8]) -> AuditEntry {
        var linked = entry
        linked.prevHash = previous
        linked.entryHash = sha256(entryInput(linked))
        return linked
    }

    /// The first place where `entries` (in the order given, which must be by `seq`) are not a chain: each one's hash is
    /// recomputed, each links to the one before, and the sequence has no gap. The chain starts at `anchor` (the
    /// `seq` and hash of the last event pruned before the first one given, or of the last one a client verified) or,
    /// without one, at the genesis of `service` and `userID` with seq 1. nil: the chain holds.
    public static func firstBreak(
        _ entries: [AuditEntry], service: String, userID: String, anchor: (seq: UInt64, hash: [UInt8])? = nil,
        sha256: ([UInt8]) -> [UInt8]
    ) -> AuditChainBreak? {
        var expectedSeq = (anchor?.seq ?? 0) + 1
        var previous = anchor?.hash ?? sha256(genesisInput(service: service, userID: userID))
        for entry in entries {
            guard entry.seq == expectedSeq, entry.userID == userID else {
                return AuditChainBreak(seq: min(entry.seq, expectedSeq), reason: .gap)
            }
            guard entry.prevHash == previous else { return AuditChainBreak(seq: entry.seq, reason: .brokenLink) }
            guard sha256(entryInput(entry)) == entry.entryHash else { return AuditChainBreak(seq: entry.seq, reason: .edited) }
            previous = entry.entryHash
            expectedSeq += 1
        }
        return nil
    }

    /// Whether a head this client saw earlier (`seq`, `hash`) is still in `entries` (a verified chain): if it is not,
    /// history up to it was rewritten or truncated. A head below the first entry given cannot be checked here (it was
    /// pruned: compare it with the chain's anchor instead) and is reported as missing.
    public static func contains(head: (seq: UInt64, hash: [UInt8]), in entries: [AuditEntry]) -> AuditChainBreak? {
        guard let entry = entries.first(where: { $0.seq == head.seq }) else {
            return AuditChainBreak(seq: head.seq, reason: .headMissing)
        }
        return entry.entryHash == head.hash ? nil : AuditChainBreak(seq: head.seq, reason: .headMissing)
    }

    /// What a checkpoint signs: `svx-audit-checkpoint-v1|service|user_id|seq|head (lowercase hex)`, in UTF-8.
    public static func checkpointMessage(service: String, userID: String, seq: UInt64, head: [UInt8]) -> [UInt8] {
        let hex = head.map { byte in
            let digits = Array("0123456789abcdef")
            return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
        }.joined()
        return Array("\(checkpointDomain)|\(service)|\(userID)|\(seq)|\(hex)".utf8)
    }
}
