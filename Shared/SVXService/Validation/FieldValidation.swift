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
