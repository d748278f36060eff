import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// Account recovery with an offline Recovery Key, Auth's side (docs/ADR-002-auth.md "Recovery"), through a real
/// svx-auth and a real PostgreSQL: the recovery credential, BeginRecovery/FinishRecovery, the RECOVERY session and
/// its delay, cancelling, CompleteRecovery, and the throttles. P_r is any 64-lowercase-hex string here.
@Suite(.serialized) struct AuthRecoveryTests {
    /// No delay: a recovery session is usable at once.
    static let noDelay: [TestService: [String: String]] = [.auth: ["SVX_AUTH_RECOVERY_DELAY_MS": "0"]]
    /// A delay no test outlives.
    static let longDelay = "600000"

    func count(_ database: TestDatabase, _ sql: String, _ parameters: String...) throws -> Int {
        let db = try database.connect()
        defer { db.close() }
        return try db.query(sql, parameters: parameters.map { $0 as (any PostgresEncodable)? })[0].decode(Int.self, at: 0)
    }

    func nowMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

    func expectHex(_ text: String, characters: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(text.count == characters, sourceLocation: sourceLocation)
        #expect(text.allSatisfy { "0123456789abcdef".contains($0) }, sourceLocation: sourceLocation)
    }

    @Test func theRecoveryKeyIsProvedLikeAPassphraseAndFailuresLookAlike() async throws {
        let stack = try await TestStack.start([.auth], environment: Self.noDelay)
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let bare = try await auth.signUp(password: password("pw"))  // no recovery credential
        let session = try await auth.login(username: user.username, password: password("pw"))
        let recovery = try recoveryPassword()
        let enrolled = try await auth.enrolRecovery(
            session: session, username: user.username, password: password("pw"), recoveryPassword: recovery)
        #expect(!enrolled.replaced)
        expectHex(enrolled.srpM2Hex, characters: 64)

        // A wrong P_r, an unknown username, a user without a recovery credential: answers of one shape, one failure.
        let unknown = "nobody\(UInt32.random(in: 0...UInt32.max))"
        for (username, secret) in [(user.username, try recoveryPassword()), (unknown, recovery), (bare.username, recovery)] {
            let (_, challenge, m1) = try await auth.prepareRecovery(username: username, recoveryPassword: secret)
            expectHex(challenge.srpSaltHex, characters: 64)
            expectHex(challenge.srpBHex, characters: 512)
            let failure = await status { _ = try await auth.finishRecovery(loginID: challenge.loginID, m1Hex: m1) }
            #expect(failure == RPCStatus(.unauthenticated, recoveryFailedMessage), "\(username)")
        }
        // The fake salts are stable per username, and never the login's fake salt.
        for username in [unknown, bare.username] {
            let first = try await auth.prepareRecovery(username: username, recoveryPassword: recovery).1.srpSaltHex
            let again = try await auth.prepareRecovery(username: username, recoveryPassword: recovery).1.srpSaltHex
            let login = try await auth.prepareLogin(username: username, password: recovery).1.srpSaltHex
            #expect(first == again)
            #expect(first != login)
        }
        // The real recovery salt is the enrolled one, not the passphrase's.
        let real = try await auth.prepareRecovery(username: user.username, recoveryPassword: recovery).1
        #expect(real.srpSaltHex != (try await auth.prepareLogin(username: user.username, password: password("pw")).1.srpSaltHex))

        // The right P_r: a RECOVERY session, usable at once (no delay), for the user's current generation.
        let before = nowMs()
        let recovered = try await auth.recover(username: user.username, recoveryPassword: recovery)
        #expect(recovered.userID == user.userID)
        #expect(recovered.credentialGeneration == 1)
        #expect(recovered.usableAtMs >= before - 5_000 && recovered.usableAtMs <= nowMs() + 5_000)
        #expect(recovered.expiresAtMs - recovered.usableAtMs >= 259_200_000 - 1 && recovered.expiresAtMs - recovered.usableAtMs <= 259_200_000 + 1)
        let validated = try await auth.validate(recovered.sessionToken)
        #expect(validated.scope == .recovery)
        #expect(validated.usableAtMs == recovered.usableAtMs)
        #expect(validated.sessionID == recovered.sessionID)
        #expect(validated.recentlyAuthenticated)
        // A full session says so.
        let full = try await auth.validate(session.token)
        #expect(full.scope == .full)
        #expect(full.usableAtMs == 0)
    }

    @Test func aChallengeServesOnlyItsOwnPurpose() async throws {
        let stack = try await TestStack.start([.auth], environment: Self.noDelay)
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let session = try await auth.login(username: user.username, password: password("pw"))
        let recovery = try recoveryPassword()
        try await auth.enrolRecovery(session: session, username: user.username, password: password("pw"), recoveryPassword: recovery)

        // A recovery challenge, rightly answered, cannot finish a login...
        var (recoverySRP, recoveryChallenge, recoveryM1) = try await auth.prepareRecovery(
            username: user.username, recoveryPassword: recovery)
        let asLogin = await status { _ = try await auth.finish(loginID: recoveryChallenge.loginID, m1Hex: recoveryM1) }
        #expect(asLogin == RPCStatus(.unauthenticated, loginFailedMessage))
        // ...nor serve as a credential proof (of SetRecoveryVerifier here)...
        var request = try auth.recoveryVerifierRequest(username: user.username, recoveryPassword: try recoveryPassword())
        request.currentCredentials.loginID = recoveryChallenge.loginID
        request.currentCredentials = credentialProof(
            recoverySRP, loginID: recoveryChallenge.loginID, m1Hex: recoveryM1, purpose: AuthRPC.setRecoveryVerifier.name,
            requestDigest: HashFunction.sha256.hash(ProofTranscript.setRecoveryVerifier(request, userID: user.userID).bytes))
        let asProof = await status {
            _ = try await auth.client.call(AuthRPC.setRecoveryVerifier, request, sessionToken: session.token, timeout: .seconds(5))
        }
        #expect(asProof?.code == .permissionDenied)
        // ...and neither consumed it: it still finishes its recovery.
        let recovered = try await auth.finishRecovery(loginID: recoveryChallenge.loginID, m1Hex: recoveryM1)
        try recoverySRP.verify(serverProof: try Hex.decode(recovered.srpM2Hex))
        #expect(try await auth.validate(recovered.sessionToken).scope == .recovery)

        // A login challenge, rightly answered, cannot finish a recovery; it still finishes its login.
        var (loginSRP, loginChallenge, loginM1) = try await auth.prepareLogin(username: user.username, password: password("pw"))
        let asRecovery = await status { _ = try await auth.finishRecovery(loginID: loginChallenge.loginID, m1Hex: loginM1) }
        #expect(asRecovery == RPCStatus(.unauthenticated, recoveryFailedMessage))
        let loggedIn = try await auth.finish(loginID: loginChallenge.loginID, m1Hex: loginM1)
        try loginSRP.verify(serverProof: try Hex.decode(loggedIn.srpM2Hex))
        #expect(try await auth.validate(loggedIn.sessionToken).scope == .full)
    }

    @Test func aRecoverySessionReachesOnlyTheRecoveryMethods() async throws {
        let stack = try await TestStack.start([.auth], environment: Self.noDelay)
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let owner = try await auth.login(username: user.username, password: password("pw"))
        let recovery = try recoveryPassword()
        try await auth.enrolRecovery(session: owner, username: user.username, password: password("pw"), recoveryPassword: recovery)
        let recovered = try await auth.recover(username: user.username, recoveryPassword: recovery)
        let token = recovered.sessionToken

        var revoke = Svx_Auth_V1_RevokeSessionRequest()
        revoke.sessionID = owner.sessionID
        var change = Svx_Auth_V1_ChangeVerifierRequest()
        change.expectedGeneration = 1
        change.newGeneration = 2
        let refusals: [(String, RPCStatus?)] = [
            ("ListSessions", await status { _ = try await auth.client.call(AuthRPC.listSessions, .init(), sessionToken: token, timeout: .seconds(5)) }),
            ("RevokeSession", await status { _ = try await auth.client.call(AuthRPC.revokeSession, revoke, sessionToken: token, timeout: .seconds(5)) }),
            ("ChangeVerifier", await status { _ = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: token, timeout: .seconds(5)) }),
            ("SetRecoveryVerifier", await status {
                _ = try await auth.client.call(AuthRPC.setRecoveryVerifier, .init(), sessionToken: token, timeout: .seconds(5))
            }),
            ("DeleteRecoveryVerifier", await status {
                _ = try await auth.client.call(AuthRPC.deleteRecoveryVerifier, .init(), sessionToken: token, timeout: .seconds(5))
            }),
            ("VerifyCredentials", await status {
                // As the Keystore's peer call (the only caller it takes over CURVE).
                _ = try await stack.client(.auth, as: .keystore).call(
                    AuthRPC.verifyCredentials, .init(), sessionToken: token, timeout: .seconds(5))
            }),
        ]
        for (method, refusal) in refusals {
            #expect(refusal?.code == .permissionDenied, "\(method)")
            #expect(refusal?.details["reason"] == "recovery_session", "\(method)")
        }
        // The owner's session was not revoked.
        #expect(try await auth.validate(owner.token).scope == .full)

        // GetRecoveryStatus answers it: its own pending recovery.
        let state = try await auth.recoveryStatus(token: token)
        #expect(state.enrolled && state.enrolledAtMs > 0)
        #expect(state.pending.sessionID == recovered.sessionID)
        #expect(state.pending.usableAtMs == recovered.usableAtMs)
        #expect(state.pending.expiresAtMs == recovered.expiresAtMs)

        // The owner's ListSessions shows it, with its scope and when it became usable.
        let listed = try await auth.client.call(AuthRPC.listSessions, .init(), sessionToken: owner.token, timeout: .seconds(5))
        let listedRecovery = try #require(listed.sessions.first { $0.sessionID == recovered.sessionID })
        #expect(listedRecovery.scope == .recovery)
        #expect(listedRecovery.usableAtMs == recovered.usableAtMs)
        #expect(listed.sessions.first { $0.sessionID == owner.sessionID }?.scope == .full)
        #expect(listed.sessions.first { $0.sessionID == owner.sessionID }?.usableAtMs == 0)

        // Logout ends it.
        _ = try await auth.client.call(AuthRPC.logout, .init(), sessionToken: token, timeout: .seconds(5))
        #expect(await status { _ = try await auth.validate(token) }?.code == .unauthenticated)
        #expect(try await auth.recoveryStatus(token: owner.token).hasPending == false)
    }

    @Test func theDelayHoldsARecoveryBackAndTheOwnerSeesAndCancelsIt() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_RECOVERY_DELAY_MS": Self.longDelay, "SVX_AUTH_RECOVERY_WINDOW_MS": "1000000",
            "SVX_AUTH_SESSION_IDLE_MS": "60000",
        ]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let owner = try await auth.login(username: user.username, password: password("pw"))
        let recovery = try recoveryPassword()
        try await auth.enrolRecovery(session: owner, username: user.username, password: password("pw"), recoveryPassword: recovery)

        let before = nowMs()
        let first = try await auth.recover(username: user.username, recoveryPassword: recovery)
        #expect(first.usableAtMs >= before + 600_000 - 5_000)
        #expect(first.expiresAtMs - first.usableAtMs >= 1_000_000 - 1 && first.expiresAtMs - first.usableAtMs <= 1_000_000 + 1)
        let validated = try await auth.validate(first.sessionToken)
        #expect(validated.scope == .recovery)
        #expect(validated.usableAtMs == first.usableAtMs)
        #expect(!validated.recentlyAuthenticated)

        // Before the delay ends, completing it answers FAILED_PRECONDITION recovery_delay; its own status does not wait.
        #expect(try await auth.recoveryStatus(token: first.sessionToken).pending.sessionID == first.sessionID)
        let tooEarly: [(String, RPCStatus?)] = [
            ("CompleteRecovery", await status {
                _ = try await auth.completeRecovery(
                    token: first.sessionToken, userID: user.userID, username: user.username, recoveryPassword: recovery,
                    newPassword: password("new"), from: 1, to: 2)
            }),
        ]
        for (method, refusal) in tooEarly {
            #expect(refusal?.code == .failedPrecondition, "\(method)")
            #expect(refusal?.details["reason"] == "recovery_delay", "\(method)")
            let retryAfter = UInt64(refusal?.details["retry_after_ms"] ?? "") ?? 0
            #expect(retryAfter > 0 && retryAfter <= 600_000, "\(method)")
        }
        // Not idle while it waits: unused for 2 hours of a 60 s idle timeout, it is still there.
        let db = try database.connect()
        defer { db.close() }
        #expect(try db.execute(
            "UPDATE auth.sessions SET last_seen_at = now() - interval '2 hours' WHERE session_id = $1::uuid",
            first.sessionID) == 1)
        #expect(try await auth.validate(first.sessionToken).sessionID == first.sessionID)

        // Recovering again replaces it: one pending recovery per user, its delay started again.
        let second = try await auth.recover(username: user.username, recoveryPassword: recovery)
        #expect(await status { _ = try await auth.validate(first.sessionToken) }?.code == .unauthenticated)
        #expect(second.usableAtMs >= first.usableAtMs)
        #expect(try count(
            database, "SELECT count(*)::int FROM auth.sessions WHERE user_id = $1::uuid AND scope = 'recovery' AND revoked_at IS NULL",
            user.userID) == 1)

        // The owner's next login sees it; so does GetRecoveryStatus.
        let login = try await auth.loginByHand(username: user.username, password: password("pw"))
        #expect(login.hasPendingRecovery)
        #expect(login.pendingRecovery.sessionID == second.sessionID)
        #expect(login.pendingRecovery.usableAtMs == second.usableAtMs)
        #expect(login.pendingRecovery.expiresAtMs == second.expiresAtMs)
        #expect(login.pendingRecovery.startedAtMs > 0 && login.pendingRecovery.startedAtMs <= second.usableAtMs)
        #expect(try await auth.recoveryStatus(token: login.sessionToken).pending.sessionID == second.sessionID)

        // CancelRecovery ends it; the recovery credential stays (a later recovery works again).
        #expect(try await auth.cancelRecovery(token: login.sessionToken).cancelled)
        #expect(await status { _ = try await auth.validate(second.sessionToken) }?.code == .unauthenticated)
        #expect(try await auth.cancelRecovery(token: login.sessionToken).cancelled == false)
        let afterCancel = try await auth.loginByHand(username: user.username, password: password("pw"))
        #expect(!afterCancel.hasPendingRecovery)
        let state = try await auth.recoveryStatus(token: afterCancel.sessionToken)
        #expect(state.enrolled && !state.hasPending)
        let third = try await auth.recover(username: user.username, recoveryPassword: recovery)

        // Once the delay is over (moved back here, not slept through), there is still no idle timeout: last used 2
        // hours ago, usable for 10 minutes, it lives until its expiry (its owner comes back at any time in the window).
        #expect(try db.execute(
            """
            UPDATE auth.sessions SET last_seen_at = now() - interval '2 hours', usable_at = now() - interval '10 minutes'
            WHERE session_id = $1::uuid
            """, third.sessionID) == 1)
        #expect(try await auth.validate(third.sessionToken).sessionID == third.sessionID)
        // A recovery session may abandon itself.
        #expect(try await auth.cancelRecovery(token: third.sessionToken).cancelled)
        #expect(await status { _ = try await auth.validate(third.sessionToken) }?.code == .unauthenticated)
        #expect(try await auth.cancelRecovery(token: afterCancel.sessionToken).cancelled == false)
    }

    @Test func completeRecoveryReplacesThePassphraseEndsEverySessionAndIsSingleUse() async throws {
        let stack = try await TestStack.start([.auth], environment: Self.noDelay)
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("old"))
        let owner = try await auth.login(username: user.username, password: password("old"))
        let other = try await auth.login(username: user.username, password: password("old"))
        let recovery = try recoveryPassword()
        try await auth.enrolRecovery(session: owner, username: user.username, password: password("old"), recoveryPassword: recovery)

        // From a full session: PERMISSION_DENIED.
        let fromFull = await status {
            _ = try await auth.completeRecovery(
                    token: owner.token, userID: user.userID, username: user.username, recoveryPassword: recovery,
                    newPassword: password("new"), from: 1, to: 2)
        }
        #expect(fromFull?.code == .permissionDenied)
        #expect(fromFull?.details["reason"] == "recovery_session_required")

        let recovered = try await auth.recover(username: user.username, recoveryPassword: recovery)
        // The generations must be given and go up; a stale one is ABORTED and changes nothing.
        for (from, to, field) in [(0, 2, "expected_generation"), (1, 1, "new_generation"), (1, 5000, "new_generation")] {
            let failure = await status {
                _ = try await auth.completeRecovery(
                    token: recovered.sessionToken, userID: user.userID, username: user.username, recoveryPassword: recovery,
                    newPassword: password("new"),
                    from: UInt64(from), to: UInt64(to))
            }
            #expect(failure?.code == .invalidArgument, "\(from) → \(to)")
            #expect(failure?.details["field"] == field)
        }
        let stale = await status {
            _ = try await auth.completeRecovery(
                    token: recovered.sessionToken, userID: user.userID, username: user.username, recoveryPassword: recovery,
                    newPassword: password("new"), from: 3, to: 4)
        }
        #expect(stale?.code == .aborted)
        #expect(try await auth.validate(recovered.sessionToken).scope == .recovery)
        #expect(try await auth.validate(owner.token).credentialGeneration == 1)

        // The session's token alone does not do: a proof of the Recovery Key bound to the request is required, and a
        // proof of another key is refused (its challenge spent, nothing changed).
        let tokenAlone = await status {
            _ = try await auth.completeRecovery(
                token: recovered.sessionToken, userID: user.userID, username: user.username, recoveryPassword: nil,
                newPassword: password("new"), from: recovered.credentialGeneration, to: recovered.credentialGeneration + 1)
        }
        #expect(tokenAlone?.code == .invalidArgument && tokenAlone?.details["field"] == "recovery_credentials.login_id")
        let wrongKey = await status {
            _ = try await auth.completeRecovery(
                token: recovered.sessionToken, userID: user.userID, username: user.username,
                recoveryPassword: try recoveryPassword(), newPassword: password("new"),
                from: recovered.credentialGeneration, to: recovered.credentialGeneration + 1)
        }
        #expect(wrongKey?.code == .permissionDenied && wrongKey?.details["field"] == "recovery_credentials", "\(String(describing: wrongKey))")
        #expect(try await auth.validate(owner.token).credentialGeneration == 1)

        let completed = try await auth.completeRecovery(
                    token: recovered.sessionToken, userID: user.userID, username: user.username, recoveryPassword: recovery,
                    newPassword: password("new"),
            from: recovered.credentialGeneration, to: recovered.credentialGeneration + 1)
        #expect(completed.revokedSessions == 3)  // owner, other, and the recovery session itself
        for token in [owner.token, other.token, recovered.sessionToken] {
            #expect(await status { _ = try await auth.validate(token) }?.code == .unauthenticated)
        }
        let old = await status { _ = try await auth.login(username: user.username, password: password("old")) }
        #expect(old == RPCStatus(.unauthenticated, loginFailedMessage))
        let fresh = try await auth.login(username: user.username, password: password("new"))
        #expect(fresh.credentialGeneration == 2)
        #expect(try await auth.validate(fresh.token).credentialGeneration == 2)

        // Single use: the same P_r no longer recovers, and nothing is enrolled.
        let again = await status { _ = try await auth.recover(username: user.username, recoveryPassword: recovery) }
        #expect(again == RPCStatus(.unauthenticated, recoveryFailedMessage))
        let state = try await auth.recoveryStatus(token: fresh.token)
        #expect(!state.enrolled && !state.hasPending)
        #expect(try count(database, "SELECT count(*)::int FROM auth.recovery_credentials WHERE user_id = $1::uuid", user.userID) == 0)
    }

    @Test func setRecoveryVerifierNeedsARecentLoginAndAProof() async throws {
        let stack = try await TestStack.start([.auth], environment: Self.noDelay)
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let session = try await auth.login(username: user.username, password: password("pw"))
        let recovery = try recoveryPassword()
        func set(_ request: Svx_Auth_V1_SetRecoveryVerifierRequest, token: String) async -> RPCStatus? {
            await status {
                _ = try await auth.client.call(AuthRPC.setRecoveryVerifier, request, sessionToken: token, timeout: .seconds(5))
            }
        }
        let request = try auth.recoveryVerifierRequest(username: user.username, recoveryPassword: recovery)

        // No proof, a proof of the wrong passphrase, a proof bound to another request: refused, nothing stored.
        let noProof = await set(request, token: session.token)
        #expect(noProof?.code == .invalidArgument)
        #expect(noProof?.details["field"] == "current_credentials.login_id")
        let wrong = try await auth.proved(request, userID: user.userID, username: user.username, password: password("nope"))
        #expect(await set(wrong, token: session.token)?.code == .permissionDenied)
        var otherRequest = try await auth.proved(request, userID: user.userID, username: user.username, password: password("pw"))
        otherRequest.srpVerifierHex = try auth.recoveryVerifierRequest(username: user.username, recoveryPassword: recovery).srpVerifierHex
        #expect(await set(otherRequest, token: session.token)?.code == .permissionDenied)
        // Bad salt or verifier.
        var badSalt = request
        badSalt.srpSaltHex = "00"
        #expect(await set(badSalt, token: session.token)?.details["field"] == "srp_salt_hex")
        var badVerifier = request
        badVerifier.srpVerifierHex = String(repeating: "0", count: 512)
        #expect(await set(badVerifier, token: session.token)?.details["field"] == "srp_verifier_hex")
        #expect(try count(database, "SELECT count(*)::int FROM auth.recovery_credentials") == 0)

        // An older login: FAILED_PRECONDITION reauthentication_required (with a valid proof), for Delete too.
        let stale = try await auth.login(username: user.username, password: password("pw"))
        let db = try database.connect()
        defer { db.close() }
        #expect(try db.execute(
            "UPDATE auth.sessions SET created_at = now() - interval '10 minutes' WHERE session_id = $1::uuid",
            stale.sessionID) == 1)
        let proved = try await auth.proved(request, userID: user.userID, username: user.username, password: password("pw"))
        let notRecent = await set(proved, token: stale.token)
        #expect(notRecent?.code == .failedPrecondition)
        #expect(notRecent?.details["reason"] == "reauthentication_required")
        let deleteNotRecent = await status {
            _ = try await auth.client.call(AuthRPC.deleteRecoveryVerifier, .init(), sessionToken: stale.token, timeout: .seconds(5))
        }
        #expect(deleteNotRecent?.code == .failedPrecondition)
        #expect(deleteNotRecent?.details["reason"] == "reauthentication_required")

        // Enrol, recover, then replace: the pending recovery ends and only the new P_r works.
        #expect(try await auth.client.call(AuthRPC.setRecoveryVerifier, proved, sessionToken: session.token, timeout: .seconds(5)).replaced == false)
        let pending = try await auth.recover(username: user.username, recoveryPassword: recovery)
        let newRecovery = try recoveryPassword()
        let replaced = try await auth.enrolRecovery(
            session: session, username: user.username, password: password("pw"), recoveryPassword: newRecovery)
        #expect(replaced.replaced)
        #expect(await status { _ = try await auth.validate(pending.sessionToken) }?.code == .unauthenticated)
        #expect(await status { _ = try await auth.recover(username: user.username, recoveryPassword: recovery) }
            == RPCStatus(.unauthenticated, recoveryFailedMessage))
        let pendingAgain = try await auth.recover(username: user.username, recoveryPassword: newRecovery)

        // Delete: the pending recovery ends, the Recovery Key stops working; idempotent.
        let deleted = try await auth.client.call(AuthRPC.deleteRecoveryVerifier, .init(), sessionToken: session.token, timeout: .seconds(5))
        #expect(deleted.removed)
        #expect(await status { _ = try await auth.validate(pendingAgain.sessionToken) }?.code == .unauthenticated)
        #expect(await status { _ = try await auth.recover(username: user.username, recoveryPassword: newRecovery) }
            == RPCStatus(.unauthenticated, recoveryFailedMessage))
        #expect(try await auth.client.call(AuthRPC.deleteRecoveryVerifier, .init(), sessionToken: session.token, timeout: .seconds(5)).removed == false)
        #expect(try await auth.recoveryStatus(token: session.token).enrolled == false)
    }

    @Test func changeVerifierEndsAPendingRecoveryAndKeepsTheCredential() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: ["SVX_AUTH_RECOVERY_DELAY_MS": Self.longDelay]])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("old"))
        let owner = try await auth.login(username: user.username, password: password("old"))
        let recovery = try recoveryPassword()
        try await auth.enrolRecovery(session: owner, username: user.username, password: password("old"), recoveryPassword: recovery)
        let pending = try await auth.recover(username: user.username, recoveryPassword: recovery)

        var change = Svx_Auth_V1_ChangeVerifierRequest()
        let salt = try SecureRandom.bytes(count: 32)
        change.srpSaltHex = Hex.encode(salt)
        change.srpVerifierHex = Hex.encode(try srp.verifier(salt: salt, username: user.username, password: password("new")))
        change.expectedGeneration = 1
        change.newGeneration = 2
        change = try await auth.proved(change, userID: user.userID, username: user.username, password: password("old"))
        let changed = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: owner.token, timeout: .seconds(5))
        #expect(changed.revokedSessions == 1)
        #expect(await status { _ = try await auth.validate(pending.sessionToken) }?.code == .unauthenticated)
        let state = try await auth.recoveryStatus(token: owner.token)
        #expect(state.enrolled && !state.hasPending)
        // The Recovery Key still works, against the new generation.
        #expect(try await auth.recover(username: user.username, recoveryPassword: recovery).credentialGeneration == 2)
    }

    @Test func failedRecoveriesAreThrottledInBucketsOfTheirOwn() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_RECOVERY_DELAY_MS": "0",
            "SVX_AUTH_THROTTLE_BURST": "3", "SVX_AUTH_THROTTLE_REFILL_MS": "600000",
            "SVX_AUTH_THROTTLE_CALLER_BURST": "3", "SVX_AUTH_THROTTLE_CALLER_REFILL_MS": "600000",
        ]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let session = try await auth.login(username: user.username, password: password("pw"))
        let recovery = try recoveryPassword()
        try await auth.enrolRecovery(session: session, username: user.username, password: password("pw"), recoveryPassword: recovery)

        // Three wrong Recovery Keys: the burst; the fourth attempt, even the right key, is throttled.
        for _ in 0..<3 {
            let failure = await status { _ = try await auth.recover(username: user.username, recoveryPassword: try recoveryPassword()) }
            #expect(failure == RPCStatus(.unauthenticated, recoveryFailedMessage))
        }
        let throttled = await status { _ = try await auth.recover(username: user.username, recoveryPassword: recovery) }
        #expect(throttled?.code == .resourceExhausted)
        let retryAfter = Int(throttled?.details["retry_after_ms"] ?? "") ?? -1
        #expect(retryAfter > 0 && retryAfter <= 600_000)
        #expect(try count(database, "SELECT count(*)::int FROM auth.throttle_buckets WHERE bucket_key = $1", "r:" + user.username) == 1)
        #expect(try count(database, "SELECT count(*)::int FROM auth.throttle_buckets WHERE bucket_key LIKE $1", "rc:" + user.username + "@%") == 1)

        // The owner's logins have buckets of their own: untouched.
        #expect(try count(database, "SELECT count(*)::int FROM auth.throttle_buckets WHERE bucket_key LIKE $1", "u%:" + user.username + "%") == 0)
        _ = try await auth.login(username: user.username, password: password("pw"))

        // And the other way round: a user whose logins are throttled can still recover.
        let other = try await auth.signUp(password: password("pw"))
        let otherSession = try await auth.login(username: other.username, password: password("pw"))
        let otherRecovery = try recoveryPassword()
        try await auth.enrolRecovery(
            session: otherSession, username: other.username, password: password("pw"), recoveryPassword: otherRecovery)
        for _ in 0..<3 {
            #expect(await status { _ = try await auth.login(username: other.username, password: password("wrong")) }?.code == .unauthenticated)
        }
        #expect(await status { _ = try await auth.login(username: other.username, password: password("pw")) }?.code == .resourceExhausted)
        #expect(try await auth.recover(username: other.username, recoveryPassword: otherRecovery).userID == other.userID)
    }
}
