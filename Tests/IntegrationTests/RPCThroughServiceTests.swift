import Foundation
import SVXProto
import SVXRPC
import SVXTestHarness
import SwiftProtobuf
import Testing

/// The RPC runtime through a real service process (svx-auth), a real PostgreSQL and real ZeroMQ
/// sockets on 127.0.0.1.
@Suite(.serialized) struct RPCThroughServiceTests {
    /// Over CURVE (the tests' default), a client pinning another key gets a clear error naming the endpoint within its
    /// deadline, and the service logs the failed handshake; the right key is served.
    @Test func aClientWithTheWrongServerKeyIsToldAndTheServiceLogsIt() async throws {
        try #require(TestTransport.security.mode == .curve, "the suite runs in plaintext")
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let service = stack[.auth]
        let impostor = try CurveKeyPair.generate().publicKey
        let wrong = try RPCClient(endpoint: service.endpoint, configuration: .init(curve: .init(serverPublicKey: impostor)))
        defer { wrong.close() }
        let start = ContinuousClock.now
        await #expect { try await wrong.call(HealthRPC.check, .init(), timeout: .seconds(1)) } throws: { error in
            let status = error as? RPCStatus
            return status?.code == .unavailable && status?.message.contains("no CURVE handshake with \(service.endpoint)") == true
                && status?.message.contains("its public key is not the one pinned for it") == true
        }
        #expect(ContinuousClock.now - start < .seconds(20), "an answer, not a hang (the call's deadline is 1 s)")
        #expect(try await Self.logged("the client pinned another server key", by: service), "svx-auth's log: \(service.log())")
        let good = try service.client()
        defer { good.close() }
        #expect(try await good.call(HealthRPC.check, .init(), timeout: .seconds(5)).status == .serving)
    }

    /// A plain TCP client at a CURVE service, and a CURVE client at a plain TCP one: the service's log names a plain TCP
    /// client; the client's error names plain TCP among the causes (whichever side reads the other's greeting first
    /// reports the mismatch, the other sees no detail: the client cannot always tell it from another key).
    @Test func aMechanismMismatchIsNamedOnEitherSide() async throws {
        try #require(TestTransport.security.mode == .curve, "the suite runs in plaintext")
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let curveService = stack[.auth]
        let plainClient = try RPCClient(endpoint: curveService.endpoint)
        defer { plainClient.close() }
        await #expect(throws: RPCStatus.self) { try await plainClient.call(HealthRPC.check, .init(), timeout: .seconds(1)) }
        // Whichever side reads the other's greeting first names the mismatch; the service's log says plain TCP either way.
        #expect(try await Self.logged("plain TCP", by: curveService), "svx-auth's log: \(curveService.log())")

        let plainStack = try await TestStack.start([.auth], environment: [.auth: ["SVX_TRANSPORT": "plaintext"]])
        defer { plainStack.stop() }
        let pinned = try RPCClient(
            endpoint: plainStack[.auth].endpoint,
            configuration: .init(curve: .init(serverPublicKey: try CurveKeyPair.generate().publicKey)))
        defer { pinned.close() }
        await #expect { try await pinned.call(HealthRPC.check, .init(), timeout: .seconds(1)) } throws: { error in
            (error as? RPCStatus)?.message.contains("does not speak CURVE") == true
        }
    }

    /// Whether `service`'s log shows a failed handshake for `reason` (bounded: the warning is written within a second).
    static func logged(_ reason: String, by service: ServiceProcess) async throws -> Bool {
        for _ in 0..<50 {
            let log = service.log()
            if log.contains("failed handshake") && log.contains(reason) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    @Test func healthFromSwiftAndFromTheCProbe() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let service = stack[.auth]
        let client = try service.client()
        defer { client.close() }
        let health = try await client.call(HealthRPC.check, .init(), timeout: .seconds(2))
        #expect(health.status == .serving)
        #expect(health.service == "auth")
        #expect(!health.version.isEmpty)

        // svx-probe is C (protobuf-c + libzmq): a non-Swift client speaks the same wire format.
        let probe = try svxProbe()
        let key = TestTransport.keysDirectory.map { ["--server-key-file", "\($0)/auth.pub"] } ?? []
        let (status, output) = try await runProcess(probe, ["--timeout-ms", "2000"] + key + [service.endpoint])
        #expect(status == 0, "svx-probe: \(output)")
        #expect(output.contains("SERVING service=auth"))
        #expect(output.contains("transport=\(TestTransport.security.mode.rawValue)"))
        if let directory = TestTransport.keysDirectory {
            // Another service's key: no handshake, a clear answer within the timeout (and plain TCP is refused too).
            let (wrongStatus, wrongOutput) = try await runProcess(
                probe, ["--timeout-ms", "500", "--server-key-file", "\(directory)/vault.pub", service.endpoint])
            #expect(wrongStatus == 1 && wrongOutput.contains("CURVE handshake"), "\(wrongOutput)")
            let (plainStatus, plainOutput) = try await runProcess(probe, ["--timeout-ms", "500", service.endpoint])
            #expect(plainStatus == 1 && plainOutput.contains("UNREACHABLE"), "\(plainOutput)")
        }
        let (downStatus, downOutput) = try await runProcess(probe, ["--timeout-ms", "300", "tcp://127.0.0.1:\(try freeLoopbackPort())"])
        #expect(downStatus == 1, "svx-probe against nothing: \(downOutput)")
    }

    @Test func unknownMethodIsUnimplemented() async throws {
        let stack = try await TestStack.start([.keystore])
        defer { stack.stop() }
        let service = stack[.keystore]
        let client = try service.client()
        defer { client.close() }
        let method = RPCMethod<Svx_Rpc_V1_HealthCheckRequest, Svx_Rpc_V1_HealthCheckResponse>("svx.keystore.v1.Nothing/Here")
        await #expect(throws: RPCStatus.self) {
            _ = try await client.call(method, .init(), timeout: .seconds(2))
        }
        do {
            _ = try await client.call(method, .init(), timeout: .seconds(2))
        } catch let status as RPCStatus {
            #expect(status.code == .unimplemented)
            #expect(status.message.contains("svx.keystore.v1.Nothing/Here"))
        }
    }

    @Test func malformedFramesThenANormalRequestSucceeds() async throws {
        let stack = try await TestStack.start([.vault])
        defer { stack.stop() }
        let service = stack[.vault]
        // Garbage that is not a Request, an empty frame, and too many frames: none may crash or stall it.
        _ = try rawExchange(endpoint: service.endpoint, frames: [[0xFF, 0xFF, 0xFF, 0x07, 0x00]], timeoutMilliseconds: 300)
        _ = try rawExchange(endpoint: service.endpoint, frames: [[]], timeoutMilliseconds: 300)
        _ = try rawExchange(endpoint: service.endpoint, frames: [[1], [2], [3]], timeoutMilliseconds: 300)
        // A Request whose payload is not the method's message: INVALID_ARGUMENT, with its request id.
        var bad = Svx_Rpc_V1_Request()
        bad.method = HealthRPC.check.name
        bad.requestID = 77
        bad.payload = Data([0xFF, 0xFF, 0xFF])
        let reply = try #require(try rawExchange(endpoint: service.endpoint, frames: [Array(try bad.serializedData())]))
        let response = try Svx_Rpc_V1_Response(serializedBytes: reply)
        #expect(response.requestID == 77)
        #expect(response.status.code == .invalidArgument)

        #expect(service.isRunning)
        let client = try service.client()
        defer { client.close() }
        let health = try await client.call(HealthRPC.check, .init(), timeout: .seconds(2))
        #expect(health.status == .serving)
    }

    @Test func expiredDeadlineIsAnsweredAndNotExecuted() async throws {
        let stack = try await TestStack.start([.sharing])
        defer { stack.stop() }
        let service = stack[.sharing]
        let client = try service.client()
        defer { client.close() }
        let before = try await client.call(TestRPC.executions, .init(), timeout: .seconds(2)).sleepExecutions

        var request = Svx_Rpc_V1_Request()
        request.method = TestRPC.sleep.name
        request.requestID = 9
        request.deadlineMs = unixMilliseconds(offset: -1000)
        request.payload = try Svx_Rpc_V1_SleepRequest(milliseconds: 1).serializedData()
        let reply = try #require(try rawExchange(endpoint: service.endpoint, frames: [Array(try request.serializedData())]))
        let response = try Svx_Rpc_V1_Response(serializedBytes: reply)
        #expect(response.requestID == 9)
        #expect(response.status.code == .deadlineExceeded)

        // A deadline that passes while the request waits in the queue: the handler never runs either.
        // One worker; on one socket (so in this order) a Sleep of 800 ms, then a Sleep whose deadline is
        // 200 ms away. Whatever the machine's load, the second waits behind the first and expires.
        let singleWorker = try await TestStack.start([.sharing], environment: [.sharing: ["SVX_WORKERS": "1"]])
        defer { singleWorker.stop() }
        let single = singleWorker[.sharing]
        let singleClient = try single.client()
        defer { singleClient.close() }
        let executionsBefore = try await singleClient.call(TestRPC.executions, .init(), timeout: .seconds(2)).sleepExecutions
        var busy = Svx_Rpc_V1_Request()
        busy.method = TestRPC.sleep.name
        busy.requestID = 1
        busy.payload = try Svx_Rpc_V1_SleepRequest(milliseconds: 800).serializedData()
        var late = Svx_Rpc_V1_Request()
        late.method = TestRPC.sleep.name
        late.requestID = 2
        late.deadlineMs = unixMilliseconds(offset: 200)
        late.payload = try Svx_Rpc_V1_SleepRequest(milliseconds: 1).serializedData()
        let replies = try rawExchange(
            endpoint: single.endpoint, messages: [Array(try busy.serializedData()), Array(try late.serializedData())],
            replies: 2, timeoutMilliseconds: 5000)
        let codes = Dictionary(uniqueKeysWithValues: try replies.map {
            let response = try Svx_Rpc_V1_Response(serializedBytes: $0)
            return (response.requestID, response.status.code)
        })
        #expect(codes == [1: .ok, 2: .deadlineExceeded])
        let executionsAfter = try await singleClient.call(TestRPC.executions, .init(), timeout: .seconds(2)).sleepExecutions
        #expect(executionsAfter - executionsBefore == 1, "only the first sleep ran")
        let unchanged = try await client.call(TestRPC.executions, .init(), timeout: .seconds(2)).sleepExecutions
        #expect(unchanged == before, "the request that arrived expired did not run")
    }

    @Test func twoHundredConcurrentCallsFromOneClientAreMatched() async throws {
        let stack = try await TestStack.start([.classification], environment: [.classification: ["SVX_WORKERS": "8"]])
        defer { stack.stop() }
        let service = stack[.classification]
        let client = try service.client()
        defer { client.close() }
        let results = try await withThrowingTaskGroup(of: (UInt32, UInt32).self) { group in
            for index in 0..<200 {
                let milliseconds = UInt32(index % 13)  // distinct answers, out-of-order completion
                group.addTask {
                    let response = try await client.call(TestRPC.sleep, .init(milliseconds: milliseconds), timeout: .seconds(20))
                    return (milliseconds, response.sleptMs)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.0 == $0.1 })
    }

    @Test func oversizedRequestIsResourceExhausted() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: ["SVX_MAX_MESSAGE_BYTES": "4096"]])
        defer { stack.stop() }
        let service = stack[.auth]
        let client = try service.client()
        defer { client.close() }
        var big = Svx_Rpc_V1_HealthCheckRequest()
        big.service = String(repeating: "x", count: 8192)
        do {
            _ = try await client.call(HealthRPC.check, big, timeout: .seconds(2))
            Issue.record("an 8 KiB request passed a 4 KiB limit")
        } catch let status as RPCStatus {
            #expect(status.code == .resourceExhausted)
        }
        #expect(try await client.call(HealthRPC.check, .init(), timeout: .seconds(2)).status == .serving)
    }

    @Test func killedServiceFailsTheCallWithinTheDeadline() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let service = stack[.auth]
        // A default timeout far above the bounds below: a call that ignored its own deadline would take 120 s.
        let client = try service.client(configuration: .init(defaultTimeout: .seconds(120)))
        defer { client.close() }
        #expect(try await client.call(HealthRPC.check, .init(), timeout: .seconds(2)).status == .serving)
        // In flight when the process dies, and after it died: both end within their deadline.
        async let inFlight = status { try await client.call(TestRPC.sleep, .init(milliseconds: 5000), timeout: .milliseconds(700)) }
        try await Task.sleep(for: .milliseconds(100))
        service.kill()
        let started = ContinuousClock.now
        let error = try #require(await inFlight, "a call to a killed service succeeded")
        #expect([.deadlineExceeded, .unavailable].contains(error.code))
        let second = ContinuousClock.now
        await #expect(throws: RPCStatus.self) {
            _ = try await client.call(HealthRPC.check, .init(), timeout: .milliseconds(500))
        }
        // Bounds loose enough for a loaded machine (a run at load 11 took 8.5 s), far below the client's 120 s default
        // that a missing deadline would give.
        #expect(ContinuousClock.now - second < .seconds(30))
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test func sigtermFinishesInFlightWorkAndExitsZero() async throws {
        let stack = try await TestStack.start([.vault])
        defer { stack.stop() }
        let (service, client) = (stack[.vault], stack.client(.vault))
        async let slow = client.call(TestRPC.sleep, .init(milliseconds: 800), timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(200))
        let status = service.stop(timeout: .seconds(10))
        #expect(try await slow.sleptMs == 800, "the in-flight request was answered")
        #expect(status == 0, "exit status after SIGTERM; log:\n\(service.log())")
    }

    @Test func metricsCountRequestsPerMethod() async throws {
        let stack = try await TestStack.start([.keystore])
        defer { stack.stop() }
        let service = stack[.keystore]
        let client = try service.client()
        defer { client.close() }
        let series = #"svx_rpc_requests_total{service="keystore",method="svx.rpc.v1.Health/Check",code="OK"} "#
        func healthCount(_ text: String) -> Int? {
            text.split(separator: "\n").first { $0.hasPrefix(series) }.flatMap { Int($0.dropFirst(series.count)) }
        }
        // The harness already called Health while waiting for the service to come up.
        let before = try #require(healthCount(try await client.call(MetricsRPC.scrape, .init(), timeout: .seconds(2)).text))
        for _ in 0..<3 { _ = try await client.call(HealthRPC.check, .init(), timeout: .seconds(2)) }
        // A request is counted once its answer is sent, possibly after the client already has it: poll (bounded).
        var text = ""
        for _ in 0..<40 {
            text = try await client.call(MetricsRPC.scrape, .init(), timeout: .seconds(2)).text
            if let count = healthCount(text), count >= before + 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(healthCount(text) == before + 3, "\(text)")
        #expect(text.contains("svx_rpc_request_duration_seconds_bucket"))
    }
}

/// The status a call ended with, nil when it succeeded.
func svxProbe() throws -> String {
    if let path = ProcessInfo.processInfo.environment["SVX_PROBE"] { return path }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let path = root.appendingPathComponent(".build/svx-probe/svx-probe").path
    guard FileManager.default.isExecutableFile(atPath: path) else { throw HarnessError("no svx-probe at \(path): run `make probe`") }
    return path
}

func runProcess(_ path: String, _ arguments: [String]) async throws -> (Int32, String) {
    let (status, output) = try await ChildProcess.run(path, arguments, timeout: .seconds(15))
    return (status, output)
}
