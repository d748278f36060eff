import Cryppo
import SRP
import Testing

func hex(_ s: String) -> [UInt8] { try! Hex.decode(s.filter { !$0.isWhitespace }) }
func big(_ s: String) -> BigNumber { try! BigNumber(hex: s) }

/// RFC 5054 Appendix B: 1024-bit group, SHA-1, through the same code path as production.
@Suite struct RFC5054Tests {
    let p = SRPParameters.rfc5054TestVector
    let salt = hex("BEB25379D1A8581EB5A727673A2441EE")
    let password = Array("password123".utf8)
    let a = hex("60975527035CF2AD1989806F0407210BC81EDC04E2762A56AFD529DDDA2D4393")
    let b = hex("E487CB59D31AC550471E81F00F6928E01DDA08E974A004F49E61F5D105284D20")
    let v = big("""
        7E273DE8696FFC4F4E337D05B4B375BEB0DDE1569E8FA00A9886D8129BADA1F1822223CA1A605B530E379BA4729FDC59F105B4787E5186F5
        C671085A1447B52A48CF1970B4FB6F8400BBF4CEBFBB168152E08AB5EA53D15C1AFF87B2B9DA6E04E058AD51CC72BFC9033B564E26480D78
        E955A5E29E7AB245DB2BE315E2099AFB
        """)
    let A = big("""
        61D5E490F6F1B79547B0704C436F523DD0E560F0C64115BB72557EC44352E8903211C04692272D8B2D1A5358A2CF1B6E0BFCF99F921530EC
        8E39356179EAE45E42BA92AEACED825171E1E8B9AF6D9C03E1327F44BE087EF06530E69F66615261EEF54073CA11CF5858F0EDFDFE15EFEA
        B349EF5D76988A3672FAC47B0769447B
        """)
    let B = big("""
        BD0C61512C692C0CB6D041FA01BB152D4916A1E77AF46AE105393011BAF38964DC46A0670DD125B95A981652236F99D9B681CBF87837EC99
        6C6DA04453728610D0C6DDB58B318885D7D82C7F8DEB75CE7BD4FBAA37089E6F9C6059F388838E7A00030B331EB76840910440B1B27AAEAE
        EB4012B7D7665238A8E3FB004B117B58
        """)
    let S = big("""
        B0DC82BABCF30674AE450C0287745E7990A3381F63B387AAF271A10D233861E359B48220F7C4693C9AE12B0A6F67809F0876E2D013800D6C
        41BB59B6D5979B5C00A172B4A2A5903A0BDCAF8A709585EB2AFAFA8F3499B200210DCC1F10EB33943CD67FC88A2F39A4BE5BEC4EC0A3212D
        C346D7E474B29EDE8A469FFECA686E5A
        """)

    @Test func groupMath() throws {
        #expect(p.k == big("7556AA045AEF2CDD07ABAF0F665C3E818913186F"))
        let x = p.x(salt: salt, username: "alice", password: password)
        #expect(x == big("94B7555AABE9127CC58CCF4993DB6CF84D16C124"))
        #expect(try p.verifier(salt: salt, username: "alice", password: password) == p.pad(v))
        #expect(try p.clientPublicKey(a: BigNumber(bytes: a)) == A)
        #expect(try p.serverPublicKey(b: BigNumber(bytes: b), verifier: v) == B)
        let u = try p.u(A: A, B: B)
        #expect(u == big("CE38B9593487DA98554ED47D70A7AE5F462EF019"))
        #expect(try p.clientSecret(B: B, x: x, a: BigNumber(bytes: a), u: u) == S)
        #expect(try p.serverSecret(A: A, verifier: v, u: u, b: BigNumber(bytes: b)) == S)
    }

    @Test func stateMachinesReproduceTheVector() throws {
        var client = try SRPClient(parameters: p, username: "alice", password: password, privateValue: a)
        var server = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b)
        #expect(client.publicKey == (try p.pad(A)))
        #expect(server.publicKey == (try p.pad(B)))
        let m1 = try client.respond(salt: salt, serverPublicKey: server.publicKey)
        let m2 = try server.verify(clientPublicKey: client.publicKey, clientProof: m1)
        try client.verify(serverProof: m2)
        let K = HashFunction.sha1.hash(try p.pad(S))
        #expect(client.sessionKey == K)
        #expect(server.sessionKey == K)
    }

    /// A server that keeps only (v, b, B) between BeginLogin and FinishLogin, as Auth does, rebuilds the same machine:
    /// the vector's exchange goes through it with the same K and M2 as the machine that made the challenge.
    @Test func restoredServerReproducesTheVector() throws {
        var client = try SRPClient(parameters: p, username: "alice", password: password, privateValue: a)
        let challenge = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b)
        var original = challenge
        var restored = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b, publicKey: challenge.publicKey)
        #expect(restored.publicKey == (try p.pad(B)))
        let m1 = try client.respond(salt: salt, serverPublicKey: challenge.publicKey)
        let m2 = try restored.verify(clientPublicKey: try p.pad(A), clientProof: m1)
        #expect(m2 == (try original.verify(clientPublicKey: try p.pad(A), clientProof: m1)))
        try client.verify(serverProof: m2)
        let K = HashFunction.sha1.hash(try p.pad(S))
        #expect(restored.sessionKey == K && restored.isVerified)
        // B given unpadded (leading zeros dropped) is the same B.
        var unpadded = try SRPServer(parameters: p, verifier: v.bytes, privateValue: b, publicKey: B.bytes)
        #expect(try unpadded.verify(clientPublicKey: A.bytes, clientProof: m1) == m2)
    }

    /// A restored machine whose B is not the one the client answered (the verifier changed since the challenge, or
    /// the stored row is not the one sent) refuses even the right proof.
    @Test func restoredServerWithAnotherBRefusesTheProof() throws {
        var client = try SRPClient(parameters: p, username: "alice", password: password, privateValue: a)
        let m1 = try client.respond(salt: salt, serverPublicKey: try p.pad(B))
        let otherB = try p.serverPublicKey(b: BigNumber(bytes: b), verifier: try v.adding(BigNumber(1)))
        var restored = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b, publicKey: try p.pad(otherB))
        #expect { _ = try restored.verify(clientPublicKey: try p.pad(A), clientProof: m1) } throws: {
            ($0 as? SRPError)?.code == .proofMismatch
        }
        #expect(restored.sessionKey == nil && !restored.isVerified)
        // The other way round: B right, the verifier another one.
        var wrongVerifier = try SRPServer(
            parameters: p, verifier: try p.pad(try v.adding(BigNumber(1))), privateValue: b, publicKey: try p.pad(B))
        #expect { _ = try wrongVerifier.verify(clientPublicKey: try p.pad(A), clientProof: m1) } throws: {
            ($0 as? SRPError)?.code == .proofMismatch
        }
    }

    /// The condition on K (a credential proof's binding) sees the vector's K, runs whatever M1 gave, and fails the
    /// exchange on its own.
    @Test func conditionOnTheSessionKey() throws {
        let K = HashFunction.sha1.hash(try p.pad(S))
        var client = try SRPClient(parameters: p, username: "alice", password: password, privateValue: a)
        let m1 = try client.respond(salt: salt, serverPublicKey: try p.pad(B))

        var seen: [[UInt8]] = []
        var server = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b, publicKey: try p.pad(B))
        let m2 = try server.verify(clientPublicKey: try p.pad(A), clientProof: m1, alsoRequiring: { seen.append($0); return true })
        #expect(seen == [K])
        try client.verify(serverProof: m2)

        // Right M1, condition false: a mismatch, no M2, no K kept.
        var refused = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b, publicKey: try p.pad(B))
        #expect { _ = try refused.verify(clientPublicKey: try p.pad(A), clientProof: m1, alsoRequiring: { _ in false }) } throws: {
            ($0 as? SRPError) == SRPError(.proofMismatch, "SRP: the client proof does not match")
        }
        #expect(refused.sessionKey == nil && !refused.isVerified)

        // Wrong M1: the condition still runs (with the server's K), and the answer is the same mismatch.
        seen = []
        var wrong = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b, publicKey: try p.pad(B))
        var badProof = m1
        badProof[0] ^= 1
        #expect { _ = try wrong.verify(clientPublicKey: try p.pad(A), clientProof: badProof, alsoRequiring: { seen.append($0); return true }) } throws: {
            ($0 as? SRPError) == SRPError(.proofMismatch, "SRP: the client proof does not match")
        }
        #expect(seen == [K])
    }

    @Test func wipeSessionKeyKeepsTheOutcome() throws {
        var client = try SRPClient(parameters: p, username: "alice", password: password, privateValue: a)
        var server = try SRPServer(parameters: p, verifier: try p.pad(v), privateValue: b)
        server.wipeSessionKey()  // nothing to wipe yet: still challenged
        let m1 = try client.respond(salt: salt, serverPublicKey: server.publicKey)
        _ = try server.verify(clientPublicKey: client.publicKey, clientProof: m1)
        #expect(server.sessionKey != nil)
        server.wipeSessionKey()
        #expect(server.sessionKey == nil && server.isVerified)
        #expect { _ = try server.verify(clientPublicKey: client.publicKey, clientProof: m1) } throws: {
            ($0 as? SRPError)?.code == .outOfOrder
        }
    }

    @Test func restoringRefusesWhatNoChallengeCouldHold() throws {
        let verifier = try p.pad(v), B = try p.pad(self.B)
        func code(_ body: () throws -> SRPServer) -> SRPError.Code? {
            do { _ = try body(); return nil } catch { return (error as? SRPError)?.code }
        }
        #expect(code { try SRPServer(parameters: p, verifier: verifier, privateValue: b, publicKey: [0]) } == .invalidInput)
        #expect(code { try SRPServer(parameters: p, verifier: verifier, privateValue: b, publicKey: try p.pad(p.group.N)) } == .invalidInput)
        #expect(code { try SRPServer(parameters: p, verifier: verifier, privateValue: b, publicKey: B + [1]) } == .invalidInput)
        #expect(code { try SRPServer(parameters: p, verifier: verifier, privateValue: [0, 0], publicKey: B) } == .invalidInput)
        #expect(code { try SRPServer(parameters: p, verifier: [], privateValue: b, publicKey: B) } == .invalidInput)
        #expect(code { try SRPServer(parameters: p, verifier: verifier + [1], privateValue: b, publicKey: B) } == .invalidInput)
    }
}

/// Production setting: 2048-bit group, SHA-256, Meeco's M1/M2.
@Suite struct MeecoSRPTests {
    let p = SRPParameters.meeco

    func register(_ password: [UInt8]) throws -> (salt: [UInt8], verifier: [UInt8]) {
        let salt = try SecureRandom.bytes(count: 32)
        return (salt, try p.verifier(salt: salt, username: "M9znjHbD5Xi", password: password))
    }

    @Test func roundTripWithSecretKeyPassword() throws {
        let secret = try SecretKey(parsing: "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9")
        let password = try secret.srpPassword(passphrase: "supersecretpassword")
        let (salt, verifier) = try register(password)
        #expect(verifier.count == 256)
        #expect(try p.paddedHex(verifier).count == 512)

        var client = try SRPClient(username: "M9znjHbD5Xi", password: password)
        var server = try SRPServer(verifier: verifier)
        #expect(client.sessionKey == nil && server.sessionKey == nil)
        // Over the wire as lowercase padded hex.
        let aHex = try p.paddedHex(client.publicKey), bHex = try p.paddedHex(server.publicKey)
        #expect(aHex.count == 512 && bHex.count == 512 && aHex == aHex.lowercased())
        let m1 = try client.respond(salt: salt, serverPublicKey: try p.decodeHex(bHex))
        let m2 = try server.verify(clientPublicKey: try p.decodeHex(aHex), clientProof: m1)
        let K = try client.verify(serverProof: m2)
        #expect(K.count == 32)
        #expect(server.sessionKey == K && client.isVerified && server.isVerified)
    }

    /// Fixed a, b: a regression vector for the production path (values computed by this implementation,
    /// cross-checked by the client/server agreement and the RFC 5054 vector above).
    @Test func fixedValuesAgree() throws {
        let password = Array("password".utf8)
        let salt = [UInt8](repeating: 0x11, count: 32)
        let verifier = try p.verifier(salt: salt, username: "u", password: password)
        var client = try SRPClient(parameters: p, username: "u", password: password, privateValue: [UInt8](repeating: 0xAA, count: 32))
        var server = try SRPServer(parameters: p, verifier: verifier, privateValue: [UInt8](repeating: 0xBB, count: 32))
        let m1 = try client.respond(salt: salt, serverPublicKey: server.publicKey)
        let m2 = try server.verify(clientPublicKey: client.publicKey, clientProof: m1)
        try client.verify(serverProof: m2)
        // M1 and M2 follow the formulas of meeco-compat.md §3 exactly.
        let A = BigNumber(bytes: client.publicKey), B = BigNumber(bytes: server.publicKey)
        let K = client.sessionKey!
        #expect(m1 == HashFunction.sha256.hash(try p.pad(A), try p.pad(B), K))
        #expect(m2 == HashFunction.sha256.hash(try p.pad(A), m1, K))
        #expect(p.k == BigNumber(bytes: HashFunction.sha256.hash(try p.pad(p.group.N), try p.pad(p.group.g))))
    }

    @Test func wrongPasswordIsAProofMismatch() throws {
        let (salt, verifier) = try register(Array("right".utf8))
        var client = try SRPClient(username: "M9znjHbD5Xi", password: Array("wrong".utf8))
        var server = try SRPServer(verifier: verifier)
        let m1 = try client.respond(salt: salt, serverPublicKey: server.publicKey)
        #expect(throws: SRPError(.proofMismatch, "SRP: the client proof does not match")) {
            _ = try server.verify(clientPublicKey: client.publicKey, clientProof: m1)
        }
        // A failed server stays failed.
        #expect { _ = try server.verify(clientPublicKey: client.publicKey, clientProof: m1) } throws: {
            ($0 as? SRPError)?.code == .outOfOrder
        }
        // A forged server proof is refused by the client.
        #expect { try client.verify(serverProof: [UInt8](repeating: 0, count: 32)) } throws: {
            ($0 as? SRPError)?.code == .proofMismatch
        }
        #expect(client.sessionKey == nil)
    }

    @Test func refusesZeroPublicValues() throws {
        let (salt, verifier) = try register(Array("pw".utf8))
        let N = try p.pad(p.group.N)
        let twoN = try p.group.N.adding(p.group.N).bytes
        for evil in [[], [0], [UInt8](repeating: 0, count: 256), N] {
            var server = try SRPServer(verifier: verifier)
            #expect { _ = try server.verify(clientPublicKey: evil, clientProof: [UInt8](repeating: 0, count: 32)) } throws: {
                ($0 as? SRPError)?.code == .illegalParameter
            }
            var client = try SRPClient(username: "u", password: Array("pw".utf8))
            #expect { _ = try client.respond(salt: salt, serverPublicKey: evil) } throws: {
                ($0 as? SRPError)?.code == .illegalParameter
            }
        }
        var server = try SRPServer(verifier: verifier)
        #expect { _ = try server.verify(clientPublicKey: twoN, clientProof: []) } throws: {
            ($0 as? SRPError)?.code == .invalidInput  // longer than N
        }
    }

    @Test func outOfOrderIsAnError() throws {
        let (salt, verifier) = try register(Array("pw".utf8))
        var client = try SRPClient(username: "u", password: Array("pw".utf8))
        #expect { try client.verify(serverProof: [1]) } throws: { ($0 as? SRPError)?.code == .outOfOrder }
        let server = try SRPServer(verifier: verifier)
        _ = try client.respond(salt: salt, serverPublicKey: server.publicKey)
        #expect { _ = try client.respond(salt: salt, serverPublicKey: server.publicKey) } throws: {
            ($0 as? SRPError)?.code == .outOfOrder
        }
        #expect(server.sessionKey == nil)
        #expect { _ = try SRPServer(parameters: p, verifier: [], privateValue: [1]) } throws: {
            ($0 as? SRPError)?.code == .invalidInput
        }
        #expect { _ = try SRPClient(parameters: p, username: "u", password: [], privateValue: [0, 0]) } throws: {
            ($0 as? SRPError)?.code == .invalidInput
        }
        #expect { _ = try p.decodeHex("zz") } throws: { ($0 as? SRPError)?.code == .invalidInput }
    }
}
