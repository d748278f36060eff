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
    static let saltLength = 32
    static let proofLength = 32

    static func invalid(_ field: String, _ message: String) -> RPCStatus { FieldValidation.invalid(field, message) }

    /// A username: 1...64 characters of `A-Z a-z 0-9 _ -` (``FieldValidation/username(_:field:)``).
    static func username(_ text: String, field: String = "username") throws(RPCStatus) -> String {
        try FieldValidation.username(text, field: field)
    }

    /// Exactly `bytes` bytes as `2 × bytes` lowercase hex characters (``FieldValidation/lowercaseHex(_:field:bytes:)``).
    static func hex(_ text: String, field: String, bytes: Int) throws(RPCStatus) -> [UInt8] {
        try FieldValidation.lowercaseHex(text, field: field, bytes: bytes)
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
