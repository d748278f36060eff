import Foundation
import Logging
import SVXProto
import SVXRPC
import SVXService
import Synchronization
import Testing
import SVXContracts

/// The session check every non-Auth service runs, against an in-process stand-in for Auth's ValidateSession.
@Suite struct RemoteSessionValidatorTests {
    /// What the stand-in answers, and how often it was asked.
    final class FakeAuth: Sendable {
        final class State: Sendable {
            let calls = Atomic<Int>(0)
            let answer = Mutex<RPCStatus.Code>(.ok)
        }
        let state = State()
        let server: RPCServer<Void>

        init() throws {
            let router = RPCRouter<Void>()
            server = RPCServer(
                configuration: .init(endpoint: "tcp://127.0.0.1:*", workerCount: 1), router: router,
                logger: Logger(label: "fake-auth"), makeWorker: { _ in () })
            let state = self.state
            router.register(AuthRPC.validateSession) { request, _, _ in
                state.calls.add(1, ordering: .relaxed)
                let code = state.answer.withLock { $0 }
                guard code == .ok else { throw RPCStatus(code, "fake") }
                // Tokens starting "no" are unknown to this Auth.
                if request.sessionToken.hasPrefix("no") { throw RPCStatus(.unauthenticated, "fake") }
                var response = Svx_Auth_V1_ValidateSessionResponse()
                response.userID = "user-of-" + request.sessionToken
                response.sessionID = "s"
                response.expiresAtMs = UInt64(Date().timeIntervalSince1970 * 1000) + 3_600_000
                return response
            }
            try server.start()
        }

        var endpoint: String { server.boundEndpoint! }
    }

    func context() -> RequestContext {
        RequestContext(method: "svx.test/M", requestID: 1, deadline: .now + .seconds(5), logger: Logger(label: "t"))
    }

    /// A token of the shape Auth mints (43 base64url characters) starting with `prefix`.
    func token(_ prefix: String) -> String {
        String((prefix + String(repeating: "A", count: 43)).prefix(43))
    }

    func code(_ body: () throws -> Void) -> RPCStatus.Code? {
        do {
            try body()
            return nil
        } catch let status as RPCStatus {
            return status.code
        } catch {
            return .unknown
        }
    }

    @Test func cachesForAtMostTheTTLAndFailsClosed() throws {
        let auth = try FakeAuth()
        defer { auth.server.shutdown() }
        let validator = try RemoteSessionValidator(authEndpoint: auth.endpoint, cacheTTL: .milliseconds(300), transport: .plaintext)
        defer { validator.close() }

        let t1 = token("t1")
        #expect(try validator.validate(token: t1, context: context()).userID == "user-of-" + t1)
        for _ in 0..<20 { _ = try validator.validate(token: t1, context: context()) }
        #expect(auth.state.calls.load(ordering: .relaxed) == 1)  // a burst costs Auth one call

        // Auth now says UNAUTHENTICATED: seen once the entry is older than the TTL.
        auth.state.answer.withLock { $0 = .unauthenticated }
        Thread.sleep(forTimeInterval: 0.35)
        #expect(code { _ = try validator.validate(token: t1, context: context()) } == .unauthenticated)
        #expect(code { _ = try validator.validate(token: "", context: context()) } == .unauthenticated)

        // Anything but OK/UNAUTHENTICATED from Auth: UNAVAILABLE, never a pass.
        for failure in [RPCStatus.Code.internal, .unavailable, .resourceExhausted] {
            auth.state.answer.withLock { $0 = failure }
            #expect(code { _ = try validator.validate(token: token("fresh\(failure.rawValue)"), context: context()) } == .unavailable)
        }
    }

    @Test func authUnreachableIsUnavailableWithinTheCallTimeout() throws {
        let validator = try RemoteSessionValidator(authEndpoint: "tcp://127.0.0.1:9", callTimeout: .milliseconds(300), transport: .plaintext)
        defer { validator.close() }
        let start = ContinuousClock.now
        #expect(code { _ = try validator.validate(token: token("t"), context: context()) } == .unavailable)
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test func tokensThatCannotBeAuthsAreRefusedWithoutAskingIt() throws {
        let auth = try FakeAuth()
        defer { auth.server.shutdown() }
        let validator = try RemoteSessionValidator(authEndpoint: auth.endpoint, transport: .plaintext)
        defer { validator.close() }
        for bad in ["", "t1", String(repeating: "A", count: 42), String(repeating: "A", count: 44),
                    String(repeating: "A", count: 42) + "=", String(repeating: "A", count: 42) + "+", String(repeating: "é", count: 43)] {
            #expect(code { _ = try validator.validate(token: bad, context: context()) } == .unauthenticated)
        }
        #expect(auth.state.calls.load(ordering: .relaxed) == 0)
        #expect(try validator.validate(token: token("ok"), context: context()).userID == "user-of-" + token("ok"))
        #expect(auth.state.calls.load(ordering: .relaxed) == 1)
    }

    @Test func refusedTokensNeverPushLiveSessionsOutOfTheCache() throws {
        let auth = try FakeAuth()
        defer { auth.server.shutdown() }
        let validator = try RemoteSessionValidator(
            authEndpoint: auth.endpoint, cacheTTL: .milliseconds(500), capacity: 2, negativeCapacity: 4,
            transport: .plaintext)
        defer { validator.close() }
        let (first, second) = (token("first"), token("second"))
        _ = try validator.validate(token: first, context: context())
        _ = try validator.validate(token: second, context: context())
        #expect(auth.state.calls.load(ordering: .relaxed) == 2)
        // Far more refused tokens than either table holds: each costs one call (nothing to cache them against)...
        for index in 0..<12 {
            #expect(code { _ = try validator.validate(token: token("no\(index)"), context: context()) } == .unauthenticated)
        }
        #expect(auth.state.calls.load(ordering: .relaxed) == 14)
        // ...and the live sessions are still answered from the cache, without asking Auth again.
        #expect(try validator.validate(token: first, context: context()).userID == "user-of-" + first)
        #expect(try validator.validate(token: second, context: context()).userID == "user-of-" + second)
        #expect(auth.state.calls.load(ordering: .relaxed) == 14)
        // A third session while the table is full of live ones: answered, not cached, nobody pushed out.
        _ = try validator.validate(token: token("third"), context: context())
        _ = try validator.validate(token: token("third"), context: context())
        #expect(auth.state.calls.load(ordering: .relaxed) == 16)
        _ = try validator.validate(token: first, context: context())
        #expect(auth.state.calls.load(ordering: .relaxed) == 16)
        // A refused token is cached too (within the TTL): asked once.
        _ = code { _ = try validator.validate(token: token("noagain"), context: context()) }
        _ = code { _ = try validator.validate(token: token("noagain"), context: context()) }
        #expect(auth.state.calls.load(ordering: .relaxed) == 17)
    }
}
