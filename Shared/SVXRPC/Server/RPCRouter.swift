import Foundation
import Logging
import SwiftProtobuf
import Synchronization

/// What a handler knows about the request it serves. One per request, built on the worker thread.
public struct RequestContext: Sendable {
    public let method: String
    public let requestID: UInt64
    /// The caller's opaque session token (empty for unauthenticated calls). Never log it.
    public let sessionToken: String
    /// When the caller stops waiting. Handlers doing long work should check it.
    public let deadline: ContinuousClock.Instant
    public let traceParent: String
    /// The server's logger with `request_id` and `method` metadata (never the token).
    public var logger: Logger
    /// Which worker thread (0..<workerCount) runs the handler.
    public let workerIndex: Int
    /// The caller's IP address from ZeroMQ's "Peer-Address" metadata; empty when unknown.
    public let peerAddress: String

    public init(
        method: String, requestID: UInt64, sessionToken: String = "", deadline: ContinuousClock.Instant,
        traceParent: String = "", logger: Logger, workerIndex: Int = 0, peerAddress: String = ""
    ) {
        self.method = method
        self.requestID = requestID
        self.sessionToken = sessionToken
        self.deadline = deadline
        self.traceParent = traceParent
        self.logger = logger
        self.workerIndex = workerIndex
        self.peerAddress = peerAddress
    }

    /// Whether the deadline has passed.
    public var isExpired: Bool { ContinuousClock.now >= deadline }
}

/// Method name → handler. `Worker` is per-thread state handed to every handler on that thread
/// (for example the worker's own database connection).
///
/// Register every method before ``RPCServer/start()``: the server takes a snapshot when it starts.
public final class RPCRouter<Worker>: Sendable {
    /// A type-erased handler: request payload in, response payload out.
    typealias Handler = @Sendable (Data, RequestContext, Worker) throws -> [UInt8]

    private let handlers = Mutex<[String: Handler]>([:])

    public init() {}

    /// Registers (or replaces) the handler of `method`. It runs on a worker thread; it may block.
    /// A handler throwing ``RPCStatus`` sends that status; any other error is answered INTERNAL "internal error"
    /// (the error's type is logged, never its text or the payload).
    public func register<Req, Resp>(
        _ method: RPCMethod<Req, Resp>,
        _ handler: @escaping @Sendable (Req, RequestContext, Worker) throws -> Resp
    ) {
        let name = method.name
        let erased: Handler = { payload, context, worker in
            let request: Req
            do {
                request = try Req(serializedBytes: payload)
            } catch {
                throw RPCStatus.invalidArgument("invalid request payload for \(name)")
            }
            let response = try handler(request, context, worker)
            return try response.serializedBytes()
        }
        handlers.withLock { $0[name] = erased }
    }

    /// The registered method names, sorted.
    public var methods: [String] {
        handlers.withLock { $0.keys.sorted() }
    }

    func snapshot() -> [String: Handler] {
        handlers.withLock { $0 }
    }
}
