import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The audit trail (issue #19, reference/sharing.md §5b) as far as it is built: Auth's events through a real svx-auth on
/// PostgreSQL, read back with ListEvents and verified with the client's chain check.
@Suite struct AuditTrailFlowTests {
    static func events(_ stack: TestStack, _ session: AuthenticatedSession, since: UInt64 = 0) async throws
        -> Svx_Audit_V1_ListEventsResponse
    {
        var request = Svx_Audit_V1_ListEventsRequest()
        request.sinceSeq = since
        return try await stack.client(.auth).call(AuditRPC.listEvents, request, sessionToken: session.token, timeout: .seconds(10))
    }

    static func entries(_ response: Svx_Audit_V1_ListEventsResponse, userID: String) -> [AuditEntry] {
        response.events.map { event in
            AuditEntry(
                userID: userID, seq: event.seq, occurredAtMs: event.occurredAtMs, type: event.type, sessionID: event.sessionID,
                peerAddress: event.peerAddress, subjectType: event.subjectType, subjectID: event.subjectID,
                details: event.details, prevHash: Array(event.prevHash), entryHash: Array(event.entryHash))
        }
    }

    static func verify(_ response: Svx_Audit_V1_ListEventsResponse, userID: String) -> AuditChainBreak? {
        AuditChain.firstBreak(
            entries(response, userID: userID), service: response.service, userID: userID,
            sha256: { HashFunction.sha256.hash($0) })
    }

    @Test func signUpLoginsAndLogoutAreRecordedInOrderAndTheChainHolds() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let signUp = try await stack.account.signUp(passphrase: "an audited passphrase")
        let second = try await stack.account.logIn(secretKey: signUp.secretKey, passphrase: "an audited passphrase")
        let failed = await status { _ = try await stack.account.logIn(secretKey: signUp.secretKey, passphrase: "wrong") }
        #expect(failed?.code == .unauthenticated)
        try await stack.account.logOut(second)

        let response = try await Self.events(stack, signUp.session)
        #expect(response.service == "auth")
        #expect(response.events.map(\.type) == ["account.registered", "login.succeeded", "login.succeeded", "login.failed", "logout"])
        #expect(response.events.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(response.events[1].sessionID == signUp.session.sessionID && response.events[4].sessionID == second.sessionID)
        #expect(response.events[3].sessionID.isEmpty)
        #expect(response.events.allSatisfy { !$0.peerAddress.isEmpty })
        #expect(response.headSeq == 5 && response.headHash == response.events[4].entryHash)
        #expect(Self.verify(response, userID: signUp.session.userID) == nil)
        #expect(try await Self.events(stack, signUp.session, since: 3).events.map(\.seq) == [4, 5])
        // An unknown username's failed login leaves no trail anywhere.
        let before = try stack.database.rowCounts(schema: "auth")["audit_events"]
        let unknown = try SecretKey.generate(username: "nobodyAudited")
        #expect(await status { _ = try await stack.account.logIn(secretKey: unknown, passphrase: "x") }?.code == .unauthenticated)
        #expect(try stack.database.rowCounts(schema: "auth")["audit_events"] == before)

        // Another user sees only its own chain.
        let other = try await stack.account.signUp(passphrase: "someone else")
        let theirs = try await Self.events(stack, other.session)
        #expect(theirs.events.map(\.type) == ["account.registered", "login.succeeded"])
        #expect(Self.verify(theirs, userID: other.session.userID) == nil)

        // A row edited in the database is named by the verification.
        let db = try stack.database.connect()
        defer { db.close() }
        #expect(try db.execute(
            "UPDATE auth.audit_events SET peer_address = '10.9.8.7' WHERE user_id = $1::uuid AND seq = 3",
            signUp.session.userID) == 1)
        #expect(Self.verify(try await Self.events(stack, signUp.session), userID: signUp.session.userID)
            == AuditChainBreak(seq: 3, reason: .edited))
        // Nothing of a passphrase, verifier or token is in the trail.
        let dump = try stack.database.dump(schema: "auth", tables: ["audit_events", "audit_heads"])
        #expect(!dump.contains(signUp.session.token) && !dump.contains(signUp.secretKey.secretKey))
    }
}
