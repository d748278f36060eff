import Foundation
import SVXContracts
import SVXProto
import SVXService
import Testing

@testable import Keystore

/// The default key quotas keep a full RotateKEK under the Keystore's default request limit (docs/ADR-004-keystore.md,
/// "Quotas"): a user at both quotas, every wrap as long as the Keystore accepts, can still rotate.
@Suite struct QuotaArithmeticTests {
    static func rewrapped(characters: Int) -> Svx_Keystore_V1_RewrappedKey {
        var key = Svx_Keystore_V1_RewrappedKey()
        key.id = UUID().uuidString.lowercased()
        key.wrappedKey = String(repeating: "A", count: characters)
        return key
    }

    @Test func aFullRotationAtTheDefaultQuotasFitsTheDefaultMessageLimit() throws {
        let configuration = KeystoreConfiguration()
        var rotate = Svx_Keystore_V1_RotateKEKRequest()
        rotate.expectedKekVersion = UInt32.max
        rotate.credentialGeneration = UInt64.max
        rotate.wrappedKek = String(repeating: "A", count: KeyValidation.maximumWrappedKeyCharacters)
        rotate.derivation.algorithm = "PBKDF2-HMAC-SHA256"
        rotate.derivation.saltSource = "secret_key"
        rotate.derivation.iterations = KeyValidation.maximumIterations
        rotate.derivation.keyLength = 32
        rotate.derivation.version = 1
        rotate.deks = (0..<configuration.maximumDataKeys).map { _ in
            Self.rewrapped(characters: KeyValidation.maximumWrappedKeyCharacters)
        }
        rotate.keypairs = (0..<configuration.maximumKeypairs).map { _ in
            Self.rewrapped(characters: KeyValidation.maximumWrappedPrivateKeyCharacters)
        }
        rotate.kekProof.challengeID = UUID().uuidString.lowercased()
        rotate.kekProof.signature = Data(repeating: 0xFF, count: 64)
        rotate.newKekCheck = Data(repeating: 0xFF, count: 32)
        rotate.kekRecoveryWrap = String(repeating: "A", count: 4_096)  // FieldValidation.rsaString's longest

        var envelope = Svx_Rpc_V1_Request()
        envelope.method = KeystoreRPC.rotateKEK.name
        envelope.requestID = UInt64.max
        envelope.sessionToken = String(repeating: "t", count: 512)
        envelope.deadlineMs = UInt64.max
        envelope.traceParent = String(repeating: "0", count: 55)
        envelope.payload = try rotate.serializedData()
        let size = try envelope.serializedData().count
        let limit = ServiceConfiguration.defaultMaxMessageBytes["keystore"] ?? 0
        // The per-key sizes ADR-004 states: 556 B a DEK, 24 622 B a keypair.
        #expect(try Self.rewrapped(characters: KeyValidation.maximumWrappedKeyCharacters).serializedData().count + 3 == 556)
        #expect(try Self.rewrapped(characters: KeyValidation.maximumWrappedPrivateKeyCharacters).serializedData().count + 4 == 24_622)
        #expect(limit == 4 << 20)
        #expect(size <= limit, "a full rotation is \(size) bytes, over the \(limit) limit")
    }
}
