/// Unix epoch milliseconds of a timestamptz, as SQL: `(EXTRACT(EPOCH FROM x) * 1000)::bigint` (what the wire's
/// `*_ms` fields carry).
public func epochMilliseconds(_ column: String) -> String { "(EXTRACT(EPOCH FROM \(column)) * 1000)::bigint" }
