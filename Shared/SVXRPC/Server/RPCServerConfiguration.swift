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
    /// The deadline applied when a request's `deadline_ms` is 0.
    public var defaultTimeout: Duration

    public init(
        endpoint: String, workerCount: Int = 4, maxMessageBytes: Int = 4 << 20, queueCapacity: Int = 1024,
        defaultTimeout: Duration = .seconds(30)
    ) {
        self.endpoint = endpoint
        self.workerCount = workerCount
        self.maxMessageBytes = maxMessageBytes
        self.queueCapacity = queueCapacity
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
