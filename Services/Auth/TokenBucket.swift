/// A token bucket of failed logins: it holds at most `burst` tokens, every failure takes one, one comes back
/// every `refillMilliseconds`. An empty bucket (fewer than one token) means "throttled". Pure: unit-tested.
///
/// The count may go below zero, down to `-burst`: failures that passed the check together (one per worker
/// and replica) all take their token, and the debt is paid back by refill time before the next attempt, so
/// concurrency can overshoot the burst once but never multiplies the sustained rate.
struct TokenBucket: Sendable, Equatable {
    let burst: Double
    let refillMilliseconds: Double

    init(burst: Int, refillMilliseconds: Int64) {
        precondition(burst >= 1 && refillMilliseconds >= 1)
        self.burst = Double(burst)
        self.refillMilliseconds = Double(refillMilliseconds)
    }

    /// The tokens now, for `stored` tokens written `elapsedMilliseconds` ago (no row: a full bucket).
    func available(stored: Double?, elapsedMilliseconds: Double) -> Double {
        guard let stored else { return burst }
        return min(burst, max(-burst, stored) + max(0, elapsedMilliseconds) / refillMilliseconds)
    }

    /// The tokens to store after one more failure.
    func afterFailure(stored: Double?, elapsedMilliseconds: Double) -> Double {
        max(-burst, available(stored: stored, elapsedMilliseconds: elapsedMilliseconds) - 1)
    }

    /// nil when an attempt may go ahead; else the milliseconds until one token is back (at least 1).
    func retryAfterMilliseconds(available: Double) -> Int64? {
        guard available < 1 else { return nil }
        return max(1, Int64(((1 - available) * refillMilliseconds).rounded(.up)))
    }

    /// How long after its last write a bucket is full again (its row can go).
    var refillsCompletelyAfterMilliseconds: Double { 2 * burst * refillMilliseconds }
}
