import COpenSSL

/// Secret bytes in memory that Cryppo allocated itself and wipes (`OPENSSL_cleanse`) when the last reference goes.
///
/// Copies handed out through ``SymmetricKey/bytes`` are ordinary arrays and are not wiped: prefer
/// ``SymmetricKey/withUnsafeBytes(_:)``.
final class SecureBytes: @unchecked Sendable {
    // @unchecked Sendable: the buffer is written only in init and wiped in deinit, when no other reference exists.
    let buffer: UnsafeMutableRawBufferPointer

    init(_ bytes: some Collection<UInt8>) {
        buffer = .allocate(byteCount: Swift.max(bytes.count, 1), alignment: 16)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        _ = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<bytes.count]).initializeMemory(
            as: UInt8.self, from: bytes)
        count = bytes.count
    }

    let count: Int

    deinit {
        OPENSSL_cleanse(buffer.baseAddress, buffer.count)
        buffer.deallocate()
    }
}

/// A symmetric key (AES-256 key, PDK, KEK, DEK...), wiped from memory when released.
public struct SymmetricKey: Sendable, Equatable {
    let storage: SecureBytes

    /// Wraps `bytes`. The caller's array is not wiped; use ``secureZero(_:)`` on it if it matters.
    public init(bytes: some Collection<UInt8>) {
        storage = SecureBytes(bytes)
    }

    /// A new random key of `byteCount` bytes (32 for AES-256).
    public static func random(byteCount: Int = 32) throws -> SymmetricKey {
        var raw = try SecureRandom.bytes(count: byteCount)
        defer { secureZero(&raw) }
        return SymmetricKey(bytes: raw)
    }

    /// Parses the URL-safe base64 form (with or without padding) used by `svx crypto --key`.
    public init(base64URL text: String) throws {
        var raw = try Base64URL.decode(text)
        defer { secureZero(&raw) }
        self.init(bytes: raw)
    }

    /// Number of bytes in the key.
    public var count: Int { storage.count }

    /// A copy of the key bytes. The copy is NOT wiped automatically.
    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The key as padded URL-safe base64.
    public var base64URL: String { withUnsafeBytes { Base64URL.encode($0) } }

    /// Runs `body` on the key bytes without copying them.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage.buffer[0..<storage.count]))
    }

    /// Constant-time equality.
    public static func == (lhs: SymmetricKey, rhs: SymmetricKey) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { a in
            rhs.withUnsafeBytes { b in a.count == 0 || CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0 }
        }
    }
}
