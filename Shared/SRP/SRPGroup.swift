import Cryppo

/// An SRP group: a safe prime N and a generator g (RFC 5054 Appendix A).
public struct SRPGroup: Sendable {
    /// The prime modulus.
    public let N: BigNumber
    /// The generator.
    public let g: BigNumber
    /// Length of N in bytes: the width of PAD().
    public let byteLength: Int
    /// Name for messages ("RFC 5054 2048-bit").
    public let name: String

    /// A group from hex N and a small generator.
    public init(name: String, primeHex: String, generator: UInt) throws {
        N = try BigNumber(hex: primeHex)
        g = BigNumber(generator)
        byteLength = N.byteCount
        self.name = name
    }

    /// RFC 5054 Appendix A 1024-bit group, g = 2 (used by the Appendix B test vector).
    public static let rfc5054_1024 = try! SRPGroup(
        name: "RFC 5054 1024-bit",
        primeHex: """
            EEAF0AB9ADB38DD69C33F80AFA8FC5E86072618775FF3C0B9EA2314C9C256576D674DF7496EA81D3383B4813D692C6E0E0D5D8E25\
            0B98BE48E495C1D6089DAD15DC7D7B46154D6B6CE8EF4AD69B15D4982559B297BCF1885C529F566660E57EC68EDBC3C05726CC02F\
            D4CBF4976EAA9AFD5138FE8376435B9FC61D2FC0EB06E3
            """, generator: 2)

    /// RFC 5054 Appendix A 2048-bit group, g = 2 (the production group, as the Meeco clients use).
    public static let rfc5054_2048 = try! SRPGroup(
        name: "RFC 5054 2048-bit",
        primeHex: """
            AC6BDB41324A9A9BF166DE5E1389582FAF72B6651987EE07FC3192943DB56050A37329CBB4A099ED8193E0757767A13DD52312AB4\
            B03310DCD7F48A9DA04FD50E8083969EDB767B0CF6095179A163AB3661A05FBD5FAAAE82918A9962F0B93B855F97993EC975EEAA8\
            0D740ADBF4FF747359D041D5C33EA71D281E446B14773BCA97B43A23FB801676BD207A436C6481F1D2B9078717461A5B9D32E688F\
            87748544523B524B0D57D5EA77A2775D2ECFA032CFBDBF52FB3786160279004E57AE6AF874E7303CE53299CCC041C7BC308D82A56\
            98F3A8D0C38271AE35F8E9DBFBB694B5C803D89F7AE435DE236D525F54759B65E372FCD68EF20FA7111F9E4AFF73
            """, generator: 2)
}

/// A group and a hash: everything that varies between the RFC 5054 vector (1024-bit, SHA-1) and production
/// (2048-bit, SHA-256). All SRP math goes through one ``SRPParameters`` so both settings share one code path.
public struct SRPParameters: Sendable {
    public let group: SRPGroup
    public let hash: HashFunction
    /// k = H(PAD(N) || PAD(g)).
    public let k: BigNumber

    public init(group: SRPGroup, hash: HashFunction) {
        self.group = group
        self.hash = hash
        // PAD cannot fail for N and g (both fit in the group width).
        k = BigNumber(bytes: hash.hash(try! group.N.bytes(paddedTo: group.byteLength),
                                       try! group.g.bytes(paddedTo: group.byteLength)))
    }

    /// Production: RFC 5054 2048-bit group with SHA-256 (meeco-compat.md §3).
    public static let meeco = SRPParameters(group: .rfc5054_2048, hash: .sha256)
    /// The RFC 5054 Appendix B setting: 1024-bit group with SHA-1.
    public static let rfc5054TestVector = SRPParameters(group: .rfc5054_1024, hash: .sha1)

    /// PAD(x): big-endian, left-padded with zeros to the length of N.
    public func pad(_ x: BigNumber) throws -> [UInt8] { try x.bytes(paddedTo: group.byteLength) }

    /// x = H(s || H(I || ":" || P)). The intermediate digests are wiped.
    public func x(salt: [UInt8], username: String, password: [UInt8]) -> BigNumber {
        var inner = hash.hash(Array(username.utf8), [UInt8(ascii: ":")], password)
        defer { secureZero(&inner) }
        var outer = hash.hash(salt, inner)
        defer { secureZero(&outer) }
        return BigNumber(bytes: outer)
    }

    /// v = g^x mod N, PAD()ded: what the client registers and the server stores.
    public func verifier(salt: [UInt8], username: String, password: [UInt8]) throws -> [UInt8] {
        let x = x(salt: salt, username: username, password: password)
        return try pad(try group.g.modExp(x, group.N))
    }

    /// A = g^a mod N.
    public func clientPublicKey(a: BigNumber) throws -> BigNumber { try group.g.modExp(a, group.N) }

    /// B = (k·v + g^b) mod N.
    public func serverPublicKey(b: BigNumber, verifier v: BigNumber) throws -> BigNumber {
        try k.modMul(v, group.N).modAdd(try group.g.modExp(b, group.N), group.N)
    }

    /// u = H(PAD(A) || PAD(B)).
    public func u(A: BigNumber, B: BigNumber) throws -> BigNumber {
        BigNumber(bytes: hash.hash(try pad(A), try pad(B)))
    }

    /// Client premaster secret S = (B − k·g^x)^(a + u·x) mod N.
    public func clientSecret(B: BigNumber, x: BigNumber, a: BigNumber, u: BigNumber) throws -> BigNumber {
        let N = group.N
        let base = try B.modSub(try k.modMul(try group.g.modExp(x, N), N), N)
        let exponent = try a.adding(try u.multiplied(by: x))
        return try base.modExp(exponent, N)
    }

    /// Server premaster secret S = (A · v^u)^b mod N.
    public func serverSecret(A: BigNumber, verifier v: BigNumber, u: BigNumber, b: BigNumber) throws -> BigNumber {
        let N = group.N
        return try A.modMul(try v.modExp(u, N), N).modExp(b, N)
    }

    /// K = H(PAD(S)). PAD(S), the premaster secret's bytes, is wiped.
    public func sessionKey(S: BigNumber) throws -> [UInt8] {
        var padded = try pad(S)
        defer { secureZero(&padded) }
        return hash.hash(padded)
    }

    /// M1 = H(PAD(A) || PAD(B) || K) (Meeco's form, not RFC 2945's).
    public func clientProof(A: BigNumber, B: BigNumber, K: [UInt8]) throws -> [UInt8] {
        hash.hash(try pad(A), try pad(B), K)
    }

    /// M2 = H(PAD(A) || M1 || K).
    public func serverProof(A: BigNumber, M1: [UInt8], K: [UInt8]) throws -> [UInt8] {
        hash.hash(try pad(A), M1, K)
    }

    /// Lowercase hex of a public value or verifier, padded to the group width (512 characters for 2048-bit).
    public func paddedHex(_ bytes: [UInt8]) throws -> String {
        try BigNumber(bytes: bytes).hex(paddedTo: group.byteLength * 2)
    }

    /// Decodes wire hex (either case), refusing values longer than the group.
    public func decodeHex(_ text: String) throws -> [UInt8] {
        let bytes: [UInt8]
        do {
            bytes = try Hex.decode(text.count % 2 == 1 ? "0" + text : text)
        } catch {
            throw SRPError(.invalidInput, "not a hex value")
        }
        guard bytes.count <= group.byteLength else { throw SRPError(.invalidInput, "value longer than the group modulus") }
        return bytes
    }
}
