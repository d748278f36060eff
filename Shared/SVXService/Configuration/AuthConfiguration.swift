import Cryppo
import Foundation

/// The Auth service's own settings (README.md, "Configuration"). Parsed like ``ServiceConfiguration``: a pure
/// function of the environment, every error names its variable.
public struct AuthConfiguration: Sendable, Equatable {
    /// How long a login challenge (BeginLogin → FinishLogin) lives, `SVX_AUTH_CHALLENGE_TTL_MS`.
    public var challengeTTL: Duration
    /// How long a reserved username waits for its Register, `SVX_AUTH_RESERVATION_TTL_MS`.
    public var reservationTTL: Duration
    /// A session unused this long expires, `SVX_AUTH_SESSION_IDLE_MS`.
    public var sessionIdle: Duration
    /// A session expires this long after login whatever its use, `SVX_AUTH_SESSION_MAX_MS`.
    public var sessionMax: Duration
    /// Failed logins allowed in a row per username (from every address) before throttling,
    /// `SVX_AUTH_THROTTLE_BURST`.
    public var throttleBurst: Int
    /// One more failed login allowed per username every this many ms, `SVX_AUTH_THROTTLE_REFILL_MS`.
    public var throttleRefill: Duration
    /// Failed logins allowed in a row per username from one caller address, `SVX_AUTH_THROTTLE_CALLER_BURST`.
    /// Keyed on (username, caller), so that one address's failures never throttle another username.
    public var callerThrottleBurst: Int
    /// One more failed login allowed per (username, caller address) every this many ms,
    /// `SVX_AUTH_THROTTLE_CALLER_REFILL_MS`.
    public var callerThrottleRefill: Duration
    /// ReserveUsername calls allowed in a row per caller address, `SVX_AUTH_RESERVE_CALLER_BURST`.
    public var reserveThrottleBurst: Int
    /// One more ReserveUsername allowed per caller address every this many ms, `SVX_AUTH_RESERVE_CALLER_REFILL_MS`.
    public var reserveThrottleRefill: Duration
    /// Live (unexpired, unregistered) username reservations one caller address may hold,
    /// `SVX_AUTH_RESERVATIONS_PER_CALLER`.
    public var reservationsPerCaller: Int
    /// BeginLogin calls allowed in a row per caller address, `SVX_AUTH_BEGIN_LOGIN_CALLER_BURST`.
    public var beginLoginThrottleBurst: Int
    /// One more BeginLogin allowed per caller address every this many ms, `SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS`.
    public var beginLoginThrottleRefill: Duration
    /// 32 bytes, `SVX_AUTH_CHALLENGE_KEY` (64 hex characters): the SRP ephemeral b of a login challenge is
    /// HMAC(key, login id ‖ nonce) and only the nonce is stored, so reading the database is not enough to finish
    /// someone else's login. Every replica needs the same key; nil means one random key per process.
    public var challengeKey: [UInt8]?
    /// A passphrase change (ChangeVerifier) needs a session whose login is at most this old,
    /// `SVX_AUTH_REAUTH_WINDOW_MS` (at most one hour: the Keystore drops staged wraps after two): a stolen older
    /// session token cannot change the passphrase or rotate the keys.
    public var reauthWindow: Duration
    /// A recovery session (FinishRecovery) becomes usable this long after it is made, `SVX_AUTH_RECOVERY_DELAY_MS`
    /// (0 allowed): the owner, at any login in between, sees the pending recovery and can cancel it.
    public var recoveryDelay: Duration
    /// A recovery session ends this long after its delay, `SVX_AUTH_RECOVERY_WINDOW_MS` (its expires_at is
    /// usable_at + window; a recovery session has no idle timeout).
    public var recoveryWindow: Duration

    public init(
        challengeTTL: Duration = .milliseconds(60_000), reservationTTL: Duration = .milliseconds(600_000),
        sessionIdle: Duration = .milliseconds(1_800_000), sessionMax: Duration = .milliseconds(43_200_000),
        throttleBurst: Int = 5, throttleRefill: Duration = .milliseconds(60_000),
        callerThrottleBurst: Int = 5, callerThrottleRefill: Duration = .milliseconds(60_000),
        reserveThrottleBurst: Int = 20, reserveThrottleRefill: Duration = .milliseconds(3_000),
        reservationsPerCaller: Int = 20,
        beginLoginThrottleBurst: Int = 2_000, beginLoginThrottleRefill: Duration = .milliseconds(1),
        challengeKey: [UInt8]? = nil, reauthWindow: Duration = .milliseconds(300_000),
        recoveryDelay: Duration = .milliseconds(86_400_000), recoveryWindow: Duration = .milliseconds(259_200_000)
    ) {
        self.challengeTTL = challengeTTL
        self.reservationTTL = reservationTTL
        self.sessionIdle = sessionIdle
        self.sessionMax = sessionMax
        self.throttleBurst = throttleBurst
        self.throttleRefill = throttleRefill
        self.callerThrottleBurst = callerThrottleBurst
        self.callerThrottleRefill = callerThrottleRefill
        self.reserveThrottleBurst = reserveThrottleBurst
        self.reserveThrottleRefill = reserveThrottleRefill
        self.reservationsPerCaller = reservationsPerCaller
        self.beginLoginThrottleBurst = beginLoginThrottleBurst
        self.beginLoginThrottleRefill = beginLoginThrottleRefill
        self.challengeKey = challengeKey
        self.reauthWindow = reauthWindow
        self.recoveryDelay = recoveryDelay
        self.recoveryWindow = recoveryWindow
    }

    /// Every variable the Auth service reads beyond ``ServiceConfiguration``'s.
    public static let variables = [
        "SVX_AUTH_CHALLENGE_TTL_MS", "SVX_AUTH_RESERVATION_TTL_MS", "SVX_AUTH_SESSION_IDLE_MS",
        "SVX_AUTH_SESSION_MAX_MS", "SVX_AUTH_THROTTLE_BURST", "SVX_AUTH_THROTTLE_REFILL_MS",
        "SVX_AUTH_THROTTLE_CALLER_BURST", "SVX_AUTH_THROTTLE_CALLER_REFILL_MS", "SVX_AUTH_RESERVE_CALLER_BURST",
        "SVX_AUTH_RESERVE_CALLER_REFILL_MS", "SVX_AUTH_RESERVATIONS_PER_CALLER", "SVX_AUTH_BEGIN_LOGIN_CALLER_BURST",
        "SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS", "SVX_AUTH_CHALLENGE_KEY", "SVX_AUTH_REAUTH_WINDOW_MS",
        "SVX_AUTH_RECOVERY_DELAY_MS", "SVX_AUTH_RECOVERY_WINDOW_MS",
    ]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> AuthConfiguration {
        func integer(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            try ConfigurationError.integer(environment, key, fallback, range)
        }
        let day = 86_400_000
        var challengeKey: [UInt8]?
        if let raw = environment["SVX_AUTH_CHALLENGE_KEY"], !raw.isEmpty {
            guard raw.utf8.count == 64, let key = try? Hex.decode(raw) else {
                throw ConfigurationError(variable: "SVX_AUTH_CHALLENGE_KEY", message: "expected 64 hex characters (32 bytes)")
            }
            challengeKey = key
        }
        var configuration = AuthConfiguration(
            challengeTTL: .milliseconds(try integer("SVX_AUTH_CHALLENGE_TTL_MS", 60_000, 100...3_600_000)),
            reservationTTL: .milliseconds(try integer("SVX_AUTH_RESERVATION_TTL_MS", 600_000, 1_000...day)),
            sessionIdle: .milliseconds(try integer("SVX_AUTH_SESSION_IDLE_MS", 1_800_000, 100...(30 * day))),
            sessionMax: .milliseconds(try integer("SVX_AUTH_SESSION_MAX_MS", 43_200_000, 100...(365 * day))),
            throttleBurst: try integer("SVX_AUTH_THROTTLE_BURST", 5, 1...1_000_000),
            throttleRefill: .milliseconds(try integer("SVX_AUTH_THROTTLE_REFILL_MS", 60_000, 1...day)),
            callerThrottleBurst: try integer("SVX_AUTH_THROTTLE_CALLER_BURST", 5, 1...1_000_000),
            callerThrottleRefill: .milliseconds(try integer("SVX_AUTH_THROTTLE_CALLER_REFILL_MS", 60_000, 1...day)),
            reserveThrottleBurst: try integer("SVX_AUTH_RESERVE_CALLER_BURST", 20, 1...1_000_000),
            reserveThrottleRefill: .milliseconds(try integer("SVX_AUTH_RESERVE_CALLER_REFILL_MS", 3_000, 1...day)),
            reservationsPerCaller: try integer("SVX_AUTH_RESERVATIONS_PER_CALLER", 20, 1...1_000_000),
            beginLoginThrottleBurst: try integer("SVX_AUTH_BEGIN_LOGIN_CALLER_BURST", 2_000, 1...1_000_000),
            beginLoginThrottleRefill: .milliseconds(try integer("SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS", 1, 1...day)),
            reauthWindow: .milliseconds(try integer("SVX_AUTH_REAUTH_WINDOW_MS", 300_000, 1_000...3_600_000)),
            recoveryDelay: .milliseconds(try integer("SVX_AUTH_RECOVERY_DELAY_MS", day, 0...(30 * day))),
            recoveryWindow: .milliseconds(try integer("SVX_AUTH_RECOVERY_WINDOW_MS", 3 * day, 1_000...(30 * day))))
        configuration.challengeKey = challengeKey
        guard configuration.sessionIdle <= configuration.sessionMax else {
            throw ConfigurationError(
                variable: "SVX_AUTH_SESSION_IDLE_MS", message: "must not exceed SVX_AUTH_SESSION_MAX_MS")
        }
        return configuration
    }
}

extension Duration {
    /// Whole milliseconds.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
