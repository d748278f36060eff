import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A TCP relay on loopback that records every byte passing through it, as someone on the path between a client and
/// a service would see them: clients connect to ``endpoint``, the relay connects each of them to `target` and copies
/// both ways. ``captured`` is everything seen so far, both directions. ``stop()`` closes it (idempotent; also on
/// deinit). Every wait is bounded: the threads poll with a 100 ms timeout (reads and writes alike) and end soon after
/// the stop; each closes the sockets it owns as it ends.
public final class CaptureRelay: Sendable {
    /// `tcp://127.0.0.1:<port>` of the relay.
    public let endpoint: String
    private let core: Core

    /// Listens on a free loopback port, relaying to `target` (`tcp://127.0.0.1:<port>`).
    public init(to target: String) throws {
        guard target.hasPrefix("tcp://127.0.0.1:"), let port = UInt16(target.dropFirst("tcp://127.0.0.1:".count)) else {
            throw HarnessError("the capture relay relays to tcp://127.0.0.1:<port> only, not \(target)")
        }
        let listener = try Core.socketFD()
        var address = Core.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        guard bound == 0, named == 0, listen(listener, 16) == 0 else {
            close(listener)
            throw HarnessError("the capture relay could not listen on loopback (errno \(errno))")
        }
        endpoint = "tcp://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        core = Core(targetPort: port)
        let core = self.core
        core.start { core.acceptLoop(listener) }
    }

    deinit { stop() }

    /// Every byte relayed so far, in both directions (each direction's chunks in order, interleaved as they came).
    public var captured: [UInt8] { core.bytes.withLock { $0 } }

    /// Whether `marker`'s UTF-8 bytes occur anywhere in ``captured``.
    public func saw(_ marker: String) -> Bool {
        let needle = Array(marker.utf8)
        let haystack = captured
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// Stops accepting, ends every relayed connection and waits (at most 5 s) for the relay's threads.
    public func stop() {
        guard !core.stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        _ = core.running.wait(timeout: .now() + 5)
    }

    /// What the relay's threads share (they hold this, not the relay, so that the relay's deinit can stop them).
    private final class Core: Sendable {
        let targetPort: UInt16
        let bytes = Mutex<[UInt8]>([])
        let stopping = Atomic<Bool>(false)
        let running = DispatchGroup()

        init(targetPort: UInt16) { self.targetPort = targetPort }

        var stopped: Bool { stopping.load(ordering: .sequentiallyConsistent) }

        func start(_ body: @escaping @Sendable () -> Void) {
            running.enter()
            let thread = Thread { [running] in
                body()
                running.leave()
            }
            thread.name = "svx-capture-relay"
            thread.start()
        }

        /// Accepts until the stop, then closes the listening socket (only this thread uses it).
        func acceptLoop(_ listener: Int32) {
            defer { close(listener) }
            while !stopped {
                var ready = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
                guard poll(&ready, 1, 100) > 0 else { continue }
                let client = accept(listener, nil, nil)
                guard client >= 0 else { continue }
                guard let server = try? connectToTarget() else {
                    close(client)
                    continue
                }
                start { self.pump(client, server) }
            }
        }

        private func connectToTarget() throws -> Int32 {
            let fd = try Self.socketFD()
            var address = Self.loopback(port: targetPort)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(fd)
                throw HarnessError("the capture relay could not reach port \(targetPort)")
            }
            return fd
        }

        /// Copies both ways until either side closes or the relay stops, recording what passes.
        private func pump(_ client: Int32, _ server: Int32) {
            defer {
                close(client)
                close(server)
            }
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while !stopped {
                var fds = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: server, events: Int16(POLLIN), revents: 0)]
                guard poll(&fds, 2, 100) > 0 else { continue }
                for (from, to) in [(0, 1), (1, 0)] where fds[from].revents != 0 {
                    let count = buffer.withUnsafeMutableBytes { read(fds[from].fd, $0.baseAddress, $0.count) }
                    guard count > 0 else { return }
                    bytes.withLock { $0.append(contentsOf: buffer[0..<count]) }
                    guard writeAll(fds[to].fd, buffer[0..<count]) else { return }
                }
            }
        }

        /// Writes `chunk` without ever blocking: waits for room 100 ms at a time, until the stop.
        private func writeAll(_ fd: Int32, _ chunk: ArraySlice<UInt8>) -> Bool {
            var offset = chunk.startIndex
            while offset < chunk.endIndex {
                guard !stopped else { return false }
                var room = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&room, 1, 100) > 0 else { continue }
                guard room.revents & Int16(POLLOUT) != 0 else { return false }
                let written = chunk[offset...].withUnsafeBytes {
                    send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
                if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { continue }
                guard written > 0 else { return false }
                offset += written
            }
            return true
        }

        static func socketFD() throws -> Int32 {
            #if canImport(Glibc)
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #else
                let fd = socket(AF_INET, SOCK_STREAM, 0)
            #endif
            guard fd >= 0 else { throw HarnessError("socket() failed (errno \(errno))") }
            return fd
        }

        static func loopback(port: UInt16) -> sockaddr_in {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            return address
        }
    }
}
