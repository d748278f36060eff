import Foundation
import Logging
import SVXProto
import SwiftProtobuf
import Synchronization

/// The threads and sockets of a running ``RPCServer``.
final class ServerRuntime<Worker>: Sendable {
    let boundEndpoint: String
    private let core: ServerCore
    private let ioThread: Mutex<JoinableThread?>
    private let stopped: Latch

    private init(boundEndpoint: String, core: ServerCore, ioThread: JoinableThread, stopped: Latch) {
        self.boundEndpoint = boundEndpoint
        self.core = core
        self.ioThread = Mutex(ioThread)
        self.stopped = stopped
    }

    static func start(
        configuration: RPCServerConfiguration, routes: [String: RPCRouter<Worker>.Route], logger: Logger,
        observer: (any RPCServerObserver)?, makeWorker: @escaping @Sendable (Int) throws -> Worker, stopped: Latch
    ) throws -> ServerRuntime {
        var handlers: [String: RPCRouter<Worker>.Handler] = [:]
        var inlineHandlers: [String: InlineHandler] = [:]
        var screens: [String: RequestScreen] = [:]
        for (method, route) in routes {
            switch route {
            case .pooled(let handler, let screen):
                handlers[method] = handler
                screens[method] = screen
            case .inline(let handler): inlineHandlers[method] = handler
            }
        }
        let context = try ZMQContext(ioThreads: 1)
        let hwm = max(10_000, configuration.queueCapacity * 4)

        let routerSocket = try ZMQSocket(context: context, type: .router)
        if let curve = configuration.curve {
            try routerSocket.setOption(.curveServer, 1)
            try routerSocket.setOption(.curveSecretKey, curve.keyPair.secretKey)
            try routerSocket.setOption(.zapDomain, Array(CurveAuthenticator.domain.utf8))
        }
        // CURVE: the ZAP handler is bound before the server socket, so no handshake goes unanswered; its thread also
        // logs the handshakes that fail before ZAP is asked (a client pinning another key, a plaintext client).
        let zap = try configuration.curve.map { curve in
            try ZAPHandler.start(
                context: context, authenticator: CurveAuthenticator(peers: curve.peers),
                failures: ZMQSocketMonitor(routerSocket, events: .handshakeFailed),
                threadName: Self.threadName(configuration.threadName, suffix: "-zap"), logger: logger)
        }
        // Until the runtime is handed back, a failure (a port in use, a worker that cannot start) stops the handler.
        var started = false
        defer { if !started { zap?.stop() } }
        try routerSocket.setOption(.routerMandatory, 1)
        try routerSocket.setOption(.sendHighWaterMark, hwm)
        try routerSocket.setOption(.receiveHighWaterMark, hwm)
        try routerSocket.setOption(.maxMessageSize, configuration.hardMessageLimit)
        try routerSocket.setOption(.linger, 500)
        try routerSocket.setOption(.heartbeatInterval, configuration.heartbeatMilliseconds)
        try routerSocket.setOption(.heartbeatTimeout, configuration.heartbeatTimeoutMilliseconds)
        try routerSocket.setOption(.handshakeInterval, configuration.heartbeatTimeoutMilliseconds)
        try routerSocket.bind(configuration.endpoint)
        let boundEndpoint = (try? routerSocket.lastEndpoint()) ?? configuration.endpoint

        let queue = BlockingQueue<ServerJob>(capacity: configuration.queueCapacity, maxWeight: configuration.queueBytes)
        let core = try ServerCore(
            configuration: configuration, router: routerSocket, queue: queue, knownMethods: Set(routes.keys),
            inlineHandlers: inlineHandlers, screens: screens, logger: logger, observer: observer)

        // Workers: each builds its Worker on its own thread, then reports.
        let startup = StartupReport(expected: configuration.workerCount)
        var workers: [JoinableThread] = []
        for index in 0..<configuration.workerCount {
            let loop = WorkerLoop<Worker>(
                index: index, queue: queue, handlers: handlers, logger: logger, observer: observer, core: core)
            workers.append(
                JoinableThread(name: Self.threadName(configuration.threadName, suffix: "-w\(index)")) {
                    let worker: Worker
                    do {
                        worker = try makeWorker(index)
                    } catch {
                        startup.report(error)
                        return
                    }
                    startup.report(nil)
                    loop.run(worker: worker)
                })
        }
        if let error = startup.wait() {
            core.stopRequested.store(true, ordering: .releasing)
            core.readerWake.signal()  // a worker may be polling the socket as reader
            queue.close()
            for thread in workers { thread.join() }
            core.close()
            throw error
        }

        let workerThreads = workers
        let ioThread = JoinableThread(name: Self.threadName(configuration.threadName, suffix: "-io")) {
            core.runIOLoop()
            queue.close()
            for thread in workerThreads { thread.join() }
            core.close()
            zap?.stop()
            stopped.open()
        }
        started = true
        return ServerRuntime(boundEndpoint: boundEndpoint, core: core, ioThread: ioThread, stopped: stopped)
    }

    /// `base` and `suffix` in the kernel's 15 bytes of a thread name (ASCII names), the suffix kept whole.
    static func threadName(_ base: String, suffix: String) -> String {
        String(base.prefix(max(0, 15 - suffix.count))) + suffix
    }

    /// Tells the I/O thread to drain and stop.
    func requestStop() {
        guard !core.stopRequested.exchange(true, ordering: .acquiringAndReleasing) else { return }
        core.control.signal()
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

// MARK: - The shared ROUTER

/// The ROUTER socket and its bookkeeping, shared by the I/O thread and the workers under one lock.
///
/// Readers sleep in `zmq_poll` on the socket's `ZMQ_FD` (not on the socket itself, so that others may use the socket
/// meanwhile); whoever holds the lock may read or send. `ZMQ_FD` is edge triggered, so every holder leaves only after
/// ``drain(_:limit:as:keep:)`` has read the socket until a receive finds nothing (or hands the rest to the I/O
/// thread). Workers send their own replies, so a reply costs no thread switch.
///
/// Who reads: an idle worker holding the reading role; else, while every worker is busy, the workers themselves
/// after each reply, with the I/O thread checking once per ``busyTick`` that they still make progress and reading
/// the socket itself when they do not (slow handlers), so inline requests, "server busy" and shutdown answers never
/// wait behind a long handler.
final class ServerCore: Sendable {
    struct State {
        let router: ZMQSocket
        /// Queued or running requests whose reply has not been sent yet.
        var outstanding = 0
        var draining = false
        /// An idle worker holds the reading role (polls ZMQ_FD); the I/O thread then does not.
        var readerHeld = false
        /// Requests for inline handlers read by the current lock holder, answered by it once it lets go of the lock.
        var inline: [ServerJob] = []
        /// Replies sent so far (the I/O thread's measure of the workers' progress).
        var replies: UInt64 = 0
        /// The I/O thread looks at the socket again within one ``ServerCore/busyTick`` (or is awake): a worker giving
        /// up the reading role need not wake it.
        var ioLooking = true

        mutating func takeInline() -> [ServerJob] {
            if inline.isEmpty { return [] }
            defer { inline = [] }
            return inline
        }
    }

    let state: Mutex<State>
    let configuration: RPCServerConfiguration
    let queue: BlockingQueue<ServerJob>
    let incoming: IncomingFrames
    let inlineHandlers: [String: InlineHandler]
    /// Checks of pooled methods run before their requests are queued (``RequestScreen``).
    let screens: [String: RequestScreen]
    let logger: Logger
    let observer: (any RPCServerObserver)?
    /// Wakes the I/O thread: stop requested, input or inline requests left for someone else, the reading role left
    /// with nobody while input remains, or the drain finished.
    let control: Wakeup
    /// Wakes the worker holding the reading role: a job was queued by someone else, input or inline requests were
    /// left for someone else (the edge of ZMQ_FD may be spent), or draining began.
    let readerWake: Wakeup
    let stopRequested = Atomic<Bool>(false)
    /// How long the drained server keeps its socket open (answering UNAVAILABLE) before closing it.
    static let closeGrace: Duration = .milliseconds(200)
    /// While every worker is busy, how often the I/O thread checks that they still reply (and so read the socket).
    static let busyTick = 1  // milliseconds

    init(
        configuration: RPCServerConfiguration, router: ZMQSocket, queue: BlockingQueue<ServerJob>,
        knownMethods: Set<String>, inlineHandlers: [String: InlineHandler], screens: [String: RequestScreen] = [:],
        logger: Logger, observer: (any RPCServerObserver)?
    ) throws {
        self.state = Mutex(State(router: router))
        self.inlineHandlers = inlineHandlers
        self.screens = screens
        self.configuration = configuration
        self.queue = queue
        self.incoming = IncomingFrames(
            maxMessageBytes: configuration.maxMessageBytes, knownMethod: { knownMethods.contains($0) })
        self.logger = logger
        self.observer = observer
        self.control = try Wakeup()
        self.readerWake = try Wakeup()
    }

    /// The I/O thread's loop; returns once draining is complete (stop requested and every reply sent).
    func runIOLoop() {
        let fd: Int32
        do {
            fd = try state.withLock { try $0.router.fileDescriptor() }
        } catch {
            preconditionFailure("rpc server: ZMQ_FD unavailable: \(error)")
        }
        let poller = ZMQPoller()
        let socketIndex = poller.add(fileDescriptor: fd)
        let controlIndex = poller.add(fileDescriptor: control.readFD)
        // After the last reply the socket stays open a moment longer: a client with ZMQ_IMMEDIATE drops replies it
        // has received but not yet read when the connection closes (libzmq terminates the pipe without delay).
        var closeAt: ContinuousClock.Instant?
        var lastReplies: UInt64 = 0
        while true {
            var inline: [ServerJob] = []
            let (finished, more, watch, tick) = state.withLock { state -> (Bool, Bool, Bool, Int) in
                if stopRequested.load(ordering: .acquiring) && !state.draining {
                    state.draining = true
                    if state.readerHeld { readerWake.signal() }  // the reading worker lets go
                    logger.info("rpc server draining", metadata: ["outstanding": "\(state.outstanding)"])
                }
                // Read the socket when draining, when no worker reads it, or when every worker is busy and none
                // replied since the last look (stuck in slow handlers). While busy workers reply, they read.
                let progressed = state.replies != lastReplies
                lastReplies = state.replies
                let busy = !state.readerHeld && state.outstanding > 0
                let watch = state.draining || (!state.readerHeld && !(busy && progressed))
                var more = false
                if watch {
                    var none: ServerJob?
                    more = drain(&state, limit: 1024, as: .other, keep: &none)
                }
                inline = state.takeInline()  // read just now, or left by a thread that answered 64 rounds already
                state.ioLooking = watch || busy
                return (
                    state.draining && state.outstanding == 0, more, watch,
                    busy && !state.draining ? ServerCore.busyTick : -1
                )
            }
            if !inline.isEmpty {
                _ = answerInline(inline)
                continue  // read again before sleeping: the state may have changed meanwhile
            }
            poller.setEvents(watch ? .pollIn : [], at: socketIndex)
            var timeout = tick
            if finished {
                let now = ContinuousClock.now
                let deadline = closeAt ?? now + ServerCore.closeGrace
                closeAt = deadline
                if now >= deadline { break }
                timeout = Int((deadline - now).millisecondsRoundedUp)
            }
            if more { continue }
            do {
                try poller.poll(timeoutMilliseconds: timeout)
            } catch {
                logger.error("rpc server poll failed", metadata: ["error": "\(error)"])
                usleep(10_000)
            }
            if poller.returnedEvents(at: controlIndex).contains(.pollIn) { control.drain() }
        }
        logger.info("rpc server stopped", metadata: ["endpoint": "\(configuration.endpoint)"])
    }

    /// A worker's reply: sent under the lock, then any waiting input is read (inline requests among it answered).
    /// Returns a request read meanwhile for this worker to run next (when the queue was empty), saving a hand-off.
    func reply(identity: [UInt8], bytes: [UInt8]) -> ServerJob? {
        var inline: [ServerJob] = []
        var next: ServerJob?
        var wakeIOThread = state.withLock { state -> Bool in
            send(&state, identity: identity, reply: bytes)
            state.outstanding -= 1
            state.replies &+= 1
            let more = drain(&state, limit: 64, as: .replyingWorker, keep: &next)
            if more { leaveForOthers(&state) }
            inline = state.takeInline()
            return more || (state.draining && state.outstanding == 0)
        }
        if !inline.isEmpty, answerInline(inline) { wakeIOThread = true }
        if wakeIOThread { control.signal() }
        return next
    }

    /// Answers inline requests: each handler runs outside the lock, the replies are sent under it, then the socket is
    /// read again (inline requests found there are answered the same way, at most 64 rounds). Returns whether the
    /// I/O thread should look at the socket (input may remain, or the drain finished).
    func answerInline(_ jobs: [ServerJob]) -> Bool {
        var jobs = jobs
        var rounds = 0
        var wake = false
        while !jobs.isEmpty {
            rounds += 1
            let replies = jobs.map { job in
                execute(job, logger: logger, workerIndex: -1) { payload, context in
                    guard let handler = inlineHandlers[job.request.method] else {
                        throw RPCStatus.unimplemented("unknown method")  // unreachable: only inline methods get here
                    }
                    return try handler(payload, context)
                }
            }
            let answered = jobs
            jobs = state.withLock { state -> [ServerJob] in
                for (job, reply) in zip(answered, replies) { send(&state, identity: job.identity, reply: reply.bytes) }
                state.outstanding -= answered.count  // not counted in `replies`: the measure of pooled work
                var none: ServerJob?
                let more = drain(&state, limit: 64, as: .other, keep: &none)
                wake = more || (state.draining && state.outstanding == 0)
                let next = state.takeInline()
                if rounds >= 64 && !next.isEmpty {
                    // Someone else answers the rest: the I/O thread (woken by the caller) or the reading worker.
                    state.inline = next
                    wake = true
                }
                if wake { leaveForOthers(&state) }
                return rounds >= 64 ? [] : next
            }
            if let observer {
                let now = ContinuousClock.now
                for (job, reply) in zip(answered, replies) {
                    observer.requestCompleted(method: job.request.method, code: reply.code, duration: now - job.received)
                }
            }
        }
        return wake
    }

    /// An idle worker takes the reading role (offered by the previous reader); false if draining or taken.
    func claimReader() -> Bool {
        state.withLock { state in
            if state.draining || state.readerHeld || stopRequested.load(ordering: .acquiring) { return false }
            state.readerHeld = true
            return true
        }
    }

    /// The reading worker's loop: poll ZMQ_FD, read, answer inline requests, keep the first pooled request to run it
    /// on this thread, queue the rest; then pass the role on to an idle worker (or back to the I/O thread). Returns
    /// the job to run, or nil when the role had to be given up without one (draining).
    func readAsWorker(poller: ZMQPoller) -> ServerJob? {
        while true {
            var job: ServerJob?
            var release = false
            var more = false
            var inline: [ServerJob] = []
            var ioAsleep = false
            state.withLock { state in
                more = drain(&state, limit: 1024, as: .reader, keep: &job)
                inline = state.takeInline()
                if job == nil { job = queue.tryPop() }
                if job != nil || state.draining || stopRequested.load(ordering: .acquiring) {
                    state.readerHeld = false
                    release = true
                    ioAsleep = !state.ioLooking
                }
            }
            if release {
                // The next reader: an idle worker; else the I/O thread, woken unless it already checks the busy
                // workers every tick (they read after each reply; it reads itself when they stop replying).
                if !queue.offerReaderRole() && (ioAsleep || more) { control.signal() }
                if !inline.isEmpty, answerInline(inline) { control.signal() }
                return job
            }
            // Still the reader. answerInline read the socket after its last send (re-arming ZMQ_FD), and anything it
            // queued meanwhile wrote readerWake: poll again unless input may remain or the server began to drain.
            if !inline.isEmpty && answerInline(inline) { continue }
            if more { continue }
            _ = try? poller.poll(timeoutMilliseconds: -1)
            if poller.returnedEvents(at: 1).contains(.pollIn) { readerWake.drain() }
        }
    }

    /// A poller over ZMQ_FD (index 0) and the reader wakeup (index 1), one per worker.
    func makeReaderPoller() throws -> ZMQPoller {
        let fd = try state.withLock { try $0.router.fileDescriptor() }
        let poller = ZMQPoller()
        poller.add(fileDescriptor: fd)
        poller.add(fileDescriptor: readerWake.readFD)
        return poller
    }

    /// Under the lock, by a thread that leaves input unread or inline requests unanswered (and wakes the I/O thread):
    /// the reading worker, if any, sleeps on a ZMQ_FD whose edge this thread may have spent, so wake it too.
    private func leaveForOthers(_ state: inout State) {
        if state.readerHeld { readerWake.signal() }
    }

    /// Who reads, which decides what happens to a pooled request read.
    enum Reading {
        /// The worker holding the reading role, or a worker that just replied: keeps one request to run itself
        /// (when the queue is empty, so none jumps ahead of older ones).
        case reader, replyingWorker
        /// The I/O thread, or a thread answering inline requests: queues every pooled request.
        case other
    }

    /// Reads up to `limit` messages; returns whether input may remain.
    private func drain(_ state: inout State, limit: Int, as reading: Reading, keep: inout ServerJob?) -> Bool {
        var attempts = 0
        while attempts < limit {
            attempts += 1
            let frames: [[UInt8]]?
            do {
                frames = try state.router.receiveMultipart(dontWait: true)
            } catch {
                logger.warning("rpc server receive failed", metadata: ["error": "\(error)"])
                return false
            }
            // EAGAIN: a non-blocking receive that finds nothing first processes the socket's pending commands (as a
            // ZMQ_EVENTS query would) and tries again, so ZMQ_FD is re-armed: the next arrival signals it.
            guard let frames else { return false }
            handle(frames, &state, as: reading, keep: &keep)
        }
        return true
    }

    /// The peer service a ZAP "User-Id" names ("" names none).
    static func peerService(userID: String) -> String? { userID.isEmpty ? nil : userID }

    private func handle(_ frames: [[UInt8]], _ state: inout State, as reading: Reading, keep: inout ServerJob?) {
        let received = ContinuousClock.now
        switch incoming.decide(frames) {
        case .drop(let reason):
            logger.debug("rpc server dropped a malformed message", metadata: ["reason": "\(reason)"])
        case .reject(let identity, let requestID, let method, let status):
            reject(&state, identity: identity, requestID: requestID, method: method, status: status, received: received)
        case .dispatch(let identity, let request):
            if state.draining {
                reject(
                    &state, identity: identity, requestID: request.requestID, method: request.method,
                    status: .unavailable("server is shutting down"), received: received)
                return
            }
            if let screen = screens[request.method], let status = screen(request.sessionToken) {
                reject(
                    &state, identity: identity, requestID: request.requestID, method: request.method, status: status,
                    received: received)
                return
            }
            // Still under the lock, right after the receive: the socket's last message is this request's.
            let job = ServerJob(
                identity: identity, request: request, received: received,
                deadline: deadline(of: request, received: received), peerAddress: state.router.lastPeerAddress(),
                peerService: Self.peerService(userID: state.router.lastUserID()))
            if inlineHandlers[request.method] != nil {
                state.inline.append(job)
                state.outstanding += 1
            } else if keep == nil && (reading == .reader || reading == .replyingWorker) && queue.isEmpty {
                keep = job
                state.outstanding += 1
            } else if queue.tryPush(job, weight: job.queuedBytes) {
                state.outstanding += 1
                // The reading worker is idle but polls the socket, not the queue: tell it.
                if state.readerHeld && reading != .reader { readerWake.signal() }
            } else {
                reject(
                    &state, identity: identity, requestID: request.requestID, method: request.method,
                    status: .resourceExhausted("server busy"), received: received)
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
        _ state: inout State, identity: [UInt8], requestID: UInt64, method: String, status: RPCStatus,
        received: ContinuousClock.Instant
    ) {
        var response = Svx_Rpc_V1_Response()
        response.requestID = requestID
        response.status = status.wire
        if let bytes: [UInt8] = try? response.serializedBytes() {
            send(&state, identity: identity, reply: bytes)
        }
        logger.debug(
            "rpc request rejected",
            metadata: ["request_id": "\(requestID)", "method": "\(method.prefix(200))", "code": "\(status.code.name)"])
        observer?.requestCompleted(method: method, code: status.code, duration: ContinuousClock.now - received)
    }

    private func send(_ state: inout State, identity: [UInt8], reply: [UInt8]) {
        do {
            if try !state.router.send(multipart: [identity, reply], dontWait: true) {
                logger.warning("rpc reply dropped: client send queue full (high-water mark)")
            }
        } catch let error as ZMQError where error.hostUnreachable {
            logger.debug("rpc reply dropped: client disconnected")
        } catch {
            logger.warning("rpc reply dropped", metadata: ["error": "\(error)"])
        }
    }

    /// Closes the socket (after the I/O loop and the workers have finished).
    func close() {
        state.withLock { $0.router.close() }
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
    let core: ServerCore

    init(
        index: Int, queue: BlockingQueue<ServerJob>, handlers: [String: RPCRouter<Worker>.Handler], logger: Logger,
        observer: (any RPCServerObserver)?, core: ServerCore
    ) {
        self.index = index
        self.queue = queue
        self.handlers = handlers
        self.logger = logger
        self.observer = observer
        self.core = core
    }

    func run(worker: Worker) {
        let readerPoller: ZMQPoller
        do {
            readerPoller = try core.makeReaderPoller()
        } catch {
            preconditionFailure("rpc server: ZMQ_FD unavailable: \(error)")
        }
        var next: ServerJob?
        while true {
            if let job = next ?? queue.tryPop() {
                next = process(job, worker: worker)
                continue
            }
            // Idle: read the socket ourselves if nobody else does (the I/O thread stops watching once it sees it).
            if core.claimReader() {
                if let job = core.readAsWorker(poller: readerPoller) { next = process(job, worker: worker) }
                continue
            }
            switch queue.next() {
            case .closed:
                return
            case .element(let job):
                next = process(job, worker: worker)
            case .read:
                guard core.claimReader() else { continue }
                if let job = core.readAsWorker(poller: readerPoller) { next = process(job, worker: worker) }
            }
        }
    }

    /// Runs `job` and sends its reply; returns a request read while replying, to run next.
    private func process(_ job: ServerJob, worker: Worker) -> ServerJob? {
        let reply = execute(job, logger: logger, workerIndex: index) { payload, context in
            guard let handler = handlers[job.request.method] else {
                throw RPCStatus.unimplemented("unknown method")  // unreachable: the reader queues known methods only
            }
            return try handler(payload, context, worker)
        }
        let next = core.reply(identity: job.identity, bytes: reply.bytes)
        observer?.requestCompleted(method: job.request.method, code: reply.code, duration: ContinuousClock.now - job.received)
        return next
    }
}

// MARK: - Running one request

/// Runs one request's handler (unless its deadline has passed) and encodes the `Response`: the same for pooled and
/// inline handlers. A handler's ``RPCStatus`` is sent as is; any other error is INTERNAL, logged by type only.
func execute(
    _ job: ServerJob, logger: Logger, workerIndex: Int, run: (Data, RequestContext) throws -> [UInt8]
) -> (bytes: [UInt8], code: RPCStatus.Code) {
    let request = job.request
    var response = Svx_Rpc_V1_Response()
    response.requestID = request.requestID
    let code: RPCStatus.Code
    if ContinuousClock.now >= job.deadline {
        code = .deadlineExceeded
        response.status = RPCStatus.deadlineExceeded("deadline exceeded before the request started").wire
    } else {
        let context = RequestContext(
            method: request.method, requestID: request.requestID, sessionToken: request.sessionToken,
            deadline: job.deadline, traceParent: request.traceParent, logger: logger,
            workerIndex: workerIndex, peerAddress: job.peerAddress, peerService: job.peerService)
        do {
            response.payload = Data(try run(request.payload, context))
            code = .ok
        } catch let status as RPCStatus {
            code = status.code
            response.status = status.wire
        } catch {
            code = .internal
            response.status = RPCStatus.internal("internal error").wire
            context.logger.error("rpc handler failed", metadata: ["error_type": "\(type(of: error))"])
        }
    }
    do {
        return (try response.serializedBytes(), code)
    } catch {
        logger.error("rpc response cannot be serialized", metadata: ["error_type": "\(type(of: error))"])
        var fallback = Svx_Rpc_V1_Response()
        fallback.requestID = request.requestID
        fallback.status = RPCStatus.internal("internal error").wire
        return ((try? fallback.serializedBytes()) ?? [], .internal)
    }
}
