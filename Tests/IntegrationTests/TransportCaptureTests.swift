import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXRPC
import SVXTestHarness
import Testing

/// What someone on the path between a client and a service sees (issue #20): a relay on loopback records every byte
/// of a sign-up, a login and an authenticated call. Over CURVE none of the requests' or answers' plaintext is in it;
/// the same flow over plain TCP shows that the relay does see it all (so the first test can fail).
@Suite struct TransportCaptureTests {
    @Test(.enabled(if: TestTransport.security.mode == .curve, "the suite runs over CURVE"))
    func aCapturedCurveStreamHoldsNoneOfTheFlowsPlaintext() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let markers = try await flowThroughRelay(to: stack[.auth])
        #expect(markers.seen.capturedBytes > 1_000, "the relay carried the flow")
        #expect(markers.seen.visible.isEmpty, "visible on the wire over CURVE: \(markers.seen.visible)")
    }

    @Test func theRelaySeesThePlaintextOfAPlainTCPFlow() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: ["SVX_TRANSPORT": "plaintext"]])
        defer { stack.stop() }
        #expect(stack[.auth].transport.mode == .plaintext)
        let markers = try await flowThroughRelay(to: stack[.auth])
        #expect(markers.seen.visible.sorted() == markers.all.sorted())
    }

    /// Reserve, register, log in and ValidateSession through a relay to `service`; the flow's plaintext markers
    /// (the username, in an answer and in requests; the user id and the session token, in answers, and the token
    /// again in ValidateSession's request) and which of them the relay saw.
    private func flowThroughRelay(
        to service: ServiceProcess
    ) async throws -> (all: [String], seen: (visible: [String], capturedBytes: Int)) {
        let relay = try CaptureRelay(to: service.endpoint)
        defer { relay.stop() }
        let client = try RPCClient(service: "auth", endpoint: relay.endpoint, transport: service.transport)
        defer { client.close() }
        let account = AccountClient(auth: client)
        let username = try await account.reserveUsername()
        _ = try await account.register(username: username, srpPassword: Array("capture me".utf8))
        let session = try await account.logIn(username: username, srpPassword: Array("capture me".utf8))
        let identity = try await account.whoAmI(session)
        #expect(identity.username == username)
        let markers = [username, session.token, session.userID]
        return (markers, (markers.filter(relay.saw), relay.captured.count))
    }
}
