import Cryppo
import Foundation
import SRP
import SVXRPC
import SVXService

/// Checks of request fields, before any database or SRP work. Every refusal is INVALID_ARGUMENT with
/// `details["field"]` naming the field. Pure: unit-tested in AuthTests.
enum WireValidation {
    static let parameters = SRPParameters.meeco
    /// The group width in hex characters (512 for the 2048-bit group).
    static let groupHexLength = parameters.group.byteLength * 2
    /// N in lowercase hex, padded: a 512-character value is below N exactly when it sorts below this.
    static let modulusHex = (try! parameters.group.N.hex(paddedTo: groupHexLength)).lowercased()
    static let maximumUsernameLength = 64
    static let saltLength = 32
    static let proofLength = 32

    static func invalid(_ field: String, _ message: String) -> RPCStatus { FieldValidation.invalid(field, message) }

    /// A username: 1...64 characters of `A-Z a-z 0-9 _ -` (server-generated ones are base58).
    static func username(_ text: String, field: String = "username") throws(RPCStatus) -> String {
        let utf8 = text.utf8
        guard !utf8.isEmpty else { throw invalid(field, "\(field) is required") }
        guard utf8.count <= maximumUsernameLength else {
            throw invalid(field, "\(field) is longer than \(maximumUsernameLength) characters")
        }
        for c in utf8 {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                throw invalid(field, "\(field) may contain only letters, digits, '_' and '-'")
            }
        }
        return text
    }

    /// Exactly `bytes` bytes as `2 × bytes` lowercase hex characters.
    static func hex(_ text: String, field: String, bytes: Int) throws(RPCStatus) -> [UInt8] {
        let utf8 = Array(text.utf8)
        guard utf8.count == bytes * 2 else {
            throw invalid(field, "\(field) must be \(bytes * 2) lowercase hex characters, got \(utf8.count)")
        }
        var out = [UInt8]()
        out.reserveCapacity(bytes)
        var high: UInt8 = 0
        for (index, c) in utf8.enumerated() {
            let value: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = c - UInt8(ascii: "a") + 10
            default: throw invalid(field, "\(field) must be lowercase hex")
            }
            if index % 2 == 0 { high = value } else { out.append(high << 4 | value) }
        }
        return out
    }

    /// A group element (A or a verifier): 512 lowercase hex characters of a value in 1..<N.
    /// A ≡ 0 (mod N), including A = 0 and A = N, is refused.
    static func groupElement(_ text: String, field: String) throws(RPCStatus) -> [UInt8] {
        let bytes = try hex(text, field: field, bytes: parameters.group.byteLength)
        // Same length, lowercase: lexicographic order is numeric order.
        guard text < modulusHex else { throw invalid(field, "\(field) must be less than the group modulus N") }
        guard bytes.contains(where: { $0 != 0 }) else { throw invalid(field, "\(field) must not be zero (mod N)") }
        return bytes
    }

    static func uuid(_ text: String, field: String) throws(RPCStatus) -> UUID {
        try FieldValidation.uuid(text, field: field)
    }
}
