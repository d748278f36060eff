@testable import Auth
import Cryppo
import SRP
import SVXRPC
import SVXTestHarness
import Testing

@Suite struct WireValidationTests {
    @Test func usernames() throws {
        #expect(try WireValidation.username("M9znjHbD5Xi") == "M9znjHbD5Xi")
        #expect(invalidArgumentField { _ = try WireValidation.username("") } == "username")
        #expect(invalidArgumentField { _ = try WireValidation.username(String(repeating: "a", count: 65)) } == "username")
        #expect(invalidArgumentField { _ = try WireValidation.username("a.b") } == "username")
        #expect(invalidArgumentField { _ = try WireValidation.username("ü") } == "username")
        _ = try WireValidation.username(String(repeating: "a", count: 64))
    }

    @Test func hexNeedsExactLengthAndLowercase() throws {
        #expect(try WireValidation.hex("00ff", field: "x", bytes: 2) == [0, 255])
        #expect(invalidArgumentField { _ = try WireValidation.hex("00FF", field: "x", bytes: 2) } == "x")
        #expect(invalidArgumentField { _ = try WireValidation.hex("00f", field: "x", bytes: 2) } == "x")
        #expect(invalidArgumentField { _ = try WireValidation.hex("00ff00", field: "x", bytes: 2) } == "x")
        #expect(invalidArgumentField { _ = try WireValidation.hex("00fg", field: "x", bytes: 2) } == "x")
        #expect(invalidArgumentField { _ = try WireValidation.hex("", field: "x", bytes: 2) } == "x")
    }

    @Test func groupElementsAreInOneToNMinusOne() throws {
        let N = WireValidation.modulusHex
        #expect(N.count == 512)
        let zero = String(repeating: "0", count: 512)
        let one = String(repeating: "0", count: 511) + "1"
        #expect(try WireValidation.groupElement(one, field: "srp_a_hex").last == 1)
        #expect(invalidArgumentField { _ = try WireValidation.groupElement(zero, field: "srp_a_hex") } == "srp_a_hex")
        #expect(invalidArgumentField { _ = try WireValidation.groupElement(N, field: "srp_a_hex") } == "srp_a_hex")
        #expect(invalidArgumentField { _ = try WireValidation.groupElement(String(repeating: "f", count: 512), field: "srp_a_hex") } == "srp_a_hex")
        // N − 1 is accepted; a real A is accepted.
        let nMinusOne = try SRPParameters.meeco.group.N.modSub(BigNumber(1), SRPParameters.meeco.group.N)
        _ = nMinusOne
        let client = try SRPClient(username: "u", password: Array("p".utf8))
        _ = try WireValidation.groupElement(Hex.encode(client.publicKey), field: "srp_a_hex")
    }

    @Test func uuids() throws {
        let id = try WireValidation.uuid("123e4567-e89b-12d3-a456-426614174000", field: "login_id")
        #expect(id.wire == "123e4567-e89b-12d3-a456-426614174000")
        #expect(invalidArgumentField { _ = try WireValidation.uuid("nope", field: "login_id") } == "login_id")
        #expect(invalidArgumentField { _ = try WireValidation.uuid("", field: "login_id") } == "login_id")
    }

    @Test func fakeCredentialsAreDeterministicAndShapedLikeRealOnes() throws {
        let secret = [UInt8](repeating: 7, count: 32)
        let salt = FakeCredentials.salt(secret: secret, username: "nobody")
        #expect(salt.count == 32)
        #expect(salt == FakeCredentials.salt(secret: secret, username: "nobody"))
        #expect(salt != FakeCredentials.salt(secret: secret, username: "nobody2"))
        #expect(salt != FakeCredentials.salt(secret: [UInt8](repeating: 8, count: 32), username: "nobody"))
        let verifier = try FakeCredentials.verifier(secret: secret, username: "nobody")
        #expect(verifier.count == 256)
        _ = try WireValidation.groupElement(Hex.encode(verifier), field: "v")
    }

    @Test func fakeRecoveryCredentialsAreDomainSeparatedFromTheLogins() throws {
        let secret = [UInt8](repeating: 7, count: 32)
        let salt = FakeCredentials.salt(secret: secret, username: "nobody", for: .recovery)
        #expect(salt.count == 32)
        #expect(salt == FakeCredentials.salt(secret: secret, username: "nobody", for: .recovery))
        #expect(salt != FakeCredentials.salt(secret: secret, username: "nobody"))
        let verifier = try FakeCredentials.verifier(secret: secret, username: "nobody", for: .recovery)
        #expect(verifier.count == 256)
        #expect(verifier != (try FakeCredentials.verifier(secret: secret, username: "nobody")))
        _ = try WireValidation.groupElement(Hex.encode(verifier), field: "v")
    }
}
