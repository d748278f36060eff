import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor another thread can make readable, so a thread blocked in `zmq_poll` wakes up
/// (eventfd on Linux, a pipe elsewhere). Any thread may call ``signal()``; only the polling thread calls ``drain()``.
final class Wakeup: Sendable {
    let readFD: Int32
    private let writeFD: Int32

    init() throws {
        #if os(Linux)
        let fd = CZeroMQ_eventfd()
        guard fd >= 0 else { throw ZMQError(operation: "eventfd", errno: errno) }
        readFD = fd
        writeFD = fd
        #else
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ZMQError(operation: "pipe", errno: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        readFD = fds[0]
        writeFD = fds[1]
        #endif
    }

    deinit {
        close(readFD)
        if writeFD != readFD { close(writeFD) }
    }

    func signal() {
        #if os(Linux)
        var one: UInt64 = 1
        _ = write(writeFD, &one, 8)
        #else
        var one: UInt8 = 1
        _ = write(writeFD, &one, 1)
        #endif
    }

    func drain() {
        #if os(Linux)
        var count: UInt64 = 0
        _ = read(readFD, &count, 8)  // one read resets an eventfd's counter
        #else
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        while withUnsafeMutableBytes(of: &buffer, { read(readFD, $0.baseAddress, $0.count) }) > 0 {}
        #endif
    }
}
