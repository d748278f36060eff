import Foundation
import Logging
@testable import SVXStore
import SVXTestHarness
import Testing

/// The prepared-statement cache alone (a pure state machine), then on a real PostgreSQL: statements run prepared, the
/// server holds at most the capacity, and a statement the server lost or can no longer plan is prepared again.
@Suite struct StatementCacheTests {
    static func key(_ sql: String, _ types: [UInt32] = [25]) -> StatementCache.Key { .init(sql: sql, types: types) }

    @Test func aStatementIsPreparedOnceAndRunFromThenOn() {
        var cache = StatementCache(capacity: 4)
        #expect(cache.decide(Self.key("a")) == .prepare(name: "svx_1"))
        #expect(cache.prepared(Self.key("a"), name: "svx_1") == nil)
        #expect(cache.decide(Self.key("a")) == .run(name: "svx_1"))
        // The same text with other parameter types is another statement.
        #expect(cache.decide(Self.key("a", [20])) == .prepare(name: "svx_2"))
    }

    @Test func aPrepareTheServerRefusedIsNotRemembered() {
        var cache = StatementCache(capacity: 4)
        #expect(cache.decide(Self.key("bad")) == .prepare(name: "svx_1"))
        #expect(cache.decide(Self.key("bad")) == .prepare(name: "svx_2"))
        #expect(cache.count == 0)
    }

    @Test func theLeastRecentlyUsedStatementIsEvictedAtCapacity() {
        var cache = StatementCache(capacity: 2)
        for (sql, name) in [("a", "svx_1"), ("b", "svx_2")] {
            #expect(cache.decide(Self.key(sql)) == .prepare(name: name))
            #expect(cache.prepared(Self.key(sql), name: name) == nil)
        }
        #expect(cache.decide(Self.key("a")) == .run(name: "svx_1"))  // b is now the oldest
        #expect(cache.decide(Self.key("c")) == .prepare(name: "svx_3"))
        #expect(cache.count == 2)  // nothing evicted before the server took the new one
        #expect(cache.prepared(Self.key("c"), name: "svx_3") == "svx_2")
        #expect(cache.count == 2)
        #expect(cache.decide(Self.key("b")) == .prepare(name: "svx_4"))
        #expect(cache.prepared(Self.key("b"), name: "svx_4") == "svx_1")
        #expect(cache.decide(Self.key("c")) == .run(name: "svx_3"))
    }

    @Test func forgottenAndResetStatementsArePreparedAgain() {
        var cache = StatementCache(capacity: 4)
        _ = cache.decide(Self.key("a"))
        _ = cache.prepared(Self.key("a"), name: "svx_1")
        cache.forget(Self.key("a"))
        #expect(cache.decide(Self.key("a")) == .prepare(name: "svx_2"))
        _ = cache.prepared(Self.key("a"), name: "svx_2")
        cache.removeAll()
        #expect(cache.count == 0)
        #expect(cache.decide(Self.key("a")) == .prepare(name: "svx_3"))
    }

    // MARK: On PostgreSQL

    static func prepared(_ db: PostgresConnection) throws -> [String] {
        try db.query("SELECT name FROM pg_prepared_statements ORDER BY name").map { try $0.decode(String.self, at: 0) }
    }

    @Test func onTheServerStatementsRunPreparedWithinTheCapacity() throws {
        let database = try TestPostgres.shared().createDatabase(prefix: "stmtcache")
        defer { try? database.drop() }
        let db = try PostgresConnection(
            conninfo: database.superuserConninfo, logger: Logger(label: "svx.test"), statementCacheCapacity: 2)
        defer { db.close() }
        try db.executeScript("CREATE TABLE marks (n int8 PRIMARY KEY, label text)")
        for n in 1...3 { try db.execute("INSERT INTO marks VALUES ($1, $2)", n, "m\(n)") }
        #expect(try Self.prepared(db) == ["svx_1"])
        #expect(try db.query("SELECT label FROM marks WHERE n = $1", 2).first?.decode(String.self, at: 0) == "m2")
        // A third statement evicts the least recently used one (the INSERT), which the server forgets too.
        #expect(try db.query("SELECT count(*) FROM marks WHERE n > $1", 0).first?.decode(Int.self, at: 0) == 3)
        #expect(try Self.prepared(db) == ["svx_2", "svx_3"])
        // Bad SQL is refused as before and not kept; the connection goes on.
        #expect(throws: DatabaseError.self) { try db.query("SELEC $1", 1) }
        #expect(try Self.prepared(db).count == 2)
        #expect(try db.query("SELECT label FROM marks WHERE n = $1", 3).first?.decode(String.self, at: 0) == "m3")
        // Values of another type make another statement, never a misread binary value.
        #expect(try db.query("SELECT $1::text", "x").first?.decode(String.self, at: 0) == "x")
        #expect(try db.query("SELECT $1::text", 7).first?.decode(String.self, at: 0) == "7")
    }

    @Test func aStatementTheServerLostOrCannotReplanIsPreparedAgain() throws {
        let database = try TestPostgres.shared().createDatabase(prefix: "stmtcache")
        defer { try? database.drop() }
        let db = try PostgresConnection(conninfo: database.superuserConninfo, logger: Logger(label: "svx.test"))
        defer { db.close() }
        try db.executeScript("CREATE TABLE marks (n int8 PRIMARY KEY, label text)")
        try db.execute("INSERT INTO marks VALUES ($1, $2)", 1, "one")
        let select = "SELECT * FROM marks WHERE n = $1"
        #expect(try db.query(select, 1).first?.decode(String.self, at: 1) == "one")
        // Lost by hand: prepared again, transparently.
        try db.executeScript("DEALLOCATE ALL")
        #expect(try db.query(select, 1).first?.decode(String.self, at: 1) == "one")
        // A change of the result's columns ("cached plan must not change result type"): prepared again.
        try db.executeScript("ALTER TABLE marks ADD COLUMN extra int4 DEFAULT 5")
        let row = try #require(try db.query(select, 1).first)
        #expect(try row.decode(Int32.self, at: 2) == 5)
        // Inside a transaction the statement fails once (the transaction is aborted) and is prepared afresh after.
        try db.executeScript("DEALLOCATE ALL")
        #expect(throws: DatabaseError.self) {
            try db.transaction(maxAttempts: 1) { tx in _ = try tx.query(select, 1) }
        }
        #expect(try db.query(select, 1).count == 1)
    }
}
