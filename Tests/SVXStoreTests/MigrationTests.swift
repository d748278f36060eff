import Foundation
import SVXStore
import SVXTestHarness
import Testing

func migrationDirectory(_ files: [String: String]) throws -> URL {
    let directory = URL(fileURLWithPath: NSTemporaryDirectory())
        .appendingPathComponent("svx-migrations-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    for (name, sql) in files {
        try sql.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }
    return directory
}

let widgetMigrations = [
    Migration(
        version: 1, name: "create_widgets",
        sql: "CREATE TABLE widgets (id uuid PRIMARY KEY, name text NOT NULL);\nSELECT pg_sleep(0.2);\n"),
    Migration(version: 2, name: "add_colour", sql: "ALTER TABLE widgets ADD COLUMN colour text;"),
    Migration(version: 3, name: "index_name", sql: "CREATE INDEX widgets_name ON widgets (name);"),
]

@Suite("Migration files")
struct MigrationLoaderTests {
    @Test func loadsInVersionOrder() throws {
        let directory = try migrationDirectory([
            "0002_second.sql": "SELECT 2;", "0001_first.sql": "SELECT 1;", "0003_Third_one.sql": "SELECT 3;",
            ".hidden": "ignored",
        ])
        defer { try? FileManager.default.removeItem(at: directory) }
        let migrations = try MigrationLoader.load(directory: directory)
        #expect(migrations.map(\.version) == [1, 2, 3])
        #expect(migrations.map(\.name) == ["first", "second", "Third_one"])
        #expect(migrations[0].sql == "SELECT 1;")
        #expect(migrations[0].identifier == "0001_first")
    }

    @Test(arguments: ["1_init.sql", "0001-init.sql", "0001_init.txt", "0001_.sql", "01_init.sql", "0001_in-it.sql",
                      "0001_init.sql.bak", "README.md"])
    func badNamesAreRefused(name: String) throws {
        let directory = try migrationDirectory(["0001_ok.sql": "SELECT 1;", name: "SELECT 1;"])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: MigrationError.self) { try MigrationLoader.load(directory: directory) }
    }

    @Test func duplicatesAndGapsAreRefused() throws {
        let duplicate = try migrationDirectory(["0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"])
        defer { try? FileManager.default.removeItem(at: duplicate) }
        let error = try #require(throws: MigrationError.self) { try MigrationLoader.load(directory: duplicate) }
        #expect(error.message.contains("duplicate"))

        let gap = try migrationDirectory(["0001_a.sql": "SELECT 1;", "0003_c.sql": "SELECT 1;"])
        defer { try? FileManager.default.removeItem(at: gap) }
        let gapError = try #require(throws: MigrationError.self) { try MigrationLoader.load(directory: gap) }
        #expect(gapError.message.contains("missing migration version 2"))

        let zero = try migrationDirectory(["0000_a.sql": "SELECT 1;"])
        defer { try? FileManager.default.removeItem(at: zero) }
        #expect(throws: MigrationError.self) { try MigrationLoader.load(directory: zero) }
        #expect(throws: MigrationError.self) {
            try MigrationLoader.load(directory: URL(fileURLWithPath: "/nonexistent/svx/migrations"))
        }
    }

    @Test func anEmptyDirectoryHasNoMigrations() throws {
        let directory = try migrationDirectory([:])
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(try MigrationLoader.load(directory: directory).isEmpty)
    }
}

@Suite("Migrator", .serialized)
struct MigratorTests {
    @Test func appliesOnceAndASecondRunIsANoOp() throws {
        let database = try sharedDatabase("migrate")
        let c = try database.connect(role: "svx_auth")
        let migrator = Migrator(schema: "auth", logger: quietLogger)
        let applied = try migrator.migrate(widgetMigrations, on: c)
        #expect(applied.map(\.version) == [1, 2, 3])
        #expect(try migrator.migrate(widgetMigrations, on: c).isEmpty)

        let admin = try database.connect()
        #expect(try admin.query("SELECT to_regclass('auth.widgets')::text").first?.decode(String?.self, at: 0)
            == "auth.widgets")
        let records = try admin.query("SELECT version, name, checksum, applied_at FROM auth.schema_migrations ORDER BY version")
        #expect(try records.map { try $0.decode(Int32.self, at: 0) } == [1, 2, 3])
        #expect(try records.map { try $0.decode(String.self, column: "checksum") } == widgetMigrations.map(\.checksum))
        #expect(try records[0].decode(String.self, column: "name") == "create_widgets")
        _ = try records[0].decode(Date.self, column: "applied_at")
        // The service role owns what it created; nothing landed in public.
        #expect(try admin.query("SELECT tableowner FROM pg_tables WHERE schemaname = 'auth' AND tablename = 'widgets'")
            .first?.decode(String.self, at: 0) == "svx_auth")
        #expect(try admin.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").first?.decode(Int.self, at: 0) == 0)

        // Adding a migration later applies just that one.
        let more = widgetMigrations + [Migration(version: 4, name: "more", sql: "ALTER TABLE widgets ADD COLUMN size int4;")]
        #expect(try migrator.migrate(more, on: c).map(\.version) == [4])
    }

    @Test func concurrentMigratorsSerialise() throws {
        let database = try sharedDatabase("migrate_concurrent")
        let conninfo = database.conninfo(role: "svx_vault")
        let results = onThreads(4) { _ -> [Int] in
            let c = try PostgresConnection(conninfo: conninfo, logger: quietLogger)
            return try Migrator(schema: "vault", logger: quietLogger).migrate(widgetMigrations, on: c).map(\.version)
        }
        let applied = try results.map { try $0.get() }
        #expect(applied.flatMap { $0 }.sorted() == [1, 2, 3])
        let admin = try database.connect()
        #expect(try admin.query("SELECT count(*) FROM vault.schema_migrations").first?.decode(Int.self, at: 0) == 3)
    }

    @Test func aChangedMigrationIsRefused() throws {
        let database = try sharedDatabase("migrate_changed")
        let c = try database.connect(role: "svx_sharing")
        let migrator = Migrator(schema: "sharing", logger: quietLogger)
        try migrator.migrate(Array(widgetMigrations.prefix(2)), on: c)
        var changed = widgetMigrations
        changed[1] = Migration(version: 2, name: "add_colour", sql: "ALTER TABLE widgets ADD COLUMN color text;")
        let error = try #require(throws: MigrationError.self) { try migrator.migrate(changed, on: c) }
        #expect(error.message.contains("0002_add_colour"))
        // Nothing further was applied, and an applied version unknown to the build is refused too.
        #expect(try c.query("SELECT count(*) FROM sharing.schema_migrations").first?.decode(Int.self, at: 0) == 2)
        #expect(throws: MigrationError.self) { try migrator.migrate(Array(widgetMigrations.prefix(1)), on: c) }
    }

    @Test func aFailingMigrationRollsBackAndCanBeFixed() throws {
        let database = try sharedDatabase("migrate_failing")
        let c = try database.connect(role: "svx_classification")
        let migrator = Migrator(schema: "classification", logger: quietLogger)
        var broken = Array(widgetMigrations.prefix(2))
        broken[1] = Migration(version: 2, name: "add_colour", sql: "ALTER TABLE widgets ADD COLUMN colour text; SELEKT;")
        #expect(throws: DatabaseError.self) { try migrator.migrate(broken, on: c) }
        #expect(try c.query("SELECT version FROM classification.schema_migrations").map { try $0.decode(Int32.self, at: 0) } == [1])
        #expect(try c.query("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'classification' AND column_name = 'colour'")
            .first?.decode(Int.self, at: 0) == 0)
        #expect(try migrator.migrate(Array(widgetMigrations.prefix(2)), on: c).map(\.version) == [2])
    }

    @Test func badSchemaNamesAndTransactionControlAreRefused() throws {
        let database = try sharedDatabase("migrate_bad")
        let c = try database.connect(role: "svx_keystore")
        #expect(throws: MigrationError.self) {
            try Migrator(schema: "keystore\"; DROP", logger: quietLogger).migrate(widgetMigrations, on: c)
        }
        #expect(throws: MigrationError.self) {
            try Migrator(schema: "keystore", logger: quietLogger).migrate([widgetMigrations[1]], on: c)
        }
        let committing = [Migration(version: 1, name: "commits", sql: "CREATE TABLE t (a int); COMMIT;")]
        #expect(throws: MigrationError.self) {
            try Migrator(schema: "keystore", logger: quietLogger).migrate(committing, on: c)
        }
        #expect(!c.isInTransaction)
    }
}
