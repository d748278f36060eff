import Foundation
import Logging
import SVXService
import SVXStore
import SVXTestHarness
import Testing

/// Every service's migrations make the audit tables exactly as ``AuditTrail/tablesSQL(schema:)`` defines them (the
/// code that appends, prunes and reads them is shared): same columns, types, nullability and defaults, same checks and
/// keys. A migration that drifts from the definition fails here, not in production.
@Suite struct AuditMigrationTests {
    static let services = ["auth", "keystore", "vault", "sharing", "classification"]

    static func migrations(of service: String) throws -> [Migration] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let name = service.prefix(1).uppercased() + service.dropFirst()
        return try MigrationLoader.load(directory: root.appendingPathComponent("Services/\(name)/Migrations"))
    }

    /// The columns and constraints of `schema`'s audit tables, in a form two schemas can be compared by.
    static func shape(_ schema: String, on db: PostgresConnection) throws -> [String] {
        let columns = try db.query(
            """
            SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' '
                   || COALESCE(column_default, '-')
            FROM information_schema.columns
            WHERE table_schema = $1 AND table_name IN ('audit_events', 'audit_heads')
            """, schema
        ).map { try $0.decode(String.self, at: 0) }
        let constraints = try db.query(
            """
            SELECT c.relname::text || ' ' || k.contype::text || ' ' || pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname IN ('audit_events', 'audit_heads')
            """, schema
        ).map { try $0.decode(String.self, at: 0) }
        return (columns + constraints).sorted()
    }

    @Test(arguments: services)
    func theMigrationsMakeTheAuditTablesOfTheDefinition(service: String) throws {
        let database = try TestPostgres.shared().createDatabase(prefix: "audit_tables")
        defer { try? database.drop() }
        let db = try database.connect(role: TestDatabase.serviceRoles[service])
        defer { db.close() }
        try Migrator(schema: service, logger: Logger(label: "svx.test.audit")).migrate(try Self.migrations(of: service), on: db)
        let owner = try database.connect()
        defer { owner.close() }
        try owner.executeScript("CREATE SCHEMA audit_reference;\n" + AuditTrail.tablesSQL(schema: "audit_reference"))
        let migrated = try Self.shape(service, on: owner)
        #expect(!migrated.isEmpty, "\(service) has no audit tables")
        #expect(migrated == (try Self.shape("audit_reference", on: owner)))
    }
}
