import Cryppo
import Foundation
import SVXClient
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// The client side of Sharing I (issue 15; sharing.md §2.2, §2.7, §4 T1-T2) through real processes: the SDK's
    /// `SharingClient` and the `svx` binary against Auth, Keystore and Sharing on one database. The server-side
    /// attacks are played by editing the `sharing` schema as the service's own role could. One test at a time with the
    /// other Sharing suites, on their stacks (``SharingIntegrationTests/stack(environment:)``).
    @Suite struct SharingClientTests {
        /// Connection keypairs of the SDK in these tests: 2048 bits, the Keystore's minimum (4096, the product's, takes
        /// seconds a key; the `svx` binary makes those).
        static let keypairBits = 2048

        /// A user with the whole key hierarchy (KEK, private DEK, account keypair) and its sharing client.
        struct Member {
            let secretKey: SecretKey
            let passphrase: String
            let session: AuthenticatedSession
            let keys: UnlockedKeys
            let sharing: SharingClient
            var userID: String { session.userID }
            var username: String { session.username }
        }

        static func member(_ stack: TestStack, _ passphrase: String = "a sharing passphrase") async throws -> Member {
            let (secretKey, session, keys) = try await stack.signUp(passphrase)
            return Member(
                secretKey: secretKey, passphrase: passphrase, session: session, keys: keys,
                sharing: SharingClient(
                    sharing: stack.client(.sharing), keyring: stack.keyring, timeout: .seconds(60), keypairBits: keypairBits))
        }

        /// Alice invites Bob, Bob accepts: both sides' connections.
        static func connect(
            _ alice: Member, _ bob: Member, aliceCalls: String = "Bob Builder 4242", bobCalls: String = "Alice Liddell 4242"
        ) async throws -> (CreatedInvitation, SharingConnection, SharingConnection) {
            let created = try await alice.sharing.createInvitation(session: alice.session, keys: alice.keys, name: aliceCalls)
            let bobSide = try await bob.sharing.acceptInvitation(session: bob.session, keys: bob.keys, code: created.code, name: bobCalls)
            let aliceSide = try await alice.sharing.connection(
                session: alice.session, keys: alice.keys, id: try #require(
                    try await alice.sharing.connections(session: alice.session, keys: alice.keys).first?.id))
            return (created, aliceSide, bobSide)
        }

        /// Runs an UPDATE on the `sharing` schema as the Sharing service's own role (what a compromised server can do).
        static func asSharingService(_ stack: TestStack, _ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> Int {
            let db = try stack.database.connect(role: "svx_sharing")
            defer { db.close() }
            return try db.execute(sql, parameters: parameters)
        }

        static let mallory = try! RSAPrivateKey.generate(bits: 2048)

        // MARK: The SDK

        /// sharing.md §6: the SDK refuses to delete a keypair that a pending invitation or an active connection
        /// publishes (the Keystore cannot know), naming how many; once nothing uses it, it goes. A keypair nothing
        /// publishes is deleted at once.
        @Test func aKeypairThatAConnectionOrPendingInvitationUsesIsNotDeleted() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let keyring = stack.keyring
            func keypairIDs(_ member: Member) async throws -> Set<String> {
                Set(try await keyring.inventory(session: member.session).keypairs.map(\.id))
            }
            func refusal(_ member: Member, _ id: String) async -> SVXClientError? {
                do {
                    try await keyring.deleteKeypair(session: member.session, id: id, sharing: member.sharing)
                    return nil
                } catch {
                    return error as? SVXClientError
                }
            }

            // A keypair no connection uses.
            let spare = try await keyring.createKeypair(
                session: alice.session, keys: alice.keys, bits: Self.keypairBits, metadata: ["purpose": "test"])
            try await keyring.deleteKeypair(session: alice.session, id: spare.id, sharing: alice.sharing)
            #expect(try await !keypairIDs(alice).contains(spare.id))

            // A pending invitation publishes Alice's connection keypair.
            let created = try await alice.sharing.createInvitation(session: alice.session, keys: alice.keys, name: "Bob")
            let aliceKeypair = try await keyring.connectionKeypair(
                session: alice.session, keys: alice.keys, bits: Self.keypairBits, metadata: [:])
            #expect(try await alice.sharing.keypairUse(session: alice.session, keypairID: aliceKeypair.id)
                == KeypairUse(activeConnectionIDs: [], pendingInvitationIDs: [created.invitation.id]))
            let pending = await refusal(alice, aliceKeypair.id)
            #expect(pending?.code == .keypairInUse)
            #expect(pending?.message.contains("in use by 1 pending invitation") == true, "\(String(describing: pending))")
            #expect(try await keypairIDs(alice).contains(aliceKeypair.id))

            // Accepted: an active connection on each side uses each side's keypair.
            _ = try await bob.sharing.acceptInvitation(session: bob.session, keys: bob.keys, code: created.code, name: "Alice")
            let bobKeypair = try await keyring.connectionKeypair(
                session: bob.session, keys: bob.keys, bits: Self.keypairBits, metadata: [:])
            for (member, id) in [(alice, aliceKeypair.id), (bob, bobKeypair.id)] {
                let refused = await refusal(member, id)
                #expect(refused?.code == .keypairInUse)
                #expect(refused?.message.contains("in use by 1 active connection:") == true, "\(String(describing: refused))")
                #expect(try await keypairIDs(member).contains(id))
            }
            // A second invitation as well: both are named.
            let second = try await alice.sharing.createInvitation(session: alice.session, keys: alice.keys, name: "Carol")
            let both = await refusal(alice, aliceKeypair.id)
            #expect(both?.message.contains("1 active connection and 1 pending invitation") == true, "\(String(describing: both))")
            _ = try await alice.sharing.revokeInvitation(session: alice.session, id: second.invitation.id)

            // The connection ended (by Bob): neither keypair is in use any more.
            let connection = try #require(try await bob.sharing.connections(session: bob.session, keys: bob.keys).first)
            _ = try await bob.sharing.deleteConnection(session: bob.session, id: connection.id)
            try await keyring.deleteKeypair(session: alice.session, id: aliceKeypair.id, sharing: alice.sharing)
            try await keyring.deleteKeypair(session: bob.session, id: bobKeypair.id, sharing: bob.sharing)
            #expect(try await !keypairIDs(alice).contains(aliceKeypair.id))
            #expect(try await !keypairIDs(bob).contains(bobKeypair.id))
        }

        @Test func inviteAcceptAndBothSidesSeeTheOtherVerifiedWithOneSafetyCode() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (created, aliceSide, bobSide) = try await Self.connect(alice, bob)

            #expect(created.invitation.state == .pending && created.invitation.recipientName == "Bob Builder 4242")
            #expect(created.code.inviterID == alice.userID && created.code.invitationID == created.invitation.id)
            #expect(aliceSide.otherUserID == bob.userID && aliceSide.otherUsername == bob.username)
            #expect(bobSide.otherUserID == alice.userID && bobSide.otherUsername == alice.username)
            #expect(aliceSide.name == "Bob Builder 4242" && bobSide.name == "Alice Liddell 4242")
            #expect(aliceSide.role == .inviter && bobSide.role == .invitee)
            #expect(aliceSide.state == .active && bobSide.state == .active)
            #expect(aliceSide.keyCheck == .verified && bobSide.keyCheck == .verified)
            let code = try #require(aliceSide.safetyCode)
            #expect(bobSide.safetyCode == code)
            #expect(aliceSide.ownKey == bobSide.otherKey && aliceSide.otherKey == bobSide.ownKey)

            // Each connection key is its owner's connection keypair in its own Keystore (external identifier
            // `connection`, purpose=connection, private key wrapped by the KEK), beside the account's `auth` keypair.
            for (member, side) in [(alice, aliceSide), (bob, bobSide)] {
                let inventory = try await stack.keyring.inventory(session: member.session)
                #expect(Set(inventory.keypairs.map(\.externalIdentifiers)) == [["auth"], ["connection"]])
                let keypair = try #require(inventory.keypairs.first { $0.id == side.ownKeypairID })
                #expect(keypair.metadata["purpose"] == "connection" && keypair.externalIdentifiers == ["connection"])
                #expect(try KeyFingerprint(publicKeyPEM: keypair.publicKeyPEM) == side.ownKey)
                let privatePEM = String(decoding: try Cryppo.decrypt(keypair.wrappedPrivateKey, key: member.keys.kek), as: UTF8.self)
                #expect(try KeyFingerprint(publicKey: try RSAPrivateKey(pem: privatePEM).publicKey) == side.ownKey)
            }

            // The invitation is accepted, by Bob, into Alice's side.
            let invitations = try await alice.sharing.invitations(session: alice.session, keys: alice.keys)
            #expect(invitations.count == 1)
            #expect(invitations.first?.state == .accepted && invitations.first?.acceptedByUsername == bob.username)
            #expect(invitations.first?.connectionID == aliceSide.id && invitations.first?.recipientName == "Bob Builder 4242")

            // Another device of Alice's (a new session, the same keys) checks the connection again from what is stored.
            let again = try await stack.account.logIn(secretKey: alice.secretKey, passphrase: alice.passphrase)
            let otherDevice = try await alice.sharing.verifiedConnection(session: again, keys: alice.keys, id: aliceSide.id)
            #expect(otherDevice.safetyCode == code)

            // The server holds no token, no invitation secret and no name in clear.
            let secretText = try #require(created.code.text.split(separator: ".").last.map(String.init))
            #expect(try stack.database.plaintextScan(for: [
                created.code.tokenText, secretText, "Bob Builder 4242", "Alice Liddell 4242",
            ]) == [])
        }

        @Test func renameRevokeAndDeleteGoThroughTheSDK() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (_, aliceSide, bobSide) = try await Self.connect(alice, bob)

            let renamed = try await bob.sharing.renameConnection(session: bob.session, keys: bob.keys, id: bobSide.id, name: "  Al ")
            #expect(renamed.name == "Al" && renamed.keyCheck == .verified)
            #expect(try await bob.sharing.connection(session: bob.session, keys: bob.keys, id: bobSide.id).name == "Al")
            // Alice's name for Bob is hers alone.
            #expect(try await alice.sharing.connection(session: alice.session, keys: alice.keys, id: aliceSide.id).name == "Bob Builder 4242")
            await #expect(throws: SVXClientError.self) {
                _ = try await bob.sharing.renameConnection(session: bob.session, keys: bob.keys, id: bobSide.id, name: " ")
            }

            // A second invitation publishes the same connection keypair (no new key); revoking it stops its code
            // and leaves the keypair, which the connection uses; the invitee's SDK makes no keypair for it.
            let keypairsBefore = try await stack.keyring.inventory(session: alice.session).keypairs.map(\.id)
            let pending = try await alice.sharing.createInvitation(session: alice.session, keys: alice.keys, name: "Carol")
            #expect(pending.invitation.keypairID == aliceSide.ownKeypairID)
            let carol = try await Self.member(stack)
            let revoked = try await alice.sharing.revokeInvitation(session: alice.session, id: pending.invitation.id)
            #expect(revoked.state == .revoked && revoked.recipientName == nil)
            #expect(try await stack.keyring.inventory(session: alice.session).keypairs.map(\.id) == keypairsBefore)
            let refused = await status { _ = try await carol.sharing.acceptInvitation(session: carol.session, keys: carol.keys, code: pending.code) }
            #expect(refused?.code == .notFound)
            #expect(try await stack.keyring.inventory(session: carol.session).keypairs.map(\.externalIdentifiers) == [["auth"]])
            let pendingOnly = try await alice.sharing.invitations(session: alice.session, keys: alice.keys, state: .pending)
            #expect(pendingOnly.isEmpty)

            // Deleting ends both sides.
            let deleted = try await alice.sharing.deleteConnection(session: alice.session, id: aliceSide.id)
            #expect(deleted.connection.state == .ended && deleted.revokedShares == 0)
            #expect(try await bob.sharing.connection(session: bob.session, keys: bob.keys, id: bobSide.id).state == .ended)
            #expect(try await alice.sharing.connections(session: alice.session, keys: alice.keys, state: .active).isEmpty)
            await #expect(throws: SVXClientError.self) {
                _ = try await bob.sharing.verifiedConnection(session: bob.session, keys: bob.keys, id: bobSide.id)
            }
        }

        @Test func theSDKRefusesWhatTheServiceNeedNotSee() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let carol = try await Self.member(stack)

            // Accepting one's own invitation: refused before anything is sent or made.
            let own = try await alice.sharing.createInvitation(session: alice.session, keys: alice.keys)
            #expect(own.invitation.recipientName == "New Connection")
            let error = await #expect(throws: SVXClientError.self) {
                _ = try await alice.sharing.acceptInvitation(session: alice.session, keys: alice.keys, code: own.code)
            }
            #expect(error?.code == .invalidInput)

            // An invitation meant for Bob: Carol's SDK says so and makes no keypair; Bob can accept it.
            let forBob = try await alice.sharing.createInvitation(
                session: alice.session, keys: alice.keys, intendedUsername: bob.username)
            #expect(forBob.invitation.intendedUsername == bob.username && forBob.invitation.recipientName == bob.username)
            let notYours = await #expect(throws: SVXClientError.self) {
                _ = try await carol.sharing.acceptInvitation(session: carol.session, keys: carol.keys, code: forBob.code)
            }
            #expect(notYours?.message.contains(bob.username) == true)
            #expect(try await stack.keyring.inventory(session: carol.session).keypairs.count == 1)
            let connected = try await bob.sharing.acceptInvitation(session: bob.session, keys: bob.keys, code: forBob.code)
            #expect(connected.keyCheck == .verified && connected.name == alice.username)

            // A lifetime beyond 30 days is refused here, before a keypair is made.
            await #expect(throws: SVXClientError.self) {
                _ = try await alice.sharing.createInvitation(
                    session: alice.session, keys: alice.keys, expiresInMilliseconds: InvitationLifetime.maximumMilliseconds + 1)
            }
        }

        // MARK: T1, T2: a server that swaps keys

        /// T1: the server puts another key in place of the invitee's on the inviter's side (with a fingerprint to match).
        /// The inviter's SDK says MISMATCH and refuses the connection for sharing; `svx connections verify` and `list`
        /// say MISMATCH and exit 1; the two sides' safety codes differ.
        @Test func aSwappedInviteeKeyIsAMismatchForTheInviter() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (_, aliceSide, bobSide) = try await Self.connect(alice, bob)
            #expect(aliceSide.keyCheck == .verified)

            let malloryPEM = try Self.mallory.publicKeyPEM
            let malloryKey = try KeyFingerprint(publicKeyPEM: malloryPEM)
            let swapped = try Self.asSharingService(
                stack,
                """
                UPDATE sharing.connections SET other_public_key_pem = $3, other_key_sha256 = $4
                WHERE user_id = $1::uuid AND connection_id = $2::uuid
                """,
                alice.userID, aliceSide.id, malloryPEM, malloryKey.hex)
            #expect(swapped == 1)

            let seen = try await alice.sharing.connection(session: alice.session, keys: alice.keys, id: aliceSide.id)
            #expect(seen.otherKey == malloryKey)
            guard case .mismatch = seen.keyCheck else {
                Issue.record("the swapped key passed the check: \(seen.keyCheck)")
                return
            }
            let refusal = await #expect(throws: SVXClientError.self) {
                _ = try await alice.sharing.verifiedConnection(session: alice.session, keys: alice.keys, id: aliceSide.id)
            }
            #expect(refusal?.code == .keyVerificationFailed)
            #expect(try await alice.sharing.connections(session: alice.session, keys: alice.keys).first?.keyCheck == seen.keyCheck)
            // Bob's side was not touched: still verified, but its safety code is no longer Alice's.
            let bobSees = try await bob.sharing.connection(session: bob.session, keys: bob.keys, id: bobSide.id)
            #expect(bobSees.keyCheck == .verified)
            #expect(bobSees.safetyCode != nil && bobSees.safetyCode != seen.safetyCode)

            // The same through `svx`, logged in as Alice.
            let cli = try stack.commandLine()
            var environment = cli.environment
            environment["SVX_SECRET_KEY"] = alice.secretKey.description
            environment["SVX_PASSPHRASE"] = alice.passphrase
            let login = try await ChildProcess.runSeparately(cli.svx, ["login"], environment: environment, timeout: .seconds(120))
            #expect(login.status == 0, "\(login.stdout)\(login.stderr)")
            let verify = try await ChildProcess.runSeparately(
                cli.svx, ["connections", "verify", aliceSide.id], environment: environment, timeout: .seconds(120))
            #expect(verify.status == 1, "\(verify.stdout)\(verify.stderr)")
            #expect(verify.stdout.contains("MISMATCH") && !verify.stdout.contains("verified:"), "\(verify.stdout)")
            #expect(verify.stdout.contains(try #require(seen.safetyCode).lines[0]), "\(verify.stdout)")
            let list = try await ChildProcess.runSeparately(cli.svx, ["connections", "list"], environment: environment, timeout: .seconds(120))
            #expect(list.status == 1 && list.stdout.contains("MISMATCH"), "\(list.stdout)\(list.stderr)")
            let json = try await ChildProcess.runSeparately(
                cli.svx, ["connections", "show", aliceSide.id, "--json"], environment: environment, timeout: .seconds(120))
            #expect(json.status == 1)
            let shown = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(shown["keys"] as? String == "mismatch" && shown["mismatch_reason"] is String)
        }

        /// T2: the server puts another key in place of the inviter's before acceptance. The invitee's SDK refuses before
        /// making anything: no keypair, no connection, and the invitation stays pending.
        @Test func aSwappedInviterKeyIsRefusedBeforeAcceptance() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let created = try await alice.sharing.createInvitation(session: alice.session, keys: alice.keys, name: "Bob")

            let malloryPEM = try Self.mallory.publicKeyPEM
            let swapped = try Self.asSharingService(
                stack,
                """
                UPDATE sharing.invitations SET inviter_public_key_pem = $3, inviter_key_sha256 = $4
                WHERE inviter_id = $1::uuid AND invitation_id = $2::uuid
                """,
                alice.userID, created.invitation.id, malloryPEM, try KeyFingerprint(publicKeyPEM: malloryPEM).hex)
            #expect(swapped == 1)
            let before = try stack.database.dump(schema: "sharing")

            let refusal = await #expect(throws: SVXClientError.self) {
                _ = try await bob.sharing.acceptInvitation(session: bob.session, keys: bob.keys, code: created.code, name: "Alice")
            }
            #expect(refusal?.code == .keyVerificationFailed)
            #expect(refusal?.message.contains("Nothing was accepted") == true)
            // Nothing changed anywhere: the invitation is pending, Bob has no connection and no new keypair.
            let after = try stack.database.dump(schema: "sharing")
            #expect(before == after, "\(dumpDifference(before, after))")
            #expect(try await alice.sharing.invitations(session: alice.session, keys: alice.keys).map(\.state) == [.pending])
            #expect(try await bob.sharing.connections(session: bob.session, keys: bob.keys).isEmpty)
            #expect(try await stack.keyring.inventory(session: bob.session).keypairs.map(\.externalIdentifiers) == [["auth"]])

            // A forged proof for the forged key does not help without S either.
            let forged = try Self.asSharingService(
                stack, "UPDATE sharing.invitations SET inviter_proof = $3 WHERE inviter_id = $1::uuid AND invitation_id = $2::uuid",
                alice.userID, created.invitation.id, String(repeating: "ab", count: 32))
            #expect(forged == 1)
            await #expect(throws: SVXClientError.self) {
                _ = try await bob.sharing.checkInvitation(session: bob.session, code: created.code)
            }

            // The same through `svx`: the refusal is one clear line and exit status 1.
            let cli = try stack.commandLine()
            var environment = cli.environment
            environment["SVX_SECRET_KEY"] = bob.secretKey.description
            environment["SVX_PASSPHRASE"] = bob.passphrase
            #expect(try await ChildProcess.runSeparately(cli.svx, ["login"], environment: environment, timeout: .seconds(120)).status == 0)
            let accept = try await ChildProcess.runSeparately(
                cli.svx, ["connections", "accept", created.code.text], environment: environment, timeout: .seconds(120))
            #expect(accept.status == 1 && accept.stderr.contains("Nothing was accepted"), "\(accept.stdout)\(accept.stderr)")
            #expect(try await alice.sharing.invitations(session: alice.session, keys: alice.keys).map(\.state) == [.pending])
        }

        // MARK: The command line

        /// The acceptance check of issue 15 as a new user would run it: two accounts; A runs `svx invitations create
        /// --name Bob`, B runs `svx connections accept CODE --name Alice`; both `svx connections list` show the other,
        /// both `svx connections verify` print the same safety code and "verified". Then rename, revoke and delete.
        @Test func twoAccountsConnectThroughTheCommandLine() async throws {
            let stack = try await SharingIntegrationTests.stack()
            defer { stack.stop() }

            func account(_ passphrase: String) async throws -> CommandLineAccount {
                try await CommandLineAccount.signUp(stack, passphrase: passphrase)
            }
            let a = try await account("alice's passphrase")
            let b = try await account("bob's passphrase")

            // A invites; the code is printed once, with what to do with it.
            let created = try await a.run(["invitations", "create", "--name", "Bob"])
            let code = try #require(created.stdout.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("svxi.1.") }.map(String.init))
            #expect(created.stdout.contains("shown only this once") && created.stdout.contains("svx connections accept"), "\(created.stdout)")
            #expect(created.stderr.contains("Generating your RSA-4096 keypair"), "\(created.stderr)")
            #expect(try InvitationCode(parsing: code).inviterID == a.userID)

            // B accepts it.
            let accepted = try await b.run(["connections", "accept", code, "--name", "Alice"])
            #expect(accepted.stdout.contains("Connected with \(a.username)") && accepted.stdout.contains("verified"), "\(accepted.stdout)")
            // The code works once.
            let again = try await b.run(["connections", "accept", code], expecting: 1)
            #expect(again.stderr.contains("NOT_FOUND"), "\(again.stderr)")

            // Both lists show the other, verified.
            let aList = try #require(try await a.json(["connections", "list"])["connections"] as? [[String: Any]])
            let bList = try #require(try await b.json(["connections", "list"])["connections"] as? [[String: Any]])
            #expect(aList.count == 1 && bList.count == 1)
            #expect(aList.first?["other_username"] as? String == b.username && aList.first?["name"] as? String == "Bob")
            #expect(bList.first?["other_username"] as? String == a.username && bList.first?["name"] as? String == "Alice")
            #expect(aList.first?["keys"] as? String == "verified" && bList.first?["keys"] as? String == "verified")
            let aTable = try await a.run(["connections", "list"]).stdout
            #expect(aTable.contains(b.username) && aTable.contains("Bob") && aTable.contains("verified"), "\(aTable)")
            let bTable = try await b.run(["connections", "list"]).stdout
            #expect(bTable.contains(a.username) && bTable.contains("Alice") && bTable.contains("verified"), "\(bTable)")

            // Both verify: the same safety code, and "verified".
            let aID = try #require(aList.first?["connection_id"] as? String)
            let bID = try #require(bList.first?["connection_id"] as? String)
            let aVerify = try await a.run(["connections", "verify", aID]).stdout
            let bVerify = try await b.run(["connections", "verify", bID]).stdout
            func safetyCode(_ output: String) -> [String] {
                output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { $0.count == 23 && $0.allSatisfy { $0.isNumber || $0 == " " } }
            }
            #expect(safetyCode(aVerify).count == 3, "\(aVerify)")
            #expect(safetyCode(aVerify) == safetyCode(bVerify), "\(aVerify)\n\(bVerify)")
            #expect(aVerify.contains("verified") && bVerify.contains("verified") && !aVerify.contains("MISMATCH"))
            let aShown = try await a.json(["connections", "verify", aID])
            #expect(aShown["safety_code"] as? String == safetyCode(aVerify).joined(separator: " "))

            // The invitation is listed accepted by B.
            let invitations = try #require(try await a.json(["invitations", "list"])["invitations"] as? [[String: Any]])
            #expect(invitations.first?["state"] as? String == "accepted" && invitations.first?["accepted_by_username"] as? String == b.username)

            // Rename, show.
            _ = try await b.run(["connections", "rename", bID, "Alice L."])
            let shown = try await b.run(["connections", "show", bID]).stdout
            #expect(shown.contains("Alice L.") && shown.contains(a.username) && shown.contains("verified"), "\(shown)")

            // A second invitation, revoked: its code no longer works.
            let second = try await a.json(["invitations", "create", "--expires", "1d", "--for", b.username])
            let secondInvitation = try #require(second["invitation"] as? [String: Any])
            #expect(secondInvitation["intended_username"] as? String == b.username)
            let secondCode = try #require(second["code"] as? String)
            let secondID = try #require(secondInvitation["invitation_id"] as? String)
            #expect(try await a.run(["invitations", "revoke", secondID]).stdout.contains("Revoked invitation \(secondID)"))
            _ = try await b.run(["connections", "accept", secondCode], expecting: 1)

            // Malformed codes and lifetimes: one clear line, nothing sent.
            let malformed = try await b.run(["connections", "accept", "svxi.1.nonsense"], expecting: 1)
            #expect(malformed.stderr.contains("malformed invitation code"), "\(malformed.stderr)")
            let tooLong = try await a.run(["invitations", "create", "--expires", "31d"], expecting: 64)
            #expect(tooLong.stderr.contains("--expires"), "\(tooLong.stderr)")

            // The connection keypair is not deleted while the connection uses it (sharing.md §6).
            let keypairs = try #require(try await a.json(["keys", "list"])["keypairs"] as? [[String: Any]])
            let connectionKeypair = try #require(keypairs.first {
                ($0["external_identifiers"] as? [String])?.contains("connection") == true
            }?["keypair_id"] as? String)
            let inUse = try await a.run(["keys", "delete-keypair", connectionKeypair], expecting: 1)
            #expect(inUse.stderr.contains("in use by 1 active connection") && inUse.stderr.contains("nothing was deleted"),
                    "\(inUse.stderr)")

            // Delete: both sides ended.
            let deleted = try await a.run(["connections", "delete", aID]).stdout
            #expect(deleted.contains("Ended connection \(aID)"), "\(deleted)")
            let ended = try #require(try await b.json(["connections", "list"])["connections"] as? [[String: Any]])
            #expect(ended.first?["state"] as? String == "ended")
            // Now nothing uses the keypair: it goes.
            #expect(try await a.run(["keys", "delete-keypair", connectionKeypair]).stdout.contains("Deleted keypair \(connectionKeypair)"))
            let left = try #require(try await a.json(["keys", "list"])["keypairs"] as? [[String: Any]])
            #expect(!left.contains { $0["keypair_id"] as? String == connectionKeypair })

            // Short names ("Bob") could turn up inside random base64 by chance: the distinctive ones are scanned for.
            #expect(try stack.database.plaintextScan(for: [code, secondCode, "Alice L."]).isEmpty)
        }
    }
}
