import Foundation
import SVXStore
import SVXTestHarness
import Testing

@Suite("Parameters and row decoding")
struct ValueTests {
    let database: TestDatabase
    init() throws { database = try sharedDatabase("values") }

    @Test func everyTypeRoundTrips() throws {
        let c = try database.connect()
        let uuid = UUID()
        let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
        let bytes: [UInt8] = [0, 1, 0, 255, 0]
        let text = "héllo 🌍 ✓ \u{10FFFF} 'quote' \"dq\" \\ back"
        let row = try #require(
            try c.query(
                "SELECT $1::text AS t, $2::int8 AS i, $3::int4 AS i32, $4::int8 AS i64, $5::bool AS b, "
                    + "$6::float8 AS d, $7::bytea AS raw, $8::bytea AS data, $9::uuid AS u, $10::timestamptz AS ts",
                text, 42, Int32.min, Int64.min, true, -3.25, bytes, Data(bytes), uuid, date
            ).first)
        #expect(try row.decode(String.self, column: "t") == text)
        #expect(try row.decode(Int.self, column: "i") == 42)
        #expect(try row.decode(Int32.self, column: "i32") == Int32.min)
        #expect(try row.decode(Int64.self, column: "i64") == Int64.min)
        #expect(try row.decode(Bool.self, column: "b") == true)
        #expect(try row.decode(Double.self, column: "d") == -3.25)
        #expect(try row.decode([UInt8].self, column: "raw") == bytes)
        #expect(try row.decode(Data.self, column: "data") == Data(bytes))
        #expect(try row.decode(UUID.self, column: "u") == uuid)
        let decodedDate = try row.decode(Date.self, column: "ts")
        #expect(abs(decodedDate.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
        #expect(row.count == 10)
        // The same cells by index.
        #expect(try row.decode(String.self, at: 0) == text)
        #expect(try row.decode(UUID.self, at: 8) == uuid)
    }

    @Test func theServerSeesTheSameValues() throws {
        // Checks the binary encodings from the server's side, independently of our decoding.
        let c = try database.connect()
        let uuid = UUID(uuidString: "0f8c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")!
        let date = Date(timeIntervalSince1970: 1_700_000_000.5)
        let row = try #require(
            try c.query(
                "SELECT $1::text = 'zéro' AS t, $2::int8 = 9007199254740993 AS i, $3::bool = false AS b, "
                    + "$4::float8 = 0.1 AS d, encode($5::bytea, 'hex') AS hex, $6::uuid::text AS u, "
                    + "extract(epoch FROM $7::timestamptz)::float8 AS epoch, octet_length($8::bytea) AS empty_length",
                "zéro", 9_007_199_254_740_993, false, 0.1, [UInt8]([0, 0xab, 0]), uuid, date, [UInt8]()
            ).first)
        #expect(try row.decode(Bool.self, column: "t"))
        #expect(try row.decode(Bool.self, column: "i"))
        #expect(try row.decode(Bool.self, column: "b"))
        #expect(try row.decode(Bool.self, column: "d"))
        #expect(try row.decode(String.self, column: "hex") == "00ab00")
        #expect(try row.decode(String.self, column: "u") == "0f8c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
        #expect(try row.decode(Double.self, column: "epoch") == 1_700_000_000.5)
        #expect(try row.decode(Int32.self, column: "empty_length") == 0)
    }

    @Test func specialValues() throws {
        let c = try database.connect()
        let row = try #require(
            try c.query(
                "SELECT $1::float8, $2::float8, $3::float8, $4::text, $4::text IS NULL, $5::int8, "
                    + "'infinity'::timestamptz, '-infinity'::timestamptz, 5::int2, 2.5::float4",
                Double.infinity, -Double.infinity, Double.nan, "", Int64.max
            ).first)
        #expect(try row.decode(Double.self, at: 0) == .infinity)
        #expect(try row.decode(Double.self, at: 1) == -.infinity)
        #expect(try row.decode(Double.self, at: 2).isNaN)
        #expect(try row.decode(String.self, at: 3) == "")
        #expect(try row.decode(Bool.self, at: 4) == false)
        #expect(try row.decode(Int64.self, at: 5) == Int64.max)
        #expect(try row.decode(Date.self, at: 6) == .distantFuture)
        #expect(try row.decode(Date.self, at: 7) == .distantPast)
        #expect(try row.decode(Int.self, at: 8) == 5)
        #expect(try row.decode(Double.self, at: 9) == 2.5)
    }

    @Test func nullOfEveryTypeAndOptionals() throws {
        let c = try database.connect()
        let noText: String? = nil
        let someInt: Int? = 7
        let row = try #require(
            try c.query(
                "SELECT $1::text, $2::int8, $3::int4, $4::bool, $5::float8, $6::bytea, $7::uuid, $8::timestamptz, "
                    + "$9::int8, $10::text",
                nil, nil, nil, nil, nil, nil, nil, nil, someInt, noText
            ).first)
        #expect(try row.decode(String?.self, at: 0) == nil)
        #expect(try row.decode(Int?.self, at: 1) == nil)
        #expect(try row.decode(Int32?.self, at: 2) == nil)
        #expect(try row.decode(Bool?.self, at: 3) == nil)
        #expect(try row.decode(Double?.self, at: 4) == nil)
        #expect(try row.decode([UInt8]?.self, at: 5) == nil)
        #expect(try row.decode(UUID?.self, at: 6) == nil)
        #expect(try row.decode(Date?.self, at: 7) == nil)
        #expect(try row.decode(Int?.self, at: 8) == 7)
        #expect(try row.decode(String?.self, at: 9) == nil)
        #expect(row.isNull(at: 0))
        #expect(throws: PostgresDecodingError.self) { try row.decode(String.self, at: 0) }
        #expect(throws: PostgresDecodingError.self) { try row.decode(Int.self, at: 1) }
    }

    @Test func typeMismatchesAreClearErrors() throws {
        let c = try database.connect()
        let row = try #require(try c.query("SELECT 'x'::text AS name, 1::int8 AS n, 1.5::numeric AS price").first)
        let error = try #require(throws: PostgresDecodingError.self) { try row.decode(Int.self, column: "name") }
        #expect(error.description.contains("name"))
        #expect(error.description.contains("text"))
        #expect(throws: PostgresDecodingError.self) { try row.decode(String.self, column: "n") }
        #expect(throws: PostgresDecodingError.self) { try row.decode(Int32.self, column: "n") }
        #expect(throws: PostgresDecodingError.self) { try row.decode(Double.self, column: "price") }
        #expect(throws: PostgresDecodingError.self) { try row.decode(String.self, column: "missing") }
        #expect(throws: PostgresDecodingError.self) { try row.decode(String.self, at: 3) }
    }

    @Test func jsonAndArrayParameters() throws {
        let c = try database.connect()
        let json = try #require(try c.query("SELECT $1::jsonb AS j", #"{"a": [1, 2]}"#).first)
        #expect(try json.decode(String.self, column: "j") == #"{"a": [1, 2]}"#)
        let values: [(any PostgresEncodable)?] = [1, "two", nil]
        let row = try #require(try c.query("SELECT $1::int8, $2::text, $3::text", parameters: values).first)
        #expect(try row.decode(String.self, at: 1) == "two")
        #expect(try row.decode(String?.self, at: 2) == nil)
    }

    @Test func sqlInjectionStaysAValue() throws {
        let c = try database.connect()
        try c.execute("CREATE TABLE victims (name text NOT NULL)")
        let attack = "x'); DROP TABLE victims; --"
        #expect(try c.execute("INSERT INTO victims (name) VALUES ($1)", attack) == 1)
        let again = "' OR '1'='1"
        let rows = try c.query("SELECT name FROM victims WHERE name = $1", again)
        #expect(rows.isEmpty)
        let stored = try c.query("SELECT name FROM victims WHERE name = $1", attack)
        #expect(try stored.first?.decode(String.self, at: 0) == attack)
        #expect(try c.query("SELECT count(*) FROM victims").first?.decode(Int.self, at: 0) == 1)
    }

    @Test func executeReportsAffectedRows() throws {
        let c = try database.connect()
        try c.execute("CREATE TABLE counted (n int4)")
        #expect(try c.execute("INSERT INTO counted SELECT generate_series(1, $1::int4)", Int32(5)) == 5)
        #expect(try c.execute("UPDATE counted SET n = n + 1 WHERE n > $1", 2) == 3)
        #expect(try c.execute("DELETE FROM counted") == 5)
        #expect(try c.execute("CREATE TABLE another (n int4)") == 0)
    }

    @Test func noticesGoToTheLogger() throws {
        let handler = CollectingLogHandler()
        let c = try database.connect(logger: handler.logger())
        try c.execute("DO $$ BEGIN RAISE NOTICE 'notice from the server'; END $$")
        let notices = handler.messages.filter { $0.level == .debug && $0.message == "PostgreSQL notice" }
        #expect(notices.count == 1)
        let notice = notices.first?.metadata["notice"].map { "\($0)" } ?? ""
        #expect(notice.contains("notice from the server"))
    }

    @Test func applicationNameIsSet() throws {
        let c = try PostgresConnection(conninfo: database.superuserConninfo, logger: quietLogger, applicationName: "svx-auth")
        #expect(try c.query("SELECT current_setting('application_name')").first?.decode(String.self, at: 0) == "svx-auth")
    }

    @Test func checksumIsSHA256() throws {
        #expect(Migration(version: 1, name: "a", sql: "").checksum
            == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Migration(version: 1, name: "a", sql: "abc").checksum
            == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Migration(version: 1, name: "a", sql: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").checksum
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Against PostgreSQL's own sha256 for a longer, multi-block, non-ASCII text.
        let text = String(repeating: "CREATE TABLE é (id int);\n", count: 40)
        let c = try database.connect()
        let expected = try c.query("SELECT encode(sha256(convert_to($1::text, 'UTF8')), 'hex')", text)
        #expect(try expected.first?.decode(String.self, at: 0) == Migration(version: 1, name: "a", sql: text).checksum)
    }

    @Test func poolHandsEachWorkerItsOwnConnection() throws {
        let pool = try PostgresPool(conninfo: database.superuserConninfo, size: 2, logger: quietLogger)
        let first = try pool.connection(worker: 0)
        #expect(try pool.connection(worker: 0) === first)
        let second = try pool.connection(worker: 1)
        #expect(second !== first)
        #expect(first.backendProcessID != second.backendProcessID)
        #expect(pool.ping())
        pool.close()
        let unreachable = try PostgresPool(conninfo: "postgresql://nobody@127.0.0.1:1/none", size: 1, logger: quietLogger)
        #expect(!unreachable.ping())
        #expect(throws: DatabaseError.self) { try unreachable.connection(worker: 0) }
    }
}
