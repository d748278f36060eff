import Foundation
import Logging
import SVXProto
import SwiftProtobuf
import Synchronization

/// The threads and sockets of a running ``RPCServer``.
final class ServerRuntime<Worker>: Sendable {
    let boundEndpoint: String
    private let context: ZMQContext
    private let controlEndpoint: String
    private let ioThread: Mutex<JoinableThread?>
    private let stopped: Latch
    private let stopRequested = Atomic<Bool>(false)

    private init(
        boundEndpoint: String, context: ZMQContext, controlEndpoint: String, ioThread: JoinableThread,
        stopped: Latch
    ) {
        self.boundEndpoint = boundEndpoint
        self.context = context
        self.controlEndpoint = controlEndpoint
        self.ioThread = Mutex(ioThread)
        self.stopped = stopped
    }

    private static func nextInstanceID() -> Int {
        instanceCounter.add(1, ordering: .relaxed).newValue
    }

    static func start(
        configuration: RPCServerConfiguration, handlers: [String: RPCRouter<Worker>.Handler], logger: Logger,
        observer: (any RPCServerObserver)?, makeWorker: @escaping @Sendable (Int) throws -> Worker, stopped: Latch
    ) throws -> ServerRuntime {
        let context = try ZMQContext(ioThreads: 1)
        let hwm = max(10_000, configuration.queueCapacity * 4)

        let routerSocket = try ZMQSocket(context: context, type: .router)
        try routerSocket.setOption(.routerMandatory, 1)
        try routerSocket.setOption(.sendHighWaterMark, hwm)
        try routerSocket.setOption(.receiveHighWaterMark, hwm)
        try routerSocket.setOption(.maxMessageSize, configuration.hardMessageLimit)
        try routerSocket.setOption(.linger, 500)
        try routerSocket.bind(configuration.endpoint)
        let boundEndpoint = (try? routerSocket.lastEndpoint()) ?? configuration.endpoint

        let replyEndpoint = "inproc://svxrpc-server-\(nextInstanceID())"
        let replies = try ZMQSocket(context: context, type: .pull)
        try replies.setOption(.receiveHighWaterMark, 0)
        try replies.setOption(.linger, 0)
        try replies.bind(replyEndpoint)

        let queue = BlockingQueue<ServerJob>(capacity: configuration.queueCapacity)

        // Workers: each builds its Worker and its PUSH socket on its own thread, then reports.
        let startup = StartupReport(expected: configuration.workerCount)
        var workers: [JoinableThread] = []
        for index in 0..<configuration.workerCount {
            let loop = WorkerLoop<Worker>(
                index: index, queue: queue, handlers: handlers, logger: logger, observer: observer)
            workers.append(
                JoinableThread(name: "svxrpc-w\(index)") {
                    let push: ZMQSocket
                    let worker: Worker
                    do {
                        push = try ZMQSocket(context: context, type: .push)
                        try push.setOption(.sendHighWaterMark, 0)
                        try push.setOption(.linger, 1000)
                        try push.connect(replyEndpoint)
                        worker = try makeWorker(index)
                    } catch {
                        startup.report(error)
                        return
                    }
                    startup.report(nil)
                    loop.run(worker: worker, replies: push)
                    push.close()
                })
        }
        if let error = startup.wait() {
            queue.close()
            for thread in workers { thread.join() }
            replies.close()
            routerSocket.close()
            throw error
        }

        let workerThreads = workers
        let io = IOLoop(
            configuration: configuration, router: routerSocket, replies: replies, queue: queue,
            knownMethods: Set(handlers.keys), logger: logger, observer: observer)
        let ioThread = JoinableThread(name: "svxrpc-io") {
            io.run()
            queue.close()
            for thread in workerThreads { thread.join() }
            replies.close()
            routerSocket.close()
            stopped.open()
        }
        return ServerRuntime(
            boundEndpoint: boundEndpoint, context: context, controlEndpoint: replyEndpoint, ioThread: ioThread,
            stopped: stopped)
    }

    /// Sends the stop message to the I/O thread (once).
    func requestStop() {
        guard !stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        do {
            let control = try ZMQSocket(context: context, type: .push)
            try control.setOption(.linger, 1000)
            try control.connect(controlEndpoint)
            try control.send(IOLoop.stopMessage)
            control.close()
        } catch {
            // Cannot happen short of memory exhaustion; the I/O thread would keep serving.
            preconditionFailure("rpc server: cannot signal stop: \(error)")
        }
    }

    /// Waits until every thread has finished, then reaps the I/O thread.
    func join() {
        stopped.wait()
        let thread = ioThread.withLock { thread -> JoinableThread? in
            defer { thread = nil }
            return thread
        }
        thread?.join()
    }
}

private let instanceCounter = Atomic<Int>(0)

/// Collects the outcome of each worker's start-up.
private final class StartupReport: @unchecked Sendable {
    // @unchecked Sendable: all state is guarded by `condition`.
    private let condition = NSCondition()
    private var remaining: Int
    private var firstError: (any Error)?

    init(expected: Int) { remaining = expected }

    func report(_ error: (any Error)?) {
        condition.lock()
        remaining -= 1
        if firstError == nil, let error { firstError = error }
        condition.broadcast()
        condition.unlock()
    }

    func wait() -> (any Error)? {
        condition.lock()
        defer { condition.unlock() }
        while remaining > 0 { condition.wait() }
        return firstError
    }
}

// MARK: - I/O thread

/// The loop of the I/O thread: reads the ROUTER, queues requests, sends the workers' replies.
private final class IOLoop: @unchecked Sendable {
    // @unchecked Sendable: created on the starting thread, then used only by the I/O thread.
    static let stopMessage: [UInt8] = Array("stop".utf8)

    let configuration: RPCServerConfiguration
    let router: ZMQSocket
    let replies: ZMQSocket
    let queue: BlockingQueue<ServerJob>
    let incoming: IncomingFrames
    let logger: Logger
    let observer: (any RPCServerObserver)?
    /// Queued or running requests whose reply has not come back yet.
    var outstanding = 0
    var draining = false

    init(
        configuration: RPCServerConfiguration, router: ZMQSocket, replies: ZMQSocket, queue: BlockingQueue<ServerJob>,
        knownMethods: Set<String>, logger: Logger, observer: (any RPCServerObserver)?
    ) {
        self.configuration = configuration
        self.router = router
        self.replies = replies
        self.queue = queue
        self.incoming = IncomingFrames(
            maxMessageBytes: configuration.maxMessageBytes, knownMethod: { knownMethods.contains($0) })
        self.logger = logger
        self.observer = observer
    }

    func run() {
        let poller = ZMQPoller()
        let routerIndex = poller.add(router)
        let repliesIndex = poller.add(replies)
        while !(draining && outstanding == 0) {
            do {
                try poller.poll(timeoutMilliseconds: -1)
                if poller.returnedEvents(at: repliesIndex).contains(.pollIn) { try forwardReplies() }
                if poller.returnedEvents(at: routerIndex).contains(.pollIn) { try readRequests() }
            } catch {
                logger.error("rpc server I/O error", metadata: ["error": "\(error)"])
                // Errors here are not expected (ETERM cannot happen: we own the context); avoid a hot loop.
                usleep(10_000)
            }
        }
        logger.info("rpc server stopped", metadata: ["endpoint": "\(configuration.endpoint)"])
    }

    /// Moves every reply waiting on the inproc pipe to the ROUTER.
    private func forwardReplies() throws {
        while let frames = try replies.receiveMultipart(dontWait: true) {
            if frames.count == 1 {
                if frames[0] == IOLoop.stopMessage, !draining {
                    draining = true
                    logger.info(
                        "rpc server draining", metadata: ["outstanding": "\(outstanding)"])
                }
                continue
            }
            outstanding -= 1
            send(identity: frames[0], reply: frames[1])
        }
    }

    /// Reads a bounded batch of requests (so replies are not starved).
    private func readRequests() throws {
        for _ in 0..<256 {
            guard let frames = try router.receiveMultipart(dontWait: true) else { return }
            let received = ContinuousClock.now
            switch incoming.decide(frames) {
            case .drop(let reason):
                logger.debug("rpc server dropped a malformed message", metadata: ["reason": "\(reason)"])
            case .reject(let identity, let requestID, let method, let status):
                reject(identity: identity, requestID: requestID, method: method, status: status, received: received)
            case .dispatch(let identity, let request):
                if draining {
                    reject(
                        identity: identity, requestID: request.requestID, method: request.method,
                        status: .unavailable("server is shutting down"), received: received)
                    continue
                }
                let job = ServerJob(
                    identity: identity, request: request, received: received,
                    deadline: deadline(of: request, received: received), peerAddress: router.lastPeerAddress())
                if queue.tryPush(job) {
                    outstanding += 1
                } else {
                    reject(
                        identity: identity, requestID: request.requestID, method: request.method,
                        status: .resourceExhausted("server busy"), received: received)
                }
            }
        }
    }

    private func deadline(of request: Svx_Rpc_V1_Request, received: ContinuousClock.Instant)
        -> ContinuousClock.Instant
    {
        if request.deadlineMs == 0 { return received + configuration.defaultTimeout }
        let remaining = Int64(clamping: request.deadlineMs) - unixMilliseconds()
        // Clamp garbage far in the past or future to ±10 days.
        return received + .milliseconds(min(max(remaining, -864_000_000), 864_000_000))
    }

    private func reject(
        identity: [UInt8], requestID: UInt64, method: String, status: RPCStatus, received: ContinuousClock.Instant
    ) {
        var response = Svx_Rpc_V1_Response()
        response.requestID = requestID
        response.status = status.wire
        if let bytes: [UInt8] = try? response.serializedBytes() {
            send(identity: identity, reply: bytes)
        }
        logger.debug(
            "rpc request rejected",
            metadata: ["request_id": "\(requestID)", "method": "\(method.prefix(200))", "code": "\(status.code.name)"])
        observer?.requestCompleted(method: method, code: status.code, duration: ContinuousClock.now - received)
    }

    private func send(identity: [UInt8], reply: [UInt8]) {
        do {
            if try !router.send(multipart: [identity, reply], dontWait: true) {
                logger.warning("rpc reply dropped: client send queue full (high-water mark)")
            }
        } catch let error as ZMQError where error.hostUnreachable {
            logger.debug("rpc reply dropped: client disconnected")
        } catch {
            logger.warning("rpc reply dropped", metadata: ["error": "\(error)"])
        }
    }
}

// MARK: - Worker threads

/// The loop of one worker thread.
private final class WorkerLoop<Worker>: Sendable {
    let index: Int
    let queue: BlockingQueue<ServerJob>
    let handlers: [String: RPCRouter<Worker>.Handler]
    let logger: Logger
    let observer: (any RPCServerObserver)?

    init(
        index: Int, queue: BlockingQueue<ServerJob>, handlers: [String: RPCRouter<Worker>.Handler], logger: Logger,
        observer: (any RPCServerObserver)?
    ) {
        self.index = index
        self.queue = queue
        self.handlers = handlers
        self.logger = logger
        self.observer = observer
    }

    func run(worker: Worker, replies: ZMQSocket) {
        while let job = queue.pop() {
            let request = job.request
            var response = Svx_Rpc_V1_Response()
            response.requestID = request.requestID
            let code: RPCStatus.Code
            if ContinuousClock.now >= job.deadline {
                code = .deadlineExceeded
                response.status = RPCStatus.deadlineExceeded("deadline exceeded before the request started").wire
            } else if let handler = handlers[request.method] {
                var requestLogger = logger
                requestLogger[metadataKey: "request_id"] = "\(request.requestID)"
                requestLogger[metadataKey: "method"] = "\(request.method)"
                let context = RequestContext(
                    method: request.method, requestID: request.requestID, sessionToken: request.sessionToken,
                    deadline: job.deadline, traceParent: request.traceParent, logger: requestLogger,
                    workerIndex: index, peerAddress: job.peerAddress)
                do {
                    response.payload = Data(try handler(request.payload, context, worker))
                    code = .ok
                } catch let status as RPCStatus {
                    code = status.code
                    response.status = status.wire
                } catch {
                    code = .internal
                    response.status = RPCStatus.internal("internal error").wire
                    requestLogger.error("rpc handler failed", metadata: ["error_type": "\(type(of: error))"])
                }
            } else {
                // Unreachable: the I/O thread only queues known methods.
                code = .unimplemented
                response.status = RPCStatus.unimplemented("unknown method").wire
            }
            do {
                let bytes: [UInt8] = try response.serializedBytes()
                try replies.send(multipart: [job.identity, bytes])
            } catch {
                logger.error("rpc worker cannot hand back a reply", metadata: ["error": "\(error)"])
            }
            observer?.requestCompleted(method: request.method, code: code, duration: ContinuousClock.now - job.received)
        }
    }
}
