import Foundation
import Logging
import SVXProto
import Synchronization
import Testing

@testable import SVXRPC

typealias HealthRequest = Svx_Rpc_V1_HealthCheckRequest
typealias HealthResponse = Svx_Rpc_V1_HealthCheckResponse

/// Test methods, all over the Health messages: `service` carries the payload.
enum TestRPC {
    static let echo = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/Echo")
    static let slow = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/Slow")
    static let fail = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/Fail")
    static let notFound = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/NotFound")
    static let missing = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/Missing")
    /// Inline (run by the reading thread): echoes `service`, answers `version` = "<requestID>/<workerIndex>".
    static let inlineEcho = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/InlineEcho")
    /// Pooled: holds its worker until the test opens the server's gate (at most 120 s).
    static let gated = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/Gated")
    /// Inline: `service` "internal" throws a non-status error, anything else a NOT_FOUND status.
    static let inlineFail = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/InlineFail")
    /// Pooled, screened: a token other than "good" is refused UNAUTHENTICATED before the request is queued; then
    /// admitted (the admission counted) before the payload is decoded; echoes `service`.
    static let screened = RPCMethod<HealthRequest, HealthResponse>("svx.test.v1.Test/Screened")
}

struct SecretError: Error, CustomStringConvertible {
    var description: String { "the password is hunter2" }
}

/// Counts handler runs, so tests can prove a handler did (not) run.
final class Counters: Sendable {
    let echo = Atomic<Int>(0)
    let inlineEcho = Atomic<Int>(0)
    let gatedStarted = Atomic<Int>(0)
    let gatedFinished = Atomic<Int>(0)
    let slowStarted = Atomic<Int>(0)
    let slowFinished = Atomic<Int>(0)
    let admitted = Atomic<Int>(0)
}

/// Holds handlers until the test opens it, so a test can keep every worker busy for as long as it needs, without
/// guessing how long a loaded machine takes. A closed gate lets go after 120 s (a failed test never hangs; a loaded
/// CI machine once took 56 s over a test that holds the gate, and a 30 s limit let a handler finish in the middle).
final class Gate: @unchecked Sendable {
    // @unchecked Sendable: `isOpen` is read and written only while `condition` is locked.
    private let condition = NSCondition()
    private var isOpen = false

    func wait() {
        let limit = Date(timeIntervalSinceNow: 120)
        condition.lock()
        while !isOpen && condition.wait(until: limit) {}
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "svxrpc.test")
    logger.logLevel = .critical
    return logger
}()

/// A running in-process server on a free loopback port (bound to `tcp://127.0.0.1:*`).
struct TestServer {
    let server: RPCServer<Void>
    let endpoint: String
    let counters: Counters
    let gate: Gate

    static func start(
        workers: Int = 4, maxMessageBytes: Int = 1 << 20, queueCapacity: Int = 1024, queueBytes: Int = 32 << 20,
        slowDelay: Duration = .milliseconds(300), observer: (any RPCServerObserver)? = nil,
        heartbeatMilliseconds: Int = RPCServerConfiguration.defaultHeartbeatMilliseconds, threadName: String = "svxrpc"
    ) throws -> TestServer {
        let counters = Counters()
        let gate = Gate()
        let router = RPCRouter<Void>()
        router.register(TestRPC.gated) { request, _, _ in
            counters.gatedStarted.add(1, ordering: .relaxed)
            gate.wait()
            counters.gatedFinished.add(1, ordering: .relaxed)
            var response = HealthResponse()
            response.service = request.service
            return response
        }
        router.registerInline(HealthRPC.check) { request, _ in
            var response = HealthResponse()
            response.status = .serving
            response.service = request.service
            return response
        }
        router.registerInline(TestRPC.inlineEcho) { request, context in
            counters.inlineEcho.add(1, ordering: .relaxed)
            var response = HealthResponse()
            response.service = request.service
            response.version = "\(context.requestID)/\(context.workerIndex)"
            return response
        }
        router.registerInline(TestRPC.inlineFail) { request, _ in
            if request.service == "internal" { throw SecretError() }
            throw RPCStatus.notFound("no such inline thing", details: ["field": "service"])
        }
        router.register(TestRPC.echo) { request, context, _ in
            counters.echo.add(1, ordering: .relaxed)
            var response = HealthResponse()
            response.service = request.service
            response.version = "\(context.requestID)"
            return response
        }
        router.register(TestRPC.slow) { request, _, _ in
            counters.slowStarted.add(1, ordering: .relaxed)
            Thread.sleep(forTimeInterval: slowDelay.seconds)
            counters.slowFinished.add(1, ordering: .relaxed)
            var response = HealthResponse()
            response.service = request.service
            return response
        }
        router.register(
            TestRPC.screened,
            screen: { token in token == "good" ? nil : RPCStatus(.unauthenticated, "screened out") },
            admit: { context, _ in
                counters.admitted.add(1, ordering: .relaxed)
                if context.sessionToken != "good" { throw RPCStatus(.internal, "the screen let a bad token through") }
            },
            { request, _, _, _ in
                var response = HealthResponse()
                response.service = request.service
                return response
            })
        router.register(TestRPC.fail) { _, _, _ in throw SecretError() }
        router.register(TestRPC.notFound) { _, _, _ in
            throw RPCStatus.notFound("no such thing", details: ["field": "service"])
        }
        let configuration = RPCServerConfiguration(
            endpoint: "tcp://127.0.0.1:*", workerCount: workers, maxMessageBytes: maxMessageBytes,
            queueCapacity: queueCapacity, queueBytes: queueBytes, defaultTimeout: .seconds(5),
            heartbeatMilliseconds: heartbeatMilliseconds, threadName: threadName)
        let server = RPCServer(configuration: configuration, router: router, logger: testLogger, observer: observer) {
            _ in ()
        }
        try server.start()
        return TestServer(server: server, endpoint: server.boundEndpoint!, counters: counters, gate: gate)
    }
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }
}

/// A loopback endpoint where nothing listens: bind a socket to a free port, then close it.
func unusedEndpoint() throws -> String {
    let context = try ZMQContext()
    let socket = try ZMQSocket(context: context, type: .router)
    try socket.setOption(.linger, 0)
    try socket.bind("tcp://127.0.0.1:*")
    let endpoint = try socket.lastEndpoint()
    socket.close()
    return endpoint
}

/// Polls `condition` every 5 ms for at most `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let limit = ContinuousClock.now + timeout
    while ContinuousClock.now < limit {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

/// A raw DEALER for sending hand-made frames, with a bounded receive.
final class RawDealer {
    let socket: ZMQSocket

    init(endpoint: String) throws {
        let context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setOption(.linger, 0)
        try socket.setOption(.receiveTimeout, 15_000)  // only awaited when a response is due; a loaded run once needed more than 2 s
        try socket.connect(endpoint)
    }

    func send(_ frames: [[UInt8]]) throws {
        try socket.send(multipart: frames)
    }

    /// The next Response, or nil after 2 s.
    func receiveResponse() throws -> Svx_Rpc_V1_Response? {
        do {
            guard let frames = try socket.receiveMultipart(), let last = frames.last else { return nil }
            return try Svx_Rpc_V1_Response(serializedBytes: last)
        } catch let error as ZMQError where error.wouldBlock {
            return nil
        }
    }

    static func request(
        id: UInt64, method: String, service: String = "", deadlineMs: UInt64 = 0, token: String = "",
        payload rawPayload: [UInt8]? = nil
    ) throws -> [UInt8] {
        var payload = HealthRequest()
        payload.service = service
        var request = Svx_Rpc_V1_Request()
        request.method = method
        request.requestID = id
        request.deadlineMs = deadlineMs
        request.sessionToken = token
        request.payload = try rawPayload.map { Data($0) } ?? payload.serializedData()
        return try request.serializedBytes()
    }
}
