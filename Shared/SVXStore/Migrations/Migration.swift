import Foundation

/// One forward-only schema change: the SQL of a file named `NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    /// The number in the file name; versions of a service run 1, 2, 3, ... without gaps.
    public let version: Int
    /// The rest of the file name (`create_users` for `0001_create_users.sql`).
    public let name: String
    /// The SQL text. It runs inside a transaction with `search_path` set to the service's schema, so it must not
    /// contain BEGIN/COMMIT or statements that cannot run in a transaction (`CREATE INDEX CONCURRENTLY`).
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// Lower-case hex SHA-256 of the SQL's UTF-8 bytes (the file's bytes), recorded when the migration is applied.
    public var checksum: String { SHA256.hexDigest(Array(sql.utf8)) }

    /// `0001_create_users`.
    public var identifier: String {
        let digits = String(version)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits + "_" + name
    }
}

/// Reads the migrations of one service from a directory.
public enum MigrationLoader {
    /// Loads every file of `directory` as a migration, ordered by version.
    ///
    /// Rules: every file other than hidden ones (`.` first) must be named `NNNN_name.sql` (four digits, an
    /// underscore, then letters, digits and underscores); versions start at 1 and have no gaps or duplicates; files
    /// must be UTF-8. Anything else is refused with a ``MigrationError`` rather than skipped.
    public static func load(directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError("cannot list migrations in \(directory.path): \(error.localizedDescription)")
        }
        var migrations: [Migration] = []
        for fileName in names.sorted() where !fileName.hasPrefix(".") {
            guard let (version, name) = parse(fileName: fileName) else {
                throw MigrationError(
                    "\(fileName): a migration file must be named NNNN_name.sql (name: letters, digits, _)")
            }
            let data: Data
            do {
                data = try Data(contentsOf: directory.appendingPathComponent(fileName))
            } catch {
                throw MigrationError("cannot read \(fileName): \(error.localizedDescription)")
            }
            guard let sql = String(data: data, encoding: .utf8) else {
                throw MigrationError("\(fileName) is not UTF-8")
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        try validate(migrations)
        return migrations
    }

    /// Parses `0001_create_users.sql` into `(1, "create_users")`; nil for any other shape.
    public static func parse(fileName: String) -> (version: Int, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = Array(fileName.utf8.dropLast(4))
        guard stem.count >= 6, stem[4] == UInt8(ascii: "_") else { return nil }
        let digits = stem[0..<4], rest = stem[5...]
        guard digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        let allowed: (UInt8) -> Bool = {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "_")
        }
        guard rest.allSatisfy(allowed), let version = Int(String(decoding: digits, as: UTF8.self)) else { return nil }
        return (version, String(decoding: rest, as: UTF8.self))
    }

    /// Checks that versions are exactly 1...n in order (no duplicates, no gaps, nothing below 1).
    public static func validate(_ migrations: [Migration]) throws {
        for (index, migration) in migrations.enumerated() {
            let expected = index + 1
            if migration.version == expected { continue }
            if index > 0, migration.version == migrations[index - 1].version {
                throw MigrationError(
                    "duplicate migration version \(migration.version): \(migrations[index - 1].identifier) and \(migration.identifier)")
            }
            if migration.version < expected {
                throw MigrationError("migrations out of order at \(migration.identifier)")
            }
            throw MigrationError("missing migration version \(expected) before \(migration.identifier)")
        }
    }
}
