import SVXProto
import Testing

@testable import SVXRPC

/// The server's classification of raw ROUTER input, without sockets.
struct IncomingFramesTests {
    let incoming = IncomingFrames(maxMessageBytes: 100, knownMethod: { $0 == "svx.test.v1.T/M" })
    let identity: [UInt8] = [0, 1, 2, 3, 4]

    func request(id: UInt64, method: String = "svx.test.v1.T/M", payload: Int = 0) throws -> [UInt8] {
        var request = Svx_Rpc_V1_Request()
        request.requestID = id
        request.method = method
        request.payload = .init(repeating: 7, count: payload)
        return try request.serializedBytes()
    }

    @Test func wellFormedRequestIsDispatched() throws {
        guard case .dispatch(let who, let request) = incoming.decide([identity, try request(id: 5)]) else {
            Issue.record("not dispatched")
            return
        }
        #expect(who == identity && request.requestID == 5)
    }

    @Test func garbageAndMissingFramesAreDropped() throws {
        let cases: [[[UInt8]]] = [
            [], [identity], [identity, [0xFF, 0xFF, 0xFF]], [[], try request(id: 1)], [identity, try request(id: 0)],
        ]
        for frames in cases {
            guard case .drop = incoming.decide(frames) else {
                Issue.record("not dropped: \(frames)")
                continue
            }
        }
    }

    @Test func rejections() throws {
        func code(_ frames: [[UInt8]]) -> RPCStatus.Code? {
            if case .reject(_, _, _, let status) = incoming.decide(frames) { return status.code }
            return nil
        }
        #expect(code([identity, try request(id: 1), [1, 2]]) == .invalidArgument)
        #expect(code([identity, try request(id: 1, method: "")]) == .invalidArgument)
        #expect(code([identity, try request(id: 1, method: "svx.x.v1.X/Y")]) == .unimplemented)
        #expect(code([identity, try request(id: 1, payload: 200)]) == .resourceExhausted)
    }

    /// An oversized request is answered from its header alone: the method and request id are read by a wire scan
    /// that skips the payload, wherever the fields are.
    @Test func oversizedRequestsAreRejectedFromTheirHeader() throws {
        guard case .reject(let who, let id, let method, let status) = incoming.decide(
            [identity, try request(id: 77, payload: 10_000)])
        else {
            Issue.record("not rejected")
            return
        }
        #expect(who == identity && id == 77 && method == "svx.test.v1.T/M" && status.code == .resourceExhausted)

        var full = Svx_Rpc_V1_Request()
        full.method = "svx.a.v1.B/C"
        full.requestID = 300
        full.sessionToken = "token"
        full.deadlineMs = 1_700_000_000_000
        full.traceParent = "00-abc"
        full.payload = .init(repeating: 1, count: 1000)
        let bytes: [UInt8] = try full.serializedBytes()
        let header = try #require(RequestHeader(scanning: bytes))
        #expect(header.method == "svx.a.v1.B/C" && header.requestID == 300)
        // Not a message, or cut short: nothing.
        #expect(RequestHeader(scanning: [0xFF, 0xFF, 0xFF]) == nil)
        #expect(RequestHeader(scanning: Array(bytes.dropLast(10))) == nil)
        // Oversized garbage is dropped, not answered.
        guard case .drop = incoming.decide([identity, [UInt8](repeating: 0xFF, count: 500)]) else {
            Issue.record("oversized garbage not dropped")
            return
        }
    }
}
