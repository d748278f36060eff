import Foundation
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// What hostile traffic may cost a service: no metrics series of its own per unknown method name, and no resident
/// memory that grows with every sweep of malformed and oversized requests (real service processes, real sockets).
@Suite(.serialized) struct BoundedResourcesTests {
    @Test func thousandsOfUnknownMethodNamesLeaveTheScrapeBounded() async throws {
        let stack = try await TestStack.start([.sharing])
        defer { stack.stop() }
        let service = stack[.sharing]
        let client = try service.client()
        defer { client.close() }
        // One unknown name and one scrape first, so that their series exist before the baseline is taken.
        _ = try sendUnknownMethods(to: service.endpoint, names: ["svx.sharing.v1.Nothing/First"])
        _ = try await client.call(MetricsRPC.scrape, .init(), timeout: .seconds(5))
        let before = try await client.call(MetricsRPC.scrape, .init(), timeout: .seconds(5)).text

        let names = (0..<3000).map { "svx.sharing.v1.Nothing/N\($0)-" + String(repeating: "x", count: 1000) }
        let answers = try sendUnknownMethods(to: service.endpoint, names: names)
        #expect(answers == names.count, "every unknown method is answered")

        let after = try await client.call(MetricsRPC.scrape, .init(), timeout: .seconds(5)).text
        // The counts grow by a few digits; 3 000 names of 1 KiB as labels would add megabytes.
        #expect(after.utf8.count <= before.utf8.count + 256, "scrape grew from \(before.utf8.count) to \(after.utf8.count) bytes")
        #expect(!after.contains("Nothing/N"), "no unknown name is a label")
        let unknownLine = after.split(separator: "\n").first {
            $0.hasPrefix("svx_rpc_requests_total") && $0.contains(#"method="unknown""#) && $0.contains(#"code="UNIMPLEMENTED""#)
        }
        let count = unknownLine.flatMap { Int($0.split(separator: " ").last ?? "") }
        #expect(count == names.count + 1, "unknown methods counted under method=\"unknown\": \(String(describing: unknownLine))")
        // Registered methods keep their own label.
        #expect(after.contains(#"method="svx.rpc.v1.Metrics/Scrape""#))
    }

    @Test func repeatedHostileSweepsLeaveResidentMemoryBounded() async throws {
        let stack = try await TestStack.start([.vault])
        defer { stack.stop() }
        let service = stack[.vault]
        let load = try ServiceProcess.binaryDirectory().appendingPathComponent("svx-load").path
        func sweep(_ count: Int, seed: Int) async throws -> Int {
            let (status, output) = try await ChildProcess.run(
                load,
                ["hostile", "--target", "vault=\(service.endpoint),\(service.pid)", "--sweeps", String(count),
                 "--seed", String(seed), "--settle-ms", "200"],
                environment: ProcessInfo.processInfo.environment.merging(TestTransport.environment) { _, new in new },
                timeout: .seconds(300))
            #expect(status == 0, "svx-load hostile: every request with an id answered, Health after each sweep:\n\(output)")
            return try #require(residentKiB(service.pid), "RSS of svx-vault")
        }
        let afterFirst = try await sweep(1, seed: 1)
        let afterThird = try await sweep(2, seed: 2)
        let afterSixth = try await sweep(3, seed: 3)
        #expect(service.isRunning)
        // Measured: under 1 MiB of growth from sweep 1 to 10 with the allocator policy; 4-16 MiB by sweep 3 without.
        #expect(afterThird <= afterFirst + 4 * 1024, "RSS after sweep 1: \(afterFirst) KiB, after sweep 3: \(afterThird) KiB")
        #expect(afterSixth <= afterFirst + 4 * 1024, "RSS after sweep 1: \(afterFirst) KiB, after sweep 6: \(afterSixth) KiB")
    }
}

/// What an unauthenticated caller can make a service spend (review M2): each service's own message limit, and a
/// session check that comes before the payload is decoded and, for tokens that cannot be Auth's, before Auth is asked.
@Suite(.serialized) struct AmplificationTests {
    @Test func malformedTokensAreRefusedWithoutAskingAuthAndBeforeDecoding() async throws {
        // A stack without Auth: nothing listens where this Vault looks for it, every question to Auth would be
        // UNAVAILABLE.
        let stack = try await TestStack.start([.vault])
        defer { stack.stop() }
        let service = stack[.vault]
        func call(token: String, payload: [UInt8]) throws -> Svx_Rpc_V1_Status {
            var request = Svx_Rpc_V1_Request()
            request.method = "svx.vault.v1.Vault/GetItem"
            request.requestID = 1
            request.sessionToken = token
            request.payload = Data(payload)
            let reply = try #require(try rawExchange(endpoint: service.endpoint, frames: [try request.serializedBytes()], timeoutMilliseconds: 10_000))
            return try Svx_Rpc_V1_Response(serializedBytes: reply).status
        }
        let undecodable: [UInt8] = [0xFF, 0xFF, 0xFF]
        let missing = try call(token: "", payload: undecodable)
        #expect(missing.code == .unauthenticated)
        #expect(missing.message == "missing session token")
        for token in ["garbage", String(repeating: "A", count: 42), String(repeating: "A", count: 44),
                      String(repeating: "A", count: 42) + "=", String(repeating: "A", count: 65_536)] {
            // Not UNAVAILABLE (Auth was not asked), not INVALID_ARGUMENT (the payload was not decoded).
            let status = try call(token: token, payload: undecodable)
            #expect(status.code == .unauthenticated, "token of \(token.utf8.count) characters: \(status)")
        }
        // A token of the right shape is Auth's to judge: asked (unreachable here) before the payload is decoded.
        let wellFormed = try call(token: String(repeating: "A", count: 43), payload: undecodable)
        #expect(wellFormed.code == .unavailable)
    }

    @Test func authRefusesRequestsOverItsOwnSmallerLimit() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let service = stack[.auth]
        var request = Svx_Rpc_V1_Request()
        request.method = "svx.auth.v1.Auth/ReserveUsername"
        request.requestID = 5
        request.payload = Data(repeating: 0, count: 100 << 10)
        let reply = try #require(try rawExchange(endpoint: service.endpoint, frames: [try request.serializedBytes()], timeoutMilliseconds: 10_000))
        let status = try Svx_Rpc_V1_Response(serializedBytes: reply).status
        #expect(status.code == .resourceExhausted)
        #expect(status.details["max_message_bytes"] == String(64 << 10))
        #expect(service.isRunning)
    }
}

/// Sends a Health request under each unknown method name on one DEALER socket, a window at a time; returns how many
/// were answered UNIMPLEMENTED.
private func sendUnknownMethods(to endpoint: String, names: [String]) throws -> Int {
    var answered = 0
    var index = 0
    while index < names.count {
        let batch = names[index..<min(index + 100, names.count)]
        let messages = try batch.enumerated().map { offset, name -> [UInt8] in
            var request = Svx_Rpc_V1_Request()
            request.method = name
            request.requestID = UInt64(index + offset + 1)
            return try request.serializedBytes()
        }
        let replies = try rawExchange(endpoint: endpoint, messages: messages, replies: batch.count, timeoutMilliseconds: 10_000)
        answered += try replies.filter { try Svx_Rpc_V1_Response(serializedBytes: $0).status.code == .unimplemented }.count
        index += batch.count
    }
    return answered
}

/// VmRSS of a process, in KiB.
private func residentKiB(_ pid: Int32) -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
}
