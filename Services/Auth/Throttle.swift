import SVXRPC
import SVXStore

/// Throttling of failed logins, per username and per (username, caller address), in `auth.throttle_buckets`
/// (shared by every replica). Attempts check their buckets before any SRP work; only failures take tokens, so a
/// correct login never costs a write here and is never slowed. No bucket is keyed on the caller alone: behind a
/// shared address (Docker's port publishing, a NAT) one caller's failures would lock every user out (security
/// review M3). See docs/ADR-002-auth.md.
struct Throttle: Sendable {
    let perUsername: TokenBucket
    let perUsernameAndCaller: TokenBucket

    struct Key: Sendable, Equatable {
        let name: String
        let bucket: TokenBucket
    }

    /// The caller's key in every per-caller limit, from ZeroMQ's Peer-Address:
    /// - tcp://: the peer's IP address (the TCP peer, which a client cannot choose);
    /// - ipc://: libzmq gives `localhost:<uid>:<gid>:<pid>` (the kernel's SO_PEERCRED); the key keeps
    ///   `localhost:<uid>`, since a local user can start as many processes as it likes;
    /// - no address (inproc://, or ipc:// where the platform has no peer credentials): one shared key, so that
    ///   such callers share one set of limits rather than escaping them.
    static func callerKey(_ peerAddress: String) -> String {
        if peerAddress.isEmpty { return unknownCaller }
        if peerAddress.hasPrefix("localhost:") {
            let parts = peerAddress.split(separator: ":", omittingEmptySubsequences: false)
            return parts.count >= 2 ? "localhost:" + parts[1] : peerAddress
        }
        return peerAddress
    }

    /// The key of every caller whose address is unknown (never an IP address).
    static let unknownCaller = "unknown"

    /// The failed-proof bucket of `username` for challenges of `purpose`: `u:<username>` for logins (and credential
    /// proofs), `r:<username>` for recoveries, so that guessing one credential never locks the other.
    func username(_ username: String, for purpose: ChallengePurpose = .login) -> Key {
        Key(name: Self.usernamePrefix(purpose) + username, bucket: perUsername)
    }

    /// `caller` is a ``callerKey(_:)``. Usernames never contain `@` (WireValidation), so the name is unambiguous.
    func usernameAndCaller(_ username: String, _ caller: String, for purpose: ChallengePurpose = .login) -> Key {
        Key(name: Self.usernameAndCallerPrefix(purpose) + username + "@" + caller, bucket: perUsernameAndCaller)
    }

    /// A per-username bucket's name is this prefix and the username (built the same way in SQL).
    static func usernamePrefix(_ purpose: ChallengePurpose) -> String {
        switch purpose {
        case .login: "u:"
        case .recovery: "r:"
        }
    }

    /// A per-(username, caller) bucket's name is this prefix, the username, `@` and the caller key (built the same
    /// way in SQL).
    static func usernameAndCallerPrefix(_ purpose: ChallengePurpose) -> String {
        switch purpose {
        case .login: "uc:"
        case .recovery: "rc:"
        }
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

    /// Throws RESOURCE_EXHAUSTED with `retry_after_ms` when any of the (at most two) buckets is empty (the credential
    /// proofs of ChangeVerifier and VerifyCredentials, which read no other row first).
    func check(_ keys: [Key], on database: PostgresConnection) throws {
        guard !keys.isEmpty else { return }
        precondition(keys.count <= 2)
        let names = keys.map(\.name)
        let rows = try database.query(
            """
            SELECT bucket_key, tokens, (EXTRACT(EPOCH FROM (now() - updated_at)) * 1000)::float8
            FROM auth.throttle_buckets WHERE bucket_key = $1 OR bucket_key = $2
            """, names[0], names.count > 1 ? names[1] : names[0])
        var stored: [String: (Double, Double)] = [:]
        for row in rows { stored[try row.decode(String.self, at: 0)] = (try row.decode(Double.self, at: 1), try row.decode(Double.self, at: 2)) }
        if let status = Self.verdict(keys.map { ($0.bucket, stored[$0.name]?.0, stored[$0.name]?.1) }) { throw status }
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
        let longest = max(
            perUsername.refillsCompletelyAfterMilliseconds, perUsernameAndCaller.refillsCompletelyAfterMilliseconds)
        _ = try database.execute(
            "DELETE FROM auth.throttle_buckets WHERE updated_at < now() - $1::float8 * interval '1 millisecond'",
            longest)
    }
}
