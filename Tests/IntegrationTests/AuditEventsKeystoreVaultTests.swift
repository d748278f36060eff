import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The audit trail (issue #19, reference/sharing.md §5b) of the Keystore, the Vault and Classification, through real
/// svx-auth, svx-keystore, svx-vault and svx-classification on PostgreSQL: each change records its event once, in its
/// transaction; a refused change records nothing; the chains verify; a user reads only its own; and the trail holds
/// ids, versions and codes, never a key, a wrap, a value, a label or a name.
@Suite struct AuditEventsKeystoreVaultTests {
    static let noRecoveryDelay: [TestService: [String: String]] = [.auth: ["SVX_AUTH_RECOVERY_DELAY_MS": "0"]]

    static func events(
        _ stack: TestStack, _ service: TestService, _ session: SVXClient.AuthenticatedSession
    ) async throws -> Svx_Audit_V1_ListEventsResponse {
        try await stack.client(service).call(AuditRPC.listEvents, .init(), sessionToken: session.token, timeout: .seconds(10))
    }

    static func verify(_ response: Svx_Audit_V1_ListEventsResponse, userID: String) -> AuditChainBreak? {
        AuditTrailFlowTests.verify(response, userID: userID)
    }

    /// The number of audit events of every user in `schema`, read as the database owner.
    static func eventCount(_ stack: TestStack, _ schema: String) throws -> Int {
        try stack.database.rowCounts(schema: schema)["audit_events"] ?? -1
    }

    /// A KEK proof for `transcript` signed by `signer` (a key that is not the user's KEK), on a real nonce.
    static func madeUpProof(
        _ stack: TestStack, _ session: SVXClient.AuthenticatedSession, signer: SymmetricKey,
        transcript: (String, [UInt8]) -> ProofTranscript
    ) async throws -> Svx_Keystore_V1_KEKProof {
        let challenge = try await stack.keyring.keystore.call(
            KeystoreRPC.beginKEKProof, .init(), sessionToken: session.token, timeout: .seconds(10))
        var proof = Svx_Keystore_V1_KEKProof()
        proof.challengeID = challenge.challengeID
        proof.signature = Data(
            try KEKCheck.signingKey(for: signer).sign(transcript(challenge.challengeID, Array(challenge.nonce)).bytes))
        return proof
    }

    // MARK: Keystore

    @Test func everyChangeOfTheKeyHierarchyIsRecordedOnceAndARefusedOneNever() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: Self.noRecoveryDelay)
        defer { stack.stop() }
        let keystore = stack.keyring.keystore
        func call<Request, Response>(
            _ method: RPCMethod<Request, Response>, _ request: Request, _ session: SVXClient.AuthenticatedSession
        ) async throws -> Response {
            try await keystore.call(method, request, sessionToken: session.token, timeout: .seconds(30))
        }
        let (secretKey, session, keys) = try await stack.signUp("the first passphrase")
        let userID = session.userID
        var expected = ["kek.created", "keypair.created", "dek.created"]
        var response = try await Self.events(stack, .keystore, session)
        #expect(response.service == "keystore")
        #expect(response.events.map(\.type) == expected)
        #expect(response.events[0].details == ["kek_version": "1", "credential_generation": "1"])
        #expect(response.events[1].subjectType == "keypair" && response.events[1].subjectID == keys.authKeypairID)
        #expect(response.events[2].subjectType == "dek" && response.events[2].subjectID == keys.privateDEKID)
        #expect(response.events.allSatisfy { $0.sessionID == session.sessionID && !$0.peerAddress.isEmpty })
        // A login that changes nothing (its CommitPassphraseChange finds nothing to delete) records nothing.
        _ = try await stack.logIn(secretKey, "the first passphrase")
        #expect(try await Self.events(stack, .keystore, session).events.count == expected.count)

        // A DEK and a keypair made and deleted; the same deletions again, and the private DEK's, are refused.
        let dekKey = try SecureRandom.bytes(count: 32)
        let wrappedDEK = try Cryppo.encrypt(dekKey, key: keys.kek)
        let dek = try await call(
            KeystoreRPC.createDEK, Svx_Keystore_V1_CreateDEKRequest(wrapped: wrappedDEK, kekVersion: 1, externalID: ""), session
        ).dek
        let connectionKey = try RSAPrivateKey.generate(bits: 2048)
        let keypairRequest = try Svx_Keystore_V1_CreateKeypairRequest(
            connectionKey, kek: keys.kek, kekVersion: 1, identifiers: ["connection-audited-7"],
            metadata: ["purpose": "audited-metadata-value"])
        let keypair = try await call(KeystoreRPC.createKeypair, keypairRequest, session).keypair
        var deleteDEK = Svx_Keystore_V1_DeleteDEKRequest()
        deleteDEK.dekID = dek.dekID
        _ = try await call(KeystoreRPC.deleteDEK, deleteDEK, session)
        var deleteKeypair = Svx_Keystore_V1_DeleteKeypairRequest()
        deleteKeypair.keypairID = keypair.keypairID
        _ = try await call(KeystoreRPC.deleteKeypair, deleteKeypair, session)
        expected += ["dek.created", "keypair.created", "dek.deleted", "keypair.deleted"]
        var before = try Self.eventCount(stack, "keystore")
        #expect(await status { _ = try await call(KeystoreRPC.deleteDEK, deleteDEK, session) }?.code == .notFound)
        #expect(await status { _ = try await call(KeystoreRPC.deleteKeypair, deleteKeypair, session) }?.code == .notFound)
        var privateDEK = Svx_Keystore_V1_DeleteDEKRequest()
        privateDEK.dekID = keys.privateDEKID
        #expect(await status { _ = try await call(KeystoreRPC.deleteDEK, privateDEK, session) }?.code == .failedPrecondition)
        // A DEK wrapped by a KEK version that is not the current one.
        #expect(await status {
            _ = try await call(
                KeystoreRPC.createDEK, Svx_Keystore_V1_CreateDEKRequest(wrapped: wrappedDEK, kekVersion: 2, externalID: ""),
                session)
        }?.code == .aborted)
        #expect(try Self.eventCount(stack, "keystore") == before)
        response = try await Self.events(stack, .keystore, session)
        #expect(response.events.map(\.type) == expected)
        #expect(response.events[5].subjectID == dek.dekID && response.events[6].subjectID == keypair.keypairID)
        #expect(response.events[5].details.isEmpty && response.events[6].details.isEmpty)

        // A recovery key enrolled (Auth's verifier, the Keystore's key).
        let recovery = RecoveryClient(account: stack.account, keyring: stack.keyring)
        let recoveryKey = try await recovery.enrol(
            session: session, keys: keys,
            credentials: CurrentCredentials(account: stack.account, secretKey: secretKey, passphrase: "the first passphrase"))
        expected += ["recovery_key.set"]
        let storedRecovery = try #require(try await stack.keyring.recoveryKey(session: session))

        // A rotation proved by a key that is not the KEK is refused and records nothing.
        let inventory = try await stack.keyring.inventory(session: session)
        var forged = Svx_Keystore_V1_RotateKEKRequest()
        forged.expectedKekVersion = 1
        forged.credentialGeneration = session.credentialGeneration
        let attackerKEK = try SymmetricKey.random()
        forged.wrappedKek = try Cryppo.encrypt(attackerKEK.bytes, key: try SymmetricKey.random())
        forged.derivation = KeyringClient.derivationArtefacts
        forged.deks = try inventory.deks.map { .init(id: $0.id, wrapped: try Cryppo.encrypt(dekKey, key: attackerKEK)) }
        forged.keypairs = try inventory.keypairs.map {
            .init(id: $0.id, wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 256), key: attackerKEK))
        }
        forged.newKekCheck = Data(try KEKCheck.publicKey(for: attackerKEK))
        forged.kekProof = try await Self.madeUpProof(stack, session, signer: attackerKEK) { id, nonce in
            var bound = forged
            bound.kekProof.challengeID = id
            return ProofTranscript.rotateKEK(bound, userID: userID, nonce: nonce)
        }
        before = try Self.eventCount(stack, "keystore")
        #expect(await status { _ = try await call(KeystoreRPC.rotateKEK, forged, session) }?.code == .permissionDenied)
        #expect(try Self.eventCount(stack, "keystore") == before)

        // The real rotation.
        let pdk = try secretKey.passphraseDerivedKey(passphrase: "the first passphrase")
        let rotated = try await stack.keyring.rotate(session: session, pdk: pdk)
        #expect(rotated.kekVersion == 2)
        expected += ["kek.rotated"]
        response = try await Self.events(stack, .keystore, session)
        let rotation = try #require(response.events.last)
        #expect(rotation.type == "kek.rotated" && rotation.subjectType == "kek" && rotation.subjectID == "2")
        #expect(rotation.details == [
            "kek_version": "2", "previous_kek_version": "1", "deks": "1", "keypairs": "1", "recovery_wrap": "true",
        ])

        // A passphrase change: staged, then committed (Auth moved to the new generation in between).
        let changed = try await stack.passphraseChange.run(
            secretKey: secretKey, currentPassphrase: "the first passphrase", newPassphrase: "the second passphrase")
        expected += ["passphrase_change.staged", "passphrase_change.committed"]
        response = try await Self.events(stack, .keystore, changed.session)
        let staged = response.events[response.events.count - 2]
        let committed = response.events[response.events.count - 1]
        #expect(staged.subjectID == "2" && staged.details["recovery"] == "false" && staged.details["staged_from"] == "1")
        #expect(committed.subjectID == "2" && committed.details["removed_wraps"] == "1")
        // A stage proved by a key that is not the KEK is refused and records nothing.
        var badStage = Svx_Keystore_V1_StagePassphraseChangeRequest()
        badStage.kekVersion = 2
        badStage.wrappedKek = try Cryppo.encrypt(attackerKEK.bytes, key: try SymmetricKey.random())
        badStage.derivation = KeyringClient.derivationArtefacts
        badStage.kekProof = try await Self.madeUpProof(stack, changed.session, signer: attackerKEK) { id, nonce in
            var bound = badStage
            bound.kekProof.challengeID = id
            return ProofTranscript.stagePassphraseChange(bound, userID: userID, nonce: nonce)
        }
        before = try Self.eventCount(stack, "keystore")
        #expect(await status {
            _ = try await call(KeystoreRPC.stagePassphraseChange, badStage, changed.session)
        }?.code == .permissionDenied)
        #expect(try Self.eventCount(stack, "keystore") == before)

        // A recovery: the RECOVERY session stages (marking the recovery key spent), the first login commits and the
        // spent recovery key goes.
        let pending = try await recovery.begin(recoveryKey: recoveryKey)
        let completed = try await recovery.complete(
            pending, recoveryKey: recoveryKey, newPassphrase: "the recovered passphrase", keepSecretKey: { _ in })
        expected += ["passphrase_change.staged", "passphrase_change.committed", "recovery_key.spent"]
        response = try await Self.events(stack, .keystore, completed.session)
        let recoveryEvents = Array(response.events.suffix(3))
        #expect(recoveryEvents[0].sessionID == pending.session.sessionID && recoveryEvents[0].details["recovery"] == "true")
        #expect(recoveryEvents[1].details["credential_generation"] == recoveryEvents[0].subjectID)
        #expect(recoveryEvents[2].details["credential_generation"] == recoveryEvents[0].subjectID)

        // A new recovery key, deleted; deleting it again changes nothing and records nothing.
        _ = try await recovery.enrol(
            session: completed.session, keys: completed.keys,
            credentials: CurrentCredentials(
                account: stack.account, secretKey: completed.secretKey, passphrase: "the recovered passphrase"))
        #expect(try await recovery.disable(session: completed.session))
        expected += ["recovery_key.set", "recovery_key.deleted"]
        before = try Self.eventCount(stack, "keystore")
        #expect(try await !recovery.disable(session: completed.session))
        #expect(try Self.eventCount(stack, "keystore") == before)

        response = try await Self.events(stack, .keystore, completed.session)
        #expect(response.events.map(\.type) == expected)
        #expect(response.events.map(\.seq) == Array(1...UInt64(expected.count)))
        #expect(response.headSeq == UInt64(expected.count) && response.headHash == response.events.last?.entryHash)
        #expect(Self.verify(response, userID: userID) == nil)

        // Another user reads only its own chain; this user's is not reachable with its session.
        let (_, otherSession, _) = try await stack.signUp("someone else's passphrase")
        let theirs = try await Self.events(stack, .keystore, otherSession)
        #expect(theirs.events.map(\.type) == ["kek.created", "keypair.created", "dek.created"])
        #expect(theirs.events.allSatisfy { $0.sessionID == otherSession.sessionID })
        #expect(Self.verify(theirs, userID: otherSession.userID) == nil)
        #expect(Self.verify(theirs, userID: userID) != nil)

        // No key, wrap, public key, external identifier or metadata in the trail.
        let dump = try stack.database.dump(schema: "keystore", tables: ["audit_events", "audit_heads"])
        var secrets = [
            wrappedDEK, keypairRequest.publicKeyPem, keypairRequest.wrappedPrivateKey, "connection-audited-7",
            "audited-metadata-value", storedRecovery.publicKeyPem, storedRecovery.wrappedPrivateKey,
            storedRecovery.kekRecoveryWrap, Hex.encode(keys.kek.bytes), Hex.encode(dekKey), secretKey.secretKey,
            session.token, inventory.kek.wrappedKEK,
        ]
        secrets += try await stack.keyring.inventory(session: completed.session).deks.map(\.wrappedDEK)
        for secret in secrets { #expect(!dump.contains(secret), "\(secret.prefix(24))… is in the audit trail") }
        // The wraps' base64 parts alone, as a stored key would show if it were cut differently.
        for wrap in [wrappedDEK, storedRecovery.kekRecoveryWrap] {
            let part = try #require(wrap.split(separator: ".").dropFirst().first)
            #expect(!dump.contains(String(part)))
        }
    }

    // MARK: Vault

    @Test func deletionsAndAttachmentsAreRecordedInTheVaultAndNothingInClear() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (_, session, keys) = try await stack.signUp("a vault passphrase")
        let vault = stack.vault
        let item = try await vault.createItem(
            session: session, keys: keys, templateName: "secure_note", label: "Audited bank label",
            values: [("note", "s3cret-PIN-4321")])
        // Creating and editing an item are not audited events.
        var response = try await Self.events(stack, .vault, session)
        #expect(response.service == "vault" && response.events.isEmpty && response.headSeq == 0)

        let scan = try randomFile(bytes: 1_000)
        defer { try? FileManager.default.removeItem(at: scan) }
        let attached = try await vault.attachFile(
            session: session, keys: keys, itemID: item.id, slotName: "scan", slotLabel: "Audited scan label", fileURL: scan)
        let firstAttachment = try #require(attached.slot.attachmentID)
        response = try await Self.events(stack, .vault, session)
        #expect(response.events.map(\.type) == ["attachment.added"])
        #expect(response.events[0].subjectType == "attachment" && response.events[0].subjectID == firstAttachment)
        #expect(response.events[0].details == ["item_id": item.id, "slot_id": attached.slot.id])

        // The file replaced in its slot: the new one added, the old one removed, in one update.
        let replacement = try randomFile(bytes: 2_000)
        defer { try? FileManager.default.removeItem(at: replacement) }
        let replaced = try await vault.attachFile(
            session: session, keys: keys, itemID: item.id, slotName: "scan", fileURL: replacement)
        let secondAttachment = try #require(replaced.slot.attachmentID)
        response = try await Self.events(stack, .vault, session)
        #expect(response.events.map(\.type) == ["attachment.added", "attachment.added", "attachment.removed"])
        #expect(response.events[1].subjectID == secondAttachment && response.events[2].subjectID == firstAttachment)
        #expect(response.events[2].details == ["item_id": item.id])

        // Refused: a stale version, an unknown item. Nothing recorded.
        let before = try Self.eventCount(stack, "vault")
        let stale = await status {
            _ = try await vault.updateItem(
                session: session, keys: keys, id: item.id, expectedVersion: item.version, remove: ["scan"])
        }
        #expect(stale?.code == .aborted)
        #expect(await status { try await vault.deleteItem(session: session, id: UUID().uuidString.lowercased()) }?.code == .notFound)
        #expect(try Self.eventCount(stack, "vault") == before)

        // The slot removed: its file goes. An edit of another slot records nothing.
        let current = try await vault.item(session: session, keys: keys, id: item.id)
        let edited = try await vault.updateItem(session: session, keys: keys, item: current, set: [SlotEdit(name: "note", value: "n3w-PIN-8765")])
        #expect(try await Self.events(stack, .vault, session).events.count == 3)
        _ = try await vault.updateItem(session: session, keys: keys, item: edited, remove: ["scan"])
        response = try await Self.events(stack, .vault, session)
        #expect(response.events.map(\.type).suffix(1) == ["attachment.removed"])
        #expect(response.events.last?.subjectID == secondAttachment)

        // The item deleted with a file in it: the item and its file. Deleting it again is refused and records nothing.
        let third = try await vault.attachFile(session: session, keys: keys, itemID: item.id, fileURL: scan)
        let thirdAttachment = try #require(third.slot.attachmentID)
        try await vault.deleteItem(session: session, id: item.id)
        #expect(await status { try await vault.deleteItem(session: session, id: item.id) }?.code == .notFound)
        response = try await Self.events(stack, .vault, session)
        #expect(response.events.map(\.type) == [
            "attachment.added", "attachment.added", "attachment.removed", "attachment.removed", "attachment.added",
            "item.deleted", "attachment.removed",
        ])
        #expect(response.events[5].subjectType == "item" && response.events[5].subjectID == item.id)
        #expect(response.events[5].details == ["attachments": "1"])
        #expect(response.events[6].subjectID == thirdAttachment && response.events[6].details == ["item_id": item.id])
        #expect(response.events.allSatisfy { $0.sessionID == session.sessionID && !$0.peerAddress.isEmpty })
        #expect(Self.verify(response, userID: session.userID) == nil)

        // Another user's chain in the Vault is its own (empty), and verifies.
        let (_, otherSession, otherKeys) = try await stack.signUp("another vault passphrase")
        let otherItem = try await vault.createItem(session: otherSession, keys: otherKeys, templateName: "secure_note", label: "theirs")
        try await vault.deleteItem(session: otherSession, id: otherItem.id)
        let theirs = try await Self.events(stack, .vault, otherSession)
        #expect(theirs.events.map(\.type) == ["item.deleted"] && theirs.events[0].subjectID == otherItem.id)
        #expect(Self.verify(theirs, userID: otherSession.userID) == nil)
        #expect(try await Self.events(stack, .vault, session).events.count == 7)

        // No label, name, value or file name in the trail.
        let dump = try stack.database.dump(schema: "vault", tables: ["audit_events", "audit_heads"])
        for text in [
            "Audited bank label", "s3cret-PIN-4321", "n3w-PIN-8765", "Audited scan label", scan.lastPathComponent,
            replacement.lastPathComponent, "secure_note", "scan",
        ] {
            #expect(!dump.contains(text), "\(text) is in the audit trail")
        }
    }

    // MARK: Classification, and the tables of all three

    @Test func classificationAnswersAnEmptyChainAndEveryServiceHasTheTablesOfTheTrail() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault, .classification])
        defer { stack.stop() }
        let (_, session, _) = try await stack.signUp("a classified passphrase")
        // A change in Classification records nothing (none of its changes is a security event).
        _ = try await stack.client(.classification).call(
            ClassificationRPC.createNode, .init(scheme: "tag", parentID: "", name: "", label: "Audited node", ordinal: 0),
            sessionToken: session.token, timeout: .seconds(10))
        let response = try await Self.events(stack, .classification, session)
        #expect(response.service == "classification" && response.events.isEmpty)
        #expect(response.headSeq == 0 && response.headHash.isEmpty && response.anchorSeq == 0)
        // Without a session, refused as on every method.
        #expect(await status {
            _ = try await stack.client(.classification).call(
                AuditRPC.listEvents, .init(), sessionToken: "not-a-token", timeout: .seconds(10))
        }?.code == .unauthenticated)

        // That every schema's audit tables are those of AuditTrail.tablesSQL: AuditMigrationTests.
    }
}
