import Foundation
import SVXProto
import SwiftProtobuf
import Synchronization

/// Settings of an ``RPCClient``.
public struct RPCClientConfiguration: Sendable {
    /// Calls on the wire at once. Further calls wait (FIFO, still bound by their deadlines) for a free slot.
    public var maxInFlight: Int
    /// The timeout of a call that names none.
    public var defaultTimeout: Duration
    /// The largest response frame accepted (`ZMQ_MAXMSGSIZE`): a server sending a larger one is disconnected, and
    /// the calls waiting on it fail at their deadline. Bounds what a rogue or impersonated server can make the client
    /// allocate.
    public var maxResponseBytes: Int
    /// What the client's I/O thread is called (cut to the kernel's 15 bytes).
    public var threadName: String
    /// CURVE towards the server (nil: plain TCP).
    public var curve: CurveClientSecurity?

    public init(
        maxInFlight: Int = 1000, defaultTimeout: Duration = .seconds(10), maxResponseBytes: Int = 64 << 20,
        threadName: String = "svxrpc-client", curve: CurveClientSecurity? = nil
    ) {
        self.curve = curve
        self.threadName = threadName
        self.maxInFlight = maxInFlight
        self.defaultTimeout = defaultTimeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// The CURVE settings of a client: the server's public key it pins, and its own keypair.
public struct CurveClientSecurity: Sendable {
    /// The server's public key (32 bytes): a server that cannot prove it is never talked to.
    public var serverPublicKey: [UInt8]
    /// The client's keypair: a service calling a peer uses its own long-term one, so the peer knows which service
    /// calls; nil makes a throwaway keypair for this client.
    public var keyPair: CurveKeyPair?

    public init(serverPublicKey: [UInt8], keyPair: CurveKeyPair? = nil) {
        self.serverPublicKey = serverPublicKey
        self.keyPair = keyPair
    }

    /// Makes `socket` (not yet connected) a CURVE client of the pinned server, with ``keyPair`` or a throwaway one: what
    /// ``RPCClient`` does, for tools and tests that drive a raw socket.
    public func apply(to socket: ZMQSocket) throws {
        let keyPair = try keyPair ?? CurveKeyPair.generate()
        try socket.setOption(.curveServerKey, serverPublicKey)
        try socket.setOption(.curvePublicKey, keyPair.publicKey)
        try socket.setOption(.curveSecretKey, keyPair.secretKey)
    }
}

/// A client of one svx service endpoint: one DEALER socket owned by one I/O thread; safe to share between tasks and
/// threads. Many calls are in flight at once, matched by request id; each has a deadline after which it fails
/// DEADLINE_EXCEEDED (or UNAVAILABLE if it could never be sent), whatever the server does. See docs/rpc.md.
public final class RPCClient: Sendable {
    public let endpoint: String
    private let configuration: RPCClientConfiguration
    private let core: ClientCore
    private let thread: Mutex<JoinableThread?>
    /// Over CURVE: the socket's handshakes, to say why a call got no answer (``HandshakeWatch``).
    private let handshakes: HandshakeWatch?

    /// Connects (asynchronously: a missing server is not an error here, calls fail UNAVAILABLE at their deadline).
    /// Throws ``ZMQError`` for a malformed endpoint.
    public init(endpoint: String, configuration: RPCClientConfiguration = .init()) throws {
        precondition(configuration.maxInFlight > 0)
        self.endpoint = endpoint
        self.configuration = configuration
        let context = try ZMQContext(ioThreads: 1)
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setOption(.immediate, 1)
        try socket.setOption(.linger, 0)
        try socket.setOption(.sendHighWaterMark, max(1000, configuration.maxInFlight * 2))
        try socket.setOption(.receiveHighWaterMark, max(1000, configuration.maxInFlight * 2))
        try socket.setOption(.maxMessageSize, configuration.maxResponseBytes)
        // A server that stops answering PINGs (gone without a FIN, or stalled mid-frame) is dropped and reconnected.
        try socket.setOption(.heartbeatInterval, RPCServerConfiguration.defaultHeartbeatMilliseconds)
        try socket.setOption(.heartbeatTimeout, RPCServerConfiguration.defaultHeartbeatMilliseconds * 3)
        if let curve = configuration.curve {
            try curve.apply(to: socket)
            handshakes = HandshakeWatch(endpoint: endpoint, monitor: try ZMQSocketMonitor(
                socket, events: [.connected, .disconnected, .handshakeSucceeded, .handshakeFailed]))
        } else {
            handshakes = nil
        }
        try socket.connect(endpoint)
        let core = try ClientCore(socket: socket, maxInFlight: configuration.maxInFlight)
        self.core = core
        self.thread = Mutex(JoinableThread(name: configuration.threadName) { core.run() })
    }

    deinit {
        close()
    }

    /// Fails every pending call with CANCELLED "client closed", closes the socket and joins the I/O thread.
    /// Later calls fail UNAVAILABLE. Idempotent.
    public func close() {
        core.close()
        handshakes?.close()
        let thread = self.thread.withLock { thread -> JoinableThread? in
            defer { thread = nil }
            return thread
        }
        thread?.join()
    }

    /// Calls `method`. Throws ``RPCStatus``: the server's status, DEADLINE_EXCEEDED after `timeout` (default:
    /// the configuration's), UNAVAILABLE if it could not be sent, CANCELLED if the task is cancelled.
    public func call<Req, Resp>(
        _ method: RPCMethod<Req, Resp>, _ request: Req, sessionToken: String = "", timeout: Duration? = nil,
        traceParent: String = ""
    ) async throws -> Resp {
        let prepared = try prepare(method, request, sessionToken, timeout, traceParent)
        let core = self.core
        let response: Svx_Rpc_V1_Response
        do {
            response = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<Svx_Rpc_V1_Response, any Error>) in
                core.submit(
                    id: prepared.id, deadline: prepared.deadline, frame: prepared.frame, blocking: false,
                    isCancelled: { Task.isCancelled }
                ) { result in
                    continuation.resume(with: result.mapError { $0 as any Error })
                }
            }
            } onCancel: {
                core.cancel(id: prepared.id)
            }
        } catch let status as RPCStatus {
            throw explained(status)
        }
        return try Self.decode(response, as: Resp.self)
    }

    /// The blocking form of ``call(_:_:sessionToken:timeout:traceParent:)`` for threads that may block (server
    /// workers, tools). Never call it from Swift concurrency's cooperative pool.
    public func callBlocking<Req, Resp>(
        _ method: RPCMethod<Req, Resp>, _ request: Req, sessionToken: String = "", timeout: Duration? = nil,
        traceParent: String = ""
    ) throws -> Resp {
        let prepared = try prepare(method, request, sessionToken, timeout, traceParent)
        let box = ResultBox()
        let personal: Wakeup
        do {
            personal = try core.borrowWakeup()
        } catch {
            throw RPCStatus.unavailable("cannot wait for the call: \(error)")
        }
        defer { core.returnWakeup(personal) }
        let caller = currentThreadID()
        let accepted = core.submit(
            id: prepared.id, deadline: prepared.deadline, frame: prepared.frame, blocking: true, isCancelled: { false }
        ) { result in
            box.set(result)
            // Whoever read the response wakes the caller, unless that is the caller itself (it is not asleep).
            if currentThreadID() != caller { personal.signal() }
        }
        if accepted {
            // This thread reads the socket itself until its response (or its deadline) arrives.
            core.waitBlocking(deadline: prepared.deadline, personal: personal, isDone: { box.isSet })
        }
        guard let result = box.result else { throw explained(RPCStatus.deadlineExceeded("deadline exceeded")) }
        return try Self.decode(result.mapError(explained).get(), as: Resp.self)
    }

    /// A call that ran out of time (DEADLINE_EXCEEDED, or UNAVAILABLE when it was never sent) while the connection never
    /// got through the CURVE handshake: UNAVAILABLE saying so, naming the endpoint.
    private func explained(_ status: RPCStatus) -> RPCStatus {
        guard status.code == .deadlineExceeded || status.code == .unavailable, let failure = handshakes?.failure() else {
            return status
        }
        return RPCStatus(.unavailable, failure)
    }

    private struct Prepared {
        let id: UInt64
        let frame: [UInt8]
        let deadline: ContinuousClock.Instant
        let timeout: Duration
    }

    private func prepare<Req, Resp>(
        _ method: RPCMethod<Req, Resp>, _ request: Req, _ sessionToken: String, _ timeout: Duration?,
        _ traceParent: String
    ) throws -> Prepared {
        let timeout = max(timeout ?? configuration.defaultTimeout, .zero)
        let deadline = ContinuousClock.now + timeout
        let id = core.nextID()
        var envelope = Svx_Rpc_V1_Request()
        envelope.method = method.name
        envelope.requestID = id
        envelope.sessionToken = sessionToken
        envelope.deadlineMs = UInt64(max(0, unixMilliseconds() + max(1, timeout.millisecondsRoundedUp)))
        envelope.traceParent = traceParent
        do {
            envelope.payload = try request.serializedData()
            return Prepared(id: id, frame: try envelope.serializedBytes(), deadline: deadline, timeout: timeout)
        } catch {
            throw RPCStatus.invalidArgument("cannot serialize the request")
        }
    }

    private static func decode<Resp: SwiftProtobuf.Message>(_ response: Svx_Rpc_V1_Response, as: Resp.Type) throws
        -> Resp
    {
        if response.hasStatus && response.status.code != .ok {
            throw RPCStatus(wire: response.status)
        }
        do {
            return try Resp(serializedBytes: response.payload)
        } catch {
            throw RPCStatus.internal("invalid response payload")
        }
    }
}

/// What the monitor of a CURVE client's socket reported: whether the current connection finished its handshake, and
/// how the last ones failed. Read only when a call ran out of time.
private final class HandshakeWatch: Sendable {
    private struct State {
        let monitor: ZMQSocketMonitor
        var connected = false
        var secured = false
        var failedHandshakes = 0
        var lastFailure: (event: ZMQSocketEvent, value: UInt32)?
    }
    private let endpoint: String
    private let state: Mutex<State>

    init(endpoint: String, monitor: ZMQSocketMonitor) {
        self.endpoint = endpoint
        state = Mutex(State(monitor: monitor))
    }

    /// Why calls get no answer, when the connection is up but not secured (nil: secured, or never connected).
    func failure() -> String? {
        state.withLock { state -> String? in
            for (event, value) in state.monitor.drain() {
                switch event {
                case .connected:
                    state.connected = true
                    state.secured = false
                case .handshakeSucceeded:
                    state.secured = true
                    state.failedHandshakes = 0
                case .disconnected:
                    if state.connected && !state.secured { state.failedHandshakes += 1 }
                    state.connected = false
                    state.secured = false
                default:
                    if !event.isDisjoint(with: .handshakeFailed) {
                        state.lastFailure = (event, value)
                        state.failedHandshakes += 1
                    }
                }
            }
            guard !state.secured, state.failedHandshakes > 0 else { return nil }
            let why = switch state.lastFailure {
            case let failure? where failure.event == .handshakeFailedAuth: "the server refused this client"
            // The server ended it: it could not open the HELLO (another key), or, against a plaintext server, it read
            // the greetings' mechanism mismatch first (libzmq 4.3.4 and 4.3.5: either side may).
            case let failure? where failure.event == .handshakeFailedNoDetail:
                "the server ended the handshake: its public key is not the one pinned for it, or it does not speak CURVE (SVX_TRANSPORT=plaintext)"
            case let failure? where failure.event == .handshakeFailedProtocol && failure.value == ZMQSocketEvent.mechanismMismatch:
                "the server does not speak CURVE (is it run with SVX_TRANSPORT=plaintext?)"
            default: "the server's public key is not the one pinned for it, or the server does not speak CURVE"
            }
            return "no CURVE handshake with \(endpoint) (\(state.failedHandshakes) failed): \(why)"
        }
    }

    func close() { state.withLock { $0.monitor.close() } }
}

/// Where a blocking call's result lands.
private final class ResultBox: Sendable {
    private let value = Mutex<Result<Svx_Rpc_V1_Response, RPCStatus>?>(nil)

    func set(_ result: Result<Svx_Rpc_V1_Response, RPCStatus>) {
        value.withLock { if $0 == nil { $0 = result } }
    }

    var isSet: Bool { value.withLock { $0 != nil } }
    var result: Result<Svx_Rpc_V1_Response, RPCStatus>? { value.withLock { $0 } }
}

/// The calling thread's pthread id as a plain (Sendable) integer.
private func currentThreadID() -> UInt {
    #if canImport(Glibc)
    return UInt(pthread_self())
    #else
    return UInt(bitPattern: pthread_self())
    #endif
}
