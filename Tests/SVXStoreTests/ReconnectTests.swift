import Foundation
import SVXStore
import SVXTestHarness
import Testing

/// Each test restarts a private cluster of its own, so no other suite sees the restart.
@Suite("Reconnect after a PostgreSQL restart", .serialized)
struct ReconnectTests {
    @Test func theSameConnectionRecoversOutsideATransaction() throws {
        let cluster = try TestPostgres.start()
        defer { cluster.stop() }
        let database = try cluster.createDatabase(prefix: "reconnect")
        let c = try database.connect(role: "svx_auth")
        try c.execute("CREATE TABLE auth.marks (n int4)")
        let pidBefore = c.backendProcessID
        try cluster.restart()
        // The next statement finds the connection dead, resets it and is retried once.
        #expect(try c.execute("INSERT INTO auth.marks VALUES ($1)", Int32(1)) == 1)
        #expect(c.reconnectCount == 1)
        #expect(c.backendProcessID != pidBefore)
        #expect(try c.query("SELECT count(*) FROM auth.marks").first?.decode(Int.self, at: 0) == 1)
        #expect(c.ping())
    }

    @Test func insideATransactionTheTransactionIsRetried() throws {
        let cluster = try TestPostgres.start()
        defer { cluster.stop() }
        let database = try cluster.createDatabase(prefix: "reconnect_tx")
        let c = try database.connect()
        try c.execute("CREATE TABLE marks (n int4)")
        var attempts = 0
        var errorsSeen: [DatabaseError.Kind] = []
        try c.transaction { tx in
            attempts += 1
            try tx.execute("INSERT INTO marks VALUES ($1)", Int32(attempts))
            if attempts == 1 {
                try cluster.restart()
                do {
                    try tx.execute("INSERT INTO marks VALUES (100)")
                } catch let error as DatabaseError {
                    errorsSeen.append(error.kind)
                    throw error
                }
            }
        }
        #expect(errorsSeen == [.connectionLost])
        #expect(attempts == 2)
        let rows = try c.query("SELECT n FROM marks ORDER BY n")
        #expect(try rows.map { try $0.decode(Int32.self, at: 0) } == [2])
    }

    @Test func aDownServerGivesConnectionLostNotAHang() throws {
        let cluster = try TestPostgres.start()
        let database = try cluster.createDatabase(prefix: "down")
        let c = try database.connect()
        #expect(c.ping())
        cluster.stop()
        let started = Date()
        let error = try #require(throws: DatabaseError.self) { try c.query("SELECT 1") }
        #expect(error.kind == .connectionLost)
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(!c.ping())
    }
}
