import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The kinds of libzmq sockets svx uses.
public enum ZMQSocketType: Sendable {
    case router, dealer, push, pull, pair, req, rep

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pair: ZMQ_PAIR
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        }
    }
}

/// Poll events (`ZMQ_POLLIN`, `ZMQ_POLLOUT`, `ZMQ_POLLERR`).
public struct ZMQPollEvents: OptionSet, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    public static let pollIn = ZMQPollEvents(rawValue: Int16(ZMQ_POLLIN))
    public static let pollOut = ZMQPollEvents(rawValue: Int16(ZMQ_POLLOUT))
    public static let pollError = ZMQPollEvents(rawValue: Int16(ZMQ_POLLERR))
}

/// A libzmq socket. **Not thread-safe**: one thread uses a socket at a time. The type is `Sendable` only so that
/// a socket can be created on one thread and handed over to the thread that owns it from then on.
///
/// The socket retains its ``ZMQContext``; ``close()`` is idempotent and also runs on `deinit`.
public final class ZMQSocket: @unchecked Sendable {
    // @unchecked Sendable: ownership may move between threads (libzmq allows migrating a socket with a full
    // memory barrier, which thread creation/joins and our locks provide); concurrent use is a programming error.
    public let context: ZMQContext
    private var handle: UnsafeMutableRawPointer?
    private var message = zmq_msg_t()

    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last("zmq_socket")
        }
        self.context = context
        self.handle = handle
        zmq_msg_init(&message)
    }

    deinit {
        close()
        zmq_msg_close(&message)
    }

    /// Closes the socket (pending outgoing messages are kept for at most the `linger` period). Idempotent.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    var rawHandle: UnsafeMutableRawPointer {
        guard let handle else { preconditionFailure("ZMQSocket used after close()") }
        return handle
    }

    public func bind(_ endpoint: String) throws {
        if zmq_bind(rawHandle, endpoint) != 0 { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws {
        if zmq_connect(rawHandle, endpoint) != 0 { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// Publishes this socket's `events` (``ZMQSocketEvent``) on `endpoint` (`inproc://…`), where a PAIR socket
    /// connects to read them (``ZMQSocketMonitor``).
    func monitor(_ endpoint: String, events: ZMQSocketEvent) throws {
        if zmq_socket_monitor(rawHandle, endpoint, Int32(bitPattern: events.rawValue)) != 0 {
            throw ZMQError.last("zmq_socket_monitor")
        }
    }

    /// The endpoint last bound, with the real port after binding `tcp://127.0.0.1:*`.
    public func lastEndpoint() throws -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        if zmq_getsockopt(rawHandle, ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
            throw ZMQError.last("zmq_getsockopt(ZMQ_LAST_ENDPOINT)")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Options

    /// Integer socket options.
    public struct Option: Sendable, Hashable {
        let code: Int32
        let isInt64: Bool
        /// `ZMQ_ROUTER_MANDATORY` (0/1): unroutable messages fail with `EHOSTUNREACH` instead of vanishing.
        public static let routerMandatory = Option(code: ZMQ_ROUTER_MANDATORY, isInt64: false)
        /// `ZMQ_SNDHWM`, messages.
        public static let sendHighWaterMark = Option(code: ZMQ_SNDHWM, isInt64: false)
        /// `ZMQ_RCVHWM`, messages.
        public static let receiveHighWaterMark = Option(code: ZMQ_RCVHWM, isInt64: false)
        /// `ZMQ_LINGER`, milliseconds (-1 forever).
        public static let linger = Option(code: ZMQ_LINGER, isInt64: false)
        /// `ZMQ_MAXMSGSIZE`, bytes (-1 unlimited): a peer sending more is disconnected.
        public static let maxMessageSize = Option(code: ZMQ_MAXMSGSIZE, isInt64: true)
        /// `ZMQ_IMMEDIATE` (0/1): queue messages only to completed connections.
        public static let immediate = Option(code: ZMQ_IMMEDIATE, isInt64: false)
        /// `ZMQ_SNDTIMEO`, milliseconds (-1 forever).
        public static let sendTimeout = Option(code: ZMQ_SNDTIMEO, isInt64: false)
        /// `ZMQ_RCVTIMEO`, milliseconds (-1 forever).
        public static let receiveTimeout = Option(code: ZMQ_RCVTIMEO, isInt64: false)
        /// `ZMQ_RECONNECT_IVL`, milliseconds.
        public static let reconnectInterval = Option(code: ZMQ_RECONNECT_IVL, isInt64: false)
        /// `ZMQ_HEARTBEAT_IVL`, milliseconds (0 off): send a ZMTP PING on every connection this often.
        public static let heartbeatInterval = Option(code: ZMQ_HEARTBEAT_IVL, isInt64: false)
        /// `ZMQ_HEARTBEAT_TIMEOUT`, milliseconds: close a connection that sent nothing for this long after a PING.
        public static let heartbeatTimeout = Option(code: ZMQ_HEARTBEAT_TIMEOUT, isInt64: false)
        /// `ZMQ_HEARTBEAT_TTL`, milliseconds: asks the peer to close the connection if it hears nothing for this long.
        public static let heartbeatTTL = Option(code: ZMQ_HEARTBEAT_TTL, isInt64: false)
        /// `ZMQ_HANDSHAKE_IVL`, milliseconds: close a connection whose ZMTP handshake takes longer.
        public static let handshakeInterval = Option(code: ZMQ_HANDSHAKE_IVL, isInt64: false)
        /// `ZMQ_CURVE_SERVER` (0/1): this socket is the CURVE server of its connections (set with its secret key).
        public static let curveServer = Option(code: ZMQ_CURVE_SERVER, isInt64: false)
    }

    /// Socket options whose value is bytes.
    public struct BytesOption: Sendable, Hashable {
        let code: Int32
        /// `ZMQ_CURVE_PUBLICKEY`, 32 bytes: this socket's own public key (a CURVE client).
        public static let curvePublicKey = BytesOption(code: ZMQ_CURVE_PUBLICKEY)
        /// `ZMQ_CURVE_SECRETKEY`, 32 bytes: this socket's own secret key (CURVE client or server).
        public static let curveSecretKey = BytesOption(code: ZMQ_CURVE_SECRETKEY)
        /// `ZMQ_CURVE_SERVERKEY`, 32 bytes: the public key a CURVE client requires of its server.
        public static let curveServerKey = BytesOption(code: ZMQ_CURVE_SERVERKEY)
        /// `ZMQ_ZAP_DOMAIN`: the domain a server's ZAP handler is asked about.
        public static let zapDomain = BytesOption(code: ZMQ_ZAP_DOMAIN)
    }

    public func setOption(_ option: BytesOption, _ value: [UInt8]) throws {
        if zmq_setsockopt(rawHandle, option.code, value, value.count) != 0 {
            throw ZMQError.last("zmq_setsockopt(\(option.code))")
        }
    }

    public func setOption(_ option: Option, _ value: Int) throws {
        let rc: Int32
        if option.isInt64 {
            var v = Int64(value)
            rc = zmq_setsockopt(rawHandle, option.code, &v, MemoryLayout<Int64>.size)
        } else {
            var v = Int32(clamping: value)
            rc = zmq_setsockopt(rawHandle, option.code, &v, MemoryLayout<Int32>.size)
        }
        if rc != 0 { throw ZMQError.last("zmq_setsockopt(\(option.code))") }
    }

    public func option(_ option: Option) throws -> Int {
        if option.isInt64 {
            var v: Int64 = 0
            var size = MemoryLayout<Int64>.size
            if zmq_getsockopt(rawHandle, option.code, &v, &size) != 0 { throw ZMQError.last("zmq_getsockopt") }
            return Int(v)
        } else {
            var v: Int32 = 0
            var size = MemoryLayout<Int32>.size
            if zmq_getsockopt(rawHandle, option.code, &v, &size) != 0 { throw ZMQError.last("zmq_getsockopt") }
            return Int(v)
        }
    }

    /// `ZMQ_EVENTS`: what the socket can do now without blocking.
    public func events() throws -> ZMQPollEvents {
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(rawHandle, ZMQ_EVENTS, &v, &size) != 0 { throw ZMQError.last("zmq_getsockopt(ZMQ_EVENTS)") }
        return ZMQPollEvents(rawValue: Int16(truncatingIfNeeded: v))
    }

    /// `ZMQ_FD`: a file descriptor that becomes readable when the socket's state may have changed. It is edge
    /// triggered: after it signals, and after every send or receive on the socket, read ``events()`` and handle
    /// `pollIn` until it is clear, or later messages may not signal again.
    public func fileDescriptor() throws -> Int32 {
        var fd: Int32 = -1
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(rawHandle, ZMQ_FD, &fd, &size) != 0 { throw ZMQError.last("zmq_getsockopt(ZMQ_FD)") }
        return fd
    }

    // MARK: Send / receive

    /// Sends one frame; `more` marks it as a non-final part of a multipart message.
    /// - Returns: `false` if `dontWait` and the send would block (`EAGAIN`); throws on other errors.
    @discardableResult
    public func send(_ frame: [UInt8], more: Bool = false, dontWait: Bool = false) throws -> Bool {
        var flags: Int32 = 0
        if more { flags |= ZMQ_SNDMORE }
        if dontWait { flags |= ZMQ_DONTWAIT }
        while true {
            let rc = frame.withUnsafeBytes { buffer in
                zmq_send(rawHandle, buffer.baseAddress, buffer.count, flags)
            }
            if rc >= 0 { return true }
            let errno = zmq_errno()
            if errno == EINTR { continue }
            if errno == EAGAIN && dontWait { return false }
            throw ZMQError(operation: "zmq_send", errno: errno)
        }
    }

    /// Sends a multipart message. With `dontWait`, returns `false` if the first frame would block (nothing sent).
    @discardableResult
    public func send(multipart frames: [[UInt8]], dontWait: Bool = false) throws -> Bool {
        precondition(!frames.isEmpty, "a message has at least one frame")
        for (index, frame) in frames.enumerated() {
            let last = index == frames.count - 1
            // Only the first frame may report EAGAIN; later parts of a message are queued atomically.
            if !(try send(frame, more: !last, dontWait: dontWait && index == 0)) { return false }
        }
        return true
    }

    /// Receives a whole multipart message.
    /// - Returns: the frames, or `nil` if `dontWait` and nothing is waiting (`EAGAIN`).
    public func receiveMultipart(dontWait: Bool = false) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var first = true
        while true {
            let flags: Int32 = (dontWait && first) ? ZMQ_DONTWAIT : 0
            let rc = zmq_msg_recv(&message, rawHandle, flags)
            if rc < 0 {
                let errno = zmq_errno()
                if errno == EINTR { continue }
                if errno == EAGAIN && dontWait && first { return nil }
                throw ZMQError(operation: "zmq_msg_recv", errno: errno)
            }
            first = false
            let size = zmq_msg_size(&message)
            if size == 0 {
                frames.append([])
            } else {
                let data = zmq_msg_data(&message)!
                frames.append([UInt8](UnsafeRawBufferPointer(start: data, count: size)))
            }
            if zmq_msg_more(&message) == 0 { return frames }
        }
    }

    /// The "Peer-Address" metadata (the peer's IP for TCP) of the last frame received by ``receiveMultipart(dontWait:)``,
    /// or "" when unknown (inproc/ipc, or nothing received yet).
    public func lastPeerAddress() -> String {
        guard let value = zmq_msg_gets(&message, "Peer-Address") else { return "" }
        return String(cString: value)
    }

    /// The "User-Id" metadata of the last frame received: what the server's ZAP handler named the peer when its
    /// handshake was authenticated (``CurveAuthenticator``), "" when it named none or there was no ZAP.
    public func lastUserID() -> String {
        guard let value = zmq_msg_gets(&message, "User-Id") else { return "" }
        return String(cString: value)
    }
}

/// A reusable `zmq_poll` set over sockets and plain file descriptors.
///
/// Owned by one thread, like the sockets in it.
public final class ZMQPoller {
    private var items: [zmq_pollitem_t] = []
    private var sockets: [ZMQSocket?] = []

    public init() {}

    /// Adds a socket; returns its index.
    @discardableResult
    public func add(_ socket: ZMQSocket, events: ZMQPollEvents = .pollIn) -> Int {
        items.append(zmq_pollitem_t(socket: socket.rawHandle, fd: 0, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a file descriptor (for example an eventfd used as a wakeup); returns its index.
    @discardableResult
    public func add(fileDescriptor: Int32, events: ZMQPollEvents = .pollIn) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Changes the events watched for an item.
    public func setEvents(_ events: ZMQPollEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// Waits for events. `timeoutMilliseconds` < 0 waits forever, 0 returns at once.
    /// - Returns: the number of items with events (0 on timeout or interruption).
    @discardableResult
    public func poll(timeoutMilliseconds: Int) throws -> Int {
        let rc = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, Int32(buffer.count), timeoutMilliseconds)
        }
        if rc < 0 {
            let errno = zmq_errno()
            if errno == EINTR { return 0 }
            throw ZMQError(operation: "zmq_poll", errno: errno)
        }
        return Int(rc)
    }

    /// Events returned by the last ``poll(timeoutMilliseconds:)`` for an item.
    public func returnedEvents(at index: Int) -> ZMQPollEvents {
        ZMQPollEvents(rawValue: items[index].revents)
    }
}
