import Cryppo

/// The safety code of a connection, for a check by voice or side by side (sharing.md §2.2, Signal's safety-number
/// shape): SHA-512(min(fprA, fprB) ‖ max(fprA, fprB)), its first 60 bytes cut into 12 chunks of 5, each read as a
/// big-endian number modulo 100 000: 12 groups of 5 digits. The fingerprints are ordered, so both users of a
/// connection see the same code; a key swapped on either side changes it.
public struct SafetyCode: Sendable, Hashable, CustomStringConvertible {
    public static let groupCount = 12
    static let bytesPerGroup = 5

    /// The 12 groups, each exactly 5 digits (leading zeros kept).
    public let groups: [String]

    /// The code of the connection between the keys of `a` and `b` (in either order).
    public init(_ a: KeyFingerprint, _ b: KeyFingerprint) {
        let digest = HashFunction.sha512.hash(min(a, b).bytes, max(a, b).bytes)
        groups = (0..<Self.groupCount).map { index in
            let chunk = digest[(index * Self.bytesPerGroup)..<((index + 1) * Self.bytesPerGroup)]
            let value = chunk.reduce(UInt64(0)) { $0 << 8 | UInt64($1) } % 100_000
            let digits = String(value)
            return String(repeating: "0", count: 5 - digits.count) + digits
        }
    }

    /// The groups separated by spaces: `12345 67890 … 13579`.
    public var description: String { groups.joined(separator: " ") }

    /// Three lines of four groups, as people compare it.
    public var lines: [String] {
        stride(from: 0, to: Self.groupCount, by: 4).map { groups[$0..<($0 + 4)].joined(separator: " ") }
    }
}
