import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// svx-auth through a real process and a real PostgreSQL: sign-up, SRP-6a login, challenges, input checks,
/// fake challenges, throttling.
@Suite(.serialized) struct AuthLoginTests {
    @Test func signUpAndLoginWithASecretKey() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let (service, database) = (stack[.auth], stack.database)
        let auth = stack.auth

        // Sign-up as the SDK does it: server username → Secret Key → SRP password → register.
        let username = try await auth.reserve()
        let secretKey = try SecretKey.generate(username: username)
        let passphrase = "correct horse battery staple"
        let srpPassword = try secretKey.srpPassword(passphrase: passphrase)
        let userID = try await auth.register(username: username, password: srpPassword)
        #expect(UUID(uuidString: userID) != nil)

        let login = try await auth.login(username: username, password: srpPassword)
        #expect(login.userID == userID)
        #expect(login.token.utf8.count == 43)
        #expect(!login.token.contains("="))
        #expect(try Base64URL.decode(login.token + "=").count == 32)
        #expect(login.expiresAt > Date())
        let validated = try await auth.validate(login.token)
        #expect(validated.userID == userID)
        #expect(validated.sessionID == login.sessionID)
        #expect(validated.username == username)

        // Wrong passphrase, wrong Secret Key (same passphrase): the one login failure.
        let wrongPassphrase = try secretKey.srpPassword(passphrase: passphrase + "!")
        let wrongKey = try SecretKey.generate(username: username).srpPassword(passphrase: passphrase)
        for bad in [wrongPassphrase, wrongKey] {
            let failure = await status { _ = try await auth.login(username: username, password: bad) }
            #expect(failure?.code == .unauthenticated)
            #expect(failure?.message == loginFailedMessage)
        }

        // The username is taken now; an unreserved one cannot be registered.
        let taken = await status { _ = try await auth.register(username: username, password: srpPassword) }
        #expect(taken?.code == .alreadyExists)
        let unreserved = await status { _ = try await auth.register(username: "neverReserved1", password: srpPassword) }
        #expect(unreserved?.code == .failedPrecondition)
        #expect(unreserved?.details["field"] == "username")

        // Nothing secret in plain form: only the token's SHA-256, no password, no challenge left behind.
        let dump = try database.dump(schema: "auth")
        #expect(!dump.contains(login.token))
        #expect(dump.contains(Hex.encode(HashFunction.sha256.hash(Array(login.token.utf8)))))
        #expect(!dump.contains(Hex.encode(srpPassword)))
        #expect(!dump.contains(passphrase))
        #expect(!dump.contains(secretKey.secretKey))
        #expect(try database.plaintextScan(for: [login.token, passphrase, secretKey.secretKey]) == [])
        let db = try database.connect()
        defer { db.close() }
        #expect(try db.query("SELECT count(*) FROM auth.login_challenges WHERE username = $1", username)[0].decode(Int.self, at: 0) == 0)
        #expect(!service.log().contains(login.token))
    }

    @Test func theDatabaseDoesNotHoldTheChallengesPrivateValue() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let (_, challenge, _) = try await auth.prepareLogin(username: user.username, password: password("pw"))
        let db = try database.connect()
        defer { db.close() }
        let row = try #require(try db.query(
            """
            SELECT c.srp_b_nonce, c.srp_b, u.srp_verifier FROM auth.login_challenges c JOIN auth.users u USING (user_id)
            WHERE c.login_id = $1::uuid
            """, challenge.loginID).first)
        let stored = try row.decode([UInt8].self, at: 0)
        let B = try row.decode([UInt8].self, at: 1)
        let verifier = try row.decode([UInt8].self, at: 2)
        #expect(Hex.encode(B) == challenge.srpBHex)
        // Were the stored value b, then B = k·v + g^b: it is not, so a reader of the schema cannot finish the login.
        let fromStored = try srp.pad(try srp.serverPublicKey(b: BigNumber(bytes: stored), verifier: BigNumber(bytes: verifier)))
        #expect(fromStored != B)
    }

    @Test func challengesAreSingleUseAndExpire() async throws {
        // The default TTL (a minute): the expiry below is made in the database, not waited for, so a loaded machine
        // cannot make a live challenge expire before its FinishLogin.
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))

        // Replay of a successful FinishLogin.
        let (_, challenge, m1) = try await auth.prepareLogin(username: user.username, password: password("pw"))
        _ = try await auth.finish(loginID: challenge.loginID, m1Hex: m1)
        let replay = await status { _ = try await auth.finish(loginID: challenge.loginID, m1Hex: m1) }
        #expect(replay?.code == .unauthenticated)
        #expect(replay?.message == loginFailedMessage)

        // A wrong proof consumes the challenge too: the right one afterwards fails.
        let (_, second, rightM1) = try await auth.prepareLogin(username: user.username, password: password("pw"))
        let wrong = await status { _ = try await auth.finish(loginID: second.loginID, m1Hex: String(repeating: "0", count: 64)) }
        #expect(wrong?.code == .unauthenticated)
        let after = await status { _ = try await auth.finish(loginID: second.loginID, m1Hex: rightM1) }
        #expect(after?.code == .unauthenticated)

        // Expired: the right proof after the TTL (moved into the past as the service's own role could).
        let (_, third, thirdM1) = try await auth.prepareLogin(username: user.username, password: password("pw"))
        let db = try database.connect()
        defer { db.close() }
        let moved = try db.execute(
            "UPDATE auth.login_challenges SET expires_at = now() - interval '1 second' WHERE login_id = $1::uuid",
            third.loginID)
        #expect(moved == 1)
        let expired = await status { _ = try await auth.finish(loginID: third.loginID, m1Hex: thirdM1) }
        #expect(expired?.code == .unauthenticated)
        #expect(expired?.message == loginFailedMessage)

        // An id that never existed.
        let unknown = await status { _ = try await auth.finish(loginID: UUID().uuidString.lowercased(), m1Hex: thirdM1) }
        #expect(unknown?.code == .unauthenticated)
        _ = try await auth.login(username: user.username, password: password("pw"))
    }

    @Test func malformedFieldsAreInvalidArgumentNamingTheField() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack.auth
        let user = try await auth.signUp(password: password("pw"))
        let goodA = Hex.encode(try SRPClient(username: user.username, password: password("pw")).publicKey)
        let nHex = try srp.group.N.hex(paddedTo: 512).lowercased()

        let badA = [
            String(repeating: "0", count: 512),  // A = 0
            nHex,  // A = N ≡ 0
            String(repeating: "f", count: 512),  // A > N
            goodA.uppercased(),  // not lowercase
            String(goodA.dropLast(2)),  // short
            goodA + "00",  // long
            String(goodA.dropLast()) + "g",  // not hex
            "",
        ]
        for a in badA {
            let failure = await status { _ = try await auth.begin(username: user.username, aHex: a) }
            #expect(failure?.code == .invalidArgument, "A = \(a.prefix(12))…")
            #expect(failure?.details["field"] == "srp_a_hex")
        }
        for name in ["", String(repeating: "a", count: 65), "dot.ted", "spa ce"] {
            let failure = await status { _ = try await auth.begin(username: name, aHex: goodA) }
            #expect(failure?.code == .invalidArgument)
            #expect(failure?.details["field"] == "username")
        }
        let challenge = try await auth.begin(username: user.username, aHex: goodA)
        for m1 in ["", String(repeating: "0", count: 62), String(repeating: "0", count: 66), String(repeating: "A", count: 64)] {
            let failure = await status { _ = try await auth.finish(loginID: challenge.loginID, m1Hex: m1) }
            #expect(failure?.code == .invalidArgument)
            #expect(failure?.details["field"] == "srp_m1_hex")
        }
        for id in ["", "not-a-uuid", challenge.loginID + "0"] {
            let failure = await status { _ = try await auth.finish(loginID: id, m1Hex: String(repeating: "0", count: 64)) }
            #expect(failure?.code == .invalidArgument)
            #expect(failure?.details["field"] == "login_id")
        }

        // Register and ChangeVerifier: salt exactly 32 bytes, verifier a group element.
        let validVerifier = Hex.encode(try srp.verifier(salt: [UInt8](repeating: 1, count: 32), username: "x", password: [1]))
        let cases: [(salt: String, verifier: String, field: String)] = [
            (String(repeating: "ab", count: 31), validVerifier, "srp_salt_hex"),
            (String(repeating: "ab", count: 33), validVerifier, "srp_salt_hex"),
            (String(repeating: "AB", count: 32), validVerifier, "srp_salt_hex"),
            (String(repeating: "ab", count: 32), String(repeating: "0", count: 512), "srp_verifier_hex"),
            (String(repeating: "ab", count: 32), nHex, "srp_verifier_hex"),
            (String(repeating: "ab", count: 32), String(validVerifier.dropLast(2)), "srp_verifier_hex"),
            (String(repeating: "ab", count: 32), "zz" + String(validVerifier.dropFirst(2)), "srp_verifier_hex"),
        ]
        let reserved = try await auth.reserve()
        let session = try await auth.login(username: user.username, password: password("pw"))
        for item in cases {
            var register = Svx_Auth_V1_RegisterRequest()
            register.username = reserved
            register.srpSaltHex = item.salt
            register.srpVerifierHex = item.verifier
            let failure = await status { _ = try await auth.client.call(AuthRPC.register, register, timeout: .seconds(5)) }
            #expect(failure?.code == .invalidArgument)
            #expect(failure?.details["field"] == item.field)

            var change = Svx_Auth_V1_ChangeVerifierRequest()
            change.srpSaltHex = item.salt
            change.srpVerifierHex = item.verifier
            let changeFailure = await status {
                _ = try await auth.client.call(AuthRPC.changeVerifier, change, sessionToken: session.token, timeout: .seconds(5))
            }
            #expect(changeFailure?.code == .invalidArgument)
            #expect(changeFailure?.details["field"] == item.field)
        }
        var revoke = Svx_Auth_V1_RevokeSessionRequest()
        revoke.sessionID = "nope"
        let revokeFailure = await status {
            _ = try await auth.client.call(AuthRPC.revokeSession, revoke, sessionToken: session.token, timeout: .seconds(5))
        }
        #expect(revokeFailure?.details["field"] == "session_id")
        // The reserved username is still usable after all those refusals (no partial write).
        _ = try await auth.register(username: reserved, password: password("pw2"))
    }

    @Test func unknownAndKnownUsernamesLookTheSame() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack.auth
        let known = try await auth.signUp(password: password("pw"))
        let unknown = "Nobody" + String(known.username.dropFirst(6))

        func shape(_ response: Svx_Auth_V1_BeginLoginResponse) -> [Int] {
            [response.loginID.count, response.srpSaltHex.count, response.srpBHex.count]
        }
        func isLowerHex(_ text: String) -> Bool { text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }

        let a = Hex.encode(try SRPClient(username: "x", password: [1]).publicKey)
        let knownChallenge = try await auth.begin(username: known.username, aHex: a)
        let unknownChallenge = try await auth.begin(username: unknown, aHex: a)
        let unknownAgain = try await auth.begin(username: unknown, aHex: a)
        #expect(shape(knownChallenge) == [36, 64, 512])
        #expect(shape(unknownChallenge) == shape(knownChallenge))
        for response in [knownChallenge, unknownChallenge] {
            #expect(isLowerHex(response.srpSaltHex) && isLowerHex(response.srpBHex))
            #expect(response.loginID == response.loginID.lowercased())
        }
        // The fake salt is stable (a real user's salt does not change between attempts either); B is fresh.
        #expect(unknownAgain.srpSaltHex == unknownChallenge.srpSaltHex)
        #expect(unknownAgain.srpBHex != unknownChallenge.srpBHex)
        #expect(unknownChallenge.srpSaltHex != knownChallenge.srpSaltHex)

        // Finishing: the same status and message for the unknown user and for a wrong passphrase.
        var client = try SRPClient(username: unknown, password: password("guess"))
        let fake = try await auth.begin(username: unknown, aHex: Hex.encode(client.publicKey))
        let m1 = try client.respond(salt: try Hex.decode(fake.srpSaltHex), serverPublicKey: try Hex.decode(fake.srpBHex))
        let unknownFailure = await status { _ = try await auth.finish(loginID: fake.loginID, m1Hex: Hex.encode(m1)) }
        let wrongFailure = await status { _ = try await auth.login(username: known.username, password: password("guess")) }
        #expect(unknownFailure != nil)
        #expect(unknownFailure == wrongFailure)
        #expect(unknownFailure?.message == loginFailedMessage)
    }

    @Test func failedLoginsAreThrottledPerUsernameAndTheThrottleLifts() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            // No token comes back during the test however loaded the machine: the bucket is aged in the database below.
            "SVX_AUTH_THROTTLE_BURST": "2", "SVX_AUTH_THROTTLE_REFILL_MS": "600000",
            "SVX_AUTH_THROTTLE_CALLER_BURST": "1000",
        ]])
        defer { stack.stop() }
        let auth = stack.auth
        let victim = try await auth.signUp(password: password("right"))
        let other = try await auth.signUp(password: password("other"))

        // Successes take nothing: more logins than the burst all go through.
        for _ in 0..<4 { _ = try await auth.login(username: victim.username, password: password("right")) }

        for _ in 0..<2 {
            let failure = await status { _ = try await auth.login(username: victim.username, password: password("wrong")) }
            #expect(failure?.code == .unauthenticated)
        }
        let throttled = await status { _ = try await auth.login(username: victim.username, password: password("right")) }
        #expect(throttled?.code == .resourceExhausted)
        let retryAfter = Int(throttled?.details["retry_after_ms"] ?? "") ?? -1
        #expect(retryAfter > 0 && retryAfter <= 600_000)

        // Another username is not throttled by the victim's failures: its login goes through (a throttled one is refused
        // RESOURCE_EXHAUSTED at once, so no wall-clock bound is needed to tell them apart).
        _ = try await auth.login(username: other.username, password: password("other"))

        // After retry_after_ms (the bucket's time moved back by that much, as the database clock judges it), the
        // right passphrase works again.
        let aged = try stack.database.count("""
            WITH aged AS (
                UPDATE auth.throttle_buckets SET updated_at = updated_at - ($2::int + 100) * interval '1 millisecond'
                WHERE bucket_key = 'u:' || $1 RETURNING 1)
            SELECT count(*)::int FROM aged
            """, victim.username, retryAfter)
        #expect(aged == 1)
        _ = try await auth.login(username: victim.username, password: password("right"))
    }
}
