import Synchronization

/// A request rate limit per caller address, kept in this process's memory: every allowed call takes a token from
/// the caller's ``TokenBucket``, a refused call takes none. Used where each call costs the server work whatever its
/// outcome (BeginLogin's modexp and INSERT, ReserveUsername's row), so that one address cannot take the whole
/// service. Not shared by replicas: with N Auth processes a caller gets N times the rate (the durable limits, the
/// failed-login buckets and the reservation cap, live in PostgreSQL). See docs/ADR-002-auth.md.
///
/// Bounded: at most `maxCallers` addresses (and the overflow bucket) are remembered. When that many are, buckets
/// that are full again are forgotten (a missing entry is a full bucket), at most once a second; if none is, new
/// callers share one overflow bucket until some are.
final class CallerRateLimiter: Sendable {
    let bucket: TokenBucket
    let maxCallers: Int
    private let state: Mutex<State>
    private let start = ContinuousClock.now

    /// The shared bucket of new callers while the table is full (never an IP address).
    static let overflowCaller = "overflow"

    struct Entry: Sendable {
        var tokens: Double
        var atMilliseconds: Double
    }

    struct State: Sendable {
        var entries: [String: Entry] = [:]
        var lastSweepMilliseconds = -Double.infinity
    }

    init(bucket: TokenBucket, maxCallers: Int = 100_000) {
        precondition(maxCallers >= 1)
        self.bucket = bucket
        self.maxCallers = maxCallers
        state = Mutex(State())
    }

    /// Takes one token for `caller` (a ``Throttle/callerKey(_:)``) now: nil when the call may go ahead, else the
    /// milliseconds until the caller has a token again.
    func take(_ caller: String) -> Int64? {
        let elapsed = (ContinuousClock.now - start).components
        return take(caller, atMilliseconds: Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15)
    }

    /// ``take(_:)`` at a given time, milliseconds on a clock that never goes back (unit tests drive it).
    func take(_ caller: String, atMilliseconds now: Double) -> Int64? {
        state.withLock { state in
            var key = caller
            if state.entries[key] == nil && state.entries.count >= maxCallers {
                if now - state.lastSweepMilliseconds >= 1000 {
                    state.lastSweepMilliseconds = now
                    state.entries = state.entries.filter { _, entry in
                        bucket.available(stored: entry.tokens, elapsedMilliseconds: now - entry.atMilliseconds) < bucket.burst
                    }
                }
                if state.entries.count >= maxCallers { key = Self.overflowCaller }
            }
            let entry = state.entries[key]
            let available = bucket.available(
                stored: entry?.tokens, elapsedMilliseconds: entry.map { now - $0.atMilliseconds } ?? 0)
            if let wait = bucket.retryAfterMilliseconds(available: available) { return wait }
            state.entries[key] = Entry(tokens: available - 1, atMilliseconds: now)
            return nil
        }
    }

    /// How many callers are remembered (tests).
    var rememberedCallers: Int { state.withLock { $0.entries.count } }
}
