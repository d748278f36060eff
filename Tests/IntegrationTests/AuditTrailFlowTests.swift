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

    static func types(_ stack: TestStack, _ session: AuthenticatedSession, after seq: UInt64) async throws -> [String] {
        try await events(stack, session, since: seq).events.map(\.type)
    }

    @Test func sessionsPassphraseChangesAndRecoveriesAreRecordedOnceInTheirTransactions() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: RecoveryFlowTests.noDelay)
        defer { stack.stop() }
        let recovery = RecoveryFlowTests.recovery(stack)
        let (secretKey, session, keys, recoveryKey) = try await RecoveryFlowTests.enrolledUser(stack, "first passphrase")
        var seen = try await Self.events(stack, session).headSeq
        // (sign-up's events, then) recovery.enabled is the last one.
        #expect(try await Self.events(stack, session).events.last?.type == "recovery.enabled")

        // A second session, revoked from the first: once; a second revoke of it changes nothing and records nothing.
        let (second, _) = try await stack.logIn(secretKey, "first passphrase")
        try await stack.account.revokeSession(id: second.sessionID, using: session)
        #expect(await status { try await stack.account.revokeSession(id: second.sessionID, using: session) }?.code == .notFound)
        let revoked = try await Self.events(stack, session, since: seen)
        #expect(revoked.events.map(\.type) == ["login.succeeded", "session.revoked"])
        #expect(revoked.events[1].subjectType == "session" && revoked.events[1].subjectID == second.sessionID)
        #expect(revoked.events[1].sessionID == session.sessionID)
        seen = revoked.headSeq

        // A recovery begun and cancelled, begun again and completed.
        let pending = try await recovery.begin(recoveryKey: recoveryKey)
        #expect(try await recovery.cancel(session: session))
        #expect(try await !recovery.cancel(session: session))  // nothing pending: nothing recorded
        let cancelled = try await Self.events(stack, session, since: seen)
        #expect(cancelled.events.map(\.type) == ["recovery.started", "recovery.cancelled"])
        #expect(cancelled.events[0].sessionID == pending.session.sessionID)
        #expect(cancelled.events[1].subjectID == pending.session.sessionID && cancelled.events[1].details["by"] == "CancelRecovery")
        seen = cancelled.headSeq
        let again = try await recovery.begin(recoveryKey: recoveryKey)
        let completed = try await recovery.complete(
            again, recoveryKey: recoveryKey, newPassphrase: "second passphrase", keepSecretKey: { _ in })
        let (afterRecovery, _) = try await stack.logIn(completed.secretKey, "second passphrase")
        let recovered = try await Self.events(stack, afterRecovery, since: seen)
        // complete = stage at the Keystore, CompleteRecovery at Auth, then a login (the SDK's own).
        #expect(recovered.events.map(\.type).prefix(2) == ["recovery.started", "recovery.completed"])
        #expect(recovered.events[1].details["credential_generation"] != nil)
        #expect(recovered.events.dropFirst(2).allSatisfy { $0.type == "login.succeeded" })
        seen = recovered.headSeq

        // A passphrase change: once, with the generation it moved to.
        let changed = try await stack.passphraseChange.run(
            secretKey: completed.secretKey, currentPassphrase: "second passphrase", newPassphrase: "third passphrase")
        let change = try await Self.events(stack, changed.session, since: seen)
        #expect(change.events.map(\.type) == ["login.succeeded", "passphrase.changed"])
        #expect(change.events[1].details["revoked_sessions"] != nil && change.events[1].sessionID == changed.session.sessionID)
        // A refused change (a wrong current passphrase) records nothing.
        let refused = await status {
            _ = try await stack.passphraseChange.run(
                secretKey: completed.secretKey, currentPassphrase: "not it", newPassphrase: "fourth passphrase")
        }
        #expect(refused != nil)
        let final = try await Self.events(stack, changed.session, since: change.headSeq)
        #expect(final.events.allSatisfy { $0.type == "login.failed" }, "\(final.events.map(\.type))")
        #expect(Self.verify(try await Self.events(stack, changed.session), userID: session.userID) == nil)
        _ = keys
    }

    @Test func aCheckpointSignedByTheUsersKeyIsAppendedAndAMismatchedOneRefused() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (_, session, keys) = try await stack.signUp("a checkpointing passphrase")
        let listed = try await Self.events(stack, session)
        let head = try #require(listed.events.last)
        let signer = try RSAPrivateKey.generate(bits: 2048)
        let signer4096 = try RSAPrivateKey.generate(bits: 4096)
        _ = keys
        func request(seq: UInt64, head hash: Data, key: RSAPrivateKey, message: [UInt8]? = nil) throws
            -> Svx_Audit_V1_AppendCheckpointRequest
        {
            var request = Svx_Audit_V1_AppendCheckpointRequest()
            request.seq = seq
            request.headHash = hash
            request.signature = try Cryppo.sign(
                message ?? AuditChain.checkpointMessage(service: "auth", userID: session.userID, seq: seq, head: Array(hash)),
                privateKey: key)
            request.publicKeySha256 = Hex.encode(HashFunction.sha256.hash(Array(try key.publicKeyPEM.utf8)))
            return request
        }
        func append(_ request: Svx_Audit_V1_AppendCheckpointRequest) async throws -> Svx_Audit_V1_AppendCheckpointResponse {
            try await stack.client(.auth).call(AuditRPC.appendCheckpoint, request, sessionToken: session.token, timeout: .seconds(10))
        }

        // Refused: a head the chain does not have, a seq past the head, a signature over another message or by a
        // 2048-bit key, a malformed key digest. Nothing is appended.
        let wrongHash = Data(repeating: 7, count: 32)
        let mismatch = await status { _ = try await append(try request(seq: head.seq, head: wrongHash, key: signer4096)) }
        #expect(mismatch?.code == .failedPrecondition && mismatch?.details["reason"] == "checkpoint_mismatch")
        let future = await status { _ = try await append(try request(seq: head.seq + 5, head: head.entryHash, key: signer4096)) }
        #expect(future?.details["reason"] == "checkpoint_mismatch")
        let otherMessage = await status {
            _ = try await append(try request(seq: head.seq, head: head.entryHash, key: signer4096, message: Array("hello".utf8)))
        }
        #expect(otherMessage?.code == .invalidArgument && otherMessage?.details["field"] == "signature")
        let small = await status { _ = try await append(try request(seq: head.seq, head: head.entryHash, key: signer)) }
        #expect(small?.code == .invalidArgument && small?.details["field"] == "signature")
        var badDigest = try request(seq: head.seq, head: head.entryHash, key: signer4096)
        badDigest.publicKeySha256 = "ABC"
        #expect(await status { _ = try await append(badDigest) }?.details["field"] == "public_key_sha256")
        #expect(try await Self.events(stack, session).headSeq == listed.headSeq)

        // Accepted: appended as the next event, and its signature verifies with the signer's public key.
        let accepted = try await append(try request(seq: head.seq, head: head.entryHash, key: signer4096))
        #expect(accepted.event.seq == head.seq + 1 && accepted.event.type == "audit.checkpoint")
        #expect(accepted.event.subjectType == "audit_event" && accepted.event.subjectID == String(head.seq))
        let signature = try #require(accepted.event.details["signature"])
        #expect(try Cryppo.verify(signature, publicKey: try signer4096.publicKey)
            == AuditChain.checkpointMessage(service: "auth", userID: session.userID, seq: head.seq, head: Array(head.entryHash)))
        let after = try await Self.events(stack, session)
        #expect(after.headSeq == head.seq + 1 && Self.verify(after, userID: session.userID) == nil)
        #expect(after.anchorSeq == 0 && after.anchorHash.isEmpty)

        // A chain retention pruned whole is its anchor: a checkpoint of the anchor is accepted (done here as the database
        // owner, as the hourly prune would after a year without events).
        let owner = try stack.database.connect()
        defer { owner.close() }
        _ = try owner.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid", session.userID)
        _ = try owner.execute(
            "UPDATE auth.audit_heads SET anchor_seq = seq, anchor_hash = head_hash WHERE user_id = $1::uuid", session.userID)
        let anchored = try await append(try request(seq: after.headSeq, head: after.headHash, key: signer4096))
        #expect(anchored.event.seq == after.headSeq + 1 && anchored.event.subjectID == String(after.headSeq))
        let stale = await status { _ = try await append(try request(seq: head.seq, head: head.entryHash, key: signer4096)) }
        #expect(stale?.details["reason"] == "checkpoint_mismatch")
    }
}
