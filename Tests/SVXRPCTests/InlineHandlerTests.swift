import Foundation
import SVXProto
import Synchronization
import SVXTestHarness
import Testing

@testable import SVXRPC

/// Handlers registered with `registerInline`: run by the thread that reads the socket, never by a pool worker.
@Suite(.serialized)
struct InlineHandlerTests {
    @Test func inlineHandlerRunsWithoutAWorker() async throws {
        let test = try TestServer.start()
        defer { test.server.shutdown() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        var request = HealthRequest()
        request.service = "inline"
        let response = try await client.call(TestRPC.inlineEcho, request, timeout: .seconds(5))
        #expect(response.service == "inline")
        let parts = response.version.split(separator: "/")
        #expect(parts.count == 2)
        #expect(UInt64(parts.first ?? "") ?? 0 > 0)
        #expect(parts.last == "-1")
        #expect(test.counters.inlineEcho.load(ordering: .relaxed) == 1)
        #expect(test.counters.echo.load(ordering: .relaxed) == 0)
    }

    @Test func inlineHandlerAnswersWhileEveryWorkerIsBusy() async throws {
        let test = try TestServer.start(workers: 2)
        defer { test.server.shutdown() }
        defer { test.gate.open() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        async let first = client.call(TestRPC.gated, HealthRequest(), timeout: .seconds(25))
        async let second = client.call(TestRPC.gated, HealthRequest(), timeout: .seconds(25))
        #expect(await eventually(timeout: .seconds(10)) { test.counters.gatedStarted.load(ordering: .relaxed) == 2 })
        // Both workers wait at the gate: a pooled request would wait with them, the inline ones are answered.
        var request = HealthRequest()
        request.service = "busy"
        let health = try await client.call(HealthRPC.check, request, timeout: .seconds(10))
        #expect(health.status == .serving)
        #expect(try await client.call(TestRPC.inlineEcho, request, timeout: .seconds(10)).service == "busy")
        #expect(test.counters.gatedFinished.load(ordering: .relaxed) == 0)
        test.gate.open()
        _ = try await (first, second)
        #expect(test.counters.gatedFinished.load(ordering: .relaxed) == 2)
    }

    /// More inline requests than one drain (1 024) or one answering thread (64 rounds) takes, while every worker is
    /// stuck in a slow handler: the I/O thread must read and answer them all.
    @Test func burstOfInlineRequestsIsAnsweredWhileEveryWorkerIsBusy() async throws {
        let test = try TestServer.start(workers: 2, queueCapacity: 16)
        defer { test.server.shutdown() }
        defer { test.gate.open() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        async let first = client.call(TestRPC.gated, HealthRequest(), timeout: .seconds(25))
        async let second = client.call(TestRPC.gated, HealthRequest(), timeout: .seconds(25))
        #expect(await eventually(timeout: .seconds(10)) { test.counters.gatedStarted.load(ordering: .relaxed) == 2 })
        let raw = try RawDealer(endpoint: test.endpoint)
        try raw.socket.setOption(.sendHighWaterMark, 10_000)
        let count = 5000
        for id in 1...count {
            try raw.send([try RawDealer.request(id: UInt64(id), method: HealthRPC.check.name, service: "h\(id)")])
        }
        var answered = Set<UInt64>()
        for _ in 1...count {
            guard let response = try raw.receiveResponse() else { break }
            #expect(response.status.code == .ok)
            answered.insert(response.requestID)
        }
        #expect(answered.count == count)
        #expect(test.counters.gatedFinished.load(ordering: .relaxed) == 0)
        test.gate.open()
        _ = try await (first, second)
    }

    @Test func inlineRequestWhileDrainingIsUnavailable() async throws {
        let test = try TestServer.start(workers: 1)
        defer { test.gate.open() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        async let gated = client.call(TestRPC.gated, HealthRequest(), timeout: .seconds(25))
        #expect(await eventually(timeout: .seconds(10)) { test.counters.gatedStarted.load(ordering: .relaxed) == 1 })
        // On a thread of its own: a task could wait for a cooperative thread while other suites block them.
        let stopped = Atomic<Bool>(false)
        Thread {
            test.server.shutdown()
            stopped.store(true, ordering: .releasing)
        }.start()
        let raw = try RawDealer(endpoint: test.endpoint)
        var refusal: Svx_Rpc_V1_Response?
        for id in 1...1000 {  // draining lasts until the gated request is answered: the gate stays shut till then
            try raw.send([try RawDealer.request(id: UInt64(id), method: HealthRPC.check.name)])
            guard let response = try raw.receiveResponse() else { break }
            if response.status.code == .unavailable {
                refusal = response
                break
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(refusal?.status.message == "server is shutting down")
        // The request in flight still finishes and is answered.
        test.gate.open()
        #expect(try await gated.service == "")
        #expect(await eventually(timeout: .seconds(10)) { stopped.load(ordering: .acquiring) })
    }

    @Test func inlineErrorsAreAnsweredLikePooledOnes() async throws {
        let test = try TestServer.start()
        defer { test.server.shutdown() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        var request = HealthRequest()
        request.service = "internal"
        let internalStatus = await status {
            try await client.call(TestRPC.inlineFail, request, timeout: .seconds(5))
        }
        #expect(internalStatus == RPCStatus(.internal, "internal error"))
        #expect(!(internalStatus?.description.contains("hunter2") ?? true))
        request.service = "status"
        let status = await status { try await client.call(TestRPC.inlineFail, request, timeout: .seconds(5)) }
        #expect(status == RPCStatus(.notFound, "no such inline thing", details: ["field": "service"]))
        // The server still answers after both.
        #expect(try await client.call(HealthRPC.check, HealthRequest(), timeout: .seconds(5)).status == .serving)
    }

    @Test func undecodableInlinePayloadIsInvalidArgument() throws {
        let test = try TestServer.start()
        defer { test.server.shutdown() }
        let raw = try RawDealer(endpoint: test.endpoint)
        var envelope = Svx_Rpc_V1_Request()
        envelope.method = TestRPC.inlineEcho.name
        envelope.requestID = 11
        envelope.payload = Data([0xFF, 0xFF, 0xFF])
        try raw.send([try envelope.serializedBytes()])
        let response = try #require(try raw.receiveResponse())
        #expect(response.requestID == 11)
        #expect(response.status.code == .invalidArgument)
        #expect(test.counters.inlineEcho.load(ordering: .relaxed) == 0)
    }

    @Test func expiredInlineRequestIsNotExecuted() throws {
        let test = try TestServer.start()
        defer { test.server.shutdown() }
        let raw = try RawDealer(endpoint: test.endpoint)
        let past = UInt64(Date().timeIntervalSince1970 * 1000) - 1000
        try raw.send([try RawDealer.request(id: 12, method: TestRPC.inlineEcho.name, deadlineMs: past)])
        let response = try #require(try raw.receiveResponse())
        #expect(response.requestID == 12)
        #expect(response.status.code == .deadlineExceeded)
        #expect(test.counters.inlineEcho.load(ordering: .relaxed) == 0)
    }

    /// A burst of pipelined requests, inline and pooled interleaved, from one raw connection: every request gets
    /// exactly one answer with its own payload, whichever thread read it.
    @Test func pipelinedBurstOfInlineAndPooledRequestsIsAnsweredOnce() throws {
        let test = try TestServer.start(workers: 2, queueCapacity: 4096)
        defer { test.server.shutdown() }
        let raw = try RawDealer(endpoint: test.endpoint)
        let count = 600
        for id in 1...count {
            let method = id % 3 == 0 ? TestRPC.echo.name : TestRPC.inlineEcho.name
            try raw.send([try RawDealer.request(id: UInt64(id), method: method, service: "s\(id)")])
        }
        var answers: [UInt64: String] = [:]
        var duplicates = 0
        for _ in 1...count {
            guard let response = try raw.receiveResponse() else { break }
            #expect(response.status.code == .ok)
            let service = try HealthResponse(serializedBytes: response.payload).service
            if answers.updateValue(service, forKey: response.requestID) != nil { duplicates += 1 }
        }
        #expect(duplicates == 0)
        #expect(answers.count == count)
        for id in 1...count { #expect(answers[UInt64(id)] == "s\(id)") }
        #expect(test.counters.echo.load(ordering: .relaxed) == count / 3)
        #expect(test.counters.inlineEcho.load(ordering: .relaxed) == count - count / 3)
    }

    @Test func concurrentInlineAndPooledCallsFromOneClientAreMatched() async throws {
        let test = try TestServer.start()
        defer { test.server.shutdown() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        let results = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for index in 0..<300 {
                group.addTask {
                    var request = HealthRequest()
                    request.service = "call-\(index)"
                    let method = index.isMultiple(of: 2) ? TestRPC.inlineEcho : TestRPC.echo
                    return (index, try await client.call(method, request, timeout: .seconds(10)).service)
                }
            }
            var all: [Int: String] = [:]
            for try await (index, service) in group { all[index] = service }
            return all
        }
        #expect(results.count == 300)
        for index in 0..<300 { #expect(results[index] == "call-\(index)") }
        #expect(test.counters.inlineEcho.load(ordering: .relaxed) == 150)
        #expect(test.counters.echo.load(ordering: .relaxed) == 150)
    }

    @Test func observerSeesInlineRequests() async throws {
        let observer = RecordingObserver()
        let test = try TestServer.start(observer: observer)
        defer { test.server.shutdown() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        _ = try await client.call(TestRPC.inlineEcho, HealthRequest(), timeout: .seconds(5))
        _ = await status { try await client.call(TestRPC.inlineFail, HealthRequest(), timeout: .seconds(5)) }
        #expect(await eventually { observer.completed.withLock { $0.count } == 2 })
        let seen = observer.completed.withLock { $0 }
        #expect(seen.contains { $0.method == TestRPC.inlineEcho.name && $0.code == .ok })
        #expect(seen.contains { $0.method == TestRPC.inlineFail.name && $0.code == .notFound })
    }
}

final class RecordingObserver: RPCServerObserver {
    let completed = Mutex<[(method: String, code: RPCStatus.Code)]>([])

    func requestCompleted(method: String, code: RPCStatus.Code, duration: Duration) {
        completed.withLock { $0.append((method, code)) }
    }
}
