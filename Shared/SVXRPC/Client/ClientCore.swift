import Foundation
import SVXProto
import SwiftProtobuf
import Synchronization

typealias CallCompletion = @Sendable (Result<Svx_Rpc_V1_Response, RPCStatus>) -> Void

/// The shared half of an ``RPCClient``: the DEALER socket and the ``ClientRequestTable``, under one lock.
///
/// Whoever holds the lock may use the socket: a caller sends its own request at once (no thread switch); a blocking
/// caller also waits for its response by polling the socket's `ZMQ_FD` itself and reading whatever arrived. The I/O
/// thread polls the same `ZMQ_FD` only while calls are pending that no blocking caller is waiting on (async calls),
/// and wakes at the nearest deadline to fail expired calls. `ZMQ_FD` is edge triggered: every lock holder reads the
/// socket until a receive finds nothing before it lets go (``drain(_:into:)``). Completions run outside the lock.
final class ClientCore: Sendable {
    struct State {
        let socket: ZMQSocket
        var table: ClientRequestTable<CallCompletion>
        var closed = false
        /// Blocking callers currently polling the socket for their response.
        var blockingReceivers = 0
        /// What the I/O thread's current poll covers (valid while `ioSleeping`).
        var ioSleeping = false
        var ioWatchesSocket = false
        var ioWakeAt: ContinuousClock.Instant?  // nil = no timeout
    }

    typealias Completed = [(CallCompletion, Result<Svx_Rpc_V1_Response, RPCStatus>)]

    private let state: Mutex<State>
    private let ids = Atomic<UInt64>(0)
    private let wakeup: Wakeup
    /// Blocking callers' wakeups, reused (an eventfd per call would cost two system calls).
    private let spareWakeups = Mutex<[Wakeup]>([])
    let socketFD: Int32

    init(socket: ZMQSocket, maxInFlight: Int) throws {
        self.socketFD = try socket.fileDescriptor()
        self.state = Mutex(State(socket: socket, table: ClientRequestTable(maxInFlight: maxInFlight)))
        self.wakeup = try Wakeup()
    }

    func nextID() -> UInt64 {
        ids.add(1, ordering: .relaxed).newValue
    }

    /// A wakeup for one blocking call; give it back with ``returnWakeup(_:)``. It may carry a stale signal from an
    /// earlier call (completed by another thread just as its caller returned), which ``waitBlocking`` tolerates.
    func borrowWakeup() throws -> Wakeup {
        if let spare = spareWakeups.withLock({ $0.popLast() }) { return spare }
        return try Wakeup()
    }

    func returnWakeup(_ wakeup: Wakeup) {
        spareWakeups.withLock { spares in
            if spares.count < 64 { spares.append(wakeup) }
        }
    }

    // MARK: Any thread

    /// Registers a call and sends it if the window allows. Returns whether it was accepted (otherwise its
    /// completion has run); an accepted `blocking` caller must then call ``waitBlocking(deadline:personal:isDone:)``.
    @discardableResult
    func submit(
        id: UInt64, deadline: ContinuousClock.Instant, frame: [UInt8], blocking: Bool, isCancelled: () -> Bool,
        completion: @escaping CallCompletion
    ) -> Bool {
        var completed: Completed = []
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            if state.closed {
                completed.append((completion, .failure(.unavailable("client closed"))))
                return (false, false)
            }
            // Checked under the lock that orders it against the cancel (see RPCClient.call).
            if isCancelled() {
                completed.append((completion, .failure(.cancelled("call cancelled"))))
                return (false, false)
            }
            switch state.table.submit(id: id, deadline: deadline, frame: frame, completion: completion) {
            case .accepted:
                if blocking { state.blockingReceivers += 1 }
            case .rejected(let completion, let status):
                completed.append((completion, .failure(status)))
                return (false, false)
            }
            pump(&state, into: &completed)
            // A blocking caller enforces its own deadline (waitBlocking): no need to wake the I/O thread for it.
            return (true, ioNeedsWake(&state, forDeadlines: !blocking))
        }
        if wake { wakeup.signal() }
        for (completion, result) in completed { completion(result) }
        return accepted
    }

    /// A blocking caller's wait: polls the socket (and `personal`, written by whoever completes the call) until
    /// `isDone()`, reading responses for every pending call meanwhile.
    func waitBlocking(deadline: ContinuousClock.Instant, personal: Wakeup, isDone: () -> Bool) {
        let poller = ZMQPoller()
        poller.add(fileDescriptor: socketFD)
        poller.add(fileDescriptor: personal.readFD)
        while !isDone() {
            let timeout = max(0, (deadline - .now).millisecondsRoundedUp)
            _ = try? poller.poll(timeoutMilliseconds: Int(timeout))
            if poller.returnedEvents(at: 1).contains(.pollIn) { personal.drain() }
            var completed: Completed = []
            state.withLock { state in
                pump(&state, into: &completed)
                expire(&state, into: &completed)
            }
            for (completion, result) in completed { completion(result) }
        }
        let wake = state.withLock { state -> Bool in
            state.blockingReceivers -= 1
            return ioNeedsWake(&state)
        }
        if wake { wakeup.signal() }
    }

    func cancel(id: UInt64) {
        let completion = state.withLock { $0.table.cancel(id: id) }
        completion?(.failure(.cancelled("call cancelled")))
    }

    /// Fails every pending call with CANCELLED and stops the I/O thread.
    func close() {
        let completions = state.withLock { state -> [CallCompletion] in
            if state.closed { return [] }
            state.closed = true
            return state.table.close()
        }
        wakeup.signal()
        for completion in completions { completion(.failure(.cancelled("client closed"))) }
    }

    // MARK: I/O thread

    func run() {
        let poller = ZMQPoller()
        let socketIndex = poller.add(fileDescriptor: socketFD, events: .pollIn)
        let wakeupIndex = poller.add(fileDescriptor: wakeup.readFD, events: .pollIn)
        while true {
            var completed: Completed = []
            let plan = state.withLock { state -> (closed: Bool, watchSocket: Bool, timeout: Int) in
                state.ioSleeping = false
                if state.closed { return (true, false, 0) }
                pump(&state, into: &completed)
                expire(&state, into: &completed)
                let watch = ioShouldWatchSocket(state)
                let next = state.table.nextDeadline()
                state.ioSleeping = true
                state.ioWatchesSocket = watch
                state.ioWakeAt = next
                let timeout = next.map { Int(max(0, ($0 - .now).millisecondsRoundedUp)) } ?? -1
                return (false, watch, timeout)
            }
            for (completion, result) in completed { completion(result) }
            if plan.closed { break }
            poller.setEvents(plan.watchSocket ? .pollIn : [], at: socketIndex)
            _ = try? poller.poll(timeoutMilliseconds: plan.timeout)
            if poller.returnedEvents(at: wakeupIndex).contains(.pollIn) { wakeup.drain() }
        }
        state.withLock { $0.socket.close() }
    }

    // MARK: Under the lock

    /// Calls are pending that no blocking caller will read for, or a queued call waits for the socket.
    private func ioShouldWatchSocket(_ state: State) -> Bool {
        state.table.count > state.blockingReceivers || (state.table.socketBlocked && state.table.hasSendable)
    }

    /// Whether the sleeping I/O thread must re-plan: it should watch the socket and does not, or a deadline is
    /// now earlier than its timeout. Marks it awake so only one signal is sent.
    private func ioNeedsWake(_ state: inout State, forDeadlines: Bool = true) -> Bool {
        guard state.ioSleeping else { return false }
        var wake = ioShouldWatchSocket(state) && !state.ioWatchesSocket
        if !wake, forDeadlines, let next = state.table.nextDeadline() {
            if let planned = state.ioWakeAt { wake = next < planned } else { wake = true }
        }
        if wake { state.ioSleeping = false }
        return wake
    }

    /// Sends what the window allows and reads what arrived, until neither makes progress.
    private func pump(_ state: inout State, into completed: inout Completed) {
        var rounds = 0
        repeat {
            rounds += 1
            flushSends(&state, into: &completed)
            drain(&state, into: &completed)
        } while state.table.hasSendable && !state.table.socketBlocked && rounds < 1000
    }

    private func flushSends(_ state: inout State, into completed: inout Completed) {
        while let (id, frame) = state.table.nextToSend() {
            do {
                if try state.socket.send(frame, dontWait: true) {
                    state.table.markSent(id: id)
                } else {
                    state.table.socketBlocked = true  // no connection (ZMQ_IMMEDIATE) or high-water mark
                    return
                }
            } catch {
                if let completion = state.table.cancel(id: id) {
                    completed.append((completion, .failure(.unavailable("cannot send: \(error)"))))
                }
            }
        }
    }

    /// Reads every waiting response; the receive that finds nothing re-arms the edge-triggered ZMQ_FD.
    private func drain(_ state: inout State, into completed: inout Completed) {
        var attempts = 0
        while attempts < 100_000 {
            attempts += 1
            let frames: [[UInt8]]?
            do {
                frames = try state.socket.receiveMultipart(dontWait: true)
            } catch {
                return
            }
            // EAGAIN: the receive processed the socket's pending commands first (as a ZMQ_EVENTS query would), so
            // ZMQ_FD is re-armed. Only a blocked sender asks ZMQ_EVENTS whether the connection is up now.
            guard let frames else {
                guard state.table.socketBlocked && state.table.hasSendable,
                    let events = try? state.socket.events(), events.contains(.pollOut)
                else { return }
                // The connection is up: send, then read again (a send may consume the fd's edge).
                state.table.socketBlocked = false
                flushSends(&state, into: &completed)
                continue
            }
            guard let last = frames.last, let response = try? Svx_Rpc_V1_Response(serializedBytes: last) else {
                continue  // not a Response: ignore
            }
            if let completion = state.table.receive(id: response.requestID) {
                completed.append((completion, .success(response)))
            }
        }
    }

    private func expire(_ state: inout State, into completed: inout Completed) {
        for (completion, status) in state.table.expire(now: .now) {
            completed.append((completion, .failure(status)))
        }
    }
}
