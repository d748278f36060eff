import Foundation
import Logging
import SVXProto
import SwiftProtobuf
import Synchronization

typealias CallCompletion = @Sendable (Result<Svx_Rpc_V1_Response, RPCStatus>) -> Void

/// The shared half of an ``RPCClient``: callers on any thread submit commands under a lock and wake the I/O thread
/// (an eventfd it polls with the socket, written only when it sleeps); the I/O thread owns the socket and the
/// ``ClientRequestTable``.
final class ClientCore: @unchecked Sendable {
    // @unchecked Sendable: `inbox` is a Mutex; `socket`, `table` and `poller` are touched only by the I/O thread
    // (inside run()), which is the only thread running run().
    enum Command {
        case call(id: UInt64, deadline: ContinuousClock.Instant, frame: [UInt8], completion: CallCompletion)
        case cancel(id: UInt64)
        case close
    }

    private struct Inbox {
        var commands: [Command] = []
        var sleeping = false
        var closed = false
    }

    private let inbox = Mutex(Inbox())
    private let ids = Atomic<UInt64>(0)
    private let wakeup: Wakeup
    private let socket: ZMQSocket
    private var table: ClientRequestTable<CallCompletion>

    init(socket: ZMQSocket, maxInFlight: Int) throws {
        self.socket = socket
        self.wakeup = try Wakeup()
        self.table = ClientRequestTable(maxInFlight: maxInFlight)
    }

    func nextID() -> UInt64 {
        ids.add(1, ordering: .relaxed).newValue
    }

    // MARK: Any thread

    func submit(
        id: UInt64, deadline: ContinuousClock.Instant, frame: [UInt8], isCancelled: () -> Bool,
        completion: @escaping CallCompletion
    ) {
        enum Outcome { case queued(wake: Bool), closed, cancelled }
        let outcome: Outcome = inbox.withLock { inbox in
            if inbox.closed { return .closed }
            // Checked under the lock that orders it against the cancel command (see call()).
            if isCancelled() { return .cancelled }
            inbox.commands.append(.call(id: id, deadline: deadline, frame: frame, completion: completion))
            let wake = inbox.sleeping
            inbox.sleeping = false
            return .queued(wake: wake)
        }
        switch outcome {
        case .queued(let wake): if wake { wakeup.signal() }
        case .closed: completion(.failure(.unavailable("client closed")))
        case .cancelled: completion(.failure(.cancelled("call cancelled")))
        }
    }

    func submitCancel(id: UInt64) {
        enqueue(.cancel(id: id))
    }

    func submitClose() {
        enqueue(.close, closing: true)
    }

    private func enqueue(_ command: Command, closing: Bool = false) {
        let wake: Bool = inbox.withLock { inbox in
            if inbox.closed { return false }
            if closing { inbox.closed = true }
            inbox.commands.append(command)
            let wake = inbox.sleeping
            inbox.sleeping = false
            return wake
        }
        if wake { wakeup.signal() }
    }

    // MARK: I/O thread

    func run() {
        let poller = ZMQPoller()
        let socketIndex = poller.add(socket, events: .pollIn)
        let wakeupIndex = poller.add(fileDescriptor: wakeup.readFD, events: .pollIn)
        var commands: [Command] = []
        while true {
            // 1. Commands from callers (swapped out so the lock is held for a moment only).
            inbox.withLock { swap(&$0.commands, &commands) }
            var closing = false
            for command in commands {
                switch command {
                case .call(let id, let deadline, let frame, let completion):
                    if case .rejected(let completion, let status) = table.submit(
                        id: id, deadline: deadline, frame: frame, completion: completion)
                    {
                        completion(.failure(status))
                    }
                case .cancel(let id):
                    table.cancel(id: id)?(.failure(.cancelled("call cancelled")))
                case .close:
                    closing = true
                }
            }
            commands.removeAll(keepingCapacity: true)
            if closing {
                for completion in table.close() { completion(.failure(.cancelled("client closed"))) }
                break
            }

            // 2. Socket work: send what the window allows, take responses, send again, expire deadlines.
            flushSends()
            receiveResponses()
            flushSends()
            for (completion, status) in table.expire(now: .now) { completion(.failure(status)) }

            // 3. Sleep until a response, a command, writability (if blocked) or the nearest deadline.
            var timeout = -1
            if let next = table.nextDeadline() {
                timeout = Int(max(0, (next - .now).millisecondsRoundedUp))
            }
            poller.setEvents(
                table.hasSendable && table.socketBlocked ? [.pollIn, .pollOut] : .pollIn, at: socketIndex)
            let hasWork = inbox.withLock { inbox -> Bool in
                if !inbox.commands.isEmpty { return true }
                inbox.sleeping = true
                return false
            }
            if hasWork { continue }
            _ = try? poller.poll(timeoutMilliseconds: timeout)
            inbox.withLock { $0.sleeping = false }
            if poller.returnedEvents(at: wakeupIndex).contains(.pollIn) { wakeup.drain() }
        }
        socket.close()
    }

    private func flushSends() {
        while let (id, frame) = table.nextToSend() {
            do {
                if try socket.send(frame, dontWait: true) {
                    table.markSent(id: id)
                } else {
                    table.socketBlocked = true  // no connection (ZMQ_IMMEDIATE) or high-water mark
                    return
                }
            } catch {
                table.cancel(id: id)?(.failure(.unavailable("cannot send: \(error)")))
            }
        }
    }

    private func receiveResponses() {
        while true {
            let frames: [[UInt8]]?
            do {
                frames = try socket.receiveMultipart(dontWait: true)
            } catch {
                return
            }
            guard let frames else { return }
            guard let last = frames.last, let response = try? Svx_Rpc_V1_Response(serializedBytes: last) else {
                continue  // not a Response: ignore
            }
            table.receive(id: response.requestID)?(.success(response))
        }
    }
}
