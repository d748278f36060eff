import Foundation
import SVXStore
import SVXTestHarness
import Testing

@Suite("Transactions", .serialized)
struct TransactionTests {
    let database: TestDatabase
    init() throws {
        database = try sharedDatabase("transactions")
        let c = try database.connect()
        try c.execute("CREATE TABLE ledger (v int8 NOT NULL)")
        try c.execute("CREATE TABLE names (name text PRIMARY KEY)")
    }

    func count(_ c: PostgresConnection, _ table: String) throws -> Int {
        try c.query("SELECT count(*) FROM \(table)").first!.decode(Int.self, at: 0)
    }

    @Test func commitsAndRollsBack() throws {
        let c = try database.connect()
        let value = try c.transaction { tx in
            try tx.execute("INSERT INTO names VALUES ($1)", "committed")
            return 7
        }
        #expect(value == 7)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try c.transaction { tx in
                try tx.execute("INSERT INTO names VALUES ($1)", "rolled back")
                throw Boom()
            }
        }
        #expect(!c.isInTransaction)
        #expect(try c.query("SELECT 1 FROM names WHERE name = $1", "committed").count == 1)
        #expect(try c.query("SELECT 1 FROM names WHERE name = $1", "rolled back").isEmpty)
    }

    @Test func aSwallowedErrorStillAbortsTheTransaction() throws {
        let c = try database.connect()
        try c.execute("INSERT INTO names VALUES ($1)", "taken")
        let error = try #require(throws: DatabaseError.self) {
            try c.transaction { tx in
                try tx.execute("INSERT INTO names VALUES ($1)", "never")
                _ = try? tx.execute("INSERT INTO names VALUES ($1)", "taken")  // fails; the body ignores it
            }
        }
        #expect(error.kind == .uniqueViolation)
        #expect(try c.query("SELECT 1 FROM names WHERE name = $1", "never").isEmpty)
        #expect(!c.isInTransaction)
    }

    @Test func transactionsDoNotNest() throws {
        let c = try database.connect()
        let error = try #require(throws: DatabaseError.self) {
            try c.transaction { tx in try tx.transaction { _ in } }
        }
        #expect(error.kind == .other)
        #expect(c.ping())
    }

    /// Write skew: both transactions read the whole ledger and insert its sum. Under SERIALIZABLE one must fail.
    @Test func serializationFailureIsRetried() throws {
        let a = try database.connect()
        let b = try database.connect()
        try a.execute("TRUNCATE ledger")
        var attempts = 0
        try a.transaction(isolation: .serializable, maxAttempts: 3) { tx in
            attempts += 1
            let sum = try tx.query("SELECT coalesce(sum(v), 0)::int8 FROM ledger").first!.decode(Int.self, at: 0)
            if attempts == 1 {
                try b.transaction(isolation: .serializable) { other in
                    let otherSum = try other.query("SELECT coalesce(sum(v), 0)::int8 FROM ledger").first!
                        .decode(Int.self, at: 0)
                    try other.execute("INSERT INTO ledger VALUES ($1)", otherSum + 1)
                }
            }
            try tx.execute("INSERT INTO ledger VALUES ($1)", sum + 10)
        }
        #expect(attempts == 2)
        #expect(try count(a, "ledger") == 2)
    }

    @Test func serializationFailureSurfacesWhenAttemptsRunOut() throws {
        let a = try database.connect()
        let b = try database.connect()
        try a.execute("TRUNCATE ledger")
        var attempts = 0
        let error = try #require(throws: DatabaseError.self) {
            try a.transaction(isolation: .serializable, maxAttempts: 2) { tx in
                attempts += 1
                let sum = try tx.query("SELECT coalesce(sum(v), 0)::int8 FROM ledger").first!.decode(Int.self, at: 0)
                try b.transaction(isolation: .serializable) { other in
                    _ = try other.query("SELECT coalesce(sum(v), 0) FROM ledger")
                    try other.execute("INSERT INTO ledger VALUES (1)")
                }
                try tx.execute("INSERT INTO ledger VALUES ($1)", sum + 10)
            }
        }
        #expect(error.kind == .serializationFailure)
        #expect(error.sqlState == "40001")
        #expect(attempts == 2)
        #expect(!a.isInTransaction)
        #expect(try count(a, "ledger") == 2)  // only b's two inserts
    }

    @Test func deadlockIsRetried() throws {
        let a = try database.connect()
        try a.execute("CREATE TABLE IF NOT EXISTS accounts (id int4 PRIMARY KEY, balance int8)")
        try a.execute("TRUNCATE accounts")
        try a.execute("INSERT INTO accounts VALUES (1, 0), (2, 0)")
        // Two threads lock rows 1 and 2 in opposite orders; PostgreSQL aborts one with 40P01 and it is retried.
        let conninfo = database.superuserConninfo
        let results = onThreads(2) { index -> Int in
            let c = try PostgresConnection(conninfo: conninfo, logger: quietLogger)
            var attempts = 0
            try c.transaction(maxAttempts: 3) { tx in
                attempts += 1
                let (first, second): (Int32, Int32) = index == 0 ? (1, 2) : (2, 1)
                try tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", first)
                _ = try tx.query("SELECT pg_sleep(0.3)")
                try tx.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", second)
            }
            return attempts
        }
        let attempts = try results.map { try $0.get() }
        #expect(attempts.sorted() == [1, 2])
        #expect(try a.query("SELECT sum(balance)::int8 FROM accounts").first!.decode(Int.self, at: 0) == 4)
    }
}
