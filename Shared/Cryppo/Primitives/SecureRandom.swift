import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`).
public enum SecureRandom {
    /// `count` random bytes. Throws only if the generator is not seeded, which on Linux does not happen in practice.
    public static func bytes(count: Int) throws -> [UInt8] {
        precondition(count >= 0, "negative count")
        var out = [UInt8](repeating: 0, count: count)
        if count == 0 { return out }
        let ok = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32($0.count)) }
        guard ok == 1 else { throw CryppoError.openSSL("RAND_bytes") }
        return out
    }

    /// A uniformly distributed integer in `0..<upperBound` (rejection sampling, no modulo bias).
    public static func integer(below upperBound: UInt32) throws -> UInt32 {
        precondition(upperBound > 0)
        let limit = UInt32.max - UInt32.max % upperBound
        while true {
            let b = try bytes(count: 4)
            let value = b.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            if value < limit { return value % upperBound }
        }
    }
}

/// Comparison whose running time does not depend on where two byte strings differ.
public enum ConstantTime {
    /// `true` when `a` and `b` are equal. Different lengths return `false` at once (lengths are not secret).
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0 }
        }
    }
}

/// Overwrites the bytes of `buffer` with zeros in a way the optimiser may not remove (`OPENSSL_cleanse`).
@inlinable
public func secureZero(_ buffer: inout [UInt8]) {
    cleanse(&buffer)
}

@usableFromInline
func cleanse(_ buffer: inout [UInt8]) {
    buffer.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress, raw.count > 0 { OPENSSL_cleanse(base, raw.count) }
    }
}
