import Foundation
import Logging
import SVXProto
import SwiftProtobuf
import Synchronization

/// A request waiting in the queue between the I/O thread and the workers.
struct ServerJob: Sendable {
    let identity: [UInt8]
    let request: Svx_Rpc_V1_Request
    let received: ContinuousClock.Instant
    let deadline: ContinuousClock.Instant
    var peerAddress = ""
    /// The peer service the CURVE handshake proved (ZAP "User-Id"); nil for other callers.
    var peerService: String?

    /// What the job keeps in memory while it waits in the queue, in bytes (the request's variable-size fields).
    var queuedBytes: Int {
        identity.count + request.method.utf8.count + request.sessionToken.utf8.count + request.traceParent.utf8.count
            + request.payload.count + 128
    }
}

/// A ZeroMQ RPC server: a ROUTER socket bound at the endpoint, shared under a lock by one I/O thread and
/// `workerCount` worker threads. An idle worker (or, when none is idle, the I/O thread) reads the socket; inline
/// methods are answered at once by the reader, other requests run on the worker pool (the reading worker runs the
/// first itself, the rest go to a bounded queue); workers send their own replies. See docs/rpc.md.
public final class RPCServer<Worker>: Sendable {
    private let configuration: RPCServerConfiguration
    private let router: RPCRouter<Worker>
    private let logger: Logger
    private let observer: (any RPCServerObserver)?
    private let makeWorker: @Sendable (Int) throws -> Worker
    private let state = Mutex<ServerState<Worker>>(.idle)
    private let stopped = Latch()

    public init(
        configuration: RPCServerConfiguration, router: RPCRouter<Worker>, logger: Logger,
        observer: (any RPCServerObserver)? = nil,
        makeWorker: @escaping @Sendable (Int) throws -> Worker
    ) {
        precondition(configuration.workerCount > 0 && configuration.queueCapacity > 0)
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.observer = observer
        self.makeWorker = makeWorker
    }

    deinit {
        shutdown()
    }

    /// The endpoint actually bound (with the real port when the configuration asked for `*`); nil unless running.
    public var boundEndpoint: String? {
        state.withLock { state in
            if case .running(let runtime) = state { return runtime.boundEndpoint }
            return nil
        }
    }

    /// Binds the ROUTER socket, builds one `Worker` per worker thread (on that thread) and starts the threads.
    /// Throws ``ZMQError`` if the endpoint cannot be bound, the first error of `makeWorker`, or
    /// FAILED_PRECONDITION if the server was already started.
    public func start() throws {
        try state.withLock { state in
            guard case .idle = state else { throw RPCStatus.failedPrecondition("server already started") }
            state = .starting
        }
        do {
            let runtime = try ServerRuntime<Worker>.start(
                configuration: configuration, routes: router.snapshot(), logger: logger, observer: observer,
                makeWorker: makeWorker, stopped: stopped)
            state.withLock { $0 = .running(runtime) }
            logger.info(
                "rpc server listening",
                metadata: ["endpoint": "\(runtime.boundEndpoint)", "workers": "\(configuration.workerCount)"])
        } catch {
            state.withLock { $0 = .idle }
            throw error
        }
    }

    /// Stops reading new requests (later ones are answered UNAVAILABLE while draining), lets queued and in-flight
    /// requests finish and be replied, joins every thread and closes the sockets. Idempotent; safe from any thread
    /// except a handler (which would wait for itself).
    public func shutdown() {
        let runtime: ServerRuntime<Worker>? = state.withLock { state in
            switch state {
            case .idle:
                state = .stopped
                stopped.open()
                return nil
            case .starting, .stopped:
                return nil  // starting: the starter owns the runtime; a shutdown racing start() is a no-op
            case .running(let runtime), .stopping(let runtime):
                state = .stopping(runtime)
                return runtime
            }
        }
        guard let runtime else { return }
        runtime.requestStop()
        runtime.join()
        state.withLock { $0 = .stopped }
    }

    /// Starts (unless already started) and suspends until the server has shut down. Cancelling the task begins a
    /// graceful shutdown. For swift-service-lifecycle; installs no signal handlers.
    public func run() async throws {
        let needsStart = state.withLock { state -> Bool in
            if case .idle = state { return true }
            return false
        }
        if needsStart { try start() }
        await withTaskCancellationHandler {
            await stopped.waitAsync()
        } onCancel: {
            self.beginShutdown()
        }
        // Reap the threads (they have finished or are about to).
        shutdown()
    }

    /// Asks the I/O thread to drain and stop, without waiting.
    private func beginShutdown() {
        let runtime: ServerRuntime<Worker>? = state.withLock { state in
            if case .running(let runtime) = state { return runtime }
            if case .stopping(let runtime) = state { return runtime }
            return nil
        }
        runtime?.requestStop()
    }
}

enum ServerState<Worker> {
    case idle
    case starting
    case running(ServerRuntime<Worker>)
    case stopping(ServerRuntime<Worker>)
    case stopped
}
