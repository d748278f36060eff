import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Sessions of svx-auth (expiry, listing, revoking, passphrase change) and the session guard of another
/// service (svx-keystore's Test/WhoAmI) through real processes.
@Suite(.serialized) struct AuthSessionTests {
    // Expiry is tested with wide margins: the suite runs beside other tests on two cores, where a
    // task's sleep can overrun by a second or more. A late check only ever makes these waits longer.
    @Test func idleSessionsExpireAndSessionsInUseDoNot() async throws {
        // Idle time is aged in the database (as the service's own role could), not slept through: on a loaded
        // machine a sleeping task can overrun by seconds, and a busy session would look idle.
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_SESSION_IDLE_MS": "60000", "SVX_AUTH_SESSION_MAX_MS": "600000",
        ]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let db = try database.connect()
        defer { db.close() }
        let user = try await auth.signUp(password: password("pw"))
        let idle = try await auth.login(username: user.username, password: password("pw"))
        let busy = try await auth.login(username: user.username, password: password("pw"))
        func age(_ session: String, seconds: Int) throws {
            let moved = try db.execute(
                "UPDATE auth.sessions SET last_seen_at = now() - $2::int * interval '1 second' WHERE session_id = $1::uuid",
                session, seconds)
            #expect(moved == 1)
        }
        _ = try await auth.validate(idle.token)
        // The busy session is used every "50 s" of its 60 s idle time, three times over: each use renews it.
        for _ in 0..<3 {
            try age(busy.sessionID, seconds: 50)
            _ = try await auth.validate(busy.token)
        }
        // The idle one, unused for 61 s, has ended; the busy one, last used just now, has not.
        try age(idle.sessionID, seconds: 61)
        let idleFailure = await status { _ = try await auth.validate(idle.token) }
        #expect(idleFailure?.code == .unauthenticated)
        _ = try await auth.validate(busy.token)
    }

    @Test func sessionsInUseEndAtTheirAbsoluteExpiry() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_SESSION_IDLE_MS": "3000", "SVX_AUTH_SESSION_MAX_MS": "3000",  // idle may not exceed max
        ]])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let beforeLogin = ContinuousClock.now
        let session = try await auth.login(username: user.username, password: password("pw"))
        var ended: Duration?
        for _ in 0..<60 {  // bounded: at most ~15 s
            if await status({ _ = try await auth.validate(session.token) }) != nil {
                ended = ContinuousClock.now - beforeLogin
                break
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        let endedAfter = try #require(ended, "the session outlived its absolute expiry")
        #expect(endedAfter >= .milliseconds(3000), "ended after \(endedAfter), before its absolute expiry")
    }

    @Test func listRevokeLogoutAndOtherUsersSessions() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack.auth
        let alice = try await auth.signUp(password: password("a"))
        let bob = try await auth.signUp(password: password("b"))
        let aliceOne = try await auth.login(username: alice.username, password: password("a"))
        let aliceTwo = try await auth.login(username: alice.username, password: password("a"))
        let bobOne = try await auth.login(username: bob.username, password: password("b"))

        let listed = try await auth.client.call(AuthRPC.listSessions, .init(), sessionToken: aliceOne.token, timeout: .seconds(5))
        #expect(Set(listed.sessions.map(\.sessionID)) == [aliceOne.sessionID, aliceTwo.sessionID])
        #expect(listed.sessions.first { $0.current }?.sessionID == aliceOne.sessionID)
        #expect(listed.sessions.allSatisfy { $0.createdAtMs > 0 && $0.lastSeenAtMs >= $0.createdAtMs && $0.expiresAtMs > $0.createdAtMs })

        // Bob's session id, from Alice: NOT_FOUND, and Bob's session is untouched.
        var revokeBob = Svx_Auth_V1_RevokeSessionRequest()
        revokeBob.sessionID = bobOne.sessionID
        let notFound = await status {
            _ = try await auth.client.call(AuthRPC.revokeSession, revokeBob, sessionToken: aliceOne.token, timeout: .seconds(5))
        }
        #expect(notFound?.code == .notFound)
        var revokeUnknown = Svx_Auth_V1_RevokeSessionRequest()
        revokeUnknown.sessionID = UUID().uuidString.lowercased()
        let unknown = await status {
            _ = try await auth.client.call(AuthRPC.revokeSession, revokeUnknown, sessionToken: aliceOne.token, timeout: .seconds(5))
        }
        #expect(unknown == notFound)
        #expect(try await auth.validate(bobOne.token).userID == bob.userID)

        // Alice revokes her second session.
        var revokeTwo = Svx_Auth_V1_RevokeSessionRequest()
        revokeTwo.sessionID = aliceTwo.sessionID
        _ = try await auth.client.call(AuthRPC.revokeSession, revokeTwo, sessionToken: aliceOne.token, timeout: .seconds(5))
        #expect(await status { _ = try await auth.validate(aliceTwo.token) }?.code == .unauthenticated)
        let afterRevoke = try await auth.client.call(AuthRPC.listSessions, .init(), sessionToken: aliceOne.token, timeout: .seconds(5))
        #expect(afterRevoke.sessions.map(\.sessionID) == [aliceOne.sessionID])

        // Logout ends the calling session; authenticated methods then refuse it; none without a token.
        _ = try await auth.client.call(AuthRPC.logout, .init(), sessionToken: aliceOne.token, timeout: .seconds(5))
        #expect(await status { _ = try await auth.validate(aliceOne.token) }?.code == .unauthenticated)
        let afterLogout = await status {
            _ = try await auth.client.call(AuthRPC.listSessions, .init(), sessionToken: aliceOne.token, timeout: .seconds(5))
        }
        #expect(afterLogout?.code == .unauthenticated)
        let noToken = await status { _ = try await auth.client.call(AuthRPC.listSessions, .init(), timeout: .seconds(5)) }
        #expect(noToken?.code == .unauthenticated)
        #expect(await status { _ = try await auth.validate("garbage") }?.code == .unauthenticated)
        #expect(await status { _ = try await auth.validate("") }?.code == .unauthenticated)
    }

    @Test func changeVerifierThenOnlyTheNewPassphraseWorks() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("old"))
        let current = try await auth.login(username: user.username, password: password("old"))
        let other = try await auth.login(username: user.username, password: password("old"))

        #expect(current.credentialGeneration == 1)
        #expect(try await auth.validate(current.token).credentialGeneration == 1)

        var change = try changeRequest(username: user.username, password: password("new"), from: 1, to: 2)
        change = try await auth.proved(change, userID: user.userID, username: user.username, password: password("old"))
        let response = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: current.token, timeout: .seconds(5))
        #expect(response.revokedSessions == 1)
        #expect(response.srpM2Hex.count == 64)

        #expect(try await auth.validate(current.token).userID == user.userID)
        #expect(try await auth.validate(current.token).credentialGeneration == 2)
        #expect(await status { _ = try await auth.validate(other.token) }?.code == .unauthenticated)
        let old = await status { _ = try await auth.login(username: user.username, password: password("old")) }
        #expect(old?.code == .unauthenticated)
        #expect(old?.message == loginFailedMessage)
        #expect(try await auth.login(username: user.username, password: password("new")).credentialGeneration == 2)
        let noSession = await status { _ = try await auth.client.call(AuthRPC.changeVerifier, change, timeout: .seconds(5)) }
        #expect(noSession?.code == .unauthenticated)

        // Compare-and-set: a change made from a stale generation is ABORTED and changes nothing.
        change = try changeRequest(username: user.username, password: password("third"), from: 1, to: 3)
        change = try await auth.proved(change, userID: user.userID, username: user.username, password: password("new"))
        let stale = await status {
            _ = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: current.token, timeout: .seconds(5))
        }
        #expect(stale?.code == .aborted)
        #expect(stale?.details["field"] == "expected_generation")
        #expect(try await auth.login(username: user.username, password: password("new")).credentialGeneration == 2)
        #expect(await status { _ = try await auth.login(username: user.username, password: password("third")) }?.code == .unauthenticated)

        // The generations must be given, and go up.
        for (from, to, field) in [(0, 3, "expected_generation"), (2, 2, "new_generation"), (2, 1, "new_generation"), (2, 0, "new_generation")] {
            let request = try changeRequest(username: user.username, password: password("x"), from: UInt64(from), to: UInt64(to))
            let failure = await status {
                _ = try await auth.client.call(AuthRPC.changeVerifier, request, sessionToken: current.token, timeout: .seconds(5))
            }
            #expect(failure?.code == .invalidArgument, "\(from) → \(to)")
            #expect(failure?.details["field"] == field)
        }
    }

    func changeRequest(username: String, password: [UInt8], from: UInt64, to: UInt64) throws -> Svx_Auth_V1_ChangeVerifierRequest {
        var change = Svx_Auth_V1_ChangeVerifierRequest()
        let salt = try SecureRandom.bytes(count: 32)
        change.srpSaltHex = Hex.encode(salt)
        change.srpVerifierHex = Hex.encode(try srp.verifier(salt: salt, username: username, password: password))
        change.expectedGeneration = from
        change.newGeneration = to
        return change
    }

    /// ChangeVerifier needs a proof of the current passphrase made for this very request, from one of the caller's
    /// own login challenges; wrong proofs count as failed logins. VerifyCredentials checks the same proofs for
    /// another service's request.
    @Test func changeVerifierNeedsAProofOfTheCurrentPassphrase() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: ["SVX_AUTH_THROTTLE_BURST": "3"]])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("old"))
        let other = try await auth.signUp(password: password("other"))
        let session = try await auth.login(username: user.username, password: password("old"))
        func change(_ request: Svx_Auth_V1_ChangeVerifierRequest) async -> RPCStatus? {
            await status {
                _ = try await auth.client.call(AuthRPC.changeVerifier, request, sessionToken: session.token, timeout: .seconds(5))
            }
        }
        let request = try changeRequest(username: user.username, password: password("new"), from: 1, to: 2)

        // Another user's challenge, with that user's correct proof: refused like an unknown one, and not consumed.
        var foreign = request
        let (otherSRP, otherChallenge, otherM1) = try await auth.prepareLogin(username: other.username, password: password("other"))
        foreign.currentCredentials.loginID = otherChallenge.loginID
        foreign.currentCredentials = credentialProof(
            otherSRP, loginID: otherChallenge.loginID, m1Hex: otherM1, purpose: AuthRPC.changeVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.changeVerifier(foreign, userID: user.userID).bytes))
        let refused = await change(foreign)
        #expect(refused?.code == .permissionDenied && refused?.details["field"] == "current_credentials")
        _ = try await auth.finish(loginID: otherChallenge.loginID, m1Hex: otherM1)  // still there for its owner

        // Malformed proofs name their field.
        var malformed = try await auth.proved(request, userID: user.userID, username: user.username, password: password("old"))
        malformed.currentCredentials.bindingHex = "zz"
        #expect(await change(malformed)?.details["field"] == "current_credentials.binding_hex")

        // Wrong passphrases take tokens from the username's bucket like failed logins: after the burst even the
        // right proof (its challenge begun before) waits.
        let right = try await auth.proved(request, userID: user.userID, username: user.username, password: password("old"))
        for guess in ["guess 1", "guess 2", "guess 3"] {
            let wrong = try await auth.proved(request, userID: user.userID, username: user.username, password: password(guess))
            #expect(await change(wrong)?.code == .permissionDenied, "\(guess)")
        }
        let throttled = await change(right)
        #expect(throttled?.code == .resourceExhausted && throttled?.details["retry_after_ms"] != nil, "\(String(describing: throttled))")
        #expect(try await auth.validate(session.token).credentialGeneration == 1)
    }

    @Test func verifyCredentialsChecksAProofForAnotherServicesRequest() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let session = try await auth.login(username: user.username, password: password("pw"))
        let digest = HashFunction.sha256.hash(Array("a request of another service".utf8))
        func verify(purpose: String, digest: [UInt8], proofPurpose: String? = nil, proofDigest: [UInt8]? = nil)
            async throws -> (SRPClient, Svx_Auth_V1_VerifyCredentialsRequest)
        {
            let (srpClient, challenge, m1) = try await auth.prepareLogin(username: user.username, password: password("pw"))
            var request = Svx_Auth_V1_VerifyCredentialsRequest()
            request.proof = credentialProof(
                srpClient, loginID: challenge.loginID, m1Hex: m1, purpose: proofPurpose ?? purpose, requestDigest: proofDigest ?? digest)
            request.purpose = purpose
            request.requestDigest = Data(digest)
            return (srpClient, request)
        }
        func call(_ request: Svx_Auth_V1_VerifyCredentialsRequest) async throws -> Svx_Auth_V1_VerifyCredentialsResponse {
            // As the Keystore's peer call (the only caller VerifyCredentials takes over CURVE).
            try await stack.client(.auth, as: .keystore).call(
                AuthRPC.verifyCredentials, request, sessionToken: session.token, timeout: .seconds(5))
        }

        var (srpClient, request) = try await verify(purpose: "svx.keystore.v1.Keystore/SetKEKCheck", digest: digest)
        let response = try await call(request)
        _ = try srpClient.verify(serverProof: try Hex.decode(response.srpM2Hex))  // Auth knew the verifier
        #expect(await status { _ = try await call(request) }?.code == .permissionDenied, "used once")
        // A proof made for another purpose or another request is refused.
        (_, request) = try await verify(purpose: "svx.keystore.v1.Keystore/SetKEKCheck", digest: digest, proofPurpose: "other")
        #expect(await status { _ = try await call(request) }?.code == .permissionDenied)
        (_, request) = try await verify(
            purpose: "svx.keystore.v1.Keystore/SetKEKCheck", digest: digest, proofDigest: HashFunction.sha256.hash([1]))
        #expect(await status { _ = try await call(request) }?.code == .permissionDenied)
        // Shapes.
        request.purpose = ""
        #expect(await status { _ = try await call(request) }?.details["field"] == "purpose")
        request.purpose = "x"
        request.requestDigest = Data([1, 2, 3])
        #expect(await status { _ = try await call(request) }?.details["field"] == "request_digest")
        let anonymous = await status {
            _ = try await stack.client(.auth, as: .keystore).call(AuthRPC.verifyCredentials, request, timeout: .seconds(5))
        }
        #expect(anonymous?.code == .unauthenticated)
    }

    /// A login that began before a passphrase change cannot finish after it, even when the proof would still
    /// match (here the "change" keeps the same salt and verifier, so only the generation differs).
    @Test func aLoginBegunBeforeAPassphraseChangeCannotFinishAfterIt() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("same"))
        let current = try await auth.login(username: user.username, password: password("same"))
        var (_, challenge, m1) = try await auth.prepareLogin(username: user.username, password: password("same"))
        var change = try changeRequest(username: user.username, password: password("same"), from: 1, to: 2)
        change.srpSaltHex = challenge.srpSaltHex
        change.srpVerifierHex = Hex.encode(
            try srp.verifier(salt: try Hex.decode(challenge.srpSaltHex), username: user.username, password: password("same")))
        change = try await auth.proved(change, userID: user.userID, username: user.username, password: password("same"))
        _ = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: current.token, timeout: .seconds(5))
        // ChangeVerifier ended the pending challenge; the same proof is refused.
        let raced = await status { _ = try await auth.finish(loginID: challenge.loginID, m1Hex: m1) }
        #expect(raced?.code == .unauthenticated)
        // A new login with the same passphrase works, at generation 2.
        (_, challenge, m1) = try await auth.prepareLogin(username: user.username, password: password("same"))
        #expect(try await auth.finish(loginID: challenge.loginID, m1Hex: m1).credentialGeneration == 2)
    }

    /// FinishLogin's own check, with the challenge still there: the generation moves (as a concurrent change
    /// would, after FinishLogin read the challenge) and the proof, still valid, gets no session.
    @Test func finishLoginRefusesAChallengeFromAnEarlierGeneration() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let (_, challenge, m1) = try await auth.prepareLogin(username: user.username, password: password("pw"))
        let connection = try database.connect()
        defer { connection.close() }
        _ = try connection.execute(
            "UPDATE auth.users SET credential_generation = credential_generation + 1 WHERE user_id = $1::uuid", user.userID)
        let failure = await status { _ = try await auth.finish(loginID: challenge.loginID, m1Hex: m1) }
        #expect(failure?.code == .unauthenticated)
        #expect(failure?.message == loginFailedMessage)
        #expect(try connection.query("SELECT 1 FROM auth.sessions WHERE user_id = $1::uuid", user.userID).isEmpty)
        #expect(try await auth.login(username: user.username, password: password("pw")).credentialGeneration == 2)
    }

    /// A passphrase change needs a session from a recent login (SVX_AUTH_REAUTH_WINDOW_MS).
    @Test func changeVerifierNeedsARecentLogin() async throws {
        // The default window (5 min); the old session is aged in the database (as the service's own role could), so
        // that a loaded machine cannot push the fresh login's call out of a short window.
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("old"))
        let session = try await auth.login(username: user.username, password: password("old"))
        let db = try database.connect()
        defer { db.close() }
        #expect(try db.execute(
            "UPDATE auth.sessions SET created_at = now() - interval '10 minutes' WHERE session_id = $1::uuid",
            session.sessionID) == 1)
        var change = try changeRequest(username: user.username, password: password("new"), from: 1, to: 2)
        change = try await auth.proved(change, userID: user.userID, username: user.username, password: password("old"))
        let failure = await status {
            _ = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: session.token, timeout: .seconds(5))
        }
        #expect(failure?.code == .failedPrecondition)
        #expect(try await auth.login(username: user.username, password: password("old")).credentialGeneration == 1)
        // A fresh login can (with a proof of its own).
        change = try await auth.proved(change, userID: user.userID, username: user.username, password: password("old"))
        let fresh = try await auth.login(username: user.username, password: password("old"))
        _ = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: fresh.token, timeout: .seconds(5))
        #expect(try await auth.login(username: user.username, password: password("new")).credentialGeneration == 2)
    }

    /// Calls keystore's Test/WhoAmI until it fails (bounded: 3 s); returns the status and when (after the start)
    /// the last call that was still accepted had been sent. That is the property to check: no call sent later than
    /// that was let through. (Measured this way, a loaded machine that delays the calls cannot fail the check;
    /// only a cache that outlives its bound can.)
    func untilRefused(_ keystore: RPCClient, token: String) async -> (RPCStatus?, Duration) {
        let start = ContinuousClock.now
        var lastAccepted: Duration = .zero
        while ContinuousClock.now - start < .seconds(3) {
            let sent = ContinuousClock.now - start
            if let failure = await status({
                _ = try await keystore.call(TestRPC.whoAmI, .init(), sessionToken: token, timeout: .seconds(5))
            }) {
                return (failure, lastAccepted)
            }
            lastAccepted = sent
            try? await Task.sleep(for: .milliseconds(20))
        }
        return (nil, lastAccepted)
    }

    @Test func anotherServiceSeesLogoutAndRevokeWithinOneSecondAndFailsClosed() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (authService, keystoreService, keystore) = (stack[.auth], stack[.keystore], stack.client(.keystore))
        let auth = stack.auth

        let user = try await auth.signUp(password: password("pw"))
        let first = try await auth.login(username: user.username, password: password("pw"))
        let whoAmI = try await keystore.call(TestRPC.whoAmI, .init(), sessionToken: first.token, timeout: .seconds(5))
        #expect(whoAmI.userID == user.userID)
        #expect(whoAmI.sessionID == first.sessionID)
        let missing = await status { _ = try await keystore.call(TestRPC.whoAmI, .init(), timeout: .seconds(5)) }
        #expect(missing?.code == .unauthenticated)
        let bogus = await status {
            _ = try await keystore.call(TestRPC.whoAmI, .init(), sessionToken: String(repeating: "x", count: 43), timeout: .seconds(5))
        }
        #expect(bogus?.code == .unauthenticated)

        // Logout at Auth: keystore refuses the token within one second (it was just cached there).
        _ = try await auth.client.call(AuthRPC.logout, .init(), sessionToken: first.token, timeout: .seconds(5))
        let (afterLogout, logoutDelay) = await untilRefused(keystore, token: first.token)
        #expect(afterLogout?.code == .unauthenticated)
        #expect(logoutDelay < .seconds(1), "a call sent \(logoutDelay) after the logout was still accepted")

        // Revoke from another session: the same.
        let second = try await auth.login(username: user.username, password: password("pw"))
        let third = try await auth.login(username: user.username, password: password("pw"))
        _ = try await keystore.call(TestRPC.whoAmI, .init(), sessionToken: second.token, timeout: .seconds(5))
        var revoke = Svx_Auth_V1_RevokeSessionRequest()
        revoke.sessionID = second.sessionID
        _ = try await auth.client.call(AuthRPC.revokeSession, revoke, sessionToken: third.token, timeout: .seconds(5))
        let (afterRevoke, revokeDelay) = await untilRefused(keystore, token: second.token)
        #expect(afterRevoke?.code == .unauthenticated)
        #expect(revokeDelay < .seconds(1), "a call sent \(revokeDelay) after the revoke was still accepted")

        // Auth down: keystore fails closed (UNAVAILABLE), even for a session that was valid.
        _ = try await keystore.call(TestRPC.whoAmI, .init(), sessionToken: third.token, timeout: .seconds(5))
        authService.stop()
        try await Task.sleep(for: .milliseconds(600))  // past the cache TTL
        let down = await status {
            _ = try await keystore.call(TestRPC.whoAmI, .init(), sessionToken: third.token, timeout: .seconds(10))
        }
        #expect(down?.code == .unavailable)
        #expect(keystoreService.isRunning)
    }
}
