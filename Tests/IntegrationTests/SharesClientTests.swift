import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// The client side of Sharing II (issue 16; sharing.md §2.7, §4 T1, T11, T15, T17, T21) through real processes: the
    /// SDK's `SharesClient` and the `svx` binary against Auth, Keystore, Vault and Sharing on one database. What a
    /// dishonest server or on-sharer could do is played by editing the `sharing` schema as the service's own role, or by
    /// sending the requests an altered SDK would. One test at a time with the other Sharing suites.
    @Suite struct SharesClientTests {
        /// Auth, Keystore, Vault and Sharing, as the share suites start them.
        static func stack() async throws -> TestStack { try await SharingIntegrationTests.shareStack() }

        /// A user with the whole key hierarchy, a vault user, and its SDK clients (2048-bit connection keypairs).
        struct Member {
            let session: AuthenticatedSession
            let keys: UnlockedKeys
            let vault: VaultClient
            let shares: SharesClient
            var sharing: SharingClient { shares.sharing }
            var userID: String { session.userID }
            var username: String { session.username }
        }

        static func member(_ stack: TestStack) async throws -> Member {
            let (_, session, keys) = try await stack.signUp("a sharing passphrase")
            let sharing = SharingClient(
                sharing: stack.client(.sharing), keyring: stack.keyring, timeout: .seconds(60), keypairBits: 2048)
            return Member(
                session: session, keys: keys, vault: stack.vault,
                shares: SharesClient(sharing: sharing, vault: stack.vault, timeout: .seconds(60)))
        }

        /// `a` invites `b`, `b` accepts: `a`'s side and `b`'s side.
        static func connect(_ a: Member, _ b: Member) async throws -> (SharingConnection, SharingConnection) {
            let created = try await a.sharing.createInvitation(session: a.session, keys: a.keys, name: "for \(b.username)")
            let bSide = try await b.sharing.acceptInvitation(session: b.session, keys: b.keys, code: created.code)
            let aSide = try #require(
                try await a.sharing.connections(session: a.session, keys: a.keys).first { $0.otherUserID == b.userID })
            return (aSide, bSide)
        }

        static let passport: [(name: String, value: String)] = [
            ("full_name", "Alice Pleasance Liddell"), ("passport_number", "PA7731946"), ("nationality", "Crème brûlée Land"),
            ("place_of_birth", "Westminster-on-the-Looking-Glass"),
        ]

        static func passportItem(_ owner: Member) async throws -> DecryptedItem {
            try await owner.vault.createItem(
                session: owner.session, keys: owner.keys, templateName: "passport", label: "My passport", values: passport)
        }

        static func values(_ item: VerifiedSharedItem?) -> [String: String] {
            Dictionary(uniqueKeysWithValues: (item?.slots ?? []).compactMap { slot in slot.value.map { (slot.name, $0) } })
        }

        static let expected = Dictionary(uniqueKeysWithValues: passport.map { ($0.name, $0.value) })

        /// Runs `sql` as the Sharing service's own role (what a compromised server can do); returns the rows changed.
        static func asSharingService(_ stack: TestStack, _ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> Int {
            let db = try stack.database.connect(role: "svx_sharing")
            defer { db.close() }
            return try db.execute(sql, parameters: parameters)
        }

        /// The SDK error `body` fails with (nil and an issue when it succeeds or fails otherwise).
        static func clientError<T>(
            sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
        ) async -> SVXClientError? {
            do {
                _ = try await body()
                Issue.record("expected the SDK to refuse", sourceLocation: sourceLocation)
            } catch let error as SVXClientError {
                return error
            } catch {
                Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            }
            return nil
        }

        // MARK: Share, read, accept, reject, delete

        @Test func aShareIsReadWithEveryValueVerifiedAndNothingInClearOnTheServer() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (aliceSide, bobSide) = try await Self.connect(alice, bob)
            let item = try await Self.passportItem(alice)

            // Named by Alice's name for the connection, by Bob's username, and by id.
            #expect(try await alice.shares.connectionIDs(session: alice.session, keys: alice.keys, naming: ["For \(bob.username)"]) == [aliceSide.id])
            #expect(try await alice.shares.connectionIDs(session: alice.session, keys: alice.keys, naming: [bob.username.uppercased()]) == [aliceSide.id])
            let shares = try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id])
            let share = try #require(shares.first)
            #expect(shares.count == 1 && share.state == .active && share.recipientID == bob.userID && share.depth == 1)
            #expect(share.itemLabel == "My passport" && share.templateName == "passport" && share.itemVersion == item.version)
            #expect(share.recipientKeySHA256 == aliceSide.otherKey?.hex && share.onwardMode == .owner)

            // Bob lists it and reads it: every value, each verified over UTF-8; the empty slots come without one.
            let incoming = try await bob.shares.incomingShares(session: bob.session)
            #expect(incoming.map(\.id) == [share.id] && incoming.first?.recipientConnectionID == bobSide.id)
            let received = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id)
            #expect(Self.values(received.item) == Self.expected)
            #expect(received.terms == nil && received.item?.label == "My passport")
            let slots = try #require(received.item?.slots)
            #expect(slots.count == item.slots.count)
            #expect(slots.filter { $0.value != nil }.allSatisfy { $0.verifiedAs == .utf8 })
            #expect(slots.filter { $0.value == nil }.allSatisfy { $0.verifiedAs == nil })

            // Alice sees it sent, and as a live share of her item.
            #expect(try await alice.shares.outgoingShares(session: alice.session).map(\.id) == [share.id])
            #expect(try await alice.shares.itemShares(session: alice.session, itemID: item.id).map(\.share.id) == [share.id])
            #expect(try await bob.shares.outgoingShares(session: bob.session).isEmpty)

            // A single slot, with terms: pending, the terms readable and no value, until Bob accepts.
            let single = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id],
                options: ShareOptions(slot: "Passport number", terms: "Only for the visa application, Bob.")).first)
            #expect(single.state == .pendingAcceptance && single.acceptanceRequired && single.slotID != nil)
            let pending = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: single.id)
            #expect(pending.terms == "Only for the visa application, Bob." && pending.item == nil)
            #expect(pending.share.state == .pendingAcceptance)
            let accepted = try await bob.shares.acceptShare(session: bob.session, id: single.id)
            #expect(accepted.state == .active)
            let opened = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: single.id)
            #expect(Self.values(opened.item) == ["passport_number": "PA7731946"] && opened.item?.slots.count == 1)
            #expect(opened.terms == "Only for the visa application, Bob.")

            // A third, rejected; the first, deleted by Bob: both end, reading them is refused naming the state.
            let third = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id],
                options: ShareOptions(terms: "No.")).first)
            #expect(try await bob.shares.rejectShare(session: bob.session, id: third.id).state == .rejected)
            #expect(try await bob.shares.deleteIncomingShare(session: bob.session, id: share.id).state == .deleted)
            for (id, reason) in [(third.id, "rejected"), (share.id, "deleted")] {
                let refused = await status { try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: id) }
                #expect(refused?.code == .failedPrecondition && refused?.details["reason"] == reason, "\(String(describing: refused))")
            }
            let states = Dictionary(uniqueKeysWithValues: try await alice.shares.outgoingShares(session: alice.session).map { ($0.id, $0.state) })
            #expect(states == [share.id: .deleted, single.id: .active, third.id: .rejected])
            #expect(try await alice.shares.outgoingShares(session: alice.session, state: .active).map(\.id) == [single.id])

            // A slot the item does not have: refused before anything is sent.
            let missing = await Self.clientError {
                try await alice.shares.createShare(
                    session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id], options: ShareOptions(slot: "shoe_size"))
            }
            #expect(missing?.code == .notFound && missing?.message.contains("shoe_size") == true)

            // No value, no terms in clear anywhere on the server.
            #expect(try stack.database.plaintextScan(for: Self.passport.map(\.value) + ["Only for the visa application"]).isEmpty)
        }

        // MARK: On-sharing and revocation

        @Test func anOnShareVerifiesAgainstTheOwnersHashesAndARevocationTakesItAlong() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let carol = try await Self.member(stack)
            let (aliceToBob, _) = try await Self.connect(alice, bob)
            let (bobToCarol, _) = try await Self.connect(bob, carol)
            let item = try await Self.passportItem(alice)

            // Without --onshare Bob may not share it on: his SDK says so before fetching anything.
            let closed = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceToBob.id]).first)
            let refused = await Self.clientError {
                try await bob.shares.onShare(session: bob.session, keys: bob.keys, parentShareID: closed.id, to: [bobToCarol.id])
            }
            #expect(refused?.message.contains("onsharing_not_permitted") == true)

            let open = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceToBob.id],
                options: ShareOptions(onwardMode: .anyone)).first)
            let onShares = try await bob.shares.onShare(
                session: bob.session, keys: bob.keys, parentShareID: open.id, to: [bobToCarol.id])
            let onShare = try #require(onShares.first)
            #expect(onShare.depth == 2 && onShare.parentShareID == open.id && onShare.itemID == item.id)
            #expect(onShare.senderID == bob.userID && onShare.recipientID == carol.userID)

            // Carol reads it, every value verified: against Alice's hashes, which the service copied.
            let carolSees = try await carol.shares.incomingShare(session: carol.session, keys: carol.keys, id: onShare.id)
            #expect(Self.values(carolSees.item) == Self.expected)
            #expect(carolSees.share.depth == 2)
            let hashes = try stack.database.connect()
            defer { hashes.close() }
            func storedHashes(_ shareID: String) throws -> [String: String] {
                Dictionary(uniqueKeysWithValues: try hashes.query(
                    "SELECT name, value_verification_hash FROM sharing.share_slots WHERE share_id = $1::uuid AND value_verification_hash IS NOT NULL",
                    shareID
                ).map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) })
            }
            #expect(try storedHashes(onShare.id) == (try storedHashes(open.id)))
            #expect(try storedHashes(onShare.id).count == Self.passport.count)

            // Alice sees both copies of her item; she revokes Bob's, and Carol's goes with it.
            let live = try await alice.shares.itemShares(session: alice.session, itemID: item.id)
            #expect(Set(live.map(\.share.id)) == [closed.id, open.id, onShare.id])
            let revoked = try await alice.shares.revokeShare(session: alice.session, id: open.id)
            #expect(revoked.revoked == 2 && revoked.share.state == .revoked)
            for (member, id) in [(bob, open.id), (carol, onShare.id)] {
                let ended = await status { try await member.shares.incomingShare(session: member.session, keys: member.keys, id: id) }
                #expect(ended?.code == .failedPrecondition && ended?.details["reason"] == "revoked", "\(String(describing: ended))")
            }
            #expect(try await carol.shares.incomingShares(session: carol.session).first?.state == .revoked)
            #expect(try storedHashes(onShare.id).isEmpty && (try storedHashes(open.id)).isEmpty)
            #expect(Set(try await alice.shares.itemShares(session: alice.session, itemID: item.id).map(\.share.id)) == [closed.id])
            #expect(try stack.database.plaintextScan(for: Self.passport.map(\.value)).isEmpty)
        }

        // MARK: What a dishonest server or on-sharer does

        @Test func aValueChangedByTheServerOrAnOnSharerIsRefusedNamingTheSlot() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let carol = try await Self.member(stack)
            let (aliceToBob, _) = try await Self.connect(alice, bob)
            let (bobToCarol, _) = try await Self.connect(bob, carol)
            let item = try await Self.passportItem(alice)

            // The server puts the ciphertext of one slot's value into another (same share, same key: it decrypts).
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceToBob.id],
                options: ShareOptions(onwardMode: .anyone)).first)
            let changed = try Self.asSharingService(
                stack,
                """
                UPDATE sharing.share_slots s SET encrypted_value = o.encrypted_value FROM sharing.share_slots o
                WHERE s.share_id = $1::uuid AND s.name = 'passport_number' AND o.share_id = s.share_id AND o.name = 'nationality'
                """, share.id)
            #expect(changed == 1)
            let error = await Self.clientError { try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id) }
            #expect(error?.code == .valueVerificationFailed, "\(String(describing: error))")
            #expect(error?.message.contains("slot passport_number") == true && error?.message.contains("full_name") == false)
            #expect(error?.message.contains("PA7731946") == false && error?.message.contains("Crème") == false)
            // Bob cannot on-share it either: his SDK verifies the parent first.
            let onShareRefused = await Self.clientError {
                try await bob.shares.onShare(session: bob.session, keys: bob.keys, parentShareID: share.id, to: [bobToCarol.id])
            }
            #expect(onShareRefused?.code == .valueVerificationFailed)

            // An on-sharer that alters a value (an SDK forced to): it re-encrypts a changed value, even under a
            // verification key of its own; the service copies Alice's hash, and Carol's SDK refuses the slot.
            let honest = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceToBob.id],
                options: ShareOptions(onwardMode: .anyone)).first)
            var request = try await Self.alteredOnShare(
                stack, bob, parentID: honest.id, to: bobToCarol, change: ("passport_number", "PA0000001"))
            let altered = try await stack.client(.sharing).call(
                SharingRPC.createShare, request, sessionToken: bob.session.token, timeout: .seconds(30))
            let alteredID = try #require(altered.shares.first?.shareID)
            let carolError = await Self.clientError {
                try await carol.shares.incomingShare(session: carol.session, keys: carol.keys, id: alteredID)
            }
            #expect(carolError?.code == .valueVerificationFailed, "\(String(describing: carolError))")
            #expect(carolError?.message.contains("slot passport_number") == true && carolError?.message.contains("slot full_name") == false)

            // Sending its own hash with it is refused by the service (T11), nothing written.
            request.recipients[0].slots[0].valueVerificationHash = String(repeating: "ab", count: 32)
            let hashRefused = await status {
                try await stack.client(.sharing).call(SharingRPC.createShare, request, sessionToken: bob.session.token, timeout: .seconds(30))
            }
            #expect(hashRefused?.code == .invalidArgument, "\(String(describing: hashRefused))")
            #expect(try await carol.shares.incomingShares(session: carol.session).count == 1)
        }

        /// What an on-sharer's SDK made to alter `change` would send: the parent opened with Bob's connection key, every
        /// value and verification key re-encrypted for Carol, one value replaced (and its verification key with one of
        /// Bob's own), no hash.
        static func alteredOnShare(
            _ stack: TestStack, _ bob: Member, parentID: String, to connection: SharingConnection, change: (name: String, value: String)
        ) async throws -> Svx_Sharing_V1_CreateShareRequest {
            var get = Svx_Sharing_V1_GetIncomingShareRequest()
            get.shareID = parentID
            get.includeContent = true
            let parent = try await stack.client(.sharing).call(
                SharingRPC.getIncomingShare, get, sessionToken: bob.session.token, timeout: .seconds(30))
            let keypair = try #require(
                try await stack.keyring.inventory(session: bob.session).keypairs.first { $0.id == parent.share.recipientKeypairID })
            let privateKey = try RSAPrivateKey(pem: String(decoding: try Cryppo.decrypt(keypair.wrappedPrivateKey, key: bob.keys.kek), as: UTF8.self))
            let dek = SymmetricKey(bytes: try Cryppo.decrypt(parent.encryptedDek, privateKey: privateKey))
            let carolKey = try RSAPublicKey(pem: connection.otherPublicKeyPEM)
            let newDEK = try SymmetricKey.random()
            var recipient = Svx_Sharing_V1_ShareRecipient()
            recipient.connectionID = connection.id
            recipient.recipientKeySha256 = try #require(connection.otherKey?.hex)
            recipient.encryptedDek = try Cryppo.encrypt(newDEK.bytes, publicKey: carolKey)
            recipient.slots = try parent.item.slots.filter { !$0.encryptedValue.isEmpty }.map { slot in
                var value = try Cryppo.decrypt(slot.encryptedValue, key: dek)
                var vvk = try Cryppo.decrypt(slot.encryptedValueVerificationKey, key: dek)
                if slot.name == change.name {
                    value = Array(change.value.utf8)
                    vvk = try SecureRandom.bytes(count: 64)
                }
                var out = Svx_Sharing_V1_ShareSlot()
                out.slotID = slot.slotID
                out.encryptedValue = try Cryppo.encrypt(value, key: newDEK)
                out.encryptedValueVerificationKey = try Cryppo.encrypt(vvk, key: newDEK)
                return out
            }
            var request = Svx_Sharing_V1_CreateShareRequest()
            request.parentShareID = parentID
            request.recipients = [recipient]
            return request
        }

        /// T1 for shares: the server swaps the recipient's key on the sender's side of the connection. The sender's SDK
        /// refuses before anything is encrypted to it, and nothing is written.
        @Test func aSwappedRecipientKeyStopsTheShareBeforeItIsSent() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (aliceSide, _) = try await Self.connect(alice, bob)
            let item = try await Self.passportItem(alice)
            let mallory = try RSAPrivateKey.generate(bits: 2048)
            let swapped = try Self.asSharingService(
                stack,
                "UPDATE sharing.connections SET other_public_key_pem = $2, other_key_sha256 = $3 WHERE connection_id = $1::uuid",
                aliceSide.id, try mallory.publicKeyPEM, try KeyFingerprint(publicKey: try mallory.publicKey).hex)
            #expect(swapped == 1)
            let refused = await Self.clientError {
                try await alice.shares.createShare(session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id])
            }
            #expect(refused?.code == .keyVerificationFailed && refused?.message.contains("MISMATCH") == true)
            #expect(try await alice.shares.outgoingShares(session: alice.session).isEmpty)
            #expect(try await bob.shares.incomingShares(session: bob.session).isEmpty)
        }

        // MARK: Owner updates (Sharing III)

        /// sharing.md §2.7 "Owner update": an update the SDK made without syncing (a client stopped between UpdateItem
        /// and UpdateShares) leaves every copy stale until `syncStaleShares`; `syncShares` right after an update
        /// reaches the on-share too, which then verifies against the owner's new hashes. A recipient key the server
        /// swapped stops the sync before anything is sent.
        @Test func anOwnersUpdateReachesEveryCopyAndAStoppedClientIsCaughtUp() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let carol = try await Self.member(stack)
            let (aliceToBob, _) = try await Self.connect(alice, bob)
            let (bobToCarol, _) = try await Self.connect(bob, carol)
            let item = try await Self.passportItem(alice)
            let bobShare = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceToBob.id],
                options: ShareOptions(onwardMode: .anyone)).first)
            let carolShare = try #require(try await bob.shares.onShare(
                session: bob.session, keys: bob.keys, parentShareID: bobShare.id, to: [bobToCarol.id]).first)
            #expect(try await alice.shares.syncStaleShares(session: alice.session, keys: alice.keys).isEmpty)

            // The update goes through the Vault alone: the client stops before UpdateShares.
            let second = try await alice.vault.updateItem(
                session: alice.session, keys: alice.keys, item: item, set: [SlotEdit(name: "full_name", value: "Alice Hargreaves")])
            let stale = try await alice.shares.outgoingShares(session: alice.session, staleOnly: true)
            #expect(Set(stale.map(\.id)) == [bobShare.id, carolShare.id] && stale.allSatisfy { $0.itemVersion == item.version })
            #expect(try await bob.shares.outgoingShares(session: bob.session, staleOnly: true).isEmpty)
            // Bob and Carol still read the old value, verified.
            #expect(Self.values(try await carol.shares.incomingShare(session: carol.session, keys: carol.keys, id: carolShare.id).item) == Self.expected)

            // The next run catches up.
            let reports = try await alice.shares.syncStaleShares(session: alice.session, keys: alice.keys)
            #expect(reports.count == 1 && reports.first?.itemVersion == second.version)
            #expect(Set(reports.first?.updated.map(\.id) ?? []) == [bobShare.id, carolShare.id] && reports.first?.skipped.isEmpty == true)
            #expect(try await alice.shares.outgoingShares(session: alice.session, staleOnly: true).isEmpty)
            var expected = Self.expected
            expected["full_name"] = "Alice Hargreaves"
            #expect(Self.values(try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: bobShare.id).item) == expected)
            let carolSees = try await carol.shares.incomingShare(session: carol.session, keys: carol.keys, id: carolShare.id)
            #expect(Self.values(carolSees.item) == expected && carolSees.item?.itemVersion == second.version)
            #expect(carolSees.item?.slots.filter { $0.value != nil }.allSatisfy { $0.verifiedAs == .utf8 } == true)
            // Carol's hashes are Alice's own for Carol's copy, no longer copies of Bob's.
            #expect(Set(try stack.database.shareHashes(carolShare.id).values).isDisjoint(with: Set(try stack.database.shareHashes(bobShare.id).values)))

            // Right after an update: syncShares; a second sync finds nothing to do.
            let third = try await alice.vault.updateItem(
                session: alice.session, keys: alice.keys, item: second, set: [SlotEdit(name: "passport_number", value: "PB0000001")])
            let report = try await alice.shares.syncShares(session: alice.session, keys: alice.keys, item: third)
            #expect(report.updated.count == 2 && report.alreadyCurrent == 0)
            #expect(try stack.database.shareGeneration(carolShare.id).dekGeneration == 3)
            let again = try await alice.shares.syncShares(session: alice.session, keys: alice.keys, item: third)
            #expect(again.updated.isEmpty && again.alreadyCurrent == 2)
            expected["passport_number"] = "PB0000001"
            #expect(Self.values(try await carol.shares.incomingShare(session: carol.session, keys: carol.keys, id: carolShare.id).item) == expected)

            // The server swaps Carol's key on the on-share: the owner's SDK refuses before sending anything.
            let fourth = try await alice.vault.updateItem(
                session: alice.session, keys: alice.keys, item: third, set: [SlotEdit(name: "full_name", value: "Mrs Hargreaves")])
            let mallory = try RSAPrivateKey.generate(bits: 2048)
            #expect(try Self.asSharingService(
                stack, "UPDATE sharing.shares SET recipient_public_key_pem = $2 WHERE share_id = $1::uuid", carolShare.id,
                try mallory.publicKeyPEM) == 1)
            let refused = await Self.clientError {
                try await alice.shares.syncShares(session: alice.session, keys: alice.keys, item: fourth)
            }
            #expect(refused?.code == .keyVerificationFailed)
            #expect(try stack.database.shareGeneration(bobShare.id).dekGeneration == 3, "nothing was sent")
            #expect(try stack.database.shareGeneration(carolShare.id).dekGeneration == 3)

            #expect(try stack.database.plaintextScan(
                for: Self.passport.map(\.value) + ["Alice Hargreaves", "PB0000001", "Mrs Hargreaves"]).isEmpty)
        }

        /// An empty attachment slot (no file yet) travels as metadata, like any empty slot; files themselves are
        /// SharedAttachmentTests'.
        @Test func anEmptyAttachmentSlotTravelsAsMetadataOnly() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (aliceSide, _) = try await Self.connect(alice, bob)
            let item = try await alice.vault.createItem(
                session: alice.session, keys: alice.keys, templateName: "passport", label: "My passport", values: Self.passport,
                extraSlots: [SlotEdit(name: "scan", value: "", label: "Scan", type: .attachment)])
            #expect(item.slot(named: "scan")?.attachmentID == nil)
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id]).first)
            let received = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id)
            let scan = try #require(received.item?.slot(named: "scan"))
            #expect(scan.type == .attachment && scan.label == "Scan" && scan.value == nil && scan.attachmentID == nil)
            #expect(Self.values(received.item) == Self.expected)
            let noFile = await Self.clientError {
                try await bob.shares.downloadSharedAttachment(
                    session: bob.session, keys: bob.keys, shareID: share.id, slot: "scan",
                    to: FileManager.default.temporaryDirectory.appendingPathComponent("svx-\(UUID().uuidString)"))
            }
            #expect(noFile?.code == .invalidInput && noFile?.message.contains("carries no file") == true)
        }

        // MARK: View once

        @Test func aViewOnceShareGivesItsValuesOnce() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }
            let alice = try await Self.member(stack)
            let bob = try await Self.member(stack)
            let (aliceSide, _) = try await Self.connect(alice, bob)
            let item = try await Self.passportItem(alice)
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceSide.id], options: .viewOnce()).first)
            #expect(share.maximumContentFetches == 1)

            // Looking without the content does not count.
            let peek = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id, includeContent: false)
            #expect(peek.item == nil && peek.share.state == .active)
            let once = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id)
            #expect(Self.values(once.item) == Self.expected)
            let twice = await status { try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id) }
            #expect(twice?.code == .failedPrecondition && twice?.details["reason"] == "consumed", "\(String(describing: twice))")
            let sent = try #require(try await alice.shares.outgoingShares(session: alice.session).first)
            #expect(sent.state == .consumed && sent.contentFetches == 1 && sent.firstFetchedAt != nil)
        }

        // MARK: The command line

        /// The acceptance check of issue 16 as new users would run it: A shares a passport item to B with --onshare, B
        /// sees and verifies the values, B on-shares to C, C verifies them against A's hashes; A revokes B's share and
        /// C's goes with it; a --view-once share shows its values once. Connections are named by the users' own names.
        @Test func threeAccountsShareOnShareRevokeAndViewOnceThroughTheCommandLine() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }

            func account(_ passphrase: String) async throws -> CommandLineAccount {
                try await CommandLineAccount.signUp(stack, passphrase: passphrase)
            }
            func connect(
                _ inviter: CommandLineAccount, calls inviteeName: String, _ invitee: CommandLineAccount, calls inviterName: String
            ) async throws {
                let code = try #require(try await inviter.json(["invitations", "create", "--name", inviteeName])["code"] as? String)
                _ = try await invitee.run(["connections", "accept", code, "--name", inviterName])
            }
            func shareID(_ object: [String: Any]) throws -> String {
                let shares = try #require(object["shares"] as? [[String: Any]])
                #expect(shares.count == 1)
                return try #require(shares.first?["share_id"] as? String)
            }
            func slotValues(_ object: [String: Any]) throws -> [String: String] {
                let item = try #require(object["item"] as? [String: Any], "\(object)")
                let slots = try #require(item["slots"] as? [[String: Any]])
                #expect(slots.filter { $0["value"] is String }.allSatisfy { $0["verified"] as? String == "utf8" })
                return Dictionary(uniqueKeysWithValues: slots.compactMap { slot in
                    (slot["value"] as? String).map { (slot["name"] as? String ?? "", $0) }
                })
            }

            let a = try await account("alice's passphrase")
            let b = try await account("bob's passphrase")
            let c = try await account("carol's passphrase")
            try await connect(a, calls: "Bob", b, calls: "Alice")
            try await connect(b, calls: "Carol", c, calls: "Bob")

            let created = try await a.json(
                ["items", "create", "--template", "passport", "--label", "My passport"]
                    + Self.passport.flatMap { ["--set", "\($0.name)=\($0.value)"] })
            let itemID = try #require(created["item_id"] as? String, "\(created)")

            // A shares the passport to B ("Bob", A's own name for the connection) with --onshare.
            let shared = try await a.run(["shares", "create", itemID, "--to", "Bob", "--onshare"]).stdout
            #expect(shared.contains("Shared \"My passport\" with \(b.username)"), "\(shared)")
            let incoming = try #require(try await b.json(["shares", "list", "--incoming"])["shares"] as? [[String: Any]])
            let bShare = try #require(incoming.first?["share_id"] as? String)
            #expect(incoming.count == 1 && incoming.first?["sharing_mode"] as? String == "anyone")

            // B sees the values, each verified.
            let bTable = try await b.run(["shares", "get", bShare]).stdout
            #expect(Self.passport.allSatisfy { bTable.contains($0.value) } && bTable.contains("verified"), "\(bTable)")
            #expect(try await slotValues(try b.json(["shares", "get", bShare])) == Self.expected)

            // B on-shares to C (B's "Carol"); C verifies the values against A's hashes.
            let cShare = try await shareID(try b.json(["shares", "create", "--from-share", bShare, "--to", "Carol"]))
            let cSees = try await c.json(["shares", "get", cShare])
            #expect(try slotValues(cSees) == Self.expected)
            #expect((cSees["share"] as? [String: Any])?["depth"] as? Int == 2)
            let cTable = try await c.run(["shares", "get", cShare]).stdout
            #expect(cTable.contains("PA7731946") && cTable.contains("verified"), "\(cTable)")

            // A lists every live copy of the item: B's and C's.
            let copies = try #require(try await a.json(["shares", "list", "--item", itemID])["shares"] as? [[String: Any]])
            #expect(Set(copies.compactMap { $0["share_id"] as? String }) == [bShare, cShare])

            // A revokes B's share: C's goes with it.
            let revoked = try await a.run(["shares", "revoke", bShare]).stdout
            #expect(revoked.contains("Revoked share \(bShare)") && revoked.contains("2 share(s)"), "\(revoked)")
            let cRefused = try await c.run(["shares", "get", cShare], expecting: 1)
            #expect(cRefused.stderr.contains("FAILED_PRECONDITION") && cRefused.stdout.isEmpty, "\(cRefused.stderr)")
            let cList = try #require(try await c.json(["shares", "list", "--incoming"])["shares"] as? [[String: Any]])
            #expect(cList.first?["state"] as? String == "revoked")

            // A --view-once share shows its values once.
            let once = try await shareID(try a.json(["shares", "create", itemID, "--to", b.username, "--view-once"]))
            let first = try await b.run(["shares", "get", once]).stdout
            #expect(first.contains("PA7731946") && first.contains("last view"), "\(first)")
            let second = try await b.run(["shares", "get", once], expecting: 1)
            #expect(second.stderr.contains("consumed") && !second.stdout.contains("PA7731946"), "\(second)")

            // Terms: B sees them, not the values, until accepting.
            let withTerms = try await shareID(try a.json(
                ["shares", "create", itemID, "--to", "Bob", "--slot", "passport_number", "--terms", "For the visa only", "--expires", "7d"]))
            let pending = try await b.run(["shares", "get", withTerms]).stdout
            #expect(pending.contains("For the visa only") && !pending.contains("PA7731946") && pending.contains("svx shares accept"), "\(pending)")
            #expect(try await b.run(["shares", "accept", withTerms]).stdout.contains("For the visa only"))
            #expect(try await slotValues(try b.json(["shares", "get", withTerms])) == ["passport_number": "PA7731946"])
            _ = try await b.run(["shares", "delete", withTerms])

            // Outgoing on A's side, states as they are now.
            let outgoing = try #require(try await a.json(["shares", "list", "--outgoing"])["shares"] as? [[String: Any]])
            let states = Dictionary(uniqueKeysWithValues: outgoing.compactMap { share in
                (share["share_id"] as? String).map { ($0, share["state"] as? String ?? "") }
            })
            #expect(states == [bShare: "revoked", once: "consumed", withTerms: "deleted"])
            #expect(try await a.run(["shares", "list", "--outgoing"]).stdout.contains("consumed"))

            // Bad input: one clear line, nothing sent.
            let both = try await a.run(["shares", "create", itemID, "--from-share", bShare, "--to", "Bob"], expecting: 64)
            #expect(both.stderr.contains("either ITEM or --from-share"), "\(both.stderr)")
            let past = try await a.run(["shares", "create", itemID, "--to", "Bob", "--expires", "2001-01-01"], expecting: 64)
            #expect(past.stderr.contains("--expires"), "\(past.stderr)")
            let nobody = try await a.run(["shares", "create", itemID, "--to", "Nobody at all"], expecting: 1)
            #expect(nobody.stderr.contains("no active connection is called"), "\(nobody.stderr)")

            #expect(try stack.database.plaintextScan(for: Self.passport.map(\.value) + ["For the visa only"]).isEmpty)
        }

        /// Issue 17 through `svx`: `items update` re-shares at once and says how many; an update whose client never
        /// reached Sharing (the sync failed: the update stands, the command says how to finish it) leaves the shares
        /// stale, `shares list --outgoing --stale` lists them, `shares sync` brings them up to date, and B and C read
        /// the new values verified against A's.
        @Test func itemsUpdateReSharesAndSharesSyncCatchesUpWhatWasLeftStale() async throws {
            let stack = try await Self.stack()
            defer { stack.stop() }

            struct Account {
                let svx: String
                var environment: [String: String]

                func run(_ arguments: [String], expecting expected: Int32 = 0) async throws -> (stdout: String, stderr: String) {
                    let run = try await ChildProcess.runSeparately(svx, arguments, environment: environment, timeout: .seconds(240))
                    #expect(run.status == expected, "\(arguments): \(run.stdout)\(run.stderr)")
                    return (run.stdout, run.stderr)
                }

                func json(_ arguments: [String]) async throws -> [String: Any] {
                    let output = try await run(arguments + ["--json"]).stdout
                    return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)")
                }
            }
            func account(_ passphrase: String) async throws -> Account {
                let cli = try stack.commandLine()
                var environment = cli.environment
                environment["SVX_PASSPHRASE"] = passphrase
                var account = Account(svx: cli.svx, environment: environment)
                account.environment["SVX_SECRET_KEY"] = try #require(try await account.json(["signup"])["secret_key"] as? String)
                return account
            }
            func values(_ account: Account, _ shareID: String) async throws -> [String: String] {
                let object = try await account.json(["shares", "get", shareID])
                let slots = try #require((object["item"] as? [String: Any])?["slots"] as? [[String: Any]], "\(object)")
                #expect(slots.filter { $0["value"] is String }.allSatisfy { $0["verified"] as? String == "utf8" })
                return Dictionary(uniqueKeysWithValues: slots.compactMap { slot in
                    (slot["value"] as? String).map { (slot["name"] as? String ?? "", $0) }
                })
            }
            func stale(_ account: Account) async throws -> Set<String> {
                let shares = try #require(try await account.json(["shares", "list", "--outgoing", "--stale"])["shares"] as? [[String: Any]])
                return Set(shares.compactMap { $0["share_id"] as? String })
            }

            let a = try await account("alice's passphrase")
            let b = try await account("bob's passphrase")
            let c = try await account("carol's passphrase")
            let toBob = try #require(try await a.json(["invitations", "create", "--name", "Bob"])["code"] as? String)
            _ = try await b.run(["connections", "accept", toBob, "--name", "Alice"])
            let toCarol = try #require(try await b.json(["invitations", "create", "--name", "Carol"])["code"] as? String)
            _ = try await c.run(["connections", "accept", toCarol, "--name", "Bob"])
            let itemID = try #require(try await a.json(
                ["items", "create", "--template", "passport", "--label", "My passport"]
                    + Self.passport.flatMap { ["--set", "\($0.name)=\($0.value)"] })["item_id"] as? String)
            let bShare = try #require(
                (try await a.json(["shares", "create", itemID, "--to", "Bob", "--onshare"])["shares"] as? [[String: Any]])?.first?["share_id"] as? String)
            let cShare = try #require(
                (try await b.json(["shares", "create", "--from-share", bShare, "--to", "Carol"])["shares"] as? [[String: Any]])?.first?["share_id"] as? String)

            // items update re-shares right away, on-share included, and says so.
            let updated = try await a.run(["items", "update", itemID, "--set", "full_name=Alice Hargreaves"]).stdout
            #expect(updated.contains("Updated item \(itemID)") && updated.contains("2 share(s) updated"), "\(updated)")
            var expected = Self.expected
            expected["full_name"] = "Alice Hargreaves"
            #expect(try await values(b, bShare) == expected)
            #expect(try await values(c, cShare) == expected)
            #expect(try await stale(a).isEmpty)

            // A client that never reaches Sharing after the update (here: Sharing's endpoint answers nothing of it).
            var cut = a
            cut.environment["SVX_SHARING_ENDPOINT"] = cut.environment["SVX_AUTH_ENDPOINT"]
            if let keys = TestTransport.keysDirectory {  // pinned as Auth's, so Auth answers (UNIMPLEMENTED) at once
                cut.environment["SVX_SHARING_PUBLIC_KEY"] = try String(contentsOfFile: "\(keys)/auth.pub", encoding: .utf8)
            }
            let interrupted = try await cut.run(["items", "update", itemID, "--set", "passport_number=PB0000001", "--json"])
            let interruptedJSON = try #require(try JSONSerialization.jsonObject(with: Data(interrupted.stdout.utf8)) as? [String: Any])
            #expect((interruptedJSON["shares"] as? [String: Any])?["error"] is String, "\(interrupted.stdout)")
            let human = try await cut.run(["items", "update", itemID, "--set", "nationality=English"])
            #expect(human.stderr.contains("svx shares sync \(itemID)") && human.stdout.contains("Updated item"), "\(human)")
            // Stale: both copies, still readable at the version they hold.
            #expect(try await stale(a) == [bShare, cShare])
            #expect(try await values(c, cShare) == expected)

            // shares sync catches up; afterwards nothing is stale and a second run has nothing to do.
            let synced = try #require(try await a.json(["shares", "sync"])["items"] as? [[String: Any]])
            #expect(synced.count == 1 && (synced.first?["updated"] as? [[String: Any]])?.count == 2, "\(synced)")
            #expect(try await stale(a).isEmpty)
            #expect(try await a.run(["shares", "sync", itemID]).stdout.contains("up to date"))
            expected["passport_number"] = "PB0000001"
            expected["nationality"] = "English"
            #expect(try await values(b, bShare) == expected)
            #expect(try await values(c, cShare) == expected)

            // --stale goes with --outgoing only.
            let misuse = try await a.run(["shares", "list", "--incoming", "--stale"], expecting: 64)
            #expect(misuse.stderr.contains("--stale"), "\(misuse.stderr)")
            #expect(try stack.database.plaintextScan(
                for: Self.passport.map(\.value) + ["Alice Hargreaves", "PB0000001"]).isEmpty)
        }
    }
}
