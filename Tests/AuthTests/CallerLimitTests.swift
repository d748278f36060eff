@testable import Auth
import Testing

@Suite struct CallerRateLimiterTests {
    let bucket = TokenBucket(burst: 3, refillMilliseconds: 1000)

    @Test func theBurstGoesThroughThenTheCallerWaitsForItsNextToken() {
        let limiter = CallerRateLimiter(bucket: bucket)
        for _ in 0..<3 { #expect(limiter.take("10.0.0.1", atMilliseconds: 0) == nil) }
        #expect(limiter.take("10.0.0.1", atMilliseconds: 0) == 1000)
        #expect(limiter.take("10.0.0.1", atMilliseconds: 400) == 600)
        // Refused calls take nothing: the token is back one refill after the last allowed call.
        #expect(limiter.take("10.0.0.1", atMilliseconds: 1000) == nil)
        #expect(limiter.take("10.0.0.1", atMilliseconds: 1000) == 1000)
        // Another address has its own bucket.
        #expect(limiter.take("10.0.0.2", atMilliseconds: 1000) == nil)
    }

    @Test func aSustainedFloodGetsOneCallPerRefill() {
        let limiter = CallerRateLimiter(bucket: bucket)
        var allowed = 0
        // 100 calls a second for 10 s: the burst, then one a second.
        for step in 0..<1000 where limiter.take("10.0.0.1", atMilliseconds: Double(step) * 10) == nil { allowed += 1 }
        #expect(allowed == 3 + 9)
    }

    @Test func theTableIsBoundedAndForgetsFullBuckets() {
        let limiter = CallerRateLimiter(bucket: bucket, maxCallers: 2)
        #expect(limiter.take("a", atMilliseconds: 0) == nil)
        #expect(limiter.take("b", atMilliseconds: 0) == nil)
        // Full table, nothing full again yet: new callers share the overflow bucket.
        for _ in 0..<3 { #expect(limiter.take("c", atMilliseconds: 10) == nil) }
        #expect(limiter.take("d", atMilliseconds: 10) == 1000)
        #expect(limiter.rememberedCallers == 3)
        // A second later a and b are full again and forgotten: e gets a bucket of its own.
        #expect(limiter.take("e", atMilliseconds: 1100) == nil)
        #expect(limiter.rememberedCallers <= 3)
        #expect(limiter.take("e", atMilliseconds: 1100) == nil)
    }

    @Test func theClockOfTheProcessWorks() {
        let limiter = CallerRateLimiter(bucket: TokenBucket(burst: 2, refillMilliseconds: 3_600_000))
        #expect(limiter.take("x") == nil)
        #expect(limiter.take("x") == nil)
        let wait = limiter.take("x")
        #expect(wait != nil && wait! > 3_500_000 && wait! <= 3_600_000)
    }
}

@Suite struct ReservationCapTests {
    @Test func roomUnderTheLimit() {
        #expect(ReservationCap.retryAfterMilliseconds(liveRemainingMilliseconds: [], limit: 1) == nil)
        #expect(ReservationCap.retryAfterMilliseconds(liveRemainingMilliseconds: [5, 9], limit: 3) == nil)
    }

    @Test func atTheLimitTheSoonestExpiryDecides() {
        #expect(ReservationCap.retryAfterMilliseconds(liveRemainingMilliseconds: [1200.2, 5000, 9000], limit: 3) == 1201)
        #expect(ReservationCap.retryAfterMilliseconds(liveRemainingMilliseconds: [0.01], limit: 1) == 1)
    }

    @Test func aboveTheLimitEnoughMustExpire() {
        // Five live, limit two (the limit was lowered): four must expire before one more fits.
        #expect(ReservationCap.retryAfterMilliseconds(liveRemainingMilliseconds: [10, 20, 30, 40, 50], limit: 2) == 40)
    }
}

@Suite struct ThrottleKeyTests {
    let throttle = Throttle(
        perUsername: TokenBucket(burst: 5, refillMilliseconds: 60_000),
        perUsernameAndCaller: TokenBucket(burst: 3, refillMilliseconds: 1000))

    @Test func callerKeys() {
        #expect(Throttle.callerKey("127.0.0.1") == "127.0.0.1")
        // No address (inproc://): one shared key.
        #expect(Throttle.callerKey("") == Throttle.unknownCaller)
        // ipc:// peers (libzmq: localhost:uid:gid:pid): one key per local user, whatever the process.
        #expect(Throttle.callerKey("localhost:1000:1000:4242") == "localhost:1000")
        #expect(Throttle.callerKey("localhost:1000:100:77") == Throttle.callerKey("localhost:1000:1000:4242"))
        #expect(Throttle.callerKey("localhost:0:0:1") != Throttle.callerKey("localhost:1000:1000:1"))
        #expect(Throttle.callerKey("localhost") == "localhost")
    }

    @Test func theStrictBucketIsPerUsernameAndCaller() {
        let key = throttle.usernameAndCaller("alice", "10.0.0.1")
        #expect(key.name == "uc:alice@10.0.0.1")
        #expect(key.bucket == throttle.perUsernameAndCaller)
        #expect(key != throttle.usernameAndCaller("bob", "10.0.0.1"))
        #expect(key != throttle.usernameAndCaller("alice", "10.0.0.2"))
        #expect(throttle.username("alice").name == "u:alice")
    }

    @Test func recoveriesHaveBucketsOfTheirOwnSizedLikeTheLogins() {
        let perUsername = throttle.username("alice", for: .recovery)
        let perCaller = throttle.usernameAndCaller("alice", "10.0.0.1", for: .recovery)
        #expect(perUsername.name == "r:alice" && perUsername.bucket == throttle.perUsername)
        #expect(perCaller.name == "rc:alice@10.0.0.1" && perCaller.bucket == throttle.perUsernameAndCaller)
        #expect(perUsername != throttle.username("alice"))
        #expect(perCaller != throttle.usernameAndCaller("alice", "10.0.0.1"))
        #expect(Throttle.usernamePrefix(.recovery) + "alice" == perUsername.name)
        #expect(Throttle.usernameAndCallerPrefix(.recovery) + "alice@10.0.0.1" == perCaller.name)
    }
}
