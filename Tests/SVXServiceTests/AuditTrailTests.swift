import Cryppo
import Foundation
import SVXContracts
import SVXService
import SVXStore
import SVXTestHarness
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
}
