import Foundation
import SVXProto
import SVXRPC
import Synchronization
import Testing

/// What a request that will be refused may cost the server: the queue is bounded in bytes as well as in count, a
/// screen answers before the request is queued, and the admission check runs before the payload is decoded.
@Suite struct AdmissionTests {
    @Test func queueIsBoundedInBytesNotOnlyInCount() async throws {
        // One worker held by the gate; room for 1 000 requests by count, but only 256 KiB of them.
        let test = try TestServer.start(workers: 1, queueCapacity: 1000, queueBytes: 256 << 10)
        defer { test.server.shutdown() }
        defer { test.gate.open() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        let held = HeldCall(client)
        #expect(await eventually(timeout: .seconds(10)) { test.counters.gatedStarted.load(ordering: .relaxed) == 1 })

        let raw = try RawDealer(endpoint: test.endpoint)
        let large = String(repeating: "x", count: 60 << 10)
        let count = 20
        for id in 1...count {
            try raw.send([try RawDealer.request(id: UInt64(id), method: TestRPC.echo.name, service: large)])
        }
        // The refusals come at once, while the worker is still held.
        var busy = Set<UInt64>()
        while busy.count < count - 4, let response = try raw.receiveResponse() {
            #expect(response.status.code == .resourceExhausted)
            #expect(response.status.message == "server busy")
            busy.insert(response.requestID)
        }
        #expect(busy.count == count - 4, "four requests of 60 KiB fit in 256 KiB, the other sixteen are refused")
        #expect(test.counters.gatedFinished.load(ordering: .relaxed) == 0)

        test.gate.open()
        held.wait()
        var answered = Set<UInt64>()
        while answered.count < 4, let response = try raw.receiveResponse() {
            #expect(response.status.code == .ok)
            answered.insert(response.requestID)
        }
        #expect(answered.count == 4)
        #expect(answered.isDisjoint(with: busy))
        #expect(test.counters.echo.load(ordering: .relaxed) == 4)
    }

    @Test func screenAnswersBeforeTheRequestIsQueuedAndAdmissionBeforeTheDecode() async throws {
        let test = try TestServer.start(workers: 1)
        defer { test.server.shutdown() }
        defer { test.gate.open() }
        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        let held = HeldCall(client)
        #expect(await eventually(timeout: .seconds(10)) { test.counters.gatedStarted.load(ordering: .relaxed) == 1 })

        // The only worker is held: a bad token is still answered, so the reading thread answered it.
        let raw = try RawDealer(endpoint: test.endpoint)
        try raw.send([try RawDealer.request(id: 1, method: TestRPC.screened.name, token: "bad", payload: [0xFF, 0xFF])])
        let refused = try #require(try raw.receiveResponse())
        #expect(refused.requestID == 1)
        #expect(refused.status.code == .unauthenticated)
        #expect(refused.status.message == "screened out")
        #expect(test.counters.admitted.load(ordering: .relaxed) == 0)

        test.gate.open()
        held.wait()
        // A good token with an undecodable payload: admitted first, then INVALID_ARGUMENT from the decode.
        try raw.send([try RawDealer.request(id: 2, method: TestRPC.screened.name, token: "good", payload: [0xFF, 0xFF])])
        let undecodable = try #require(try raw.receiveResponse())
        #expect(undecodable.status.code == .invalidArgument)
        #expect(test.counters.admitted.load(ordering: .relaxed) == 1)
        // And a good one goes through.
        var request = HealthRequest()
        request.service = "through"
        #expect(try await client.call(TestRPC.screened, request, sessionToken: "good", timeout: .seconds(5)).service == "through")
        #expect(test.counters.admitted.load(ordering: .relaxed) == 2)
    }
}

/// A gated call made on a thread of its own with `callBlocking`: a task could wait for a cooperative thread while
/// other suites block them, and then the worker would not be held when the test needs it.
private final class HeldCall: Sendable {
    private let done = DispatchSemaphore(value: 0)

    init(_ client: RPCClient) {
        let done = self.done
        Thread {
            _ = try? client.callBlocking(TestRPC.gated, HealthRequest(), timeout: .seconds(25))
            done.signal()
        }.start()
    }

    func wait() { done.wait() }
}
