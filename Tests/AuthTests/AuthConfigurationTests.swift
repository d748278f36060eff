import SVXService
import Testing

@Suite struct AuthConfigurationTests {
    @Test func defaults() throws {
        let configuration = try AuthConfiguration.fromEnvironment([:])
        #expect(configuration == AuthConfiguration())
        #expect(configuration.challengeTTL == .seconds(60))
        #expect(configuration.sessionMax == .seconds(43_200))
        #expect(configuration.throttleBurst == 5)
        // The strict failed-login bucket per (username, caller) defaults to the per-username one's shape.
        #expect(configuration.callerThrottleBurst == 5 && configuration.callerThrottleRefill == .seconds(60))
        #expect(configuration.reservationsPerCaller == 20)
        #expect(configuration.reserveThrottleBurst == 20 && configuration.reserveThrottleRefill == .seconds(3))
        // Generous: svx-load auth-login (8 clients through one address) stays below 1 000 BeginLogins a second.
        #expect(configuration.beginLoginThrottleBurst == 2_000 && configuration.beginLoginThrottleRefill == .milliseconds(1))
        // A recovery waits a day, then has three days to complete.
        #expect(configuration.recoveryDelay == .seconds(86_400) && configuration.recoveryWindow == .seconds(259_200))
    }

    @Test func readsEveryVariable() throws {
        let configuration = try AuthConfiguration.fromEnvironment([
            "SVX_AUTH_CHALLENGE_TTL_MS": "500", "SVX_AUTH_RESERVATION_TTL_MS": "2000",
            "SVX_AUTH_SESSION_IDLE_MS": "1500", "SVX_AUTH_SESSION_MAX_MS": "3000",
            "SVX_AUTH_THROTTLE_BURST": "2", "SVX_AUTH_THROTTLE_REFILL_MS": "700",
            "SVX_AUTH_THROTTLE_CALLER_BURST": "9", "SVX_AUTH_THROTTLE_CALLER_REFILL_MS": "800",
            "SVX_AUTH_RESERVE_CALLER_BURST": "4", "SVX_AUTH_RESERVE_CALLER_REFILL_MS": "250",
            "SVX_AUTH_RESERVATIONS_PER_CALLER": "7", "SVX_AUTH_BEGIN_LOGIN_CALLER_BURST": "11",
            "SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS": "3",
            "SVX_AUTH_CHALLENGE_KEY": String(repeating: "0F", count: 32), "SVX_AUTH_REAUTH_WINDOW_MS": "90000",
            "SVX_AUTH_RECOVERY_DELAY_MS": "0", "SVX_AUTH_RECOVERY_WINDOW_MS": "4000",
        ])
        #expect(configuration == AuthConfiguration(
            challengeTTL: .milliseconds(500), reservationTTL: .milliseconds(2000), sessionIdle: .milliseconds(1500),
            sessionMax: .milliseconds(3000), throttleBurst: 2, throttleRefill: .milliseconds(700),
            callerThrottleBurst: 9, callerThrottleRefill: .milliseconds(800),
            reserveThrottleBurst: 4, reserveThrottleRefill: .milliseconds(250), reservationsPerCaller: 7,
            beginLoginThrottleBurst: 11, beginLoginThrottleRefill: .milliseconds(3),
            challengeKey: [UInt8](repeating: 0x0F, count: 32), reauthWindow: .milliseconds(90_000),
            recoveryDelay: .zero, recoveryWindow: .milliseconds(4000)))
        #expect(AuthConfiguration.variables.count == 17)
        #expect(Set(AuthConfiguration.variables).count == AuthConfiguration.variables.count)
        #expect(try AuthConfiguration.fromEnvironment([:]).challengeKey == nil)
        #expect(ServiceConfiguration.variables(service: "auth").contains("SVX_AUTH_THROTTLE_BURST"))
        #expect(ServiceConfiguration.variables(service: "vault").contains("SVX_AUTH_ENDPOINT"))
    }

    @Test(arguments: [
        ("SVX_AUTH_CHALLENGE_TTL_MS", "0"), ("SVX_AUTH_THROTTLE_BURST", "many"), ("SVX_AUTH_THROTTLE_REFILL_MS", "-1"),
        ("SVX_AUTH_SESSION_IDLE_MS", "999999999"), ("SVX_AUTH_CHALLENGE_KEY", "abcd"),
        ("SVX_AUTH_CHALLENGE_KEY", String(repeating: "zz", count: 32)), ("SVX_AUTH_REAUTH_WINDOW_MS", "10"),
        ("SVX_AUTH_THROTTLE_CALLER_BURST", "0"), ("SVX_AUTH_RESERVE_CALLER_BURST", "0"),
        ("SVX_AUTH_RESERVE_CALLER_REFILL_MS", "x"), ("SVX_AUTH_RESERVATIONS_PER_CALLER", "0"),
        ("SVX_AUTH_RESERVATIONS_PER_CALLER", "-3"), ("SVX_AUTH_BEGIN_LOGIN_CALLER_BURST", "2.5"),
        ("SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS", "0"), ("SVX_AUTH_RECOVERY_DELAY_MS", "-1"),
        ("SVX_AUTH_RECOVERY_DELAY_MS", "soon"), ("SVX_AUTH_RECOVERY_WINDOW_MS", "0"),
    ])
    func refusesBadValuesNamingTheVariable(variable: String, value: String) {
        #expect {
            _ = try AuthConfiguration.fromEnvironment([variable: value])
        } throws: { error in
            (error as? ConfigurationError)?.variable == variable
        }
    }
}
