import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A CurveZMQ keypair (Curve25519): what a service proves itself with, as a server and as a caller of its peers, or the
/// throwaway identity of one client. Keys travel in configuration as Z85 text (40 characters for 32 bytes,
/// ZeroMQ's RFC 32 encoding). The secret key is never logged or described.
public struct CurveKeyPair: Sendable, Equatable {
    /// 32 bytes.
    public let publicKey: [UInt8]
    /// 32 bytes.
    public let secretKey: [UInt8]

    /// Whether this libzmq was built with CURVE (Debian's is: `zmq_has("curve")`).
    public static var isAvailable: Bool { zmq_has("curve") == 1 }

    /// A new random keypair (libzmq's `zmq_curve_keypair`, from libsodium's CSPRNG).
    public static func generate() throws -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw ZMQError.last("zmq_curve_keypair") }
        defer { for index in secretText.indices { secretText[index] = 0 } }
        guard let publicKey = Z85.decode(String(cString: publicText)),
              let secretKey = Z85.decode(String(cString: secretText))
        else { throw ZMQError(operation: "zmq_curve_keypair (Z85)", errno: EINVAL) }
        return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// The keypair of a 32-byte secret key (its public key derived with `zmq_curve_public`).
    public init(secretKey: [UInt8]) throws {
        guard secretKey.count == 32, let secretText = Z85.encode(secretKey) else {
            throw CurveKeyError("a CURVE secret key is 32 bytes (40 Z85 characters)")
        }
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretText) == 0, let publicKey = Z85.decode(String(cString: publicText)) else {
            throw ZMQError.last("zmq_curve_public")
        }
        self.init(publicKey: publicKey, secretKey: secretKey)
    }

    /// The keypair of a Z85 secret key (40 characters), as a key file or `SVX_<SERVICE>_SECRET_KEY` holds it.
    public init(z85SecretKey text: String) throws {
        guard let secretKey = Z85.decode(text.trimmingWhitespace), secretKey.count == 32 else {
            throw CurveKeyError("a CURVE secret key is 40 Z85 characters")
        }
        try self.init(secretKey: secretKey)
    }

    private init(publicKey: [UInt8], secretKey: [UInt8]) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// The public key in Z85 (40 characters): what clients pin and peers recognise.
    public var z85PublicKey: String { Z85.encode(publicKey)! }
    /// The secret key in Z85, for a key file only.
    public var z85SecretKey: String { Z85.encode(secretKey)! }

    /// A 32-byte public key from its Z85 text (surrounding whitespace ignored); nil when it is not one.
    public static func publicKey(z85 text: String) -> [UInt8]? {
        guard let key = Z85.decode(text.trimmingWhitespace), key.count == 32 else { return nil }
        return key
    }
}

extension CurveKeyPair: CustomStringConvertible {
    /// The public key only.
    public var description: String { "CurveKeyPair(public: \(z85PublicKey))" }
}

/// A key that is not a CURVE key (wrong length or not Z85).
public struct CurveKeyError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// ZeroMQ's Z85 (RFC 32): 4 bytes become 5 printable characters.
public enum Z85 {
    /// The text of `bytes`; nil unless the length is a multiple of 4.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        guard zmq_z85_encode(&text, bytes, bytes.count) != nil else { return nil }
        return String(cString: text)
    }

    /// The bytes of `text`; nil unless its length is a multiple of 5 and every character is in Z85's alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0, characters.allSatisfy({ alphabet.contains($0) }) else { return nil }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        let decoded = text.withCString { zmq_z85_decode(&bytes, $0) }
        return decoded == nil ? nil : bytes
    }

    private static let alphabet = Set(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)
}

extension String {
    fileprivate var trimmingWhitespace: String {
        String(decoding: Array(utf8).drop { $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }.reversed()
            .drop { $0 == 32 || $0 == 10 || $0 == 13 || $0 == 9 }.reversed(), as: UTF8.self)
    }
}
