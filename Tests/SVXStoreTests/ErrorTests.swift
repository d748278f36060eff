import Foundation
import SVXStore
import SVXTestHarness
import Testing

@Suite("Database errors")
struct ErrorTests {
    let database: TestDatabase
    init() throws { database = try sharedDatabase("errors") }

    func kindOf(_ body: () throws -> Void) -> DatabaseError? {
        do {
            try body()
            return nil
        } catch let error as DatabaseError {
            return error
        } catch {
            return nil
        }
    }

    @Test func constraintViolations() throws {
        let c = try database.connect()
        try c.execute("CREATE TABLE parents (id int4 PRIMARY KEY, email text UNIQUE, age int4 CHECK (age >= 0))")
        try c.execute("CREATE TABLE children (parent int4 NOT NULL REFERENCES parents (id))")
        try c.execute("INSERT INTO parents VALUES (1, $1, 30)", "secret@example.com")

        let unique = try #require(kindOf { try c.execute("INSERT INTO parents VALUES (2, $1, 1)", "secret@example.com") })
        #expect(unique.kind == .uniqueViolation)
        #expect(unique.sqlState == "23505")
        #expect(unique.constraintName == "parents_email_key")
        #expect(!unique.message.contains("secret"))
        #expect(!unique.description.contains("secret"))

        let foreign = try #require(kindOf { try c.execute("INSERT INTO children VALUES ($1)", Int32(99)) })
        #expect(foreign.kind == .foreignKeyViolation)
        let check = try #require(kindOf { try c.execute("INSERT INTO parents VALUES (3, 'x', $1)", Int32(-1)) })
        #expect(check.kind == .checkViolation)
        let notNull = try #require(kindOf { try c.execute("INSERT INTO children VALUES ($1)", nil) })
        #expect(notNull.kind == .notNullViolation)
    }

    @Test func invalidInputDoesNotEchoTheValue() throws {
        let c = try database.connect()
        let error = try #require(kindOf { try c.query("SELECT $1::text::uuid", "secret-not-a-uuid") })
        #expect(error.kind == .invalidInput)
        #expect(error.sqlState == "22P02")
        #expect(!error.message.contains("secret"))
        let range = try #require(kindOf { try c.query("SELECT $1::int8::int4", Int64.max) })
        #expect(range.kind == .invalidInput)
        let zeroByte = try #require(kindOf { try c.query("SELECT $1::text", "a\u{0}b") })
        #expect(zeroByte.kind == .invalidInput)
    }

    @Test func undefinedTableAndSyntax() throws {
        let c = try database.connect()
        #expect(kindOf { try c.query("SELECT * FROM no_such_table") }?.kind == .undefinedTable)
        let syntax = try #require(kindOf { try c.query("SELEKT 1") })
        #expect(syntax.kind == .other)
        #expect(syntax.sqlState == "42601")
        // The connection is still usable after errors.
        #expect(c.ping())
    }

    @Test func kindsFromSQLState() {
        #expect(DatabaseError.kind(forSQLState: "40001") == .serializationFailure)
        #expect(DatabaseError.kind(forSQLState: "40P01") == .deadlockDetected)
        #expect(DatabaseError.kind(forSQLState: "08006") == .connectionLost)
        #expect(DatabaseError.kind(forSQLState: "57P01") == .connectionLost)
        #expect(DatabaseError.kind(forSQLState: "42501") == .insufficientPrivilege)
        #expect(DatabaseError.kind(forSQLState: "22007") == .invalidInput)
        #expect(DatabaseError.kind(forSQLState: "XX000") == .other)
    }

    @Test func unreachableServerIsConnectionLost() throws {
        let port = 1  // nothing listens on port 1
        let error = try #require(kindOf {
            _ = try PostgresConnection(conninfo: "postgresql://svx@127.0.0.1:\(port)/svx", logger: quietLogger)
        })
        #expect(error.kind == .connectionLost)
    }
}
