import Foundation
import Logging
import Synchronization

/// The CURVE settings of a server: its own keypair, and which client keys belong to which peer services.
public struct CurveServerSecurity: Sendable {
    /// The server's long-term keypair; clients pin its public key.
    public var keyPair: CurveKeyPair
    /// The public keys (32 bytes) of the peer services, by name (`vault`, `sharing`, ...): a client whose handshake
    /// proves one of them is that service (``RequestContext/peerService``); any other key is an ordinary client.
    public var peers: [String: [UInt8]]

    public init(keyPair: CurveKeyPair, peers: [String: [UInt8]] = [:]) {
        self.keyPair = keyPair
        self.peers = peers
    }
}

/// The ZAP decision (ZeroMQ RFC 27) of a CURVE server, with no I/O: every client that completed the CURVE handshake is
/// let in (users' clients have throwaway keys), and one whose key is a peer service's is named by it in the reply's
/// user id, which libzmq attaches to each of its messages as "User-Id". Anything that is not a CURVE request of this
/// protocol version is refused.
public struct CurveAuthenticator: Sendable {
    /// The ZAP domain the server socket sets, so that libzmq asks the handler.
    public static let domain = "svx"
    /// Where libzmq sends ZAP requests (in the server's context).
    static let endpoint = "inproc://zeromq.zap.01"

    private let peerByKey: [[UInt8]: String]

    public init(peers: [String: [UInt8]]) {
        var byKey: [[UInt8]: String] = [:]
        for (name, key) in peers { byKey[key] = name }
        peerByKey = byKey
    }

    /// What the handshake's client key names: the peer service, or nil for an ordinary client.
    public func peer(publicKey: [UInt8]) -> String? { peerByKey[publicKey] }

    /// The reply frames to a ZAP request's frames.
    public func reply(to request: [[UInt8]]) -> [[UInt8]] {
        let requestID = request.count > 1 ? request[1] : []
        func answer(_ code: String, _ text: String, userID: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(userID.utf8), []]
        }
        // version, request id, domain, address, routing id, mechanism, credentials...
        guard request.count >= 6, request[0] == Array("1.0".utf8) else {
            return answer("400", "not a ZAP 1.0 request")
        }
        guard request[5] == Array("CURVE".utf8), request.count == 7, request[6].count == 32 else {
            return answer("400", "only CURVE clients are served")
        }
        return answer("200", "OK", userID: peerByKey[request[6]] ?? "")
    }
}

/// The thread that answers a server's ZAP requests, on a REP socket bound in the server's context.
final class ZAPHandler: Sendable {
    private let thread: Mutex<JoinableThread?>
    private let stopRequested: StopFlag

    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private init(thread: JoinableThread, stopRequested: StopFlag) {
        self.thread = Mutex(thread)
        self.stopRequested = stopRequested
    }

    /// Binds the handler (before the server socket binds, so no handshake goes unanswered) and starts its thread, which
    /// also reads `failures` (the server socket's monitor of failed handshakes) and logs them, at most one line a second
    /// with how many there were.
    static func start(
        context: ZMQContext, authenticator: CurveAuthenticator, failures: ZMQSocketMonitor, threadName: String,
        logger: Logger
    ) throws -> ZAPHandler {
        let socket = try ZMQSocket(context: context, type: .rep)
        try socket.setOption(.linger, 0)
        try socket.bind(CurveAuthenticator.endpoint)
        let stop = StopFlag()
        return ZAPHandler(
            thread: JoinableThread(name: threadName) {
                defer {
                    socket.close()
                    failures.close()
                }
                var log = FailedHandshakeLog(logger: logger)
                let poller = ZMQPoller()
                poller.add(socket)
                while !stop.value.load(ordering: .acquiring) {
                    do {
                        log.record(failures.drain())
                        guard try poller.poll(timeoutMilliseconds: 100) > 0,
                              let request = try socket.receiveMultipart(dontWait: true)
                        else { continue }
                        let reply = authenticator.reply(to: request)
                        if reply[2] != Array("200".utf8) {
                            logger.warning("refused a handshake", metadata: ["reason": "\(String(decoding: reply[3], as: UTF8.self))"])
                        }
                        try socket.send(multipart: reply)
                    } catch {
                        logger.error("ZAP handler failed", metadata: ["error": "\(error)"])
                        return
                    }
                }
            }, stopRequested: stop)
    }

    /// Stops the thread and closes its socket. Idempotent.
    func stop() {
        stopRequested.value.store(true, ordering: .releasing)
        let thread = self.thread.withLock { thread -> JoinableThread? in
            defer { thread = nil }
            return thread
        }
        thread?.join()
    }
}

/// The server's log of failed handshakes: a warning at most once a second, counting those in between (a client
/// retrying with a wrong key every 100 ms must not flood the log).
struct FailedHandshakeLog {
    let logger: Logger
    private var unreported = 0
    private var lastReason = ""
    private var lastLogged: ContinuousClock.Instant?

    init(logger: Logger) { self.logger = logger }

    /// Counts `events` and logs if a second has passed since the last line.
    mutating func record(_ events: [(event: ZMQSocketEvent, value: UInt32)], now: ContinuousClock.Instant = .now) {
        for (event, value) in events where !event.isDisjoint(with: .handshakeFailed) {
            unreported += 1
            lastReason = Self.reason(event, value)
        }
        guard unreported > 0 else { return }
        if let lastLogged, now - lastLogged < .seconds(1) { return }
        logger.warning(
            "failed handshake", metadata: ["reason": "\(lastReason)", "count": "\(unreported)"])
        unreported = 0
        lastLogged = now
    }

    /// Why a handshake failed, from the server's side, as libzmq 4.3 reports it.
    static func reason(_ event: ZMQSocketEvent, _ value: UInt32) -> String {
        switch event {
        case .handshakeFailedAuth: "refused by the ZAP handler"
        case .handshakeFailedProtocol where value == ZMQSocketEvent.mechanismMismatch:
            "not a CURVE client (plain TCP, or another mechanism)"
        case .handshakeFailedProtocol: "CURVE failed: the client pinned another server key"
        default: "the client ended the handshake (a plain TCP client, another mechanism, or a client that went away)"
        }
    }
}
