import Cryppo
import Foundation
import SVXProto
import Testing

@testable import SVXClient

/// The exact formats of sharing.md §2.2, without I/O: key fingerprints, the proofs under the invitation secret, the
/// invitation code, the safety code, and the check of a connection's keys as the SDK runs it. The fixed vectors were
/// computed once outside Swift (OpenSSL's command line for the fingerprints, Python's hmac/hashlib and a base58 of
/// its own for the rest) and are checked in here.
enum SharingVectors {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("CryppoTests/Fixtures")
    static func fixture(_ name: String) -> String {
        try! String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
    }

    /// The inviter's key (rsa4096-public.pem) and the invitee's (the public half of rsa4096-other-private.pem).
    static let inviterPEM = fixture("rsa4096-public.pem")
    static let inviteePEM = try! RSAPrivateKey(pem: fixture("rsa4096-other-private.pem")).publicKeyPEM
    /// `openssl pkey -pubin -outform DER | sha256sum` of each.
    static let inviterFingerprint = "137fd97e1937f392d511b6557dd03c8a8cef0631fef51ce897a16c9f7fda8255"
    static let inviteeFingerprint = "318e21b2342a8177004ff19dd274a38fddd76bb67bb349b2025b2ec8f400cbd4"
    /// S = bytes 00..1f.
    static let secret = try! InvitationSecret(bytes: Array(0..<32))
    static let inviterProof = "1d7150e0891a23165f05e6220d45539f0d1cec55bf81c6b1f717672ffa890584"
    static let inviteeProof = "3310daa6035977300f5cb62127e954296570e031bc6ac75085784a637b877bed"
    static let safetyCode = "95446 70574 30787 22524 06181 33826 00915 52218 04397 34105 29065 51621"
    /// Token = 32 bytes ff, S as above (its leading zero byte is base58's leading `1`).
    static let inviterID = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b"
    static let invitationID = "0190a5b2-7c3d-7e4f-9a1b-2c3d4e5f6a7c"
    static let token = [UInt8](repeating: 0xff, count: 32)
    static let tokenBase58 = "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG"
    static let secretBase58 = "1thX6LZfHDZZKUs92febYZhYRcXddmzfzF2NvTkPNE"
    static let code = "svxi.1.\(inviterID).\(invitationID).\(tokenBase58).\(secretBase58)"

    /// A third key, for swaps (2048 bits: quick to make).
    static let strangerPEM = try! RSAPrivateKey.generate(bits: 2048).publicKeyPEM
}

@Suite struct KeyFingerprintTests {
    @Test func theFingerprintIsTheSHA256OfTheDERSubjectPublicKeyInfo() throws {
        let inviter = try KeyFingerprint(publicKeyPEM: SharingVectors.inviterPEM)
        #expect(inviter.hex == SharingVectors.inviterFingerprint)
        #expect(inviter.description == SharingVectors.inviterFingerprint)
        #expect(try KeyFingerprint(publicKeyPEM: SharingVectors.inviteePEM).hex == SharingVectors.inviteeFingerprint)
        // The same key in a PEM with other line ends: the same fingerprint (DER is canonical).
        let crlf = SharingVectors.inviterPEM.replacing("\n", with: "\r\n")
        #expect(try KeyFingerprint(publicKeyPEM: crlf) == inviter)
        #expect(try KeyFingerprint(publicKey: try RSAPublicKey(pem: SharingVectors.inviterPEM)) == inviter)
        #expect(try KeyFingerprint(publicKeyPEM: SharingVectors.strangerPEM) != inviter)
    }

    @Test func theWireFormIsSixtyFourLowercaseHexDigits() throws {
        #expect(try KeyFingerprint(hex: SharingVectors.inviterFingerprint).bytes.count == 32)
        #expect(try KeyFingerprint(hex: SharingVectors.inviterFingerprint)
            == (try KeyFingerprint(publicKeyPEM: SharingVectors.inviterPEM)))
        for bad in [
            "", SharingVectors.inviterFingerprint.uppercased(), String(SharingVectors.inviterFingerprint.dropLast()),
            SharingVectors.inviterFingerprint + "0", String(SharingVectors.inviterFingerprint.dropLast()) + "g",
        ] {
            #expect(throws: SVXClientError.self, "\(bad)") { try KeyFingerprint(hex: bad) }
        }
    }

    @Test func notAnRSAPublicKeyIsRefused() {
        for bad in ["", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", SharingVectors.fixture("rsa4096-private.pem")] {
            let error = #expect(throws: SVXClientError.self) { try KeyFingerprint(publicKeyPEM: bad) }
            #expect(error?.code == .invalidInput)
        }
    }

    @Test func fingerprintsAreOrderedByteByByte() throws {
        let low = try KeyFingerprint(hex: "00" + String(repeating: "ff", count: 31))
        let high = try KeyFingerprint(hex: "80" + String(repeating: "00", count: 31))
        #expect(low < high && !(high < low))
        #expect(try KeyFingerprint(hex: SharingVectors.inviterFingerprint) < (try KeyFingerprint(hex: SharingVectors.inviteeFingerprint)))
    }
}

@Suite struct ConnectionProofTests {
    let inviter = try! KeyFingerprint(hex: SharingVectors.inviterFingerprint)
    let invitee = try! KeyFingerprint(hex: SharingVectors.inviteeFingerprint)

    @Test func theProofsMatchTheFixedVectors() {
        #expect(ConnectionProof.inviter(secret: SharingVectors.secret, inviterKey: inviter) == SharingVectors.inviterProof)
        #expect(
            ConnectionProof.invitee(secret: SharingVectors.secret, inviterKey: inviter, inviteeKey: invitee)
                == SharingVectors.inviteeProof)
    }

    @Test func eachProofDependsOnTheSecretTheKeysAndTheirOrder() throws {
        let other = try InvitationSecret(bytes: Array(1...32))
        #expect(ConnectionProof.inviter(secret: other, inviterKey: inviter) != SharingVectors.inviterProof)
        #expect(ConnectionProof.inviter(secret: SharingVectors.secret, inviterKey: invitee) != SharingVectors.inviterProof)
        #expect(
            ConnectionProof.invitee(secret: SharingVectors.secret, inviterKey: invitee, inviteeKey: inviter)
                != SharingVectors.inviteeProof)
        // The labels keep the two proofs apart: an inviter proof is never an invitee proof of the same key.
        #expect(
            ConnectionProof.invitee(secret: SharingVectors.secret, inviterKey: inviter, inviteeKey: inviter)
                != ConnectionProof.inviter(secret: SharingVectors.secret, inviterKey: inviter))
    }

    @Test func onlyTheExactProofMatches() {
        let proof = SharingVectors.inviterProof
        #expect(ConnectionProof.matches(proof, proof))
        var flipped = Array(proof.utf8)
        flipped[63] = flipped[63] == UInt8(ascii: "4") ? UInt8(ascii: "5") : UInt8(ascii: "4")
        for bad in [
            "", proof.uppercased(), String(proof.dropLast()), proof + "0", String(decoding: flipped, as: UTF8.self),
            SharingVectors.inviteeProof,
        ] {
            #expect(!ConnectionProof.matches(bad, proof), "\(bad)")
        }
    }

    @Test func theSecretIsThirtyTwoBytes() throws {
        for count in [0, 31, 33] {
            #expect(throws: SVXClientError.self) { try InvitationSecret(bytes: [UInt8](repeating: 1, count: count)) }
        }
        #expect(try InvitationSecret.random() != (try InvitationSecret.random()))
    }

    @Test func theSecretIsKeptEncryptedUnderTheDEK() throws {
        let dek = try SymmetricKey.random()
        let encrypted = try SharingVectors.secret.encrypted(under: dek)
        #expect(encrypted.hasPrefix("Aes256Gcm."))
        #expect(try InvitationSecret.decrypting(encrypted, with: dek) == SharingVectors.secret)
        #expect(throws: SVXClientError.self) { try InvitationSecret.decrypting(encrypted, with: try SymmetricKey.random()) }
        // A Cryppo string of something else than 32 bytes is no secret.
        let short = try Cryppo.encrypt([1, 2, 3], key: dek)
        #expect(throws: SVXClientError.self) { try InvitationSecret.decrypting(short, with: dek) }
    }
}

@Suite struct InvitationCodeTests {
    @Test func theCodeMatchesTheFixedVector() throws {
        let code = try InvitationCode(
            inviterID: SharingVectors.inviterID, invitationID: SharingVectors.invitationID, token: SharingVectors.token,
            secret: SharingVectors.secret)
        #expect(code.text == SharingVectors.code)
        #expect(code.tokenText == SharingVectors.tokenBase58)
        let parsed = try InvitationCode(parsing: SharingVectors.code)
        #expect(parsed == code)
        #expect(parsed.token == SharingVectors.token && parsed.secret == SharingVectors.secret)
        #expect(parsed.inviterID == SharingVectors.inviterID && parsed.invitationID == SharingVectors.invitationID)
    }

    @Test func codesRoundTrip() throws {
        for _ in 0..<50 {
            let code = try InvitationCode(
                inviterID: UUID().uuidString.lowercased(), invitationID: UUID().uuidString.lowercased(),
                token: try SecureRandom.bytes(count: 32), secret: try InvitationSecret.random())
            #expect(try InvitationCode(parsing: code.text) == code)
        }
        // Leading zero bytes survive (base58 writes them as leading 1s).
        let zeros = try InvitationCode(
            inviterID: SharingVectors.inviterID, invitationID: SharingVectors.invitationID,
            token: [UInt8](repeating: 0, count: 32), secret: try InvitationSecret(bytes: [0, 0] + Array(repeating: 7, count: 30)))
        #expect(zeros.tokenText == String(repeating: "1", count: 32))
        #expect(try InvitationCode(parsing: zeros.text) == zeros)
    }

    @Test func whiteSpaceAroundAndUppercaseIdsAreAccepted() throws {
        let expected = try InvitationCode(parsing: SharingVectors.code)
        #expect(try InvitationCode(parsing: "  \(SharingVectors.code)\r\n") == expected)
        let upper = "svxi.1.\(SharingVectors.inviterID.uppercased()).\(SharingVectors.invitationID.uppercased())."
            + "\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58)"
        #expect(try InvitationCode(parsing: upper) == expected)
        #expect(try InvitationCode(parsing: upper).inviterID == SharingVectors.inviterID)
    }

    @Test(arguments: [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("svxi", "found 1"),
        ("1.alice.ABCDEF", "does not start with svxi."),
        ("svx.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58)",
         "does not start with svxi."),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58)", "found 5"),
        ("\(SharingVectors.code).x", "found 7"),
        ("svxi.2.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58)",
         "version 2"),
        ("svxi.1.alice.\(SharingVectors.invitationID).\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58)",
         "inviter id is not a UUID"),
        ("svxi.1.\(SharingVectors.inviterID).0190a5b27c3d7e4f9a1b2c3d4e5f6a7c.\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58)",
         "invitation id is not a UUID"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID)..\(SharingVectors.secretBase58)", "token is empty"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58.dropLast())0.\(SharingVectors.secretBase58)",
         "token is not base58"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58.dropLast())l.\(SharingVectors.secretBase58)",
         "token is not base58"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58.dropLast(4)).\(SharingVectors.secretBase58)",
         "token is 30 bytes, not 32"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58)zz",
         "secret is 33 bytes, not 32"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58).\(SharingVectors.secretBase58.dropLast()) ",
         "secret is 31 bytes, not 32"),
        ("svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).\(SharingVectors.tokenBase58).x y",
         "secret is not base58"),
        ("svxi.1.\(String(repeating: "a", count: 300))", "longer than any invitation code"),
    ])
    func malformedCodesAreRefusedSayingWhy(text: String, reason: String) {
        let error = #expect(throws: SVXClientError.self) { try InvitationCode(parsing: text) }
        #expect(error?.code == .invalidInput)
        #expect(error?.message.hasPrefix("malformed invitation code: ") == true, "\(error?.message ?? "")")
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "") lacks \(reason)")
        // The message never repeats what was typed as the token or the secret.
        #expect(error?.message.contains(SharingVectors.tokenBase58.prefix(20)) == false)
        #expect(error?.message.contains(SharingVectors.secretBase58.prefix(20)) == false)
    }

    @Test func theDescriptionHidesTheSecrets() throws {
        let code = try InvitationCode(parsing: SharingVectors.code)
        #expect(code.description == "svxi.1.\(SharingVectors.inviterID).\(SharingVectors.invitationID).…")
        #expect(!"\(code)".contains(SharingVectors.tokenBase58) && !"\(code)".contains(SharingVectors.secretBase58))
    }

    @Test func partsAreCheckedWhenMadeToo() {
        #expect(throws: SVXClientError.self) {
            try InvitationCode(inviterID: "x", invitationID: SharingVectors.invitationID, token: SharingVectors.token, secret: SharingVectors.secret)
        }
        #expect(throws: SVXClientError.self) {
            try InvitationCode(
                inviterID: SharingVectors.inviterID, invitationID: SharingVectors.invitationID, token: [1, 2, 3],
                secret: SharingVectors.secret)
        }
    }
}

@Suite struct SafetyCodeTests {
    let inviter = try! KeyFingerprint(hex: SharingVectors.inviterFingerprint)
    let invitee = try! KeyFingerprint(hex: SharingVectors.inviteeFingerprint)

    @Test func theCodeMatchesTheFixedVector() {
        let code = SafetyCode(inviter, invitee)
        #expect(code.description == SharingVectors.safetyCode)
        #expect(code.groups.count == 12 && code.groups.allSatisfy { $0.count == 5 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) })
        // Leading zeros are kept.
        #expect(code.groups[4] == "06181" && code.groups[6] == "00915")
        #expect(code.lines == ["95446 70574 30787 22524", "06181 33826 00915 52218", "04397 34105 29065 51621"])
    }

    @Test func bothSidesSeeTheSameCode() throws {
        #expect(SafetyCode(inviter, invitee) == SafetyCode(invitee, inviter))
        for _ in 0..<20 {
            let a = try KeyFingerprint(hex: Hex.encode(try SecureRandom.bytes(count: 32)))
            let b = try KeyFingerprint(hex: Hex.encode(try SecureRandom.bytes(count: 32)))
            #expect(SafetyCode(a, b) == SafetyCode(b, a))
        }
    }

    @Test func aSwappedKeyChangesTheCode() throws {
        let stranger = try KeyFingerprint(publicKeyPEM: SharingVectors.strangerPEM)
        #expect(SafetyCode(inviter, stranger) != SafetyCode(inviter, invitee))
        #expect(SafetyCode(stranger, invitee) != SafetyCode(inviter, invitee))
    }
}

@Suite struct ConnectionKeyCheckTests {
    typealias V = SharingVectors

    func inviterSide(
        own: String = V.inviterPEM, other: String = V.inviteePEM, ownProof: String = V.inviterProof,
        otherProof: String = V.inviteeProof, otherKeySHA256: String = V.inviteeFingerprint, secret: InvitationSecret = V.secret
    ) -> ConnectionKeyCheck {
        .evaluate(
            role: .inviter, secret: secret, ownPublicKeyPEM: own, otherPublicKeyPEM: other, ownProof: ownProof,
            otherProof: otherProof, otherKeySHA256: otherKeySHA256)
    }

    func inviteeSide(
        own: String = V.inviteePEM, other: String = V.inviterPEM, ownProof: String = V.inviteeProof,
        otherProof: String = V.inviterProof, otherKeySHA256: String = V.inviterFingerprint
    ) -> ConnectionKeyCheck {
        .evaluate(
            role: .invitee, secret: V.secret, ownPublicKeyPEM: own, otherPublicKeyPEM: other, ownProof: ownProof,
            otherProof: otherProof, otherKeySHA256: otherKeySHA256)
    }

    func isMismatch(_ check: ConnectionKeyCheck) -> Bool {
        if case .mismatch = check { return true }
        return false
    }

    @Test func bothSidesOfAnHonestConnectionAreVerified() {
        #expect(inviterSide() == .verified)
        #expect(inviteeSide() == .verified)
        // The service's fingerprint is a convenience: without it the keys are still checked.
        #expect(inviterSide(otherKeySHA256: "") == .verified)
    }

    /// T1 as the inviter's SDK sees it: the service put another key in place of the invitee's (with its fingerprint).
    @Test func theInviterSeesASwappedInviteeKey() throws {
        let stranger = try KeyFingerprint(publicKeyPEM: V.strangerPEM).hex
        let check = inviterSide(other: V.strangerPEM, otherKeySHA256: stranger)
        #expect(isMismatch(check))
        #expect(check == .mismatch("the other user's public key is not the one proved with the invitation secret: it was changed after the invitation"))
        // Swapping the proof too does not help without S.
        #expect(isMismatch(inviterSide(other: V.strangerPEM, otherProof: V.inviterProof, otherKeySHA256: stranger)))
    }

    /// T2 after the fact: the invitee's side holds another inviter key than the one proved.
    @Test func theInviteeSeesASwappedInviterKey() throws {
        #expect(isMismatch(inviteeSide(other: V.strangerPEM, otherKeySHA256: try KeyFingerprint(publicKeyPEM: V.strangerPEM).hex)))
    }

    @Test func aSwappedOwnKeyOrProofIsAMismatchToo() {
        #expect(isMismatch(inviterSide(own: V.strangerPEM)))
        #expect(isMismatch(inviteeSide(own: V.strangerPEM)))
        #expect(isMismatch(inviterSide(ownProof: V.inviteeProof)))
        #expect(isMismatch(inviterSide(otherProof: "")))
        #expect(isMismatch(inviterSide(otherProof: V.inviteeProof.uppercased())))
    }

    @Test func anotherSecretOrAFalseFingerprintOrAnUnreadableKeyIsAMismatch() throws {
        #expect(isMismatch(inviterSide(secret: try InvitationSecret(bytes: Array(1...32)))))
        #expect(isMismatch(inviterSide(otherKeySHA256: V.inviterFingerprint)))
        #expect(isMismatch(inviterSide(other: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")))
        #expect(isMismatch(inviterSide(own: "")))
    }

    /// T2 as the invitee's SDK sees it before accepting.
    @Test func theInviteeChecksTheInvitersKeyBeforeAccepting() throws {
        let key = try ConnectionKeyCheck.inviterKey(publicKeyPEM: V.inviterPEM, proof: V.inviterProof, secret: V.secret)
        #expect(key.hex == V.inviterFingerprint)
        for (pem, proof) in [(V.strangerPEM, V.inviterProof), (V.inviterPEM, V.inviteeProof), ("garbage", V.inviterProof)] {
            let error = #expect(throws: SVXClientError.self) {
                try ConnectionKeyCheck.inviterKey(publicKeyPEM: pem, proof: proof, secret: V.secret)
            }
            #expect(error?.code == .keyVerificationFailed)
            #expect(error?.message.contains("Nothing was accepted") == true)
        }
    }
}

/// How the SDK reads a connection and an invitation from the wire: names decrypted with the private DEK, keys
/// checked under S decrypted with it too.
@Suite struct SharingWireTests {
    static let privateKey = try! RSAPrivateKey(pem: SharingVectors.fixture("rsa4096-private.pem"))

    func keys(dek: SymmetricKey) throws -> UnlockedKeys {
        UnlockedKeys(
            credentialGeneration: 1, kekVersion: 1, kek: try .random(), privateDEKID: "dek", privateDEK: dek,
            authKeypairID: "auth", authPrivateKey: Self.privateKey, authPublicKeyPEM: SharingVectors.inviterPEM,
            kekCheckVerified: true)
    }

    func inviterRow(dek: SymmetricKey) throws -> Svx_Sharing_V1_Connection {
        var row = Svx_Sharing_V1_Connection()
        row.connectionID = "0190a5b2-7c3d-7e4f-8a1b-000000000001"
        row.otherUserID = "0190a5b2-7c3d-7e4f-8a1b-000000000002"
        row.otherUsername = "bob"
        row.ownKeypairID = "kp"
        row.ownPublicKeyPem = SharingVectors.inviterPEM
        row.otherPublicKeyPem = SharingVectors.inviteePEM
        row.otherKeySha256 = SharingVectors.inviteeFingerprint
        row.ownProof = SharingVectors.inviterProof
        row.otherProof = SharingVectors.inviteeProof
        row.encryptedRecipientName = try Cryppo.encrypt(Array("Bob".utf8), key: dek)
        row.encryptedKeySecret = try SharingVectors.secret.encrypted(under: dek)
        row.role = .inviter
        row.state = .active
        row.createdAtMs = 1_700_000_000_000
        return row
    }

    @Test func aConnectionIsReadWithItsNameAndItsKeysChecked() throws {
        let dek = try SymmetricKey.random()
        let connection = try SharingClient.connection(try inviterRow(dek: dek), keys: try keys(dek: dek))
        #expect(connection.name == "Bob" && connection.displayName == "Bob")
        #expect(connection.keyCheck == .verified)
        #expect(connection.role == .inviter && connection.state == .active && connection.endedAt == nil)
        #expect(connection.safetyCode?.description == SharingVectors.safetyCode)
        #expect(connection.ownKey?.hex == SharingVectors.inviterFingerprint)
        // Without keys: no name, nothing checked, the fingerprints and the code all the same.
        let locked = try SharingClient.connection(try inviterRow(dek: dek), keys: nil)
        #expect(locked.name == nil && locked.displayName == "bob" && locked.keyCheck == .notChecked)
        #expect(locked.safetyCode?.description == SharingVectors.safetyCode)
    }

    @Test func aRowAlteredByTheServiceIsAMismatch() throws {
        let dek = try SymmetricKey.random()
        let keys = try keys(dek: dek)
        var swapped = try inviterRow(dek: dek)
        swapped.otherPublicKeyPem = SharingVectors.strangerPEM
        swapped.otherKeySha256 = try KeyFingerprint(publicKeyPEM: SharingVectors.strangerPEM).hex
        #expect(try SharingClient.connection(swapped, keys: keys).keyCheck != .verified)
        var foreignSecret = try inviterRow(dek: dek)
        foreignSecret.encryptedKeySecret = try SharingVectors.secret.encrypted(under: try .random())
        let check = try SharingClient.connection(foreignSecret, keys: keys).keyCheck
        #expect(check == .mismatch("the connection's invitation secret does not open with your private key: it was altered"))
        var foreignName = try inviterRow(dek: dek)
        foreignName.encryptedRecipientName = try Cryppo.encrypt(Array("Mallory".utf8), key: try .random())
        let unnamed = try SharingClient.connection(foreignName, keys: keys)
        #expect(unnamed.name == nil && unnamed.displayName == "bob" && unnamed.keyCheck == .verified)
    }

    @Test func unknownRolesAndStatesAreMalformedAnswers() throws {
        let dek = try SymmetricKey.random()
        var row = try inviterRow(dek: dek)
        row.role = .unspecified
        #expect(throws: SVXClientError.self) { try SharingClient.connection(row, keys: nil) }
        row = try inviterRow(dek: dek)
        row.state = .UNRECOGNIZED(9)
        #expect(throws: SVXClientError.self) { try SharingClient.connection(row, keys: nil) }
        var invitation = Svx_Sharing_V1_Invitation()
        #expect(throws: SVXClientError.self) { try SharingClient.invitation(invitation, keys: nil) }
        invitation.state = .expired
        invitation.encryptedRecipientName = try Cryppo.encrypt(Array("Carol".utf8), key: dek)
        invitation.expiresAtMs = 1_700_000_000_000
        let read = try SharingClient.invitation(invitation, keys: try keys(dek: dek))
        #expect(read.state == .expired && read.recipientName == "Carol" && read.decidedAt == nil && read.intendedUsername == nil)
        #expect(read.expiresAt == Date(timeIntervalSince1970: 1_700_000_000))
    }

    @Test func namesAreCheckedBeforeTheyAreEncrypted() throws {
        #expect(try SharingClient.checkedName("  Bob ") == "Bob")
        #expect(try SharingClient.checkedName(String(repeating: "é", count: 128)).utf8.count == 256)
        for bad in ["", "   ", "a\u{7}b", String(repeating: "x", count: 257)] {
            #expect(throws: SVXClientError.self, "\(bad)") { try SharingClient.checkedName(bad) }
        }
    }
}

@Suite struct InvitationLifetimeTests {
    @Test func lifetimesAreAWholeNumberAndAUnit() throws {
        #expect(try InvitationLifetime.milliseconds(parsing: "7d") == InvitationLifetime.defaultMilliseconds)
        #expect(try InvitationLifetime.milliseconds(parsing: "30d") == InvitationLifetime.maximumMilliseconds)
        #expect(try InvitationLifetime.milliseconds(parsing: "36h") == 36 * 3_600_000)
        #expect(try InvitationLifetime.milliseconds(parsing: "90m") == 90 * 60_000)
        #expect(try InvitationLifetime.milliseconds(parsing: "1s") == 1_000)
        #expect(try InvitationLifetime.milliseconds(parsing: "720h") == InvitationLifetime.maximumMilliseconds)
    }

    @Test(arguments: ["", "d", "7", "0d", "31d", "721h", "7w", "-1d", "+7d", " 7d", "7d ", "7.5d", "99999999999999999d", "٣d"])
    func anythingElseIsRefused(text: String) {
        #expect(throws: SVXClientError.self, "\(text)") { try InvitationLifetime.milliseconds(parsing: text) }
    }
}
