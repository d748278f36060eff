/// Base64 as Cryppo uses it. Hand-written (no Foundation) so the module stays small and the hot path
/// (serialising ciphertext) works on raw buffers.
public enum Base64URL {
    @usableFromInline static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    @usableFromInline static let standardAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static let urlTable: [UInt8] = table(urlAlphabet)
    static let standardTable: [UInt8] = table(standardAlphabet)
    /// For every 2-byte input (as a little-endian UInt16): the 12 bits it decodes to, or 0xFFFF if invalid.
    static let urlDecodePairs: [UInt16] = decodePairs(urlTable)
    static let standardDecodePairs: [UInt16] = decodePairs(standardTable)

    private static func decodePairs(_ table: [UInt8]) -> [UInt16] {
        (0..<65536).map { index in
            let first = table[index & 0xFF], second = table[index >> 8]
            return first | second == 0xFF || (first | second) & 0x80 != 0 ? 0xFFFF : UInt16(first) << 6 | UInt16(second)
        }
    }

    private static func table(_ alphabet: [UInt8]) -> [UInt8] {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }

    /// URL-safe base64 (`-`, `_`) with `=` padding, as Cryppo writes it.
    public static func encode(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encode($0) }
    }

    /// URL-safe padded base64 of a raw buffer.
    public static func encode(_ bytes: UnsafeRawBufferPointer) -> String {
        encode(bytes, alphabet: urlAlphabet)
    }

    static func encode(_ input: UnsafeRawBufferPointer, alphabet: [UInt8]) -> String {
        let outLength = encodedLength(input.count)
        if outLength == 0 { return "" }
        return String(unsafeUninitializedCapacity: outLength) { out in
            write(input, into: out, alphabet: alphabet)
        }
    }

    /// Length of the padded encoding of `count` bytes.
    @inlinable static func encodedLength(_ count: Int) -> Int { (count + 2) / 3 * 4 }

    /// Writes the padded URL-safe encoding of `input` at the start of `out` (which must be large enough);
    /// returns the number of bytes written. Lets callers build a whole Cryppo string in one allocation.
    /// Pairs of output characters for every 12-bit input value (little-endian UInt16), URL-safe alphabet: two
    /// table loads per 3 input bytes instead of four.
    static let urlPairs: [UInt16] = pairs(urlAlphabet)
    static let standardPairs: [UInt16] = pairs(standardAlphabet)

    private static func pairs(_ alphabet: [UInt8]) -> [UInt16] {
        (0..<4096).map { UInt16(alphabet[$0 >> 6]) | UInt16(alphabet[$0 & 63]) << 8 }
    }

    @discardableResult
    static func write(
        _ input: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>, alphabet: [UInt8] = urlAlphabet
    ) -> Int {
        let n = input.count
        precondition(out.count >= encodedLength(n))
        guard n > 0, let outBase = out.baseAddress, let inBase = input.baseAddress else { return 0 }
        let pairTable = alphabet == urlAlphabet ? urlPairs : standardPairs
        let raw = UnsafeMutableRawPointer(outBase)
        var i = 0, o = 0
        pairTable.withUnsafeBufferPointer { pairs in
            let p = inBase.assumingMemoryBound(to: UInt8.self)
            while i + 3 <= n {
                let v = Int(p[i]) << 16 | Int(p[i + 1]) << 8 | Int(p[i + 2])
                raw.storeBytes(of: pairs[v >> 12], toByteOffset: o, as: UInt16.self)
                raw.storeBytes(of: pairs[v & 0xFFF], toByteOffset: o + 2, as: UInt16.self)
                i += 3
                o += 4
            }
        }
        return alphabet.withUnsafeBufferPointer { a in
            let rest = n - i
            if rest > 0 {
                let v = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                out[o] = a[Int(v >> 18)]
                out[o + 1] = a[Int(v >> 12 & 63)]
                out[o + 2] = rest == 2 ? a[Int(v >> 6 & 63)] : UInt8(ascii: "=")
                out[o + 3] = UInt8(ascii: "=")
                o += 4
            }
            return o
        }
    }

    /// Standard base64 (`+`, `/`) with padding, as legacy YAML artefacts hold it.
    public static func encodeStandard(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { encode($0, alphabet: standardAlphabet) }
    }

    /// Decodes URL-safe base64, padded or not. `+`, `/`, whitespace and any other character are refused.
    public static func decode(_ text: some StringProtocol) throws -> [UInt8] {
        try decode(utf8: text.utf8, table: urlTable, name: "URL-safe base64")
    }

    /// Decodes standard base64 (`+`, `/`), padded or not (used inside legacy YAML artefacts).
    public static func decodeStandard(_ text: some StringProtocol) throws -> [UInt8] {
        try decode(utf8: text.utf8, table: standardTable, name: "base64")
    }

    static func decode(utf8: some Collection<UInt8>, table: [UInt8], name: String) throws -> [UInt8] {
        if let fast = try utf8.withContiguousStorageIfAvailable({ try decode(buffer: $0, table: table, name: name) }) {
            return fast
        }
        let copy = Array(utf8)
        return try copy.withUnsafeBufferPointer { try decode(buffer: $0, table: table, name: name) }
    }

    static func decode(buffer input: UnsafeBufferPointer<UInt8>, table: [UInt8], name: String) throws -> [UInt8] {
        var n = input.count
        // Strip up to two '=' of padding; then the unpadded length must not be 1 mod 4.
        var padding = 0
        while n > 0, input[n - 1] == UInt8(ascii: "="), padding < 2 {
            n -= 1
            padding += 1
        }
        if padding > 0, (n + padding) % 4 != 0 {
            throw CryppoError(.invalidBase64, "invalid \(name): wrong padding")
        }
        if n % 4 == 1 { throw CryppoError(.invalidBase64, "invalid \(name): truncated") }
        let outLength = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1)
        var bad = false
        let pairTable = table == urlTable ? urlDecodePairs : standardDecodePairs
        let out = [UInt8](unsafeUninitializedCapacity: outLength) { o, initialized in
            initialized = outLength
            var i = 0, j = 0
            // Main loop: two 12-bit lookups per 4 characters, indexed by the raw 2-byte loads.
            if n >= 4, let inBase = input.baseAddress {
                let raw = UnsafeRawPointer(inBase)
                pairTable.withUnsafeBufferPointer { pairs in
                    var acc: UInt16 = 0
                    while i + 4 <= n {
                        let hi = pairs[Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt16.self)))]
                        let lo = pairs[Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i + 2, as: UInt16.self)))]
                        acc |= hi | lo
                        let v = UInt32(hi) << 12 | UInt32(lo)
                        o[j] = UInt8(truncatingIfNeeded: v >> 16)
                        o[j + 1] = UInt8(truncatingIfNeeded: v >> 8)
                        o[j + 2] = UInt8(truncatingIfNeeded: v)
                        i += 4
                        j += 3
                    }
                    if acc & 0xF000 != 0 { bad = true }  // 0xFFFF marks a pair with a character outside the alphabet
                }
            }
            table.withUnsafeBufferPointer { t in
                let rest = n - i
                if rest >= 2 {
                    let a = t[Int(input[i])], b = t[Int(input[i + 1])]
                    let c = rest == 3 ? t[Int(input[i + 2])] : 0
                    if (a | b | c) & 0x80 != 0 { bad = true }
                    o[j] = a << 2 | b >> 4
                    if rest == 3 { o[j + 1] = b << 4 | c >> 2 }
                }
            }
        }
        if bad {
            throw CryppoError(.invalidBase64, "invalid \(name): character outside the alphabet")
        }
        return out
    }
}

/// Lowercase hexadecimal.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    public static func encode(_ bytes: [UInt8]) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, b) in bytes.enumerated() {
                out[2 * i] = digits[Int(b >> 4)]
                out[2 * i + 1] = digits[Int(b & 15)]
            }
            return bytes.count * 2
        }
    }

    /// Decodes hex (either case). Throws on odd length or a non-hex character.
    public static func decode(_ text: some StringProtocol) throws -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { throw CryppoError(.invalidFormat, "hex string of odd length") }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        func value(_ c: UInt8) throws -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw CryppoError(.invalidFormat, "not a hex string")
            }
        }
        var i = 0
        while i < utf8.count {
            out.append(try value(utf8[i]) << 4 | value(utf8[i + 1]))
            i += 2
        }
        return out
    }
}

/// Base58 with the Bitcoin alphabet (used by the Secret Key).
public enum Base58 {
    static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    /// Encodes `bytes`; each leading zero byte becomes a leading `1`.
    public static func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        var digits = [UInt8]()  // base-58 digits, least significant first
        for byte in bytes.dropFirst(zeros) {
            var carry = Int(byte)
            for k in digits.indices {
                carry += Int(digits[k]) << 8
                digits[k] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        let chars = [UInt8](repeating: alphabet[0], count: zeros) + digits.reversed().map { alphabet[Int($0)] }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Decodes base58 text; throws on a character outside the alphabet.
    public static func decode(_ text: String) throws -> [UInt8] {
        let utf8 = Array(text.utf8)
        let zeros = utf8.prefix { $0 == alphabet[0] }.count
        var bytes = [UInt8]()  // least significant first
        for c in utf8.dropFirst(zeros) {
            guard let value = alphabet.firstIndex(of: c) else {
                throw CryppoError(.invalidFormat, "not base58: character outside the alphabet")
            }
            var carry = value
            for k in bytes.indices {
                carry += Int(bytes[k]) * 58
                bytes[k] = UInt8(carry & 0xFF)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: zeros) + bytes.reversed()
    }
}
