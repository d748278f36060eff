import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// The test kit itself: a four-service stack wired both ways, users made through the SDK, and a plaintext scan that
/// finds what is stored in plain form (so that its empty answer elsewhere means something). docs/testing.md shows
/// the first test as the example of a set-up.
@Suite struct TestKitTests {
    @Test func fourServicesTwoUsersWiredBothWays() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault, .classification])
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()

        let item = try await alice.createItem(
            template: "passport", label: "Passport", slots: [.init(name: "passport_number", value: try alice.encrypt("X1234567"))])
        let node = try await alice.createNode(label: "Travel")
        // Classification asks the Vault whose item this is (Classification → Vault) ...
        _ = try await alice.call(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.item, item.itemID)))
        // ... and the Vault asks Classification what is under the node (Vault → Classification).
        #expect(try await alice.allItems(.init(classificationNode: node.nodeID)).items.map(\.itemID) == [item.itemID])
        // The Keystore checks sessions with the stack's Auth.
        #expect(try await alice.call(KeystoreRPC.listDEKs, .init()).deks.isEmpty)

        expect(await bob.failure(VaultRPC.getItem, .init(itemID: item.itemID)), .notFound)
        expect(await bob.failure(ClassificationRPC.classify, .init(node: node.nodeID, entity: .init(.item, item.itemID))), .notFound)
        #expect(try stack.database.plaintextScan(for: ["X1234567", alice.passphrase + alice.username]) == [])
        #expect(try alice.decrypt(try await alice.getItem(item.itemID).slots.first { $0.name == "passport_number" }!.encryptedValue) == "X1234567")
    }

    @Test func thePlaintextScanFindsWhatIsStoredInPlainForm() async throws {
        let stack = try await TestStack.start([.auth, .vault])
        defer { stack.stop() }
        let user = try await stack.newUser()
        _ = try await user.call(VaultRPC.createTemplate, .init(
            name: "gym", label: "Gym membership Zebra-7", slots: [.init("member_number", "Member number")]))
        #expect(try stack.database.plaintextScan(for: ["zebra-7"]) == ["vault.templates"])
        // A username is stored as text, a session token's hash as bytes (hex in the dump).
        #expect(try stack.database.plaintextScan(for: [user.username]).contains("auth.users"))
        #expect(try stack.database.rowCounts(schema: "vault")["templates"] ?? 0 >= 1)
    }

    @Test func aStackWithoutAServiceSwitchesItsPeerOffAndNeverReachesADefaultPort() async throws {
        let stack = try await TestStack.start([.vault])
        defer { stack.stop() }
        #expect(stack.environment(of: .vault)["SVX_CLASSIFICATION_ENDPOINT"] == "none")
        let auth = try #require(stack.environment(of: .vault)["SVX_AUTH_ENDPOINT"])
        #expect(auth.hasPrefix("tcp://127.0.0.1:") && auth != "tcp://127.0.0.1:7101")
        // No Auth to ask: a well-formed token is refused UNAVAILABLE, not served by whatever runs on 7101.
        let token = String(repeating: "A", count: 43)
        expect(await stack.anonymous(VaultRPC.getVaultUser, .init(), token: token), .unavailable)
    }
}
