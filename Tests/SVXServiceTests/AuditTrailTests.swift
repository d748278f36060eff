import Cryppo
import Foundation
import SVXContracts
import SVXService
import SVXStore
import SVXTestHarness
import Synchronization
import Testing

/// The audit trail's appends on a real PostgreSQL (reference/sharing.md §5b): in the change's transaction, dense per
/// user under concurrency, and a chain the client's verification accepts until a row is edited.
@Suite struct AuditTrailTests {
    static let trail = AuditTrail(service: "test", schema: "audit_test")

    static func database() throws -> (TestDatabase, PostgresConnection) {
        let database = try TestPostgres.shared().createDatabase(prefix: "audit")
        let db = try database.connect()
        try db.executeScript("CREATE SCHEMA audit_test;\n" + AuditTrail.tablesSQL(schema: "audit_test"))
        return (database, db)
    }

    static func verify(_ entries: [AuditEntry], _ user: UUID) -> AuditChainBreak? {
        AuditChain.firstBreak(
            entries, service: "test", userID: user.uuidString.lowercased(), sha256: { HashFunction.sha256.hash($0) })
    }

    @Test func anEventExistsIfAndOnlyIfItsTransactionCommitted() throws {
        let (database, db) = try Self.database()
        defer { db.close(); try? database.drop() }
        let user = UUID()
        try db.transaction { db in
            try Self.trail.append(AuditEvent("account.registered", sessionID: "s1"), userID: user, on: db)
        }
        struct Abandoned: Error {}
        #expect(throws: Abandoned.self) {
            try db.transaction { db in
                try Self.trail.append(AuditEvent("login.succeeded"), userID: user, on: db)
                throw Abandoned()
            }
        }
        try db.transaction { db in
            try Self.trail.append(
                AuditEvent("item.deleted", subjectType: "item", subjectID: "42", details: ["version": "3"]), userID: user, on: db)
        }
        // Outside a transaction: refused, nothing written.
        #expect(throws: DatabaseError.self) { try Self.trail.append(AuditEvent("logout"), userID: user, on: db) }

        let entries = try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db)
        #expect(entries.map(\.seq) == [1, 2])
        #expect(entries.map(\.type) == ["account.registered", "item.deleted"])
        #expect(entries[1].details == ["version": "3"] && entries[1].subjectID == "42")
        #expect(Self.verify(entries, user) == nil)
        #expect(try Self.trail.events(userID: user, afterSeq: 1, limit: 100, on: db).map(\.seq) == [2])
    }

    @Test func concurrentAppendsOfOneUserKeepTheSequenceDense() throws {
        let (database, setup) = try Self.database()
        defer { setup.close(); try? database.drop() }
        let user = UUID()
        let other = UUID()
        let workers = 4
        let perWorker = 25
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            guard let db = try? database.connect() else { return }
            defer { db.close() }
            for index in 0..<perWorker {
                _ = try? db.transaction { db in
                    try Self.trail.append(AuditEvent("login.succeeded", sessionID: "w\(worker)-\(index)"), userID: user, on: db)
                    if index % 5 == 0 { try Self.trail.append(AuditEvent("logout"), userID: other, on: db) }
                }
            }
        }
        let entries = try Self.trail.events(userID: user, afterSeq: 0, limit: 1_000, on: setup)
        #expect(entries.map(\.seq) == (1...UInt64(workers * perWorker)).map { $0 })
        #expect(Self.verify(entries, user) == nil)
        let others = try Self.trail.events(userID: other, afterSeq: 0, limit: 1_000, on: setup)
        #expect(others.count == workers * perWorker / 5 && Self.verify(others, other) == nil)
    }

    @Test func anEditedOrDeletedRowIsNamedByTheVerification() throws {
        let (database, db) = try Self.database()
        defer { db.close(); try? database.drop() }
        let user = UUID()
        for type in ["account.registered", "login.succeeded", "login.failed", "kek.rotated", "item.deleted"] {
            try db.transaction { db in try Self.trail.append(AuditEvent(type), userID: user, on: db) }
        }
        #expect(try db.execute("UPDATE audit_test.audit_events SET type = 'login.succeeded' WHERE user_id = $1 AND seq = 3", user) == 1)
        #expect(Self.verify(try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db), user)
            == AuditChainBreak(seq: 3, reason: .edited))
        #expect(try db.execute("DELETE FROM audit_test.audit_events WHERE user_id = $1 AND seq = 2", user) == 1)
        #expect(Self.verify(try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db), user)
            == AuditChainBreak(seq: 2, reason: .gap))
    }

    @Test func retentionPrunesOldEventsAndTheChainVerifiesFromItsAnchor() throws {
        let (database, db) = try Self.database()
        defer { db.close(); try? database.drop() }
        let user = UUID(), recent = UUID()
        let day: TimeInterval = 86_400
        let now = Date()
        // Five events of `user`: three 400 days old, two from today; `recent` has only today's.
        for (index, age) in [400.0, 399, 398, 1, 0].enumerated() {
            try db.transaction { db in
                try Self.trail.append(AuditEvent("e\(index + 1)"), userID: user, on: db, now: now.addingTimeInterval(-age * day))
            }
        }
        try db.transaction { db in try Self.trail.append(AuditEvent("fresh"), userID: recent, on: db, now: now) }
        let before = try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db)

        #expect(try Self.trail.prune(before: now.addingTimeInterval(-365 * day), on: db) == 1)
        let kept = try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db)
        #expect(kept.map(\.seq) == [4, 5])
        let anchor = try db.query(
            "SELECT anchor_seq, anchor_hash, seq FROM audit_test.audit_heads WHERE user_id = $1", user)[0]
        #expect(try anchor.decode(Int64.self, at: 0) == 3)
        #expect(try anchor.decode(Int64.self, at: 2) == 5)
        #expect(try anchor.decode([UInt8].self, at: 1) == before[2].entryHash)
        // From its anchor the kept chain holds; from the genesis it does not (events 1-3 are gone).
        let user16 = user.uuidString.lowercased()
        #expect(AuditChain.firstBreak(
            kept, service: "test", userID: user16, anchor: (3, before[2].entryHash), sha256: { HashFunction.sha256.hash($0) }) == nil)
        #expect(Self.verify(kept, user)?.reason == .gap)
        // The other user's chain is untouched, a second prune changes nothing, and appends go on from the head.
        #expect(try Self.trail.events(userID: recent, afterSeq: 0, limit: 100, on: db).count == 1)
        #expect(try Self.trail.prune(before: now.addingTimeInterval(-365 * day), on: db) == 0)
        try db.transaction { db in try Self.trail.append(AuditEvent("e6"), userID: user, on: db, now: now) }
        let after = try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db)
        #expect(after.map(\.seq) == [4, 5, 6])
        #expect(AuditChain.firstBreak(
            after, service: "test", userID: user16, anchor: (3, before[2].entryHash), sha256: { HashFunction.sha256.hash($0) }) == nil)
        // Everything old: the whole chain may go; the anchor is then the head.
        #expect(try Self.trail.prune(before: now.addingTimeInterval(day), on: db) == 2)
        #expect(try Self.trail.events(userID: user, afterSeq: 0, limit: 100, on: db).isEmpty)
        let head = try db.query(
            "SELECT anchor_seq, anchor_hash, seq, head_hash FROM audit_test.audit_heads WHERE user_id = $1", user)[0]
        #expect(try head.decode(Int64.self, at: 0) == 6)
        #expect(try head.decode(Int64.self, at: 2) == 6)
        let (anchorHash, headHash) = (try head.decode([UInt8].self, at: 1), try head.decode([UInt8].self, at: 3))
        #expect(anchorHash == headHash)
    }

    @Test func theBenchmarkSwitchTurnsAppendsOffOnlyWithTestMethods() throws {
        let (database, db) = try Self.database()
        defer { db.close(); try? database.drop() }
        let user = UUID()
        let off = AuditTrail(
            service: "test", schema: "audit_test",
            environment: ["SVX_ENABLE_TEST_METHODS": "1", AuditTrail.offSwitchVariable: "1"])
        let ignored = AuditTrail(service: "test", schema: "audit_test", environment: [AuditTrail.offSwitchVariable: "1"])
        #expect(!off.isEnabled && ignored.isEnabled && Self.trail.isEnabled)
        let (skipped, written) = try db.transaction { db throws -> (AuditEntry?, AuditEntry?) in
            (try off.append(AuditEvent("not.written"), userID: user, on: db),
             try ignored.append(AuditEvent("written"), userID: user, on: db))
        }
        #expect(skipped == nil && written != nil)
        #expect(try Self.trail.events(userID: user, afterSeq: 0, limit: 10, on: db).map(\.type) == ["written"])
    }

    @Test func twoUsersChainsWrittenTogetherInOppositeOrdersDoNotDeadlock() throws {
        let (database, setup) = try Self.database()
        defer { setup.close(); try? database.drop() }
        let alice = UUID(), bob = UUID()
        let rounds = 30
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            do {
                let db = try database.connect()
                defer { db.close() }
                for round in 0..<rounds {
                    // Worker 0 names Alice first, worker 1 Bob first: the trail takes the heads in id order anyway.
                    let pair = worker == 0 ? [alice, bob] : [bob, alice]
                    try db.transaction(maxAttempts: 1) { db in
                        // Two events on each chain: one with details, one without (the set-based path).
                        try Self.trail.append(
                            contentsOf: pair.flatMap {
                                [(AuditEvent("share.\(worker).\(round)", subjectID: "s\(round)", details: ["round": "\(round)", "é": "ü\"'\\"]), $0),
                                 (AuditEvent("share.fetched"), $0)]
                            }, on: db)
                    }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        for user in [alice, bob] {
            let entries = try Self.trail.events(userID: user, afterSeq: 0, limit: 1000, on: setup)
            #expect(entries.map(\.seq) == Array(1...UInt64(4 * rounds)))
            #expect(entries.filter { $0.type == "share.fetched" }.count == 2 * rounds)
            #expect(entries.first?.details == ["round": "0", "é": "ü\"'\\"])
            #expect(Self.verify(entries, user) == nil)
        }
    }
    /// The folded append a login uses: the head taken in the statement that checks the change's guard, the event stored
    /// by the change's own statement. A guard with no row takes no head; the switched-off trail checks the guard only.
    @Test func aFoldedAppendTakesTheHeadOnlyWhenItsGuardPassesAndChainsLikeAnAppend() throws {
        let (database, db) = try Self.database()
        defer { db.close(); try? database.drop() }
        try db.executeScript("CREATE TABLE audit_test.things (id uuid PRIMARY KEY, generation bigint NOT NULL);")
        let user = UUID()
        let thing = UUID()
        _ = try db.execute("INSERT INTO audit_test.things VALUES ($1, 7)", thing)
        let guardSQL = "SELECT 1 FROM audit_test.things WHERE id = $1 AND generation = $2 FOR SHARE"

        let refused = try db.transaction { db in try Self.trail.lockHead(user, ifRowsOf: guardSQL, [thing, Int64(6)], on: db) }
        #expect(!refused.passed && refused.head == nil)
        #expect(try db.query("SELECT 1 FROM audit_test.audit_heads WHERE user_id = $1", user).isEmpty)

        try db.transaction { db in try Self.trail.append(AuditEvent("account.registered"), userID: user, on: db) }
        let folded = try db.transaction { db -> AuditEntry in
            let locked = try Self.trail.lockHead(user, ifRowsOf: guardSQL, [thing, Int64(7)], on: db)
            let head = try #require(locked.head)
            #expect(locked.passed && head.seq == 1)
            let entry = Self.trail.linkedEntry(
                AuditEvent("login.succeeded", sessionID: "s2", details: ["k": "v"]), userID: user, after: head)
            let stored = try Self.trail.recordSQL(entry, userID: user, firstPlaceholder: 3)
            _ = try db.execute(
                """
                WITH event AS (\(stored.insertEvent)), head AS (\(stored.moveHead))
                UPDATE audit_test.things SET generation = $2 WHERE id = $1
                """, parameters: [thing, Int64(8)] + stored.parameters)
            return entry
        }
        try db.transaction { db in try Self.trail.append(AuditEvent("logout"), userID: user, on: db) }
        let entries = try Self.trail.events(userID: user, afterSeq: 0, limit: 10, on: db)
        #expect(entries.map(\.type) == ["account.registered", "login.succeeded", "logout"])
        #expect(entries[1] == folded && entries[1].details == ["k": "v"])
        #expect(Self.verify(entries, user) == nil)
        // Outside a transaction: refused.
        #expect(throws: DatabaseError.self) { try Self.trail.lockHead(user, ifRowsOf: guardSQL, [thing, Int64(8)], on: db) }

        let off = AuditTrail(
            service: "test", schema: "audit_test",
            environment: ["SVX_ENABLE_TEST_METHODS": "1", AuditTrail.offSwitchVariable: "1"])
        let unrecorded = try db.transaction { db in try off.lockHead(user, ifRowsOf: guardSQL, [thing, Int64(8)], on: db) }
        #expect(unrecorded.passed && unrecorded.head == nil)
    }

    /// A guard with several rows (a deletion reading what it removes) gives them back with their own columns first, takes
    /// the head once, and a change's statement stores several events at once; the chain is the one appends make.
    @Test func aFoldedGuardGivesBackItsRowsAndOneStatementStoresSeveralEvents() throws {
        let (database, db) = try Self.database()
        defer { db.close(); try? database.drop() }
        try db.executeScript(
            "CREATE TABLE audit_test.parts (owner uuid NOT NULL, part uuid PRIMARY KEY, file uuid);")
        let user = UUID()
        let owner = UUID()
        let files = [UUID(), UUID()]
        for file in files { _ = try db.execute("INSERT INTO audit_test.parts VALUES ($1, $2, $3)", owner, UUID(), file) }
        _ = try db.execute("INSERT INTO audit_test.parts VALUES ($1, $2, NULL)", owner, UUID())
        // One row at least (a LEFT JOIN), one per file.
        let guardSQL = """
            SELECT p.file FROM (VALUES (1)) AS one
            LEFT JOIN audit_test.parts p ON p.owner = $1 AND p.file IS NOT NULL ORDER BY p.file
            """

        try db.transaction { db in try Self.trail.append(AuditEvent("account.registered"), userID: user, on: db) }
        let stored = try db.transaction { db -> [AuditEntry] in
            let locked = try Self.trail.lockHead(user, ifRowsOf: guardSQL, [owner], on: db)
            let found = try locked.rows.compactMap { try $0.decode(UUID?.self, at: 0) }
            #expect(Set(found) == Set(files) && found.count == 2)
            let head = try #require(locked.head)
            #expect(head.seq == 1)
            let entries = Self.trail.linkedEntries(
                [AuditEvent("parts.deleted", details: ["files": "2"])]
                    + found.map { AuditEvent("file.removed", subjectType: "file", subjectID: $0.wire) },
                userID: user, after: head)
            let record = try Self.trail.recordSQL(entries, userID: user, firstPlaceholder: 2)
            let deleted = try db.query(
                """
                WITH event AS (\(record.insertEvent)), head AS (\(record.moveHead)),
                     gone AS (DELETE FROM audit_test.parts WHERE owner = $1 RETURNING 1)
                SELECT count(*)::int8 FROM gone
                """, parameters: [owner] + record.parameters)
            #expect(try deleted[0].decode(Int64.self, at: 0) == 3)
            return entries
        }
        // Nothing to find: still one row (a NULL), and the head taken.
        let empty = try db.transaction { db in try Self.trail.lockHead(user, ifRowsOf: guardSQL, [owner], on: db) }
        #expect(empty.rows.count == 1 && empty.rows[0].isNull(at: 0) && empty.head?.seq == 4)
        try db.transaction { db in try Self.trail.append(AuditEvent("logout"), userID: user, on: db) }
        let entries = try Self.trail.events(userID: user, afterSeq: 0, limit: 10, on: db)
        #expect(entries.map(\.type) == ["account.registered", "parts.deleted", "file.removed", "file.removed", "logout"])
        #expect(Array(entries[1...3]) == stored && entries[1].details == ["files": "2"])
        #expect(Self.verify(entries, user) == nil)
    }
}
