import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import Testing

/// The pure parts of the KEK proofs and credential proofs (docs/ADR-004-keystore.md): the check key derived from
/// the KEK, the transcripts both sides sign and check, and the KEK version a session remembers.
@Suite struct KEKPossessionUnitTests {
    @Test func theCheckKeyIsDerivedFromTheKEKAlone() throws {
        let kek = SymmetricKey(bytes: [UInt8](repeating: 0x42, count: 32))
        // HMAC-SHA256(KEK, "svx-kek-check-v1") is the Ed25519 seed: the same KEK gives the same check, anywhere.
        let seed = HMAC.sha256(key: kek.bytes, message: Array("svx-kek-check-v1".utf8))
        #expect(try KEKCheck.publicKey(for: kek) == (try Ed25519SigningKey(seed: seed).publicKey))
        #expect(try KEKCheck.publicKey(for: kek) == (try KEKCheck.publicKey(for: SymmetricKey(bytes: kek.bytes))))
        #expect(try KEKCheck.publicKey(for: kek) != (try KEKCheck.publicKey(for: try SymmetricKey.random())))
        // The check reveals neither the KEK nor the seed.
        let check = try KEKCheck.publicKey(for: kek)
        #expect(check.count == 32 && check != kek.bytes && check != seed)
        let signature = try KEKCheck.signingKey(for: kek).sign([1, 2, 3])
        #expect(Ed25519.isValidSignature(signature, of: [1, 2, 3], publicKey: check))
    }

    func stage() -> Svx_Keystore_V1_StagePassphraseChangeRequest {
        var request = Svx_Keystore_V1_StagePassphraseChangeRequest()
        request.kekVersion = 3
        request.wrappedKek = "Aes256Gcm.abc.def"
        request.derivation.algorithm = "PBKDF2-HMAC-SHA256"
        request.derivation.saltSource = "secret_key"
        request.derivation.iterations = 100_000
        request.derivation.keyLength = 32
        request.derivation.version = 1
        request.kekProof.challengeID = "00000000-0000-4000-8000-000000000001"
        return request
    }

    /// Every field a proof covers changes the transcript, the signature itself does not, and no two requests
    /// give the same bytes by moving bytes from one field to the next.
    @Test func aStageTranscriptCoversEveryFieldButTheSignature() {
        let user = "00000000-0000-4000-8000-0000000000aa"
        let nonce = [UInt8](repeating: 9, count: 32)
        let base = ProofTranscript.stagePassphraseChange(stage(), userID: user, nonce: nonce)
        var signed = stage()
        signed.kekProof.signature = Data(repeating: 1, count: 64)
        #expect(ProofTranscript.stagePassphraseChange(signed, userID: user, nonce: nonce) == base)

        let changes: [(String, (inout Svx_Keystore_V1_StagePassphraseChangeRequest) -> Void)] = [
            ("kek_version", { $0.kekVersion = 4 }),
            ("wrapped_kek", { $0.wrappedKek = "Aes256Gcm.abc.deg" }),
            ("derivation.iterations", { $0.derivation.iterations = 100_001 }),
            ("derivation.algorithm", { $0.derivation.algorithm = "PBKDF2-HMAC-SHA25" }),
            ("challenge_id", { $0.kekProof.challengeID = "00000000-0000-4000-8000-000000000002" }),
            // Moving the last character of one field to the start of the next.
            ("framing", { $0.wrappedKek = "Aes256Gcm.abc.de"; $0.derivation.algorithm = "fPBKDF2-HMAC-SHA256" }),
        ]
        for (what, change) in changes {
            var request = stage()
            change(&request)
            #expect(ProofTranscript.stagePassphraseChange(request, userID: user, nonce: nonce) != base, "\(what)")
        }
        #expect(ProofTranscript.stagePassphraseChange(stage(), userID: "00000000-0000-4000-8000-0000000000ab", nonce: nonce) != base)
        #expect(ProofTranscript.stagePassphraseChange(stage(), userID: user, nonce: [UInt8](repeating: 8, count: 32)) != base)
        #expect(base.bytes.starts(with: [0, 0, 0, 16] + Array("svx-kek-proof-v1".utf8)))
    }

    @Test func aRotationTranscriptCoversTheKeysInTheirOrderAndTheNewCheck() {
        var request = Svx_Keystore_V1_RotateKEKRequest()
        request.expectedKekVersion = 1
        request.credentialGeneration = 1
        request.wrappedKek = "Aes256Gcm.k.a"
        var first = Svx_Keystore_V1_RewrappedKey()
        first.id = "a"
        first.wrappedKey = "Aes256Gcm.1.x"
        var second = first
        second.id = "b"
        second.wrappedKey = "Aes256Gcm.2.x"
        request.deks = [first, second]
        request.newKekCheck = Data(repeating: 5, count: 32)
        let user = "u", nonce: [UInt8] = [1]
        let base = ProofTranscript.rotateKEK(request, userID: user, nonce: nonce)
        var changed = request
        changed.deks = [second, first]
        #expect(ProofTranscript.rotateKEK(changed, userID: user, nonce: nonce) != base, "order")
        changed = request
        changed.deks = [first]
        changed.keypairs = [second]
        #expect(ProofTranscript.rotateKEK(changed, userID: user, nonce: nonce) != base, "a DEK moved to the keypairs")
        changed = request
        changed.newKekCheck = Data(repeating: 6, count: 32)
        #expect(ProofTranscript.rotateKEK(changed, userID: user, nonce: nonce) != base, "new check")
        changed = request
        changed.deks[1].wrappedKey = "Aes256Gcm.3.x"
        #expect(ProofTranscript.rotateKEK(changed, userID: user, nonce: nonce) != base, "a wrap")
    }

    @Test func credentialTranscriptsNameTheirMethodAndRequest() {
        var change = Svx_Auth_V1_ChangeVerifierRequest()
        change.srpSaltHex = "aa"
        change.srpVerifierHex = "bb"
        change.expectedGeneration = 1
        change.newGeneration = 2
        change.currentCredentials.loginID = "login"
        let base = ProofTranscript.changeVerifier(change, userID: "u")
        var other = change
        other.srpVerifierHex = "bc"
        #expect(ProofTranscript.changeVerifier(other, userID: "u") != base)
        other = change
        other.currentCredentials.srpM1Hex = "ff"
        other.currentCredentials.bindingHex = "ee"
        #expect(ProofTranscript.changeVerifier(other, userID: "u") == base, "the proof itself is not covered")
        let digest = [UInt8](repeating: 3, count: 32)
        #expect(ProofTranscript.credentialBinding(purpose: "svx.auth.v1.Auth/ChangeVerifier", requestDigest: digest)
            != ProofTranscript.credentialBinding(purpose: "svx.keystore.v1.Keystore/SetKEKCheck", requestDigest: digest))
    }

    @Test func aSessionRemembersTheHighestKEKVersionOfItsUserOnly() throws {
        let date = Date(timeIntervalSince1970: 1_800_000_000)
        let earlier = AuthenticatedSession(
            username: "u", userID: "id-1", sessionID: "s1", token: "t1", expiresAt: date, credentialGeneration: 1,
            highestKEKVersion: 5)
        let new = AuthenticatedSession(
            username: "u", userID: "id-1", sessionID: "s2", token: "t2", expiresAt: date, credentialGeneration: 1)
        #expect(new.remembering(earlier).highestKEKVersion == 5)
        #expect(new.remembering(earlier).remembering(kekVersion: 3).highestKEKVersion == 5)
        #expect(new.remembering(kekVersion: 7).remembering(earlier).highestKEKVersion == 7)
        let stranger = AuthenticatedSession(
            username: "v", userID: "id-2", sessionID: "s3", token: "t3", expiresAt: date, credentialGeneration: 1,
            highestKEKVersion: 9)
        #expect(new.remembering(stranger).highestKEKVersion == 0)
        #expect(new.remembering(nil) == new)

        // A session.json written before the field existed reads as 0; the field survives a round trip.
        let encoder = JSONEncoder()
        let decoder = JSONDecoder()
        var json = try #require(try JSONSerialization.jsonObject(with: try encoder.encode(earlier)) as? [String: Any])
        #expect(json["highestKEKVersion"] as? Int == 5)
        json.removeValue(forKey: "highestKEKVersion")
        let old = try decoder.decode(AuthenticatedSession.self, from: try JSONSerialization.data(withJSONObject: json))
        #expect(old.highestKEKVersion == 0 && old.sessionID == "s1")
        #expect(try decoder.decode(AuthenticatedSession.self, from: try encoder.encode(earlier)) == earlier)
    }
}
