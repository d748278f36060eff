import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Per-user quotas of the Keystore (review M4): DEKs (`data_keys`) and keypairs (`keypairs`), each checked in the
/// creating transaction under the lock of the user's row. Started with small limits through the environment.
@Suite(.serialized) struct KeystoreQuotaTests {
    static let environment = ["SVX_KEYSTORE_MAX_DATA_KEYS": "3", "SVX_KEYSTORE_MAX_KEYPAIRS": "2"]

    /// How many DEKs and keypairs `userID` has in the database.
    static func keyCounts(_ database: TestDatabase, _ userID: String) throws -> (deks: Int64, keypairs: Int64) {
        let connection = try database.connect()
        defer { connection.close() }
        let row = try connection.query(
            """
            SELECT (SELECT count(*) FROM keystore.data_encryption_keys WHERE user_id = $1::uuid),
                   (SELECT count(*) FROM keystore.keypairs WHERE user_id = $1::uuid)
            """, userID)[0]
        return (try row.decode(Int64.self, at: 0), try row.decode(Int64.self, at: 1))
    }

    /// Checks that `failure` is the refusal of quota `name` at `limit`.
    static func expectQuota(
        _ failure: RPCStatus?, _ name: String, limit: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(failure?.code == .resourceExhausted, "\(String(describing: failure))", sourceLocation: sourceLocation)
        #expect(failure?.details["quota"] == name, sourceLocation: sourceLocation)
        #expect(failure?.details["limit"] == String(limit), sourceLocation: sourceLocation)
    }

    @Test func dataKeysStopAtTheQuotaAndADeletionFreesRoom() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: [.keystore: Self.environment])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        var deks: [Svx_Keystore_V1_DataEncryptionKey] = []
        for index in 0..<3 { deks.append(try await user.createDEK(kek: kek, externalID: "dek-\(index)").dek) }

        let before = try stack.database.keystoreKeys()
        let refused = await user.failure(KeystoreRPC.createDEK, .init(
            wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek), kekVersion: 1, externalID: "dek-3"))
        Self.expectQuota(refused, "data_keys", limit: 3)
        #expect(try stack.database.keystoreKeys() == before, "nothing written")
        #expect(try Self.keyCounts(stack.database, user.userID).deks == 3)
        // The DEK quota is not the keypairs': a keypair still fits.
        _ = try await user.createKeypair(try RSAPrivateKey.generate(bits: 2048), kek: kek)

        _ = try await user.call(KeystoreRPC.deleteDEK, .init(id: deks[0].dekID))
        _ = try await user.createDEK(kek: kek, externalID: "dek-3")
        #expect(try Self.keyCounts(stack.database, user.userID).deks == 3)
        Self.expectQuota(await user.failure(KeystoreRPC.createDEK, .init(
            wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek), kekVersion: 1, externalID: "")),
            "data_keys", limit: 3)

        // Per user: another user has its own room.
        let other = try await stack.newUser()
        let (otherKEK, _, _) = try await other.createKEK()
        for _ in 0..<3 { _ = try await other.createDEK(kek: otherKEK) }
        #expect(try Self.keyCounts(stack.database, other.userID).deks == 3)
    }

    @Test func keypairsStopAtTheQuotaAndADeletionFreesRoom() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: [.keystore: Self.environment])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let (kek, _, _) = try await user.createKEK()
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        let first = try await user.createKeypair(rsa, kek: kek, identifiers: ["conn-0"])
        _ = try await user.createKeypair(rsa, kek: kek, identifiers: ["conn-1"])

        let before = try stack.database.keystoreKeys()
        let refused = await user.failure(KeystoreRPC.createKeypair, try .init(rsa, kek: kek, kekVersion: 1, identifiers: ["conn-2"]))
        Self.expectQuota(refused, "keypairs", limit: 2)
        #expect(try stack.database.keystoreKeys() == before, "nothing written, not even the external identifier")

        _ = try await user.call(KeystoreRPC.deleteKeypair, .init(id: first.keypairID))
        let again = try await user.createKeypair(rsa, kek: kek, identifiers: ["conn-2"])
        #expect(again.externalIdentifiers == ["conn-2"])
        #expect(try Self.keyCounts(stack.database, user.userID).keypairs == 2)
    }

    @Test func concurrentCreationsNeverOvershootTheQuota() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: [.keystore: Self.environment.merging(["SVX_WORKERS": "8"]) { $1 }])
        defer { stack.stop() }
        let rsa = try RSAPrivateKey.generate(bits: 2048)
        // Three users, each starting with no key: 12 DEKs and 8 keypairs at once (a race shows in any round).
        for round in 0..<3 {
            let user = try await stack.newUser()
            let (kek, _, _) = try await user.createKEK()
            let dekRequests = try (0..<12).map { _ in
                Svx_Keystore_V1_CreateDEKRequest(
                    wrapped: try Cryppo.encrypt(try SecureRandom.bytes(count: 32), key: kek), kekVersion: 1, externalID: "")
            }
            let keypairRequest = try Svx_Keystore_V1_CreateKeypairRequest(rsa, kek: kek, kekVersion: 1)
            let failures = await withTaskGroup(of: (String, RPCStatus?).self) { group in
                for request in dekRequests {
                    group.addTask { ("dek", await user.failure(KeystoreRPC.createDEK, request)) }
                }
                for _ in 0..<8 {
                    group.addTask { ("keypair", await user.failure(KeystoreRPC.createKeypair, keypairRequest)) }
                }
                var failures: [(String, RPCStatus?)] = []
                for await failure in group { failures.append(failure) }
                return failures
            }
            #expect(failures.filter { $0.0 == "dek" && $0.1 == nil }.count == 3, "round \(round)")
            #expect(failures.filter { $0.0 == "keypair" && $0.1 == nil }.count == 2, "round \(round)")
            for (kind, failure) in failures where failure != nil {
                Self.expectQuota(failure, kind == "dek" ? "data_keys" : "keypairs", limit: kind == "dek" ? 3 : 2)
            }
            let counts = try Self.keyCounts(stack.database, user.userID)
            #expect(counts.deks == 3 && counts.keypairs == 2, "round \(round): \(counts)")
        }
    }

    /// A user who rotates in a loop keeps at most `SVX_KEYSTORE_MAX_KEPT_ROTATIONS` rotations' key wraps aside: one
    /// more rotation is refused (nothing changed) until the oldest kept wraps pass the retention and are purged.
    @Test func rotationsKeepAtMostTheQuotaOfReplacedWraps() async throws {
        let stack = try await TestStack.start([.auth, .keystore], environment: [.keystore: ["SVX_KEYSTORE_MAX_KEPT_ROTATIONS": "2"]])
        defer { stack.stop() }
        let user = try await stack.newUser()
        var (kek, pdk, _) = try await user.createKEK()
        let (dek, key) = try await user.createDEK(kek: kek)
        func rotation(from version: UInt32) async throws -> (Svx_Keystore_V1_RotateKEKRequest, SymmetricKey) {
            let next = try SymmetricKey.random()
            let request = try await user.proved(try Svx_Keystore_V1_RotateKEKRequest(
                expected: version, generation: 1, newKEK: next, pdk: pdk, deks: [(dek.dekID, key)], keypairs: []), kek: kek)
            return (request, next)
        }
        for version in UInt32(1)...2 {
            let (request, next) = try await rotation(from: version)
            #expect(try await user.call(KeystoreRPC.rotateKEK, request).kekVersion == version + 1)
            kek = next
        }

        let before = try stack.database.keystoreKeys()
        let (refusedRequest, _) = try await rotation(from: 3)
        let refused = await user.failure(KeystoreRPC.rotateKEK, refusedRequest)
        Self.expectQuota(refused, "kept_rotations", limit: 2)
        let retryAfter = refused?.details["retry_after_ms"].flatMap(Int64.init) ?? 0
        #expect(retryAfter > 0 && retryAfter <= 14 * 86_400_000, "retry_after_ms \(retryAfter)")
        #expect(try stack.database.keystoreKeys() == before, "nothing changed")

        // The oldest kept rotation passes the retention: room for one more.
        let connection = try stack.database.connect()
        defer { connection.close() }
        _ = try connection.execute(
            """
            UPDATE keystore.superseded_key_wraps SET superseded_at = now() - interval '15 days'
            WHERE user_id = $1::uuid AND kek_version = 1
            """, user.userID)
        let (request, _) = try await rotation(from: 3)
        #expect(try await user.call(KeystoreRPC.rotateKEK, request).kekVersion == 4)
        let versions = try connection.query(
            "SELECT DISTINCT kek_version FROM keystore.superseded_key_wraps WHERE user_id = $1::uuid ORDER BY kek_version",
            user.userID).map { try $0.decode(Int32.self, at: 0) }
        #expect(versions == [2, 3])
    }
}
