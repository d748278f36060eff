import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq context. Contexts are thread-safe; sockets are not.
///
/// Every ``ZMQSocket`` keeps its context alive (a strong reference), so the context is terminated
/// (`zmq_ctx_term`) only after its last socket has been closed and released: terminating a context
/// while one of its sockets is open blocks forever.
public final class ZMQContext: @unchecked Sendable {
    // @unchecked Sendable: libzmq contexts are documented as thread-safe; the handle is immutable.
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq background I/O threads (1 is plenty below ~1 GB/s).
    public init(ioThreads: Int = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 {
            let error = ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS)")
            zmq_ctx_term(handle)
            throw error
        }
        self.handle = handle
    }

    deinit {
        // All sockets are gone (each retained us), so this does not block on open sockets.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

/// A libzmq error: the failing operation and `errno`.
public struct ZMQError: Error, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32

    public init(operation: String, errno: Int32) {
        self.operation = operation
        self.errno = errno
    }

    static func last(_ operation: String) -> ZMQError {
        ZMQError(operation: operation, errno: zmq_errno())
    }

    /// `EAGAIN`: the operation would block (non-blocking mode, high-water mark, no peer).
    public var wouldBlock: Bool { errno == EAGAIN }
    /// `EHOSTUNREACH`: a ROUTER with `routerMandatory` cannot route to that identity.
    public var hostUnreachable: Bool { errno == EHOSTUNREACH }

    public var description: String {
        "\(operation): \(String(cString: zmq_strerror(errno)))"
    }
}
