import COpenSSL

/// An immutable non-negative arbitrary-precision integer over OpenSSL `BIGNUM`, for SRP-6a.
///
/// Every operation returns a new value. Values are cleared (`BN_clear_free`) on release because SRP exponents
/// and session secrets are held in them. Exponentiation is Montgomery constant-time (`BN_mod_exp_mont_consttime`).
public final class BigNumber: @unchecked Sendable, Equatable, CustomStringConvertible {
    // @unchecked Sendable: the BIGNUM is written only inside the initialising operation, never after it is
    // wrapped, and read-only BN_* calls (with a per-call BN_CTX) are safe from several threads.
    let pointer: OpaquePointer

    private init(owning pointer: OpaquePointer) { self.pointer = pointer }

    deinit { BN_clear_free(pointer) }

    /// Makes a new BIGNUM, lets `body` fill it, and wraps it (freeing it if `body` fails).
    private static func make(_ what: String, _ body: (OpaquePointer, OpaquePointer) -> Int32) throws -> BigNumber {
        guard let bn = BN_new() else { throw CryppoError.openSSL("BN_new") }
        guard let ctx = BN_CTX_new() else {
            BN_free(bn)
            throw CryppoError.openSSL("BN_CTX_new")
        }
        defer { BN_CTX_free(ctx) }
        guard body(bn, ctx) == 1 else {
            BN_clear_free(bn)
            throw CryppoError.openSSL(what)
        }
        return BigNumber(owning: bn)
    }

    /// The integer whose big-endian unsigned representation is `bytes` (empty means zero).
    public convenience init(bytes: [UInt8]) {
        guard let bn = bytes.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else {
            fatalError("BN_bin2bn: out of memory")
        }
        self.init(owning: bn)
    }

    /// Parses hexadecimal digits (either case, optional surrounding whitespace, no `0x`).
    public convenience init(hex: String) throws {
        let digits = hex.filter { !$0.isWhitespace }
        guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else {
            throw CryppoError(.invalidFormat, "not a hexadecimal number")
        }
        self.init(bytes: try Hex.decode(digits.count % 2 == 1 ? "0" + digits : digits))
    }

    /// A small integer.
    public convenience init(_ value: UInt) {
        var big = value.bigEndian
        let bytes = withUnsafeBytes(of: &big) { Array($0) }
        self.init(bytes: bytes)
    }

    /// Minimal big-endian bytes (empty for zero).
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(COpenSSL_BN_num_bytes(pointer)))
        _ = BN_bn2bin(pointer, &out)
        return out
    }

    /// Big-endian bytes left-padded with zeros to `length`. Throws if the number does not fit.
    public func bytes(paddedTo length: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        guard BN_bn2binpad(pointer, &out, Int32(length)) == Int32(length) else {
            throw CryppoError(.invalidLength, "number of \(byteCount) bytes does not fit in \(length)")
        }
        return out
    }

    /// Number of bytes of the minimal representation.
    public var byteCount: Int { Int(COpenSSL_BN_num_bytes(pointer)) }

    /// Lowercase hex, minimal (zero is `"0"`).
    public var hex: String { bytes.isEmpty ? "0" : Hex.encode(bytes).drop { $0 == "0" }.description }

    /// Lowercase hex left-padded with zeros to `characters`.
    public func hex(paddedTo characters: Int) throws -> String {
        Hex.encode(try bytes(paddedTo: (characters + 1) / 2))
    }

    public var description: String { hex }

    public var isZero: Bool { BN_is_zero(pointer) == 1 }

    public static func == (lhs: BigNumber, rhs: BigNumber) -> Bool { BN_cmp(lhs.pointer, rhs.pointer) == 0 }

    /// `self mod m` (non-negative).
    public func mod(_ m: BigNumber) throws -> BigNumber {
        try Self.make("BN_nnmod") { r, ctx in BN_nnmod(r, pointer, m.pointer, ctx) }
    }

    /// `(self + other) mod m`.
    public func modAdd(_ other: BigNumber, _ m: BigNumber) throws -> BigNumber {
        try Self.make("BN_mod_add") { r, ctx in BN_mod_add(r, pointer, other.pointer, m.pointer, ctx) }
    }

    /// `(self − other) mod m`, non-negative.
    public func modSub(_ other: BigNumber, _ m: BigNumber) throws -> BigNumber {
        try Self.make("BN_mod_sub") { r, ctx in BN_mod_sub(r, pointer, other.pointer, m.pointer, ctx) }
    }

    /// `(self × other) mod m`.
    public func modMul(_ other: BigNumber, _ m: BigNumber) throws -> BigNumber {
        try Self.make("BN_mod_mul") { r, ctx in BN_mod_mul(r, pointer, other.pointer, m.pointer, ctx) }
    }

    /// `self + other` (no reduction).
    public func adding(_ other: BigNumber) throws -> BigNumber {
        try Self.make("BN_add") { r, _ in BN_add(r, pointer, other.pointer) }
    }

    /// `self × other` (no reduction).
    public func multiplied(by other: BigNumber) throws -> BigNumber {
        try Self.make("BN_mul") { r, ctx in BN_mul(r, pointer, other.pointer, ctx) }
    }

    /// `self^exponent mod m` in constant time (Montgomery; `m` must be odd, as SRP group primes are).
    public func modExp(_ exponent: BigNumber, _ m: BigNumber) throws -> BigNumber {
        guard BN_is_odd(m.pointer) == 1 else { throw CryppoError(.invalidFormat, "constant-time modexp needs an odd modulus") }
        return try Self.make("BN_mod_exp_mont_consttime") { r, ctx in
            // The exponent is secret: mark a private copy constant-time so OpenSSL picks the fixed-window path.
            guard let e = BN_dup(exponent.pointer) else { return 0 }
            defer { BN_clear_free(e) }
            BN_set_flags(e, BN_FLG_CONSTTIME)
            return BN_mod_exp_mont_consttime(r, pointer, e, m.pointer, ctx, nil)
        }
    }
}
