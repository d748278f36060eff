import Foundation
import SVXProto
import SVXRPC
import Synchronization

/// The baseline: libzmq + protobuf with none of SVXRPC's server or client machinery (only its thin socket wrapper,
/// since CZeroMQ may be imported by SVXRPC alone).
///
/// Server: one thread owns a ROUTER socket (same options as RPCServer's), decodes each Request, answers Health
/// inline and sends the Response back.
final class RawEchoServer: Sendable {
    let endpoint: String
    private let socket: ZMQSocket
    private let stop = StopFlag()
    private let done = DispatchSemaphore(value: 0)

    /// `curve`: the server's keypair when it is a CURVE server (no ZAP handler: any client key is let in, as the
    /// baseline measures the encryption, not the authentication); nil for plain TCP.
    init(curve: CurveKeyPair? = nil) throws {
        let context = try ZMQContext(ioThreads: 1)
        socket = try ZMQSocket(context: context, type: .router)
        if let curve {
            try socket.setOption(.curveServer, 1)
            try socket.setOption(.curveSecretKey, curve.secretKey)
        }
        try socket.setOption(.routerMandatory, 1)
        try socket.setOption(.sendHighWaterMark, 10_000)
        try socket.setOption(.receiveHighWaterMark, 10_000)
        try socket.setOption(.maxMessageSize, 8 << 20)
        try socket.setOption(.linger, 0)
        try socket.bind("tcp://127.0.0.1:*")
        endpoint = try socket.lastEndpoint()
    }

    func start() {
        let socket = self.socket
        let stop = self.stop
        let done = self.done
        Thread {
            let poller = ZMQPoller()
            poller.add(socket)
            while !stop.isSet {
                guard (try? poller.poll(timeoutMilliseconds: 100)) ?? 0 > 0 else { continue }
                while let frames = try? socket.receiveMultipart(dontWait: true) {
                    guard frames.count == 2, let request = try? Svx_Rpc_V1_Request(serializedBytes: frames[1]) else {
                        continue
                    }
                    var response = Svx_Rpc_V1_Response()
                    response.requestID = request.requestID
                    if request.method == HealthRPC.check.name,
                        let health = try? Svx_Rpc_V1_HealthCheckRequest(serializedBytes: request.payload),
                        let payload = try? LoadPayload.answer(health).serializedData()
                    {
                        response.payload = payload
                    } else {
                        response.status.code = .unimplemented
                    }
                    guard let bytes: [UInt8] = try? response.serializedBytes() else { continue }
                    _ = try? socket.send(multipart: [frames[0], bytes], dontWait: true)
                }
            }
            socket.close()
            done.signal()
        }.start()
    }

    func shutdown() {
        stop.set()
        done.wait()
    }
}

/// Raw client target: one DEALER per client, driven by one thread that keeps `window` requests in flight.
struct RawTarget: LoadTarget {
    let endpoint: String
    /// CURVE towards the server (nil: plain TCP).
    var curve: CurveClientSecurity? = nil

    func makeClient(timeout: Duration) throws -> any LoadClient {
        try RawLoadClient(endpoint: endpoint, timeout: timeout, curve: curve)
    }
}

final class RawLoadClient: LoadClient, @unchecked Sendable {
    // @unchecked Sendable: the socket is used only by the thread running run(); close() runs after it returned.
    private let socket: ZMQSocket
    private let timeout: Duration

    init(endpoint: String, timeout: Duration, curve: CurveClientSecurity?) throws {
        let context = try ZMQContext(ioThreads: 1)
        socket = try ZMQSocket(context: context, type: .dealer)
        try curve?.apply(to: socket)
        try socket.setOption(.immediate, 1)
        try socket.setOption(.linger, 0)
        try socket.setOption(.sendHighWaterMark, 2000)
        try socket.setOption(.receiveHighWaterMark, 2000)
        try socket.setOption(.receiveTimeout, 100)
        try socket.setOption(.sendTimeout, 1000)
        try socket.connect(endpoint)
        self.timeout = timeout
    }

    func run(window: Int, stop: StopFlag, recorder: Recorder) {
        var nextID: UInt64 = 0
        var pending: [UInt64: ContinuousClock.Instant] = [:]
        let timeoutMs = UInt64(timeout.nanoseconds / 1_000_000)

        func sendOne() {
            let start = ContinuousClock.now
            nextID += 1
            var request = Svx_Rpc_V1_Request()
            request.method = HealthRPC.check.name
            request.requestID = nextID
            request.deadlineMs = UInt64(Date().timeIntervalSince1970 * 1000) + timeoutMs
            do {
                request.payload = try LoadPayload.request.serializedData()
                try socket.send(try request.serializedBytes())
                pending[nextID] = start
            } catch {
                recorder.failure("UNAVAILABLE")
                Thread.sleep(forTimeInterval: 0.01)
            }
        }

        for _ in 0..<window { sendOne() }
        while !stop.isSet {
            let frames: [[UInt8]]?
            do {
                frames = try socket.receiveMultipart()
            } catch {
                frames = nil  // receive timeout (100 ms): look for expired requests
            }
            if let frames, let last = frames.last, let response = try? Svx_Rpc_V1_Response(serializedBytes: last),
                let start = pending.removeValue(forKey: response.requestID)
            {
                if response.status.code == .ok,
                    let health = try? Svx_Rpc_V1_HealthCheckResponse(serializedBytes: response.payload),
                    health.status == .serving
                {
                    recorder.success(ContinuousClock.now - start)
                } else {
                    recorder.failure(RPCStatus(wire: response.status).code.name)
                }
                sendOne()
                continue
            }
            let now = ContinuousClock.now
            for (id, start) in pending where now - start > timeout {
                pending[id] = nil
                recorder.failure("DEADLINE_EXCEEDED")
                sendOne()
            }
            while pending.count < window && !stop.isSet { sendOne() }
        }
    }

    func close() {
        socket.close()
    }
}
