/// Settings of an ``RPCServer``.
public struct RPCServerConfiguration: Sendable {
    /// Where the ROUTER socket binds, e.g. `"tcp://127.0.0.1:7101"` (`tcp://127.0.0.1:*` picks a free port; see
    /// ``RPCServer/boundEndpoint``).
    public var endpoint: String
    /// Worker threads running handlers.
    public var workerCount: Int
    /// Largest request frame accepted; a larger one is answered RESOURCE_EXHAUSTED. libzmq's `ZMQ_MAXMSGSIZE` is set
    /// to a hard guard above it (``hardMessageLimit``): a peer sending more than that is disconnected.
    public var maxMessageBytes: Int
    /// Requests waiting for a worker beyond which new ones are answered RESOURCE_EXHAUSTED "server busy".
    public var queueCapacity: Int
    /// Bytes of requests (payload, method, token) waiting for a worker beyond which new ones are answered
    /// RESOURCE_EXHAUSTED "server busy": the queue's memory is bounded by this, not by `queueCapacity` times the
    /// message limit. An empty queue takes any one request.
    public var queueBytes: Int
    /// The deadline applied when a request's `deadline_ms` is 0.
    public var defaultTimeout: Duration
    /// How often the server sends a ZMTP PING on each connection (`ZMQ_HEARTBEAT_IVL`); a peer that sends nothing
    /// for ``heartbeatTimeoutMilliseconds`` after one (gone, or stalled in the middle of a frame) is disconnected and
    /// what libzmq buffered for it is freed. The ZMTP handshake must also finish within the timeout.
    public var heartbeatMilliseconds: Int
    /// `ZMQ_HEARTBEAT_TIMEOUT` and `ZMQ_HANDSHAKE_IVL`: three heartbeats.
    public var heartbeatTimeoutMilliseconds: Int { heartbeatMilliseconds * 3 }
    /// The heartbeat of servers and clients unless configured: 5 s (a silent peer is dropped within 15-20 s).
    public static let defaultHeartbeatMilliseconds = 5000
    /// What the server's threads are called (as `top -H` and `/proc/<pid>/task/*/comm` show them):
    /// `<threadName>-io` and `<threadName>-w<index>`, the name cut so that the whole fits the kernel's 15 bytes.
    public var threadName: String
    /// CURVE on the server socket (nil: plain TCP, which a service only runs with `SVX_TRANSPORT=plaintext`).
    public var curve: CurveServerSecurity?

    public init(
        endpoint: String, workerCount: Int = 4, maxMessageBytes: Int = 4 << 20, queueCapacity: Int = 1024,
        queueBytes: Int = 32 << 20, defaultTimeout: Duration = .seconds(30),
        heartbeatMilliseconds: Int = RPCServerConfiguration.defaultHeartbeatMilliseconds, threadName: String = "svxrpc",
        curve: CurveServerSecurity? = nil
    ) {
        self.curve = curve
        self.threadName = threadName
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.endpoint = endpoint
        self.workerCount = workerCount
        self.maxMessageBytes = maxMessageBytes
        self.queueCapacity = queueCapacity
        self.queueBytes = queueBytes
        self.defaultTimeout = defaultTimeout
    }

    /// `ZMQ_MAXMSGSIZE`: twice the application limit, at least 1 MiB above it.
    public var hardMessageLimit: Int {
        max(maxMessageBytes * 2, maxMessageBytes + (1 << 20))
    }
}

/// Told about every answered request (from a worker thread or the server's I/O thread): keep it cheap and thread-safe.
public protocol RPCServerObserver: Sendable {
    func requestCompleted(method: String, code: RPCStatus.Code, duration: Duration)
}
