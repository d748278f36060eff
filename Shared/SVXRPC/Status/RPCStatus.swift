import SVXProto

/// The outcome of a call: a gRPC canonical code, a message safe to show to the caller, and machine-readable details.
///
/// Handlers throw it to answer with a status other than OK; clients throw it for every failed call.
public struct RPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    /// gRPC's canonical status codes (same numbers as `svx.rpc.v1.Code`). Opaque so new codes do not break callers.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        public static let ok = Code(rawValue: 0)
        public static let cancelled = Code(rawValue: 1)
        public static let unknown = Code(rawValue: 2)
        public static let invalidArgument = Code(rawValue: 3)
        public static let deadlineExceeded = Code(rawValue: 4)
        public static let notFound = Code(rawValue: 5)
        public static let alreadyExists = Code(rawValue: 6)
        public static let permissionDenied = Code(rawValue: 7)
        public static let resourceExhausted = Code(rawValue: 8)
        public static let failedPrecondition = Code(rawValue: 9)
        public static let aborted = Code(rawValue: 10)
        public static let outOfRange = Code(rawValue: 11)
        public static let unimplemented = Code(rawValue: 12)
        public static let `internal` = Code(rawValue: 13)
        public static let unavailable = Code(rawValue: 14)
        public static let dataLoss = Code(rawValue: 15)
        public static let unauthenticated = Code(rawValue: 16)

        private static let names = [
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
            "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
            "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
        ]

        /// The canonical name, e.g. `"INVALID_ARGUMENT"`; `"CODE_<n>"` for numbers outside the canonical set.
        public var name: String {
            Code.names.indices.contains(rawValue) ? Code.names[rawValue] : "CODE_\(rawValue)"
        }

        public var description: String { name }

        /// All canonical codes, in numeric order.
        public static let allCanonical: [Code] = (0...16).map { Code(rawValue: $0) }
    }

    public var code: Code
    public var message: String
    public var details: [String: String]

    public init(_ code: Code, _ message: String, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    public var description: String {
        message.isEmpty ? code.name : "\(code.name): \(message)"
    }

    public static func cancelled(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.cancelled, message, details: details)
    }
    public static func unknown(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.unknown, message, details: details)
    }
    public static func invalidArgument(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.invalidArgument, message, details: details)
    }
    public static func deadlineExceeded(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.deadlineExceeded, message, details: details)
    }
    public static func notFound(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.notFound, message, details: details)
    }
    public static func alreadyExists(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.alreadyExists, message, details: details)
    }
    public static func permissionDenied(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.permissionDenied, message, details: details)
    }
    public static func resourceExhausted(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.resourceExhausted, message, details: details)
    }
    public static func failedPrecondition(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.failedPrecondition, message, details: details)
    }
    public static func aborted(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.aborted, message, details: details)
    }
    public static func outOfRange(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.outOfRange, message, details: details)
    }
    public static func unimplemented(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.unimplemented, message, details: details)
    }
    public static func `internal`(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.internal, message, details: details)
    }
    public static func unavailable(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.unavailable, message, details: details)
    }
    public static func dataLoss(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.dataLoss, message, details: details)
    }
    public static func unauthenticated(_ message: String, details: [String: String] = [:]) -> RPCStatus {
        RPCStatus(.unauthenticated, message, details: details)
    }
}

// MARK: Wire conversion

extension RPCStatus {
    /// The status carried by a `Response` (a missing status means OK).
    public init(wire: Svx_Rpc_V1_Status) {
        self.init(Code(rawValue: wire.code.rawValue), wire.message, details: wire.details)
    }

    /// The wire form of this status.
    public var wire: Svx_Rpc_V1_Status {
        var status = Svx_Rpc_V1_Status()
        status.code = Svx_Rpc_V1_Code(rawValue: code.rawValue) ?? .unknown
        status.message = message
        status.details = details
        return status
    }
}
