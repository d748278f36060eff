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
    /// The server's logger with `request_id` and `method` metadata (never the token). Built when first read, so
    /// that a request that logs nothing pays nothing for it.
    public var logger: Logger {
        get {
            if let customLogger { return customLogger }
            var logger = baseLogger
            logger[metadataKey: "request_id"] = "\(requestID)"
            logger[metadataKey: "method"] = "\(method)"
            return logger
        }
        set { customLogger = newValue }
    }
    private let baseLogger: Logger
    private var customLogger: Logger?
    /// Which worker thread (0..<workerCount) runs the handler; -1 for an inline handler (``RPCRouter/registerInline(_:_:)``).
    public let workerIndex: Int
    /// The caller's IP address from ZeroMQ's "Peer-Address" metadata; empty when unknown.
    public let peerAddress: String
    /// The peer service whose CURVE key the caller proved in its handshake (``CurveServerSecurity/peers``); nil for
    /// any other caller, and always nil on a plaintext server. Peer-only methods require it.
    public let peerService: String?

    /// `logger` is the server's logger: ``logger`` adds the request's metadata to it.
    public init(
        method: String, requestID: UInt64, sessionToken: String = "", deadline: ContinuousClock.Instant,
        traceParent: String = "", logger: Logger, workerIndex: Int = 0, peerAddress: String = "",
        peerService: String? = nil
    ) {
        self.method = method
        self.requestID = requestID
        self.sessionToken = sessionToken
        self.deadline = deadline
        self.traceParent = traceParent
        self.baseLogger = logger
        self.workerIndex = workerIndex
        self.peerAddress = peerAddress
        self.peerService = peerService
    }

    /// Whether the deadline has passed.
    public var isExpired: Bool { ContinuousClock.now >= deadline }
}

/// Method name → handler. `Worker` is per-thread state handed to every handler on that thread
/// (for example the worker's own database connection).
///
/// Two kinds of handler:
/// - ``register(_:_:)``: runs on a worker thread of the pool and may block (database calls, peer RPCs).
/// - ``registerInline(_:_:)``: runs at once on the thread that read the request from the socket, without a hand-off to
///   the pool; it gets no `Worker`. For methods that only read memory and finish in microseconds (`Health/Check`):
///   they are answered even while every worker is busy, and cost no thread switch.
///
/// Register every method before ``RPCServer/start()``: the server takes a snapshot when it starts.
public final class RPCRouter<Worker>: Sendable {
    /// A type-erased pooled handler: request payload in, response payload out.
    typealias Handler = @Sendable (Data, RequestContext, Worker) throws -> [UInt8]

    /// What a method name leads to (an ``InlineHandler`` needs no `Worker`). A pooled method may have a
    /// ``RequestScreen``, run by the reading thread before the request is queued.
    enum Route: Sendable {
        case pooled(Handler, screen: RequestScreen?)
        case inline(InlineHandler)
    }

    private let routes = Mutex<[String: Route]>([:])

    public init() {}

    /// Registers (or replaces) the handler of `method`. It runs on a worker thread; it may block.
    /// A handler throwing ``RPCStatus`` sends that status; any other error is answered INTERNAL "internal error"
    /// (the error's type is logged, never its text or the payload).
    public func register<Req, Resp>(
        _ method: RPCMethod<Req, Resp>,
        _ handler: @escaping @Sendable (Req, RequestContext, Worker) throws -> Resp
    ) {
        register(method, admit: { _, _ in () }) { request, context, worker, _ in try handler(request, context, worker) }
    }

    /// Registers (or replaces) the handler of `method` with two checks in front of it, so that a request that will
    /// be refused costs as little as possible:
    /// - `screen` runs on the thread that reads the request, before it is queued (no I/O, microseconds: for example
    ///   the shape of the session token); a status it returns is the answer, and no worker ever sees the request.
    /// - `admit` runs on the worker before the payload is decoded (for example the session check); what it returns
    ///   is handed to the handler, a status it throws is the answer.
    public func register<Req, Resp, Admission>(
        _ method: RPCMethod<Req, Resp>,
        screen: RequestScreen? = nil,
        admit: @escaping @Sendable (RequestContext, Worker) throws -> Admission,
        _ handler: @escaping @Sendable (Req, RequestContext, Worker, Admission) throws -> Resp
    ) {
        let name = method.name
        let erased: Handler = { payload, context, worker in
            let admission = try admit(context, worker)
            let request = try Self.decode(Req.self, payload, method: name)
            return try handler(request, context, worker, admission).serializedBytes()
        }
        routes.withLock { $0[name] = .pooled(erased, screen: screen) }
    }

    /// Registers (or replaces) `method` as an inline handler: it runs on the thread that read the request (a worker
    /// holding the reading role or the server's I/O thread), before that thread reads on. It must not block or do
    /// I/O and must finish in microseconds; while it runs, requests behind it on the socket wait.
    /// `RequestContext.workerIndex` is -1. Errors are answered as for ``register(_:_:)``.
    public func registerInline<Req, Resp>(
        _ method: RPCMethod<Req, Resp>,
        _ handler: @escaping @Sendable (Req, RequestContext) throws -> Resp
    ) {
        let name = method.name
        let erased: InlineHandler = { payload, context in
            let request = try Self.decode(Req.self, payload, method: name)
            return try handler(request, context).serializedBytes()
        }
        routes.withLock { $0[name] = .inline(erased) }
    }

    private static func decode<Req: SwiftProtobuf.Message>(_: Req.Type, _ payload: Data, method: String) throws -> Req {
        do {
            return try Req(serializedBytes: payload)
        } catch {
            throw RPCStatus.invalidArgument("invalid request payload for \(method)")
        }
    }

    /// The registered method names, sorted.
    public var methods: [String] {
        routes.withLock { $0.keys.sorted() }
    }

    func snapshot() -> [String: Route] {
        routes.withLock { $0 }
    }
}

/// A check of a request's session token made by the thread that read the request, before it is queued:
/// it must not block or do I/O. nil lets the request through; a status is the answer.
public typealias RequestScreen = @Sendable (_ sessionToken: String) -> RPCStatus?

/// A type-erased inline handler (``RPCRouter/registerInline(_:_:)``): request payload in, response payload out.
typealias InlineHandler = @Sendable (Data, RequestContext) throws -> [UInt8]
