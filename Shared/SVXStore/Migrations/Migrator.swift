import Foundation
import Logging

/// Applies a service's migrations to its own schema.
///
/// The schema must already exist and belong to the role the connection logs in as (compose/bootstrap.sql creates
/// it); the migrator does not create schemas. It keeps `<schema>.schema_migrations(version, name, checksum,
/// applied_at)`. Each pending migration runs in its own transaction together with its record, under a
/// transaction-scoped advisory lock keyed by the schema name, so service instances starting at the same time apply
/// each migration exactly once. An applied migration whose file changed (checksum), or a recorded version this build
/// does not know, is refused: migrations are forward-only and immutable once applied.
public struct Migrator: Sendable {
    /// The schema migrated (a plain lower-case identifier such as `auth`).
    public let schema: String
    private let logger: Logger

    public init(schema: String, logger: Logger) {
        self.schema = schema
        self.logger = logger
    }

    /// Applies the migrations not yet recorded, in version order, and returns them (empty when up to date).
    ///
    /// - Throws: ``MigrationError`` for a bad schema name, a bad set of migrations, a changed or unknown applied
    ///   migration, or a migration that ends its own transaction; ``DatabaseError`` when a migration's SQL fails
    ///   (that migration is rolled back, earlier ones stay applied).
    @discardableResult
    public func migrate(_ migrations: [Migration], on connection: PostgresConnection) throws -> [Migration] {
        guard Self.isPlainIdentifier(schema) else {
            throw MigrationError("schema name \(schema) must match [a-z_][a-z0-9_]*")
        }
        let sorted = migrations.sorted { $0.version < $1.version }
        try MigrationLoader.validate(sorted)
        let table = "\"\(schema)\".schema_migrations"  // safe: schema is a checked plain identifier
        var applied: [Migration] = []
        while true {
            let next: Migration? = try connection.transaction(isolation: .readCommitted, maxAttempts: 3) { tx in
                _ = try tx.query("SELECT set_config('lock_timeout', '60s', true)")
                _ = try tx.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "svx.migrate." + schema)
                try tx.execute(
                    """
                    CREATE TABLE IF NOT EXISTS \(table) (
                        version integer PRIMARY KEY,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )
                    """)
                let rows = try tx.query("SELECT version, name, checksum FROM \(table) ORDER BY version")
                var done = Set<Int>()
                for row in rows {
                    let version = Int(try row.decode(Int32.self, at: 0))
                    let name = try row.decode(String.self, at: 1)
                    let checksum = try row.decode(String.self, at: 2)
                    guard let known = sorted.first(where: { $0.version == version }) else {
                        throw MigrationError(
                            "schema \(schema) has migration \(version) (\(name)) that this build does not have")
                    }
                    guard known.checksum == checksum else {
                        throw MigrationError(
                            "migration \(known.identifier) changed after it was applied to schema \(schema) "
                                + "(recorded checksum \(checksum), file \(known.checksum)); write a new migration instead")
                    }
                    done.insert(version)
                }
                guard let pending = sorted.first(where: { !done.contains($0.version) }) else { return nil }
                _ = try tx.query("SELECT set_config('search_path', $1, true)", "\"\(schema)\"")
                do {
                    try tx.executeScript(pending.sql)
                } catch {
                    logger.error(
                        "migration failed", metadata: ["schema": "\(schema)", "migration": "\(pending.identifier)"])
                    throw error
                }
                guard tx.lastKnownInTransaction else {
                    throw MigrationError("migration \(pending.identifier) must not contain BEGIN/COMMIT/ROLLBACK")
                }
                try tx.execute(
                    "INSERT INTO \(table) (version, name, checksum) VALUES ($1, $2, $3)",
                    Int32(pending.version), pending.name, pending.checksum)
                return pending
            }
            guard let next else { break }
            logger.info("applied migration", metadata: ["schema": "\(schema)", "migration": "\(next.identifier)"])
            applied.append(next)
        }
        return applied
    }

    static func isPlainIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 63 else { return false }
        let lower = { (c: UInt8) in c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
        let digit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        let underscore = UInt8(ascii: "_")
        return (lower(first) || first == underscore) && name.utf8.allSatisfy { lower($0) || digit($0) || $0 == underscore }
    }
}
