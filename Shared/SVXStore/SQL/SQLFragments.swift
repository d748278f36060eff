import Foundation

/// Unix epoch milliseconds of a timestamptz, as SQL: `(EXTRACT(EPOCH FROM x) * 1000)::bigint` (what the wire's
/// `*_ms` fields carry).
public func epochMilliseconds(_ column: String) -> String { "(EXTRACT(EPOCH FROM \(column)) * 1000)::bigint" }

/// `ids` as a PostgreSQL array literal for a `$n::uuid[]` parameter (libpq parameters here are text; canonical
/// lowercase UUIDs need no quoting).
public func uuidArrayLiteral(_ ids: some Sequence<UUID>) -> String {
    "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
}
