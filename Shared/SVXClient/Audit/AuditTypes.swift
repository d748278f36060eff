import Cryppo
import Foundation
import SVXContracts

/// One event of the user's audit trail as ``AuditClient/list(session:since:)`` returns it: which service recorded it,
/// where it sits in that service's chain, and what it says (ids, codes and times only).
public struct AuditRecord: Sendable, Equatable {
    /// The service whose chain holds the event (`auth`, `keystore`, ...).
    public let service: String
    /// 1, 2, 3, ... in that service's chain.
    public let seq: UInt64
    public let occurredAtMs: UInt64
    /// What happened, e.g. `login.succeeded`.
    public let type: String
    /// The session that did it (empty when none).
    public let sessionID: String
    /// The caller's address as the service saw it (empty when none).
    public let peerAddress: String
    public let subjectType: String
    public let subjectID: String
    public let details: [String: String]

    public var occurredAt: Date { Date(wireMilliseconds: occurredAtMs) }

    init(service: String, entry: AuditEntry) {
        self.service = service
        seq = entry.seq
        occurredAtMs = entry.occurredAtMs
        type = entry.type
        sessionID = entry.sessionID
        peerAddress = entry.peerAddress
        subjectType = entry.subjectType
        subjectID = entry.subjectID
        details = entry.details
    }

    /// The order of a merged trail: by time, then service name, then seq (so two events of one millisecond always
    /// come out the same way, and one service's events keep their chain order).
    public static func mergedOrder(_ lhs: AuditRecord, _ rhs: AuditRecord) -> Bool {
        (lhs.occurredAtMs, lhs.service, lhs.seq) < (rhs.occurredAtMs, rhs.service, rhs.seq)
    }
}

/// One service's chain of the caller's events, read to its head with ListEvents (``AuditClient/chains(session:)``).
public struct AuditServiceChain: Sendable, Equatable {
    /// The service's name as the chain's genesis uses it (the one the client asked: a service answering under
    /// another name is a failure of the chain, not a rename).
    public let service: String
    /// The name the service answered with.
    public let answeredService: String
    /// The user's id as the chain uses it (lowercase UUID).
    public let userID: String
    /// The events kept, in the order the service gave them (by seq when nothing is wrong).
    public let entries: [AuditEntry]
    /// The head the service claims (seq 0 and no hash: no event yet).
    public let head: AuditHead
    /// The retention anchor (the last pruned event), nil when nothing was pruned.
    public let anchor: AuditHead?

    public init(
        service: String, answeredService: String, userID: String, entries: [AuditEntry], head: AuditHead, anchor: AuditHead?
    ) {
        self.service = service
        self.answeredService = answeredService
        self.userID = userID
        self.entries = entries
        self.head = head
        self.anchor = anchor
    }
}

/// What one service answered to ListEvents.
public enum AuditServiceTrail: Sendable, Equatable {
    /// Its chain of the caller's events.
    case chain(AuditServiceChain)
    /// It keeps no audit trail yet (it answered UNIMPLEMENTED): nothing to list or verify there.
    case notKept(service: String)

    public var service: String {
        switch self {
        case .chain(let chain): chain.service
        case .notKept(let service): service
        }
    }
}

/// The merged trail of ``AuditClient/list(session:since:)``.
public struct AuditListing: Sendable, Equatable {
    /// Every service's events (from `since` when given), merged by time (ties: service, then seq).
    public let events: [AuditRecord]
    /// The services that keep no trail yet.
    public let servicesWithoutTrail: [String]
}

/// Why a service's chain fails ``AuditClient/verify(session:storedHeads:keys:acceptPrunedHeads:)``.
public enum AuditFailureReason: String, Sendable, Equatable {
    /// A seq is missing or out of order (an event deleted, or rows reordered).
    case gap
    /// An event does not link to the one before it.
    case brokenLink = "broken_link"
    /// An event's fields do not give its hash: it was edited.
    case edited
    /// The head this device verified last is no longer in the chain: history up to it was rewritten or truncated.
    case headMissing = "head_missing"
    /// Retention pruned past the head this device verified last, so what lay between can no longer be checked.
    case prunedPastHead = "pruned_past_head"
    /// The head the service claims is not the last event it listed (events after it withheld, or the head moved back).
    case headMismatch = "head_mismatch"
    /// A checkpoint event is not shaped as AppendCheckpoint writes it.
    case checkpointMalformed = "checkpoint_malformed"
    /// A checkpoint signs a head that is not the chain's event at that seq (history rewritten below a checkpoint).
    case checkpointMismatch = "checkpoint_mismatch"
    /// A checkpoint was not signed by this user's `auth` key (another key, or a forged signature).
    case checkpointSignature = "checkpoint_signature"
    /// The service answered in a way no chain can have (another service's name, a malformed anchor or hash).
    case malformed
}

/// The first thing wrong with one service's chain: where, and why.
public struct AuditFailure: Sendable, Equatable, CustomStringConvertible {
    public let service: String
    /// The first bad event's seq (for a missing head: the head's seq).
    public let seq: UInt64
    public let reason: AuditFailureReason
    /// One sentence for a person.
    public let message: String

    public init(service: String, seq: UInt64, reason: AuditFailureReason, message: String) {
        self.service = service
        self.seq = seq
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(service) event \(seq): \(reason.rawValue): \(message)" }
}

/// One service's part of a verification.
public struct AuditServiceVerification: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// The chain holds from its anchor (or genesis) to `head`, which contains the head stored before.
        case verified(head: AuditHead)
        /// The service keeps no trail yet.
        case notKept
        /// The first thing wrong.
        case failed(AuditFailure)
    }

    public let service: String
    public let state: State
    /// Events checked (those kept above the anchor).
    public let eventCount: Int
    /// The retention anchor, when the service pruned.
    public let anchor: AuditHead?
    /// Checkpoint events whose signature was checked with the user's `auth` key.
    public let checkpointsVerified: Int
    /// Checkpoint events checked only for their shape and signed head (no keys were given to check signatures).
    public let checkpointsUnchecked: Int
}

/// The result of ``AuditClient/verify(session:storedHeads:keys:acceptPrunedHeads:)``.
public struct AuditVerification: Sendable, Equatable {
    public let userID: String
    /// Every service, in the client's order.
    public let services: [AuditServiceVerification]

    /// Every failure, one per broken service.
    public var failures: [AuditFailure] {
        services.compactMap { if case .failed(let failure) = $0.state { failure } else { nil } }
    }

    public var isVerified: Bool { failures.isEmpty }

    /// The heads to store for next time (only when ``isVerified``; empty otherwise): each verified service's head.
    /// A service with no event yet has none.
    public var newHeads: [String: AuditHead] {
        guard isVerified else { return [:] }
        var heads: [String: AuditHead] = [:]
        for service in services {
            if case .verified(let head) = service.state, head.seq > 0 { heads[service.service] = head }
        }
        return heads
    }
}

/// The heads a device verified last, per user and service: `{"<user id>": {"<service>": {"seq": 5, "head": "<hex>"}}}`
/// (what `svx audit verify` keeps in `audit.json`). The file's integrity is the device's: whoever can write it can
/// make the next verification start from another head.
public struct StoredAuditHeads: Sendable, Equatable {
    public var users: [String: [String: AuditHead]]

    public init(users: [String: [String: AuditHead]] = [:]) {
        self.users = users
    }

    /// The heads stored for `userID` (lowercase UUID), by service.
    public func heads(userID: String) -> [String: AuditHead] { users[userID.lowercased()] ?? [:] }

    /// `heads` stored for `userID`, replacing those of the same services (a service left out keeps its head).
    public mutating func store(_ heads: [String: AuditHead], userID: String) {
        users[userID.lowercased(), default: [:]].merge(heads) { _, new in new }
    }

    /// The JSON form, keys sorted.
    public func encoded() throws -> Data {
        var object: [String: [String: [String: Any]]] = [:]
        for (user, services) in users {
            object[user] = services.mapValues { ["seq": $0.seq, "head": Hex.encode($0.hash)] }
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    }

    /// Reads the JSON form; anything else is ``SVXClientError/Code/invalidInput``.
    public init(decoding data: Data) throws {
        func bad(_ why: String) -> SVXClientError { SVXClientError(.invalidInput, "the stored audit heads are unreadable: \(why)") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw bad("not a JSON object") }
        var users: [String: [String: AuditHead]] = [:]
        for (user, value) in object {
            guard let services = value as? [String: Any] else { throw bad("user \(user.prefix(40)) is not an object") }
            for (service, value) in services {
                guard let head = value as? [String: Any], let seq = (head["seq"] as? NSNumber)?.uint64Value,
                    let hex = head["head"] as? String, hex.utf8.count == 64, let hash = try? Hex.decode(hex)
                else { throw bad("the head of \(service.prefix(40)) is not {\"seq\": n, \"head\": 64 hex digits}") }
                users[user.lowercased(), default: [:]][service] = AuditHead(seq: seq, hash: hash)
            }
        }
        self.users = users
    }
}

/// Where a listing starts, as people write it (`svx audit list --since`): a duration back from now (`90m`, `36h`,
/// `7d`, `2w`; a whole number and one unit, at most 3 650 days), a date (`2026-12-01`: 00:00 UTC that day), or a date
/// and time in ISO 8601 with its zone (`2026-12-01T18:00:00Z`).
public enum AuditSince {
    public static func date(parsing text: String, now: Date = Date()) throws -> Date {
        let text = text.trimmingCharacters(in: .whitespaces)
        let usage = "a start is a duration back from now (90m, 36h, 7d, 2w) or a date (2026-12-01, 2026-12-01T18:00:00Z)"
        if let seconds = try ShareExpiry.duration(text, usage: usage) { return now.addingTimeInterval(-seconds) }
        if let day = ShareExpiry.day(text) { return day }
        if let moment = ISO8601DateFormatter().date(from: text) { return moment }
        throw SVXClientError(.invalidInput, "\"\(text.prefix(40))\" is not \(usage)")
    }
}
