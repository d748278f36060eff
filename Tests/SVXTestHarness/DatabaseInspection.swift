import Foundation
import SVXStore

/// What a test reads of a ``TestDatabase`` to check what the services wrote: dumps and row counts per schema, and a
/// scan of every table for text that must never be stored.
extension TestDatabase {
    /// The schemas of the svx services.
    public static let serviceSchemas = ["auth", "keystore", "vault", "sharing", "classification"]

    /// The tables of `schema`, by name.
    public func tables(schema: String) throws -> [String] {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query("""
            SELECT table_name::text FROM information_schema.tables
            WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name
            """, schema).map { try $0.decode(String.self, at: 0) }
    }

    /// Every row of every table of `schema` (or of `tables` only) as JSON text, table by table, rows in a stable
    /// order: for "nothing changed" (compare two dumps) and "nothing in plain form" checks.
    public func dump(schema: String, tables only: [String]? = nil, excluding: Set<String> = []) throws -> String {
        let tables = try (only ?? tables(schema: schema)).filter { !excluding.contains($0) }
        let connection = try connect()
        defer { connection.close() }
        var text = ""
        for table in tables {
            text += "-- \(table)\n"
            for row in try connection.query("SELECT row_to_json(t)::text AS j FROM \(schema).\"\(table)\" t ORDER BY j") {
                text += try row.decode(String.self, at: 0) + "\n"
            }
        }
        return text
    }

    /// The number of rows of each table of `schema`.
    public func rowCounts(schema: String) throws -> [String: Int] {
        let tables = try tables(schema: schema)
        let connection = try connect()
        defer { connection.close() }
        var counts: [String: Int] = [:]
        for table in tables {
            counts[table] = try connection.query("SELECT count(*)::int FROM \(schema).\"\(table)\"")[0].decode(Int.self, at: 0)
        }
        return counts
    }

    /// The value of the first column of the first row of `sql` (a count, say) as an Int.
    public func count(_ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> Int {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query(sql, parameters: parameters)[0].decode(Int.self, at: 0)
    }

    /// The `schema.table` places of the service schemas where any of `needles` is stored: as text (UTF-8 in a text
    /// or JSON column) or as bytes (hex in a bytea column). Empty when the database holds none of them.
    public func plaintextScan(for needles: [String]) throws -> [String] {
        var found: [String] = []
        for schema in Self.serviceSchemas {
            for table in try tables(schema: schema) {
                let rows = try dump(schema: schema, tables: [table]).lowercased()
                for needle in needles where !needle.isEmpty {
                    let hex = needle.utf8.map { String(format: "%02x", $0) }.joined()
                    if rows.contains(needle.lowercased()) || rows.contains(hex) { found.append("\(schema).\(table)") }
                }
            }
        }
        return found
    }
}

/// Lines of `b` not in `a` and the reverse (a few of each), for a readable failure of a dump comparison.
public func dumpDifference(_ a: String, _ b: String) -> String {
    let left = Set(a.split(separator: "\n")), right = Set(b.split(separator: "\n"))
    let removed = left.subtracting(right).prefix(5).map { "- \($0.prefix(300))" }
    let added = right.subtracting(left).prefix(5).map { "+ \($0.prefix(300))" }
    return (removed + added).joined(separator: "\n")
}
