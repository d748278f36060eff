import Foundation
import SVXRPC

/// Checks of request fields that every service shares. Every refusal is INVALID_ARGUMENT with
/// `details["field"]` naming the field, and a message that says why.
public enum FieldValidation {
    public static func invalid(_ field: String, _ message: String) -> RPCStatus {
        RPCStatus(.invalidArgument, message, details: ["field": field])
    }

    /// A UUID in its canonical text form (either case).
    public static func uuid(_ text: String, field: String) throws(RPCStatus) -> UUID {
        guard !text.isEmpty else { throw invalid(field, "\(field) is required") }
        guard text.utf8.count == 36, let value = UUID(uuidString: text) else {
            throw invalid(field, "\(field) must be a UUID")
        }
        return value
    }

    /// A short name or identifier: 1...`maximumBytes` UTF-8 bytes, no control characters, no leading or trailing
    /// white space.
    public static func identifier(_ text: String, field: String, maximumBytes: Int = 128) throws(RPCStatus) -> String {
        guard !text.isEmpty else { throw invalid(field, "\(field) must not be empty") }
        guard text.utf8.count <= maximumBytes else {
            throw invalid(field, "\(field) is longer than \(maximumBytes) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw invalid(field, "\(field) must not contain control characters")
        }
        guard text.trimmingCharacters(in: .whitespaces) == text else {
            throw invalid(field, "\(field) must not start or end with white space")
        }
        return text
    }

    /// The longest username Auth accepts.
    public static let maximumUsernameLength = 64

    /// A username as Auth accepts it: 1...64 characters of `A-Z a-z 0-9 _ -` (server-generated ones are base58).
    /// Auth checks the usernames it is given with this; Sharing the intended recipient of an invitation.
    public static func username(_ text: String, field: String = "username") throws(RPCStatus) -> String {
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

    /// Exactly `bytes` bytes as `2 × bytes` lowercase hex characters (a digest, a MAC, an SRP value); returns the
    /// bytes.
    public static func lowercaseHex(_ text: String, field: String, bytes: Int) throws(RPCStatus) -> [UInt8] {
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

    /// A page size: 0 means `defaultSize`; more than `maximum` is refused.
    public static func pageSize(
        _ value: UInt32, field: String = "page_size", defaultSize: Int = 100, maximum: Int = 500
    ) throws(RPCStatus) -> Int {
        if value == 0 { return defaultSize }
        guard value <= maximum else { throw invalid(field, "\(field) must be at most \(maximum)") }
        return Int(value)
    }

    /// A page token of an id-ordered listing: empty (the first page) or the last id of the previous page.
    public static func pageToken(_ text: String, field: String = "page_token") throws(RPCStatus) -> UUID? {
        if text.isEmpty { return nil }
        guard text.utf8.count == 36, let value = UUID(uuidString: text) else {
            throw invalid(field, "\(field) is not a token this service gave out")
        }
        return value
    }
}

extension UUID {
    /// Lowercase canonical text, as svx puts ids on the wire.
    public var wire: String { uuidString.lowercased() }
}

extension RPCStatus {
    /// NOT_FOUND "<what> not found", naming the request field that pointed at it. Services give exactly this answer
    /// for another user's object and for one that does not exist.
    public static func notFound(_ what: String, field: String) -> RPCStatus {
        RPCStatus(.notFound, "\(what) not found", details: ["field": field])
    }
}
