import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The SDK's ``AuditClient`` (issue #19) against real services on PostgreSQL: every chain read to its head, merged
/// by time, verified against the heads a device stored, checkpoints signed with the user's own `auth` key; and every
/// kind of tampering done as the database owner named by the verification. Auth's events are the ones relied on
/// (account.registered, login.succeeded/failed, logout); a service that keeps no trail yet answers UNIMPLEMENTED.
@Suite struct AuditClientTests {
    static let passphrase = "an audited passphrase"

    /// The SDK's audit client on every service of `stack`.
    static func audit(_ stack: TestStack) -> AuditClient {
        AuditClient(services: stack.services.map { ($0.rawValue, stack.client($0)) }, timeout: .seconds(10))
    }

    /// A user with five Auth events: account.registered, login.succeeded (sign-up), login.succeeded, login.failed,
    /// logout (of the second session); its keys open. `checkpoints`: an RSA-4096 `auth` keypair, as AppendCheckpoint
    /// wants (else 2048 bits, quicker to make).
    static func auditedUser(
        _ stack: TestStack, checkpoints: Bool = false
    ) async throws -> (session: AuthenticatedSession, keys: UnlockedKeys) {
        let signUp = try await stack.account.signUp(passphrase: passphrase)
        var keyring = stack.keyring
        if checkpoints { keyring.keypairBits = 4096 }
        let keys = try await keyring.unlock(
            session: signUp.session, pdk: try signUp.secretKey.passphraseDerivedKey(passphrase: passphrase))
        let second = try await stack.account.logIn(secretKey: signUp.secretKey, passphrase: passphrase)
        let failed = await status { _ = try await stack.account.logIn(secretKey: signUp.secretKey, passphrase: "wrong") }
        #expect(failed?.code == .unauthenticated)
        try await stack.account.logOut(second)
        return (signUp.session, keys)
    }

    static func authVerification(_ verification: AuditVerification) -> AuditServiceVerification? {
        verification.services.first { $0.service == "auth" }
    }

    static func authFailure(_ verification: AuditVerification) -> AuditFailure? {
        verification.failures.first { $0.service == "auth" }
    }

    // MARK: Listing and verifying

    @Test func listMergesTheChainsInOrderAndVerifyCheckpointAndVerifyAgainHold() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (session, keys) = try await Self.auditedUser(stack, checkpoints: true)
        let audit = Self.audit(stack)

        let listing = try await audit.list(session: session)
        let auth = listing.events.filter { $0.service == "auth" }
        #expect(auth.map(\.type) == ["account.registered", "login.succeeded", "login.succeeded", "login.failed", "logout"])
        #expect(auth.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(auth[1].sessionID == session.sessionID && auth.allSatisfy { !$0.peerAddress.isEmpty })
        // Merged by time, then service, then seq; every service either listed events or keeps no trail yet.
        #expect(listing.events == listing.events.sorted(by: AuditRecord.mergedOrder))
        #expect(zip(listing.events, listing.events.dropFirst()).allSatisfy {
            ($0.occurredAtMs, $0.service, $0.seq) < ($1.occurredAtMs, $1.service, $1.seq)
        })
        for service in stack.services where !listing.servicesWithoutTrail.contains(service.rawValue) {
            let seqs = listing.events.filter { $0.service == service.rawValue }.map(\.seq)
            #expect(seqs == seqs.sorted())
        }
        // --since keeps the events from then on.
        let since = auth[3].occurredAt
        let recent = try await audit.list(session: session, since: since)
        #expect(recent.events.allSatisfy { $0.occurredAtMs >= auth[3].occurredAtMs })
        let recentAuth = recent.events.filter { $0.service == "auth" }.map(\.seq)
        #expect(recentAuth == auth.filter { $0.occurredAtMs >= auth[3].occurredAtMs }.map(\.seq))
        #expect(recentAuth.contains(4) && recentAuth.contains(5) && !recentAuth.contains(1))
        #expect(try await audit.list(session: session, since: Date().addingTimeInterval(3_600)).events.isEmpty)

        // A first verification from nothing: every chain holds; Auth's head is its fifth event.
        let first = try await audit.verify(session: session, storedHeads: [:], keys: keys)
        #expect(first.isVerified, "\(first.failures)")
        #expect(first.newHeads["auth"]?.seq == 5)
        for service in first.services {
            switch service.state {
            case .verified, .notKept: break
            case .failed(let failure): Issue.record("\(failure)")
            }
        }

        // A checkpoint signs every head and becomes the new one; the next verification checks its signature.
        let checkpoints = try await audit.checkpoint(session: session, keys: keys, storedHeads: first.newHeads)
        #expect(checkpoints.verification.isVerified)
        #expect(checkpoints.appended["auth"]?.seq == 6 && checkpoints.newHeads["auth"] == checkpoints.appended["auth"])
        let events = try await audit.list(session: session).events.filter { $0.service == "auth" }
        let checkpoint = try #require(events.last)
        #expect(checkpoint.type == AuditClient.checkpointEventType && checkpoint.subjectType == "audit_event")
        #expect(checkpoint.subjectID == "5" && checkpoint.sessionID == session.sessionID)
        let pem = try keys.authPrivateKey.publicKeyPEM
        #expect(checkpoint.details["public_key_sha256"] == Hex.encode(HashFunction.sha256.hash(Array(pem.utf8))))
        let signature = try #require(checkpoint.details["signature"])
        let signed = try #require(try Cryppo.verify(signature, publicKey: try RSAPublicKey(pem: pem)))
        #expect(String(decoding: signed, as: UTF8.self).hasPrefix("svx-audit-checkpoint-v1|auth|\(session.userID)|5|"))

        let second = try await audit.verify(session: session, storedHeads: checkpoints.newHeads, keys: keys)
        #expect(second.isVerified, "\(second.failures)")
        #expect(Self.authVerification(second)?.checkpointsVerified == 1)
        #expect(second.newHeads["auth"] == checkpoints.newHeads["auth"])
        // Without the keys the chain still holds; the signature is left unchecked, and said so.
        let withoutKeys = try await audit.verify(session: session, storedHeads: checkpoints.newHeads, keys: nil)
        #expect(withoutKeys.isVerified && Self.authVerification(withoutKeys)?.checkpointsUnchecked == 1)
        #expect(Self.authVerification(withoutKeys)?.checkpointsVerified == 0)
        // Another user's keys do not vouch for this user's checkpoints.
        let (_, otherKeys) = try await Self.auditedUser(stack)
        let wrongKey = try await audit.verify(session: session, storedHeads: [:], keys: otherKeys)
        #expect(Self.authFailure(wrongKey)?.reason == .checkpointSignature && Self.authFailure(wrongKey)?.seq == 6)
    }

    @Test func anotherUserReadsOnlyItsOwnTrail() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let (alice, _) = try await Self.auditedUser(stack)
        let bob = try await stack.account.signUp(passphrase: "someone else")
        let audit = Self.audit(stack)
        let theirs = try await audit.list(session: bob.session)
        let auth = theirs.events.filter { $0.service == "auth" }
        #expect(auth.map(\.type) == ["account.registered", "login.succeeded"])
        #expect(auth[1].sessionID == bob.session.sessionID)
        #expect(!theirs.events.contains { $0.sessionID == alice.sessionID })
        #expect(try await audit.verify(session: bob.session, storedHeads: [:], keys: nil).isVerified)
        // Alice's heads mean nothing in Bob's chain: his seq 2 is not her seq 2.
        let aliceHeads = try await audit.verify(session: alice, storedHeads: [:], keys: nil).newHeads
        let mixed = try await audit.verify(session: bob.session, storedHeads: aliceHeads, keys: nil)
        #expect(Self.authFailure(mixed)?.reason == .headMissing)
    }

    // MARK: Tampering, as the database owner

    @Test func anEditedDeletedOrReorderedRowIsNamed() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let audit = Self.audit(stack)
        let db = try stack.database.connect()
        defer { db.close() }

        // Edited: the failed login made to look like a success.
        let (edited, editedKeys) = try await Self.auditedUser(stack)
        #expect(try db.execute(
            "UPDATE auth.audit_events SET type = 'login.succeeded' WHERE user_id = $1::uuid AND seq = 4", edited.userID) == 1)
        let afterEdit = try await audit.verify(session: edited, storedHeads: [:], keys: editedKeys)
        #expect(!afterEdit.isVerified)
        #expect(Self.authFailure(afterEdit) == AuditFailure(
            service: "auth", seq: 4, reason: .edited, message: "the event's fields do not give its hash: it was edited"))

        // Deleted: a middle row gone.
        let (deleted, _) = try await Self.auditedUser(stack)
        #expect(try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid AND seq = 3", deleted.userID) == 1)
        let afterDelete = try await audit.verify(session: deleted, storedHeads: [:], keys: nil)
        #expect(Self.authFailure(afterDelete)?.seq == 3 && Self.authFailure(afterDelete)?.reason == .gap)

        // Reordered: rows 2 and 3 swap their seq.
        let (swapped, _) = try await Self.auditedUser(stack)
        for (from, to) in [(2, 1000), (3, 2), (1000, 3)] {
            #expect(try db.execute(
                "UPDATE auth.audit_events SET seq = $2 WHERE user_id = $1::uuid AND seq = $3", swapped.userID, Int64(to),
                Int64(from)) == 1)
        }
        let afterSwap = try await audit.verify(session: swapped, storedHeads: [:], keys: nil)
        #expect(Self.authFailure(afterSwap)?.seq == 2 && Self.authFailure(afterSwap)?.reason == .brokenLink)

        // The tail withheld: the last row deleted, the head left as it was.
        let (tail, _) = try await Self.auditedUser(stack)
        #expect(try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid AND seq = 5", tail.userID) == 1)
        let afterTail = try await audit.verify(session: tail, storedHeads: [:], keys: nil)
        #expect(Self.authFailure(afterTail)?.seq == 5 && Self.authFailure(afterTail)?.reason == .headMismatch)
    }

    @Test func aTruncationBelowAStoredHeadOrAPruneNotAcceptedIsNamed() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let audit = Self.audit(stack)
        let db = try stack.database.connect()
        defer { db.close() }

        // The tail cut and the head moved back consistently: only the head a device stored tells.
        let (cut, _) = try await Self.auditedUser(stack)
        let stored = try await audit.verify(session: cut, storedHeads: [:], keys: nil).newHeads
        #expect(stored["auth"]?.seq == 5)
        let third = try Self.entryHash(db, userID: cut.userID, seq: 3)
        #expect(try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid AND seq > 3", cut.userID) == 2)
        _ = try db.execute(
            "UPDATE auth.audit_heads SET seq = 3, head_hash = $2 WHERE user_id = $1::uuid", cut.userID, third)
        #expect(try await audit.verify(session: cut, storedHeads: [:], keys: nil).isVerified)  // a fresh device cannot tell
        let afterCut = try await audit.verify(session: cut, storedHeads: stored, keys: nil)
        #expect(Self.authFailure(afterCut)?.seq == 5 && Self.authFailure(afterCut)?.reason == .headMissing)

        // A prune past the stored head (rows 1..5 gone, the anchor at 5): refused unless accepted; at the stored head
        // exactly, it holds.
        let (pruned, _) = try await Self.auditedUser(stack)
        let prunedHeads = try await audit.verify(session: pruned, storedHeads: [:], keys: nil).newHeads
        let fourth = try Self.entryHash(db, userID: pruned.userID, seq: 4)
        #expect(try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid AND seq <= 4", pruned.userID) == 4)
        _ = try db.execute(
            "UPDATE auth.audit_heads SET anchor_seq = 4, anchor_hash = $2 WHERE user_id = $1::uuid", pruned.userID, fourth)
        let atFour = AuditHead(seq: 4, hash: fourth)
        #expect(try await audit.verify(session: pruned, storedHeads: ["auth": atFour], keys: nil).isVerified)
        #expect(try await audit.verify(session: pruned, storedHeads: prunedHeads, keys: nil).isVerified)
        let fifth = try Self.entryHash(db, userID: pruned.userID, seq: 5)
        #expect(try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid AND seq = 5", pruned.userID) == 1)
        _ = try db.execute(
            "UPDATE auth.audit_heads SET anchor_seq = 5, anchor_hash = $2 WHERE user_id = $1::uuid", pruned.userID, fifth)
        let pastHead = try await audit.verify(session: pruned, storedHeads: ["auth": atFour], keys: nil)
        #expect(Self.authFailure(pastHead)?.seq == 4 && Self.authFailure(pastHead)?.reason == .prunedPastHead)
        #expect(try await audit.verify(session: pruned, storedHeads: ["auth": atFour], keys: nil, acceptPrunedHeads: true)
            .isVerified)
        // An anchor that is not the hash of the last pruned event breaks the link to the first event kept.
        let (forgedAnchor, _) = try await Self.auditedUser(stack)
        #expect(try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid AND seq <= 2", forgedAnchor.userID) == 2)
        _ = try db.execute(
            "UPDATE auth.audit_heads SET anchor_seq = 2, anchor_hash = $2 WHERE user_id = $1::uuid", forgedAnchor.userID,
            [UInt8](repeating: 7, count: 32))
        let afterAnchor = try await audit.verify(session: forgedAnchor, storedHeads: [:], keys: nil)
        #expect(Self.authFailure(afterAnchor)?.seq == 3 && Self.authFailure(afterAnchor)?.reason == .brokenLink)
    }

    @Test func historyRewrittenBelowACheckpointOrAForgedCheckpointIsNamed() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let audit = Self.audit(stack)
        let db = try stack.database.connect()
        defer { db.close() }

        // A checkpoint over event 5, then one more login (event 7).
        let (user, keys) = try await Self.auditedUser(stack, checkpoints: true)
        let checkpointed = try await audit.checkpoint(session: user, keys: keys, storedHeads: [:])
        #expect(checkpointed.appended["auth"]?.seq == 6)
        let stored = checkpointed.newHeads

        // The failed login (event 4) removed and the whole chain recomputed from the genesis, as a server that
        // controls its database could, the checkpoint (now event 5) made to point at the old event 5 (now 4): every
        // link holds, but what it signs is not the chain's event 4.
        try Self.rewrite(db, userID: user.userID) { entries in
            entries.filter { $0.seq != 4 }.map { entry in
                var moved = entry
                if entry.type == AuditClient.checkpointEventType { moved.subjectID = "4" }
                return moved
            }
        }
        let fresh = try await audit.verify(session: user, storedHeads: [:], keys: keys)
        #expect(Self.authFailure(fresh)?.seq == 5 && Self.authFailure(fresh)?.reason == .checkpointMismatch)
        // Without the keys too: the signed head is in the signed data.
        let freshWithoutKeys = try await audit.verify(session: user, storedHeads: [:], keys: nil)
        #expect(Self.authFailure(freshWithoutKeys)?.reason == .checkpointMismatch)
        // The device that stored the checkpoint's head sees it gone.
        let device = try await audit.verify(session: user, storedHeads: stored, keys: keys)
        #expect(Self.authFailure(device)?.seq == 6 && Self.authFailure(device)?.reason == .headMissing)

        // A checkpoint whose signature was altered in the database: as a plain edit, the hash names it...
        let (other, otherKeys) = try await Self.auditedUser(stack, checkpoints: true)
        #expect(try await audit.checkpoint(session: other, keys: otherKeys, storedHeads: [:]).appended["auth"]?.seq == 6)
        let original = try #require(
            try await audit.list(session: other).events.first { $0.service == "auth" && $0.seq == 6 }?.details["signature"])
        var forged = try CryppoSignature(parsing: original)
        forged.signature[10] ^= 0x01
        _ = try db.execute(
            """
            UPDATE auth.audit_events SET details = jsonb_set(details, '{signature}', to_jsonb($2::text))
            WHERE user_id = $1::uuid AND seq = 6
            """, other.userID, forged.serialized)
        let edited = try await audit.verify(session: other, storedHeads: [:], keys: otherKeys)
        #expect(Self.authFailure(edited)?.seq == 6 && Self.authFailure(edited)?.reason == .edited)
        // ... and with the chain recomputed around it, the signature check does.
        try Self.rewrite(db, userID: other.userID) { $0 }
        let rechained = try await audit.verify(session: other, storedHeads: [:], keys: otherKeys)
        #expect(Self.authFailure(rechained)?.seq == 6 && Self.authFailure(rechained)?.reason == .checkpointSignature)
        // A checkpoint signed by another key (someone else's, with its own digest) is not the user's.
        let (_, strangerKeys) = try await Self.auditedUser(stack)
        let strangerPEM = try strangerKeys.authPrivateKey.publicKeyPEM
        let message = forged.data
        try Self.rewrite(db, userID: other.userID) { entries in
            entries.map { entry in
                guard entry.seq == 6 else { return entry }
                var changed = entry
                changed.details["signature"] = try! Cryppo.sign(message, privateKey: strangerKeys.authPrivateKey)
                changed.details["public_key_sha256"] = Hex.encode(HashFunction.sha256.hash(Array(strangerPEM.utf8)))
                return changed
            }
        }
        let stranger = try await audit.verify(session: other, storedHeads: [:], keys: otherKeys)
        #expect(Self.authFailure(stranger)?.seq == 6 && Self.authFailure(stranger)?.reason == .checkpointSignature)
        // A broken chain is never signed.
        let refused = try await audit.checkpoint(session: other, keys: otherKeys, storedHeads: [:])
        #expect(!refused.verification.isVerified && refused.appended.isEmpty && refused.newHeads.isEmpty)
        #expect(try await audit.list(session: other).events.filter { $0.service == "auth" }.count == 6)
    }

    // MARK: The command line

    @Test func theCommandLineListsVerifiesCheckpointsAndNamesAnEditedRow() async throws {
        let stack = try await TestStack.start(Set(TestService.allCases))
        defer { stack.stop() }
        let cli = try stack.commandLine()
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = Self.passphrase
        let signUp = try await ChildProcess.runSeparately(cli.svx, ["signup", "--json"], environment: environment, timeout: .seconds(120))
        #expect(signUp.status == 0, "\(signUp.stdout)\(signUp.stderr)")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(signUp.stdout.utf8)) as? [String: Any])
        environment["SVX_SECRET_KEY"] = try #require(fields["secret_key"] as? String)
        let userID = try #require(fields["user_id"] as? String)
        let login = try await ChildProcess.run(cli.svx, ["login"], environment: environment, timeout: .seconds(60))
        #expect(login.status == 0, "\(login.output)")
        var wrong = environment
        wrong["SVX_PASSPHRASE"] = "not the passphrase"
        #expect(try await ChildProcess.run(cli.svx, ["login"], environment: wrong, timeout: .seconds(60)).status != 0)

        let list = try await ChildProcess.runSeparately(cli.svx, ["audit", "list", "--json"], environment: environment, timeout: .seconds(60))
        #expect(list.status == 0, "\(list.stdout)\(list.stderr)")
        let events = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        let authTypes = events.filter { $0["service"] as? String == "auth" }.compactMap { $0["type"] as? String }
        #expect(authTypes == ["account.registered", "login.succeeded", "login.succeeded", "login.failed"])
        let times = events.compactMap { $0["occurred_at_ms"] as? Int }
        #expect(times.count == events.count && times == times.sorted())
        let human = try await ChildProcess.run(cli.svx, ["audit", "list", "--since", "1h"], environment: environment, timeout: .seconds(60))
        #expect(human.status == 0 && human.output.contains("login.failed"), "\(human.output)")
        let badSince = try await ChildProcess.run(cli.svx, ["audit", "list", "--since", "yesterday"], environment: environment)
        #expect(badSince.status != 0 && badSince.output.contains("--since"), "\(badSince.output)")

        let verify = try await ChildProcess.run(cli.svx, ["audit", "verify"], environment: environment, timeout: .seconds(60))
        #expect(verify.status == 0 && verify.output.contains("verified"), "\(verify.output)")
        #expect(!verify.output.contains("NOT verified"))
        let headsFile = cli.home.appendingPathComponent("audit.json")
        let attributes = try FileManager.default.attributesOfItem(atPath: headsFile.path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let heads = try StoredAuditHeads(decoding: try Data(contentsOf: headsFile))
        #expect(heads.heads(userID: userID)["auth"]?.seq == 4)

        let checkpoint = try await ChildProcess.run(cli.svx, ["audit", "checkpoint"], environment: environment, timeout: .seconds(60))
        #expect(checkpoint.status == 0 && checkpoint.output.contains("auth: signed event 4"), "\(checkpoint.output)")
        #expect(try StoredAuditHeads(decoding: try Data(contentsOf: headsFile)).heads(userID: userID)["auth"]?.seq == 5)
        let again = try await ChildProcess.runSeparately(cli.svx, ["audit", "verify", "--json"], environment: environment, timeout: .seconds(60))
        #expect(again.status == 0, "\(again.stdout)\(again.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(report["verified"] as? Bool == true)
        let authReport = (report["services"] as? [[String: Any]])?.first { $0["service"] as? String == "auth" }
        #expect(authReport?["checkpoints_verified"] as? Int == 1 && authReport?["head_seq"] as? Int == 5)

        // A row edited in the database: verify names it, exits 1, and keeps the heads it had.
        let before = try Data(contentsOf: headsFile)
        let db = try stack.database.connect()
        defer { db.close() }
        #expect(try db.execute(
            "UPDATE auth.audit_events SET peer_address = '10.9.8.7' WHERE user_id = $1::uuid AND seq = 2", userID) == 1)
        let broken = try await ChildProcess.run(cli.svx, ["audit", "verify"], environment: environment, timeout: .seconds(60))
        #expect(broken.status == 1, "\(broken.output)")
        #expect(broken.output.contains("FAILED at event 2: edited") && broken.output.contains("NOT verified: auth event 2"),
            "\(broken.output)")
        #expect(try Data(contentsOf: headsFile) == before)
        let refused = try await ChildProcess.run(cli.svx, ["audit", "checkpoint"], environment: environment, timeout: .seconds(60))
        #expect(refused.status == 1 && refused.output.contains("NOT verified"), "\(refused.output)")
    }

    // MARK: Helpers

    static func entryHash(_ db: PostgresConnection, userID: String, seq: Int64) throws -> [UInt8] {
        try db.query("SELECT entry_hash FROM auth.audit_events WHERE user_id = $1::uuid AND seq = $2", userID, seq)[0]
            .decode([UInt8].self, at: 0)
    }

    /// What a server in control of its database could do: the user's Auth events read, changed by `change`, renumbered
    /// from 1, linked again from the genesis, and written back with the head moved.
    static func rewrite(
        _ db: PostgresConnection, userID: String, _ change: ([AuditEntry]) throws -> [AuditEntry]
    ) throws {
        let rows = try db.query(
            """
            SELECT seq, occurred_at_ms, type, session_id, peer_address, subject_type, subject_id, details::text
            FROM auth.audit_events WHERE user_id = $1::uuid ORDER BY seq
            """, userID)
        let entries = try rows.map { row in
            AuditEntry(
                userID: userID, seq: UInt64(try row.decode(Int64.self, at: 0)),
                occurredAtMs: UInt64(try row.decode(Int64.self, at: 1)), type: try row.decode(String.self, at: 2),
                sessionID: try row.decode(String.self, at: 3), peerAddress: try row.decode(String.self, at: 4),
                subjectType: try row.decode(String.self, at: 5), subjectID: try row.decode(String.self, at: 6),
                details: (try JSONSerialization.jsonObject(with: Data(try row.decode(String.self, at: 7).utf8))
                    as? [String: String]) ?? [:])
        }
        var previous = HashFunction.sha256.hash(AuditChain.genesisInput(service: "auth", userID: userID))
        var rewritten: [AuditEntry] = []
        for (index, entry) in try change(entries).enumerated() {
            var renumbered = entry
            renumbered.seq = UInt64(index + 1)
            let linked = AuditChain.linked(renumbered, after: previous, sha256: { HashFunction.sha256.hash($0) })
            rewritten.append(linked)
            previous = linked.entryHash
        }
        try db.transaction { db in
            _ = try db.execute("DELETE FROM auth.audit_events WHERE user_id = $1::uuid", userID)
            for entry in rewritten {
                let details = try JSONSerialization.data(withJSONObject: entry.details, options: [.sortedKeys])
                _ = try db.execute(
                    """
                    INSERT INTO auth.audit_events (user_id, seq, occurred_at_ms, type, session_id, peer_address,
                                                   subject_type, subject_id, details, prev_hash, entry_hash)
                    VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)
                    """, userID, Int64(entry.seq), Int64(entry.occurredAtMs), entry.type, entry.sessionID,
                    entry.peerAddress, entry.subjectType, entry.subjectID, String(decoding: details, as: UTF8.self),
                    entry.prevHash, entry.entryHash)
            }
            _ = try db.execute(
                "UPDATE auth.audit_heads SET seq = $2, head_hash = $3 WHERE user_id = $1::uuid", userID,
                Int64(rewritten.count), previous)
        }
    }
}
