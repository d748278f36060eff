import SVXRPC
import SVXService
import Testing

/// Which methods a session may call (docs/ADR-009-recovery.md): the rule every service's session check applies
/// before a handler runs. The same rule through real processes: RecoveryFlowTests.
@Suite struct SessionScopeTests {
    static func session(_ scope: AuthenticatedSession.Scope, usableAtMs: UInt64 = 0) -> AuthenticatedSession {
        AuthenticatedSession(
            userID: "00000000-0000-0000-0000-000000000001", sessionID: "00000000-0000-0000-0000-000000000002",
            username: "someone", expiresAtMs: 10_000_000, credentialGeneration: 1, recentlyAuthenticated: true,
            scope: scope, usableAtMs: usableAtMs)
    }

    static func refusal(_ body: () throws -> Void) -> RPCStatus? {
        do {
            try body()
            return nil
        } catch {
            return error as? RPCStatus
        }
    }

    @Test func aFullSessionMayCallEveryMethod() {
        let full = Self.session(.full)
        #expect(Self.refusal { try full.admit(.refused, nowMs: 5) } == nil)
        #expect(Self.refusal { try full.admit(.afterDelay, nowMs: 5) } == nil)
    }

    @Test func aRecoverySessionMayCallOnlyRecoveryMethodsAndOnlyAfterItsDelay() {
        let recovery = Self.session(.recovery, usableAtMs: 1_000)
        let elsewhere = Self.refusal { try recovery.admit(.refused, nowMs: 5_000) }
        #expect(elsewhere?.code == .permissionDenied && elsewhere?.details["reason"] == "recovery_session")
        let early = Self.refusal { try recovery.admit(.afterDelay, nowMs: 400) }
        #expect(early?.code == .failedPrecondition && early?.details["reason"] == "recovery_delay")
        #expect(early?.details["retry_after_ms"] == "600")
        // Not a recovery method: refused as such even during the delay (the reason does not depend on the time).
        let earlyElsewhere = Self.refusal { try recovery.admit(.refused, nowMs: 400) }
        #expect(earlyElsewhere?.details["reason"] == "recovery_session")
        #expect(Self.refusal { try recovery.admit(.afterDelay, nowMs: 1_000) } == nil)
        #expect(Self.refusal { try recovery.admit(.afterDelay, nowMs: 9_000) } == nil)
        // Its own status, cancel and logout: at any time.
        #expect(Self.refusal { try recovery.admit(.anyTime, nowMs: 400) } == nil)
        #expect(Self.refusal { try Self.session(.full).admit(.anyTime, nowMs: 400) } == nil)
    }

    @Test func aScopeThisBuildDoesNotKnowIsNeverUsable() {
        // RemoteSessionValidator maps an unknown scope to a recovery session usable at UInt64.max.
        let unknown = Self.session(.recovery, usableAtMs: .max)
        #expect(Self.refusal { try unknown.admit(.afterDelay, nowMs: .max - 1) }?.code == .failedPrecondition)
        #expect(Self.refusal { try unknown.admit(.refused, nowMs: 0) }?.code == .permissionDenied)
    }
}
