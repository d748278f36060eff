import SVXRPC

/// A service's answer other than OK, in the SDK's own terms: a gRPC canonical code, a message meant for the caller,
/// and machine-readable details (`field`, `reason`, `retry_after_ms`, ...; docs/rpc.md). A program that uses only
/// the SDK reads a failed call with ``init(_:)`` and never needs the transport's types.
///
/// The SDK's calls throw the transport's status today; `ServiceError(error)` reads that and a `ServiceError` alike,
/// so a caller written against it keeps working if the SDK throws `ServiceError` itself one day.
public struct ServiceError: Error, Sendable, Equatable, CustomStringConvertible {
    /// gRPC's canonical status codes (the numbers of `svx.rpc.v1.Code`). Opaque, so a new code breaks no caller.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        init(_ code: RPCStatus.Code) { rawValue = code.rawValue }

        public static let cancelled = Code(.cancelled)
        public static let unknown = Code(.unknown)
        public static let invalidArgument = Code(.invalidArgument)
        public static let deadlineExceeded = Code(.deadlineExceeded)
        public static let notFound = Code(.notFound)
        public static let alreadyExists = Code(.alreadyExists)
        public static let permissionDenied = Code(.permissionDenied)
        public static let resourceExhausted = Code(.resourceExhausted)
        public static let failedPrecondition = Code(.failedPrecondition)
        public static let aborted = Code(.aborted)
        public static let outOfRange = Code(.outOfRange)
        public static let unimplemented = Code(.unimplemented)
        public static let `internal` = Code(.internal)
        public static let unavailable = Code(.unavailable)
        public static let dataLoss = Code(.dataLoss)
        public static let unauthenticated = Code(.unauthenticated)

        /// The canonical name, e.g. `"INVALID_ARGUMENT"` (`"CODE_<n>"` outside the canonical set).
        public var name: String { RPCStatus.Code(rawValue: rawValue).name }
        public var description: String { name }
    }

    public let code: Code
    public let message: String
    public let details: [String: String]

    public init(_ code: Code, _ message: String, details: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.details = details
    }

    /// The service's answer that `error` carries; nil when `error` is not one (a failure on the client's side:
    /// ``SVXClientError``, a Cryppo error, a cancelled task, ...).
    public init?(_ error: any Error) {
        switch error {
        case let error as ServiceError: self = error
        case let status as RPCStatus: self.init(Code(status.code), status.message, details: status.details)
        default: return nil
        }
    }

    /// The request field the answer is about (`details["field"]`), if it names one.
    public var field: String? { details["field"] }

    /// Why, in a word the caller can test (`details["reason"]`, e.g. `"passphrase_change_pending"`), if given.
    public var reason: String? { details["reason"] }

    /// How long to wait before trying again (`details["retry_after_ms"]` of a RESOURCE_EXHAUSTED), if given.
    public var retryAfter: Duration? {
        guard let text = details["retry_after_ms"], let milliseconds = Int64(text), milliseconds >= 0 else { return nil }
        return .milliseconds(milliseconds)
    }

    public var description: String { message.isEmpty ? code.name : "\(code.name): \(message)" }
}
