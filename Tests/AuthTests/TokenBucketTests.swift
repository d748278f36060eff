@testable import Auth
import SVXRPC
import Testing

@Suite struct TokenBucketTests {
    let bucket = TokenBucket(burst: 3, refillMilliseconds: 1000)

    @Test func aMissingRowIsAFullBucket() {
        #expect(bucket.available(stored: nil, elapsedMilliseconds: 0) == 3)
        #expect(bucket.retryAfterMilliseconds(available: 3) == nil)
    }

    @Test func failuresEmptyItAndTimeRefillsIt() {
        var stored: Double? = nil
        for _ in 0..<3 { stored = bucket.afterFailure(stored: stored, elapsedMilliseconds: 0) }
        #expect(stored == 0)
        let now = bucket.available(stored: stored, elapsedMilliseconds: 0)
        #expect(bucket.retryAfterMilliseconds(available: now) == 1000)
        // Half a token back after 500 ms: still throttled, 500 ms to go.
        let later = bucket.available(stored: stored, elapsedMilliseconds: 500)
        #expect(bucket.retryAfterMilliseconds(available: later) == 500)
        // One token after a refill interval: one more attempt.
        #expect(bucket.retryAfterMilliseconds(available: bucket.available(stored: stored, elapsedMilliseconds: 1000)) == nil)
    }

    @Test func neverAboveBurstNorBelowMinusBurst() {
        #expect(bucket.available(stored: 1, elapsedMilliseconds: 1_000_000) == 3)
        #expect(bucket.afterFailure(stored: -3, elapsedMilliseconds: 0) == -3)
        #expect(bucket.available(stored: -5, elapsedMilliseconds: 0) == -3)
        // A clock step backwards never adds tokens.
        #expect(bucket.available(stored: 1, elapsedMilliseconds: -5000) == 1)
        #expect(bucket.refillsCompletelyAfterMilliseconds == 6000)
    }

    @Test func failuresThatRanTogetherBecomeDebtPaidBackByTime() {
        // One token left; three failures passed the check at once (three workers). Each takes its token.
        var stored: Double? = 1
        for _ in 0..<3 { stored = bucket.afterFailure(stored: stored, elapsedMilliseconds: 0) }
        #expect(stored == -2)
        // The next attempt waits for the debt as well as for its own token: 3 refills, not 1.
        #expect(bucket.retryAfterMilliseconds(available: bucket.available(stored: stored, elapsedMilliseconds: 0)) == 3000)
        #expect(bucket.retryAfterMilliseconds(available: bucket.available(stored: stored, elapsedMilliseconds: 2999)) != nil)
        #expect(bucket.retryAfterMilliseconds(available: bucket.available(stored: stored, elapsedMilliseconds: 3000)) == nil)
    }
}

@Suite struct ThrottleVerdictTests {
    let perUsername = TokenBucket(burst: 2, refillMilliseconds: 1000)
    let perCaller = TokenBucket(burst: 10, refillMilliseconds: 100)

    @Test func noRowsMeansGo() {
        #expect(Throttle.verdict([(perUsername, nil, nil), (perCaller, nil, nil)]) == nil)
    }

    @Test func theLongestWaitWinsAndIsReported() throws {
        let status = try #require(Throttle.verdict([(perUsername, 0, 250), (perCaller, 0, 50)]))
        #expect(status.code == .resourceExhausted)
        #expect(status.details["retry_after_ms"] == "750")
        #expect(Throttle.verdict([(perUsername, 1, 0), (perCaller, 0.5, 60)]) == nil)
    }
}
