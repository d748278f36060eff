import SVXRPC
import SVXStore

/// Throttling of failed logins, per username and per caller address, in `auth.throttle_buckets` (shared by every
/// replica). Attempts check their buckets before any SRP work; only failures take tokens, so a correct login never
/// costs a write here and is never slowed. See docs/ADR-002-auth.md.
struct Throttle: Sendable {
    let perUsername: TokenBucket
    let perCaller: TokenBucket

    struct Key: Sendable {
        let name: String
        let bucket: TokenBucket
    }

    func username(_ username: String) -> Key { Key(name: "u:" + username, bucket: perUsername) }

    /// nil when the caller's address is unknown (no per-caller bucket then).
    func caller(_ peerAddress: String) -> Key? {
        peerAddress.isEmpty ? nil : Key(name: "c:" + peerAddress, bucket: perCaller)
    }

    /// SQL giving a bucket's stored tokens and the milliseconds since its last write, for a join alias.
    static func columns(_ alias: String) -> String {
        "\(alias).tokens, (EXTRACT(EPOCH FROM (now() - \(alias).updated_at)) * 1000)::float8"
    }

    /// The throttling status for buckets read along with other data (`stored` nil: no row, a full bucket).
    static func verdict(_ buckets: [(bucket: TokenBucket, stored: Double?, elapsedMilliseconds: Double?)]) -> RPCStatus? {
        var retryAfter: Int64 = 0
        for item in buckets {
            let available = item.bucket.available(stored: item.stored, elapsedMilliseconds: item.elapsedMilliseconds ?? 0)
            if let wait = item.bucket.retryAfterMilliseconds(available: available) { retryAfter = max(retryAfter, wait) }
        }
        guard retryAfter > 0 else { return nil }
        return RPCStatus(
            .resourceExhausted, "too many failed logins, try again later",
            details: ["retry_after_ms": String(retryAfter)])
    }

    /// Throws RESOURCE_EXHAUSTED with `retry_after_ms` when any bucket is empty.
    func check(_ keys: [Key], on database: PostgresConnection) throws {
        guard !keys.isEmpty else { return }
        let names = keys.map(\.name)
        let rows = try database.query(
            """
            SELECT bucket_key, tokens, (EXTRACT(EPOCH FROM (now() - updated_at)) * 1000)::float8
            FROM auth.throttle_buckets WHERE bucket_key = $1 OR bucket_key = $2
            """, names[0], names.count > 1 ? names[1] : names[0])
        var retryAfter: Int64 = 0
        for row in rows {
            let name = try row.decode(String.self, at: 0)
            guard let key = keys.first(where: { $0.name == name }) else { continue }
            let available = key.bucket.available(
                stored: try row.decode(Double.self, at: 1), elapsedMilliseconds: try row.decode(Double.self, at: 2))
            if let wait = key.bucket.retryAfterMilliseconds(available: available) { retryAfter = max(retryAfter, wait) }
        }
        if retryAfter > 0 {
            throw RPCStatus(
                .resourceExhausted, "too many failed logins, try again later",
                details: ["retry_after_ms": String(retryAfter)])
        }
    }

    /// Takes one token from each bucket (a failed login).
    func recordFailure(_ keys: [Key], on database: PostgresConnection) throws {
        for key in keys {
            try database.transaction { db in
                // A full bucket first, so that FOR UPDATE always has a row to lock: two first failures at
                // once must not both start from "full" and overwrite each other.
                _ = try db.execute(
                    """
                    INSERT INTO auth.throttle_buckets (bucket_key, tokens, updated_at) VALUES ($1, $2, now())
                    ON CONFLICT (bucket_key) DO NOTHING
                    """, key.name, key.bucket.burst)
                let rows = try db.query(
                    """
                    SELECT tokens, (EXTRACT(EPOCH FROM (now() - updated_at)) * 1000)::float8
                    FROM auth.throttle_buckets WHERE bucket_key = $1 FOR UPDATE
                    """, key.name)
                let stored = try rows.first.map { try $0.decode(Double.self, at: 0) }
                let elapsed = try rows.first.map { try $0.decode(Double.self, at: 1) } ?? 0
                let tokens = key.bucket.afterFailure(stored: stored, elapsedMilliseconds: elapsed)
                _ = try db.execute(
                    """
                    INSERT INTO auth.throttle_buckets (bucket_key, tokens, updated_at) VALUES ($1, $2, now())
                    ON CONFLICT (bucket_key) DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at
                    """, key.name, tokens)
            }
        }
    }

    /// Drops buckets that are full again (housekeeping).
    func sweep(on database: PostgresConnection) throws {
        let longest = max(perUsername.refillsCompletelyAfterMilliseconds, perCaller.refillsCompletelyAfterMilliseconds)
        _ = try database.execute(
            "DELETE FROM auth.throttle_buckets WHERE updated_at < now() - $1::float8 * interval '1 millisecond'",
            longest)
    }
}
