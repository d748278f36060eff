import CZeroMQ
import Foundation
import Synchronization

/// Connection events of a socket (`ZMQ_EVENT_*`), as a monitor reports them.
public struct ZMQSocketEvent: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let connected = ZMQSocketEvent(rawValue: UInt32(ZMQ_EVENT_CONNECTED))
    public static let disconnected = ZMQSocketEvent(rawValue: UInt32(ZMQ_EVENT_DISCONNECTED))
    public static let handshakeSucceeded = ZMQSocketEvent(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
    /// A handshake ended with no protocol error to report: the peer dropped the connection. A CURVE client sees this
    /// when the server cannot open its HELLO (the client pinned another server key), and either side may see it when
    /// the mechanisms differ and the peer noticed first (libzmq 4.3.4 and 4.3.5).
    public static let handshakeFailedNoDetail = ZMQSocketEvent(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
    /// A ZMTP or mechanism protocol error; the event's value says which (e.g. ``mechanismMismatch``).
    public static let handshakeFailedProtocol = ZMQSocketEvent(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
    /// The value of a ``handshakeFailedProtocol`` event when the peers' security mechanisms differ (a CURVE client and a
    /// plain TCP server, or the reverse).
    public static let mechanismMismatch = UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
    /// The server's ZAP handler refused the client.
    public static let handshakeFailedAuth = ZMQSocketEvent(rawValue: UInt32(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))

    public static let handshakeFailed: ZMQSocketEvent = [.handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth]
}

/// A socket's event monitor, read without blocking by whoever asks (``drain()``): libzmq writes the events to an
/// inproc PAIR socket, whose high-water mark bounds what waits unread.
///
/// `@unchecked Sendable`: like ``ZMQSocket``, it is handed to the one thread that uses it (the ZAP thread), or used
/// under its owner's lock only (an RPC client's handshake watch).
final class ZMQSocketMonitor: @unchecked Sendable {
    private static let sequence = Atomic<UInt64>(0)
    private let pair: ZMQSocket

    /// Monitors `socket` (before it connects or binds, so no event is missed) for `events`.
    init(_ socket: ZMQSocket, events: ZMQSocketEvent) throws {
        let endpoint = "inproc://svxrpc-monitor-\(getpid())-\(Self.sequence.add(1, ordering: .relaxed).newValue)"
        try socket.monitor(endpoint, events: events)
        pair = try ZMQSocket(context: socket.context, type: .pair)
        try pair.setOption(.linger, 0)
        // About a minute of a failing peer's reconnections (every 100 ms, 2-3 events each); events past it are
        // dropped by libzmq until the reader drains.
        try pair.setOption(.receiveHighWaterMark, 1000)
        try pair.connect(endpoint)
    }

    /// The events reported since the last call, oldest first, each with its value (an errno for a failure).
    func drain() -> [(event: ZMQSocketEvent, value: UInt32)] {
        var events: [(ZMQSocketEvent, UInt32)] = []
        while let frames = try? pair.receiveMultipart(dontWait: true) {
            // Frame 1: the event (uint16) and its value (uint32), native byte order; frame 2: the endpoint.
            guard let first = frames.first, first.count >= 6 else { continue }
            let (event, value) = first.withUnsafeBytes {
                ($0.loadUnaligned(as: UInt16.self), $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            }
            events.append((ZMQSocketEvent(rawValue: UInt32(event)), value))
            if events.count >= 1000 { break }
        }
        return events
    }

    func close() { pair.close() }
}
