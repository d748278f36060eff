import Cryppo
import Foundation
import SVXRPC
import SVXService
import SVXTestHarness
import Testing

/// The field checks every service shares (pure, before any database work).
@Suite struct FieldValidationTests {
    @Test func publicKeysMustBeRSASPKIOfAtLeast2048Bits() throws {
        let privateKey = try RSAPrivateKey.generate(bits: 2048)
        let pem = try privateKey.publicKeyPEM
        #expect(try FieldValidation.publicKeyPEM(pem) == pem)
        #expect(try FieldValidation.publicKeyPEM(pem.replacingOccurrences(of: "\n", with: "\r\n")) == pem)
        #expect(try FieldValidation.rsaPublicKey(pem).key.bits == 2048)
        // Made with `openssl ecparam -genkey -name prime256v1 | openssl ec -pubout` and
        // `openssl genrsa 1024 | openssl rsa -pubout`: well-formed SPKI, but not RSA / too small.
        let ecKey = """
            -----BEGIN PUBLIC KEY-----
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIN0vCeutJyuAztzWcMG0OGD7/LTF
            Ho75AxnLOv9rKG7UjSEe7gB0N5zuLdNG5zslvx3d1ozsYSfG2OD90edmsQ==
            -----END PUBLIC KEY-----
            """
        let rsa1024 = """
            -----BEGIN PUBLIC KEY-----
            MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC8P28nUKjVCmSgrQMb1kS4aq5W
            89tyYJDXwk/yHsKT7m/5/N63Uvl0xHNFpPAWVOunDHR165oFS8ue8NvZEzRngi7w
            VfLsqzgL21JwgDoK1/kOxfDL40cPRPoM8Phre3TN6FgPez4EHcUK79kR96EF1ozH
            ACEnk7yKKha31ol6wwIDAQAB
            -----END PUBLIC KEY-----
            """
        // Text after the block would be stored as it came (OpenSSL reads only the first block).
        let smuggled = pem + "\n" + (try privateKey.pem)
        for text in ["", "not a key", try privateKey.pem, ecKey, rsa1024, String(repeating: "-", count: 9000), smuggled, pem + pem] {
            #expect(invalidArgumentField { try FieldValidation.publicKeyPEM(text) } == "public_key_pem", "\(text.prefix(30))")
        }
        #expect(invalidArgumentField { try FieldValidation.publicKeyPEM("", field: "other_key") } == "other_key")
    }

    @Test func usernamesAreWhatAuthAccepts() throws {
        #expect(try FieldValidation.username("M9znjHbD5Xi") == "M9znjHbD5Xi")
        #expect(try FieldValidation.username("a_b-C9", field: "intended_username") == "a_b-C9")
        _ = try FieldValidation.username(String(repeating: "a", count: 64))
        for text in ["", String(repeating: "a", count: 65), "a.b", "ü", "a b", "a\u{0}"] {
            #expect(invalidArgumentField { try FieldValidation.username(text, field: "intended_username") } == "intended_username")
        }
    }

    @Test func lowercaseHexOfAnExactLength() throws {
        #expect(try FieldValidation.lowercaseHex("00ff", field: "x", bytes: 2) == [0, 255])
        for text in ["00FF", "00f", "00ff00", "00fg", ""] {
            #expect(invalidArgumentField { try FieldValidation.lowercaseHex(text, field: "x", bytes: 2) } == "x", "\(text)")
        }
    }

    @Test func timeOrderedIDsSortByCreation() throws {
        let earlier = try TimeOrderedID.make(now: Date(timeIntervalSince1970: 1_700_000_000))
        let later = try TimeOrderedID.make(now: Date(timeIntervalSince1970: 1_700_000_000.002))
        #expect(earlier.wire < later.wire)
        #expect(earlier.wire.dropFirst(14).first == "7")  // version 7
        #expect(earlier.wire.dropFirst(19).first.map { "89ab".contains($0) } == true)  // variant 10
    }
}
