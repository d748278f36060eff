import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore

/// One security event of a user, as a handler records it (reference/sharing.md §5b): ids, codes and times only, never a
/// value, a key or a name in clear.
public struct AuditEvent: Sendable, Equatable {
    public var type: String
    public var sessionID: String
    public var peerAddress: String
    public var subjectType: String
    public var subjectID: String
    public var details: [String: String]

    public init(
        _ type: String, sessionID: String = "", peerAddress: String = "", subjectType: String = "", subjectID: String = "",
        details: [String: String] = [:]
    ) {
        self.type = type
        self.sessionID = sessionID
        self.peerAddress = peerAddress
        self.subjectType = subjectType
        self.subjectID = subjectID
        self.details = details
    }
}

/// Appends audit events to `<schema>.audit_events` **in the caller's transaction**, so an event exists if and only if
/// the change it records committed. Per user: a dense sequence and a hash chain (``AuditChain``), extended under the
/// lock of the user's row in `<schema>.audit_heads` (so concurrent appends of one user queue, and the sequence has no
/// gap). Two statements an event: the head taken and locked, then the event inserted and the head moved.
///
/// The tables (each service's migration creates them in its schema; ``tablesSQL(schema:)`` is their definition):
/// `audit_events (user_id, seq, occurred_at_ms, type, session_id, peer_address, subject_type, subject_id, details jsonb,
/// prev_hash, entry_hash)`, key `(user_id, seq)`; `audit_heads (user_id, seq, head_hash)`.
public struct AuditTrail: Sendable {
    /// The service's name in the chain's genesis (`auth`, `keystore`, ...).
    public let service: String
    /// The service's schema.
    public let schema: String

    public init(service: String, schema: String) {
        precondition(schema.allSatisfy { $0.isLetter || $0 == "_" }, "an audit schema is a plain identifier")
        self.service = service
        self.schema = schema
    }

    /// Appends `event` for `userID` on `db`, which must be inside the transaction of the change it records. Returns the
    /// stored entry.
    @discardableResult
    public func append(
        _ event: AuditEvent, userID: UUID, on db: PostgresConnection, now: Date = Date()
    ) throws -> AuditEntry {
        guard db.isInTransaction else {
            throw DatabaseError(kind: .other, message: "an audit event is appended inside the transaction of its change")
        }
        let user = userID.uuidString.lowercased()
        let genesis = HashFunction.sha256.hash(AuditChain.genesisInput(service: service, userID: user))
        // The head, made at the genesis the first time, and locked either way (ON CONFLICT DO UPDATE locks the row).
        let head = try db.query(
            """
            INSERT INTO \(schema).audit_heads (user_id, seq, head_hash) VALUES ($1, 0, $2)
            ON CONFLICT (user_id) DO UPDATE SET seq = \(schema).audit_heads.seq
            RETURNING seq, head_hash
            """, userID, genesis)[0]
        let entry = AuditChain.linked(
            AuditEntry(
                userID: user, seq: UInt64(try head.decode(Int64.self, at: 0)) + 1,
                occurredAtMs: UInt64(max(0, (now.timeIntervalSince1970 * 1000).rounded(.down))), type: event.type,
                sessionID: event.sessionID, peerAddress: event.peerAddress, subjectType: event.subjectType,
                subjectID: event.subjectID, details: event.details),
            after: try head.decode([UInt8].self, at: 1), sha256: { HashFunction.sha256.hash($0) })
        let details = try JSONSerialization.data(withJSONObject: event.details, options: [.sortedKeys])
        _ = try db.execute(
            """
            WITH event AS (
                INSERT INTO \(schema).audit_events (user_id, seq, occurred_at_ms, type, session_id, peer_address,
                                                    subject_type, subject_id, details, prev_hash, entry_hash)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)
            )
            UPDATE \(schema).audit_heads SET seq = $2, head_hash = $11 WHERE user_id = $1
            """, userID, Int64(entry.seq), Int64(entry.occurredAtMs), entry.type, entry.sessionID, entry.peerAddress,
            entry.subjectType, entry.subjectID, String(decoding: details, as: UTF8.self), entry.prevHash, entry.entryHash)
        return entry
    }

    /// The user's events from `afterSeq` (exclusive), at most `limit`, in order: what ListEvents answers.
    public func events(userID: UUID, afterSeq: UInt64, limit: Int, on db: PostgresConnection) throws -> [AuditEntry] {
        let user = userID.uuidString.lowercased()
        return try db.query(
            """
            SELECT seq, occurred_at_ms, type, session_id, peer_address, subject_type, subject_id, details::text,
                   prev_hash, entry_hash
            FROM \(schema).audit_events WHERE user_id = $1 AND seq > $2 ORDER BY seq LIMIT $3
            """, userID, Int64(clamping: afterSeq), Int64(limit)
        ).map { row in
            let detailsText = try row.decode(String.self, at: 7)
            let details = (try? JSONSerialization.jsonObject(with: Data(detailsText.utf8)) as? [String: String]) ?? [:]
            return AuditEntry(
                userID: user, seq: UInt64(try row.decode(Int64.self, at: 0)),
                occurredAtMs: UInt64(try row.decode(Int64.self, at: 1)), type: try row.decode(String.self, at: 2),
                sessionID: try row.decode(String.self, at: 3), peerAddress: try row.decode(String.self, at: 4),
                subjectType: try row.decode(String.self, at: 5), subjectID: try row.decode(String.self, at: 6),
                details: details, prevHash: try row.decode([UInt8].self, at: 8), entryHash: try row.decode([UInt8].self, at: 9))
        }
    }

    /// The tables of the audit trail in `schema` (each service's migration runs this SQL for its own schema).
    public static func tablesSQL(schema: String) -> String {
        """
        CREATE TABLE \(schema).audit_events (
            user_id        uuid NOT NULL,
            seq            bigint NOT NULL CHECK (seq >= 1),
            occurred_at_ms bigint NOT NULL,
            type           text NOT NULL,
            session_id     text NOT NULL DEFAULT '',
            peer_address   text NOT NULL DEFAULT '',
            subject_type   text NOT NULL DEFAULT '',
            subject_id     text NOT NULL DEFAULT '',
            details        jsonb NOT NULL DEFAULT '{}',
            prev_hash      bytea NOT NULL CHECK (octet_length(prev_hash) = 32),
            entry_hash     bytea NOT NULL CHECK (octet_length(entry_hash) = 32),
            PRIMARY KEY (user_id, seq)
        );
        CREATE TABLE \(schema).audit_heads (
            user_id   uuid PRIMARY KEY,
            seq       bigint NOT NULL CHECK (seq >= 0),
            head_hash bytea NOT NULL CHECK (octet_length(head_hash) = 32)
        );
        """
    }
}

extension AuditTrail {
    /// Registers `svx.audit.v1.Audit/ListEvents`: the caller's own events (a RECOVERY session is refused, like every
    /// method that reads the account).
    func register(_ routes: ServiceRoutes) {
        routes.registerAuthenticated(AuditRPC.listEvents) { request, _, worker, session in
            let pageSize = try FieldValidation.pageSize(request.pageSize)
            let userID = try session.userUUID
            let db = worker.database
            let entries = try events(userID: userID, afterSeq: request.sinceSeq, limit: pageSize, on: db)
            let head = try db.query("SELECT seq, head_hash FROM \(schema).audit_heads WHERE user_id = $1", userID).first
            var response = Svx_Audit_V1_ListEventsResponse()
            response.service = service
            response.events = entries.map { entry in
                var event = Svx_Audit_V1_AuditEvent()
                event.seq = entry.seq
                event.occurredAtMs = entry.occurredAtMs
                event.type = entry.type
                event.sessionID = entry.sessionID
                event.peerAddress = entry.peerAddress
                event.subjectType = entry.subjectType
                event.subjectID = entry.subjectID
                event.details = entry.details
                event.prevHash = Data(entry.prevHash)
                event.entryHash = Data(entry.entryHash)
                return event
            }
            response.headSeq = UInt64(try head?.decode(Int64.self, at: 0) ?? 0)
            response.headHash = Data(try head?.decode([UInt8].self, at: 1) ?? [])
            return response
        }
    }
}
