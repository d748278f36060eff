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

/// What ``AuditTrail/lockHead(_:ifRowsOf:_:on:)`` found: the guard's rows (its columns first, then the head's two) and
/// the user's head, locked, if the guard passed and the trail is on.
public struct AuditGuard: Sendable {
    public let rows: [PostgresRow]
    public let head: AuditHead?
    /// Whether the guard returned a row.
    public var passed: Bool { !rows.isEmpty }
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

    /// false only in a benchmark's baseline run (``offSwitchVariable`` with `SVX_ENABLE_TEST_METHODS=1`): appends then
    /// write nothing, so the cost of the trail can be measured against the same build without it.
    public let isEnabled: Bool

    /// The test-only setting that turns every append off; honoured only together with `SVX_ENABLE_TEST_METHODS=1`.
    public static let offSwitchVariable = "SVX_AUDIT_OFF_FOR_BENCHMARK"
    /// The type of a signed checkpoint's event (AppendCheckpoint).
    public static let checkpointEventType = "audit.checkpoint"

    public init(service: String, schema: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        precondition(schema.allSatisfy { $0.isLetter || $0 == "_" }, "an audit schema is a plain identifier")
        self.service = service
        self.schema = schema
        isEnabled = !(environment["SVX_ENABLE_TEST_METHODS"] == "1" && environment[Self.offSwitchVariable] == "1")
    }

    /// Appends every event of `events` in one transaction, taking the users' head rows in the order of their ids, so two
    /// transactions that each write on two users' chains (a share: the sender's and the recipient's) cannot deadlock.
    /// A transaction that writes on more than one chain makes **one** such call (after its other writes). Each user's
    /// events keep their order and cost two statements together, however many there are: the head taken and locked,
    /// then every event inserted (more than one: from one JSON parameter) and the head moved.
    public func append(
        contentsOf events: [(event: AuditEvent, userID: UUID)], on db: PostgresConnection, now: Date = Date()
    ) throws {
        try Self.requireTransaction(db)
        guard isEnabled, !events.isEmpty else { return }
        var byUser: [UUID: [AuditEvent]] = [:]
        for item in events { byUser[item.userID, default: []].append(item.event) }
        for userID in byUser.keys.sorted(by: { $0.uuidString < $1.uuidString }) {
            guard let userEvents = byUser[userID] else { continue }
            let entries = linkedEntries(userEvents, userID: userID, after: try lockHead(userID, on: db), now: now)
            let record = try recordSQL(entries, userID: userID, firstPlaceholder: 1)
            _ = try db.execute("WITH event AS (\(record.insertEvent)) \(record.moveHead)", parameters: record.parameters)
        }
    }

    /// Takes and locks the user's head row, making it at the genesis the first time (ON CONFLICT DO UPDATE locks the
    /// row either way). Returns its seq and hash.
    private func lockHead(_ userID: UUID, on db: PostgresConnection) throws -> AuditHead {
        let head = try db.query(
            "WITH head AS (\(lockHeadSQL(user: "$1", genesis: "$2"))) SELECT seq, head_hash FROM head",
            userID, genesisHash(of: userID))[0]
        return AuditHead(seq: UInt64(try head.decode(Int64.self, at: 0)), hash: try head.decode([UInt8].self, at: 1))
    }

    /// The hash a user's chain in this service starts from (its seq 0).
    public func genesisHash(of userID: UUID) -> [UInt8] {
        HashFunction.sha256.hash(AuditChain.genesisInput(service: service, userID: userID.uuidString.lowercased()))
    }

    /// The body of a data-modifying CTE that takes and locks the user's head row, making it at the genesis the first
    /// time, and returns `seq, head_hash`: for a caller that folds an append into its own statements (a login takes the
    /// head in the statement that locks the user). `user` and `genesis` are the statement's placeholders (`$1`) of the
    /// user id and ``genesisHash(of:)``; with `rowsOf`, the head is taken once per row of that CTE (none: not at all).
    public func lockHeadSQL(user: String, genesis: String, rowsOf source: String? = nil) -> String {
        let values = source.map { "SELECT \(user)::uuid, 0, \(genesis)::bytea FROM \($0)" } ?? "VALUES (\(user), 0, \(genesis))"
        return """
            INSERT INTO \(schema).audit_heads (user_id, seq, head_hash) \(values)
            ON CONFLICT (user_id) DO UPDATE SET seq = \(schema).audit_heads.seq
            RETURNING seq, head_hash
            """
    }

    /// Runs `guardSQL`, a SELECT that checks and locks what a change needs (placeholders from `$1`, `parameters`), and
    /// in the same round trip takes and locks the user's head when it returns a row, so the change can record its events
    /// in its own next statement (``recordSQL(_:userID:firstPlaceholder:)-([AuditEntry],_,_)``). Inside the change's
    /// transaction only. The guard's rows come back with their own columns first (decode them by index); the head is nil
    /// when the trail is off or the guard returned no row.
    public func lockHead(
        _ userID: UUID, ifRowsOf guardSQL: String, _ parameters: [(any PostgresEncodable)?], on db: PostgresConnection
    ) throws -> AuditGuard {
        try Self.requireTransaction(db)
        guard isEnabled else { return AuditGuard(rows: try db.query(guardSQL, parameters: parameters), head: nil) }
        let n = parameters.count
        // `passed` is referenced twice, so PostgreSQL runs it once (a materialized CTE): its locks are taken once.
        let rows = try db.query(
            """
            WITH passed AS (\(guardSQL)),
                 head AS (\(lockHeadSQL(user: "$\(n + 1)", genesis: "$\(n + 2)", rowsOf: "(SELECT FROM passed LIMIT 1) AS one")))
            SELECT passed.*, head.seq, head.head_hash FROM passed CROSS JOIN head
            """, parameters: parameters + [userID, genesisHash(of: userID)])
        guard let row = rows.first else { return AuditGuard(rows: [], head: nil) }
        let head = AuditHead(
            seq: UInt64(try row.decode(Int64.self, at: row.count - 2)), hash: try row.decode([UInt8].self, at: row.count - 1))
        return AuditGuard(rows: rows, head: head)
    }

    /// The entry `event` becomes after `head` (the next seq, linked to its hash).
    public func linkedEntry(_ event: AuditEvent, userID: UUID, after head: AuditHead, now: Date = Date()) -> AuditEntry {
        AuditChain.linked(
            AuditEntry(
                userID: userID.uuidString.lowercased(), seq: head.seq + 1, occurredAtMs: Self.milliseconds(now),
                type: event.type, sessionID: event.sessionID, peerAddress: event.peerAddress,
                subjectType: event.subjectType, subjectID: event.subjectID, details: event.details),
            after: head.hash, sha256: { HashFunction.sha256.hash($0) })
    }

    /// The entries `events` become after `head`, in order, each linked to the one before.
    public func linkedEntries(
        _ events: [AuditEvent], userID: UUID, after head: AuditHead, now: Date = Date()
    ) -> [AuditEntry] {
        var head = head
        return events.map { event in
            let entry = linkedEntry(event, userID: userID, after: head, now: now)
            head = AuditHead(seq: entry.seq, hash: entry.entryHash)
            return entry
        }
    }

    /// The two CTE bodies that store `entry` and move the user's head to it, for a statement of the caller's (inside
    /// the transaction that locked the head): `insertEvent` inserts the row, `moveHead` is an UPDATE. Their placeholders
    /// are numbered from `firstPlaceholder`; `parameters` are their values, in order.
    public func recordSQL(
        _ entry: AuditEntry, userID: UUID, firstPlaceholder n: Int
    ) throws -> (insertEvent: String, moveHead: String, parameters: [(any PostgresEncodable)?]) {
        try recordSQL([entry], userID: userID, firstPlaceholder: n)
    }

    /// The two CTE bodies that store `entries` (one user's, consecutive, from ``linkedEntries(_:userID:after:now:)``) and
    /// move the user's head to the last, as ``recordSQL(_:userID:firstPlaceholder:)-(AuditEntry,_,_)`` does for one.
    /// More than one entry travel as one JSON parameter. `entries` is not empty.
    public func recordSQL(
        _ entries: [AuditEntry], userID: UUID, firstPlaceholder n: Int
    ) throws -> (insertEvent: String, moveHead: String, parameters: [(any PostgresEncodable)?]) {
        precondition(!entries.isEmpty, "recordSQL stores at least one entry")
        let columns = """
            INSERT INTO \(schema).audit_events (user_id, seq, occurred_at_ms, type, session_id, peer_address,
                                                subject_type, subject_id, details, prev_hash, entry_hash)
            """
        if entries.count == 1 {
            let entry = entries[0]
            let details = try JSONSerialization.data(withJSONObject: entry.details, options: [.sortedKeys])
            let p = (0..<11).map { "$\(n + $0)" }
            return (
                "\(columns) VALUES (\(p[0]), \(p[1]), \(p[2]), \(p[3]), \(p[4]), \(p[5]), \(p[6]), \(p[7]), \(p[8])::jsonb, \(p[9]), \(p[10]))",
                "UPDATE \(schema).audit_heads SET seq = \(p[1]), head_hash = \(p[10]) WHERE user_id = \(p[0])",
                [
                    userID, Int64(entry.seq), Int64(entry.occurredAtMs), entry.type, entry.sessionID, entry.peerAddress,
                    entry.subjectType, entry.subjectID, String(decoding: details, as: UTF8.self), entry.prevHash,
                    entry.entryHash,
                ]
            )
        }
        let rows: [[String: Any]] = entries.map { entry in
            [
                "seq": entry.seq, "occurred_at_ms": entry.occurredAtMs, "type": entry.type,
                "session_id": entry.sessionID, "peer_address": entry.peerAddress, "subject_type": entry.subjectType,
                "subject_id": entry.subjectID, "details": entry.details, "prev_hash": Hex.encode(entry.prevHash),
                "entry_hash": Hex.encode(entry.entryHash),
            ]
        }
        let json = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys])
        let last = entries[entries.count - 1]
        let p = (0..<4).map { "$\(n + $0)" }
        return (
            """
            \(columns)
            SELECT \(p[0])::uuid, e.seq, e.occurred_at_ms, e.type, e.session_id, e.peer_address, e.subject_type,
                   e.subject_id, e.details, decode(e.prev_hash, 'hex'), decode(e.entry_hash, 'hex')
            FROM jsonb_to_recordset(\(p[1])::jsonb) AS e(
                seq bigint, occurred_at_ms bigint, type text, session_id text, peer_address text,
                subject_type text, subject_id text, details jsonb, prev_hash text, entry_hash text)
            """,
            "UPDATE \(schema).audit_heads SET seq = \(p[2]), head_hash = \(p[3]) WHERE user_id = \(p[0])",
            [userID, String(decoding: json, as: UTF8.self), Int64(last.seq), last.entryHash]
        )
    }

    /// Appends are refused outside the transaction of the change they record.
    private static func requireTransaction(_ db: PostgresConnection) throws {
        guard db.isInTransaction else {
            throw DatabaseError(kind: .other, message: "an audit event is appended inside the transaction of its change")
        }
    }

    static func milliseconds(_ date: Date) -> UInt64 { UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded(.down))) }

    /// Appends `event` for `userID` on `db`, which must be inside the transaction of the change it records. Returns the
    /// stored entry (nil only when the trail is switched off for a benchmark).
    @discardableResult
    public func append(
        _ event: AuditEvent, userID: UUID, on db: PostgresConnection, now: Date = Date()
    ) throws -> AuditEntry? {
        try Self.requireTransaction(db)
        guard isEnabled else { return nil }
        let entry = linkedEntry(event, userID: userID, after: try lockHead(userID, on: db), now: now)
        let record = try recordSQL(entry, userID: userID, firstPlaceholder: 1)
        _ = try db.execute(
            "WITH event AS (\(record.insertEvent)) \(record.moveHead)", parameters: record.parameters)
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
            user_id     uuid PRIMARY KEY,
            seq         bigint NOT NULL CHECK (seq >= 0),
            head_hash   bytea NOT NULL CHECK (octet_length(head_hash) = 32),
            anchor_seq  bigint NOT NULL DEFAULT 0 CHECK (anchor_seq >= 0 AND anchor_seq <= seq),
            anchor_hash bytea CHECK (octet_length(anchor_hash) = 32),
            CHECK ((anchor_seq = 0) = (anchor_hash IS NULL))
        );
        """
    }

    /// Retention: deletes the events that occurred before `cutoff`, for at most `maxUsers` users, and keeps for each the
    /// last deleted event's seq and entry_hash as its anchor (`audit_heads.anchor_seq/anchor_hash`), so the chain stays
    /// verifiable from there. Runs in a transaction of its own (never inside the caller's); appends going on at the same
    /// time are safe (they only add events above the head, and the anchor never passes an event that exists), and the
    /// head rows are locked first in user-id order, as multi-chain appends take them. Returns how many users' chains were
    /// cut.
    @discardableResult
    public func prune(before cutoff: Date, maxUsers: Int = 1000, on db: PostgresConnection) throws -> Int {
        let cutoffMs = Int64(max(0, (cutoff.timeIntervalSince1970 * 1000).rounded(.down)))
        return try db.transaction { db in
            // The head rows first, in user-id order (the order of every multi-chain append): no deadlock with them.
            _ = try db.query(
                """
                SELECT user_id FROM \(schema).audit_heads
                WHERE user_id IN (SELECT user_id FROM \(schema).audit_events WHERE occurred_at_ms < $1
                                  GROUP BY user_id ORDER BY user_id LIMIT $2)
                ORDER BY user_id FOR UPDATE
                """, cutoffMs, Int64(maxUsers))
            return try db.execute(
                """
            WITH cut AS (
                SELECT e.user_id, e.seq, e.entry_hash FROM \(schema).audit_events e
                JOIN (SELECT user_id, max(seq) AS seq FROM \(schema).audit_events WHERE occurred_at_ms < $1
                      GROUP BY user_id ORDER BY user_id LIMIT $2) last USING (user_id, seq)
            ), pruned AS (
                DELETE FROM \(schema).audit_events e USING cut WHERE e.user_id = cut.user_id AND e.seq <= cut.seq
            )
            UPDATE \(schema).audit_heads h SET anchor_seq = cut.seq, anchor_hash = cut.entry_hash
            FROM cut WHERE h.user_id = cut.user_id AND cut.seq > h.anchor_seq
            """, cutoffMs, Int64(maxUsers))
        }
    }
}

extension AuditTrail {
    /// Registers `svx.audit.v1.Audit/ListEvents` and `/AppendCheckpoint` on the caller's own chain (a RECOVERY session
    /// is refused, like every method that reads the account).
    func register(_ routes: ServiceRoutes) {
        routes.registerAuthenticated(AuditRPC.listEvents) { request, _, worker, session in
            let pageSize = try FieldValidation.pageSize(request.pageSize)
            let userID = try session.userUUID
            let db = worker.database
            // One snapshot for the page, the head and the anchor, so they agree with each other.
            return try db.transaction(isolation: .repeatableRead) { db in
                let entries = try events(userID: userID, afterSeq: request.sinceSeq, limit: pageSize, on: db)
                let head = try db.query(
                    "SELECT seq, head_hash, anchor_seq, anchor_hash FROM \(schema).audit_heads WHERE user_id = $1", userID
                ).first
                var response = Svx_Audit_V1_ListEventsResponse()
                response.service = service
                response.events = entries.map(Self.message)
                response.headSeq = UInt64(try head?.decode(Int64.self, at: 0) ?? 0)
                response.headHash = Data(try head?.decode([UInt8].self, at: 1) ?? [])
                response.anchorSeq = UInt64(try head?.decode(Int64.self, at: 2) ?? 0)
                response.anchorHash = Data(try head?.decode([UInt8]?.self, at: 3) ?? [])
                return response
            }
        }
        routes.registerAuthenticated(AuditRPC.appendCheckpoint) { request, context, worker, session in
            let userID = try session.userUUID
            guard request.seq >= 1 else { throw FieldValidation.invalid("seq", "seq must be 1 or more: a checkpoint signs an event") }
            guard request.headHash.count == 32 else { throw FieldValidation.invalid("head_hash", "head_hash must be 32 bytes") }
            guard request.publicKeySha256.utf8.count == 64,
                  request.publicKeySha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
            else { throw FieldValidation.invalid("public_key_sha256", "public_key_sha256 must be 64 lowercase hex digits") }
            let signed: CryppoSignature
            do { signed = try CryppoSignature(parsing: request.signature) } catch {
                throw FieldValidation.invalid("signature", "signature must be a Cryppo Sign.Rsa4096 string")
            }
            guard signed.signature.count == 512 else {
                throw FieldValidation.invalid("signature", "signature must be an RSA-4096 signature (512 bytes)")
            }
            let message = AuditChain.checkpointMessage(
                service: service, userID: userID.uuidString.lowercased(), seq: request.seq, head: Array(request.headHash))
            guard signed.data == message else {
                throw FieldValidation.invalid(
                    "signature", "the signed data must be the checkpoint message of this service, user, seq and head")
            }
            let entry = try worker.database.transaction { db -> AuditEntry? in
                // The event at that seq, or the anchor when retention pruned it (a chain pruned whole is its anchor).
                let stored = try db.query(
                    """
                    SELECT entry_hash FROM \(schema).audit_events WHERE user_id = $1 AND seq = $2
                    UNION ALL
                    SELECT anchor_hash FROM \(schema).audit_heads WHERE user_id = $1 AND anchor_seq = $2
                    """, userID, Int64(clamping: request.seq)
                ).first
                guard let stored, try stored.decode([UInt8].self, at: 0) == Array(request.headHash) else {
                    throw RPCStatus(
                        .failedPrecondition,
                        "event \(request.seq) of your trail in \(service) does not have this hash (or is not there): list the events again",
                        details: ["reason": "checkpoint_mismatch"])
                }
                return try append(
                    AuditEvent(
                        Self.checkpointEventType, sessionID: session.sessionID, peerAddress: context.peerAddress,
                        subjectType: "audit_event", subjectID: String(request.seq),
                        details: ["signature": request.signature, "public_key_sha256": request.publicKeySha256]),
                    userID: userID, on: db)
            }
            var response = Svx_Audit_V1_AppendCheckpointResponse()
            if let entry { response.event = Self.message(entry) }
            return response
        }
    }

    static func message(_ entry: AuditEntry) -> Svx_Audit_V1_AuditEvent {
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
}
