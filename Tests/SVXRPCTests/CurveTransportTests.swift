import Foundation
import Logging
import SVXProto
import Synchronization
import Testing

@testable import SVXRPC

/// CURVE on the wire (issue #20): keys and Z85, the ZAP decision without I/O, then a real server and clients on
/// loopback: a pinned key talks, a wrong key or a plaintext client never reaches a handler, and a peer service's key
/// is named to the handler.
@Suite(.serialized)
struct CurveTransportTests {
    @Test func z85MatchesTheRFCVectorAndRefusesWhatIsNotZ85() throws {
        // ZeroMQ RFC 32's test vector.
        #expect(Z85.encode([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]) == "HelloWorld")
        #expect(Z85.decode("HelloWorld") == [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
        #expect(Z85.encode([1, 2, 3]) == nil)
        #expect(Z85.decode("Hello") != nil && Z85.decode("Hell") == nil && Z85.decode("Hell~") == nil)
    }

    @Test func aKeypairRoundTripsThroughZ85AndItsSecretGivesItsPublicKey() throws {
        try #require(CurveKeyPair.isAvailable)
        let pair = try CurveKeyPair.generate()
        #expect(pair.publicKey.count == 32 && pair.secretKey.count == 32 && pair.publicKey != pair.secretKey)
        #expect(pair.z85PublicKey.count == 40 && pair.z85SecretKey.count == 40)
        #expect(try CurveKeyPair(z85SecretKey: pair.z85SecretKey + "\n") == pair)
        #expect(CurveKeyPair.publicKey(z85: " \(pair.z85PublicKey)\n") == pair.publicKey)
        #expect(CurveKeyPair.publicKey(z85: String(pair.z85PublicKey.dropLast(5))) == nil)
        #expect(throws: CurveKeyError.self) { try CurveKeyPair(z85SecretKey: "not a key") }
        // Describing a keypair never shows the secret.
        #expect(!"\(pair)".contains(pair.z85SecretKey) && "\(pair)".contains(pair.z85PublicKey))
        #expect(try CurveKeyPair.generate() != pair)
    }

    @Test func theZAPDecisionNamesPeerServicesAndLetsOtherCurveClientsIn() {
        let vaultKey = [UInt8](repeating: 7, count: 32)
        let authenticator = CurveAuthenticator(peers: ["vault": vaultKey])
        func request(mechanism: String = "CURVE", key: [UInt8]) -> [[UInt8]] {
            [Array("1.0".utf8), Array("r1".utf8), Array("svx".utf8), Array("127.0.0.1".utf8), [], Array(mechanism.utf8), key]
        }
        let peer = authenticator.reply(to: request(key: vaultKey))
        #expect(peer.map { String(decoding: $0, as: UTF8.self) } == ["1.0", "r1", "200", "OK", "vault", ""])
        let user = authenticator.reply(to: request(key: [UInt8](repeating: 9, count: 32)))
        #expect(user[2] == Array("200".utf8) && user[4].isEmpty)
        #expect(authenticator.reply(to: request(mechanism: "NULL", key: vaultKey))[2] == Array("400".utf8))
        #expect(authenticator.reply(to: request(key: [1, 2]))[2] == Array("400".utf8))
        #expect(authenticator.reply(to: [Array("2.0".utf8), Array("r2".utf8)])[2] == Array("400".utf8))
        #expect(authenticator.reply(to: [])[2] == Array("400".utf8))
    }

    /// A server whose Echo answers with the peer service its caller proved ("-" for none).
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    static func server(
        keyPair: CurveKeyPair, peers: [String: [UInt8]], counter: Counter = Counter()
    ) throws -> (RPCServer<Void>, String) {
        let router = RPCRouter<Void>()
        router.register(TestRPC.echo) { request, context, _ in
            counter.value.add(1, ordering: .relaxed)
            var response = HealthResponse()
            response.service = request.service
            response.version = context.peerService ?? "-"
            return response
        }
        router.registerInline(TestRPC.inlineEcho) { request, context in
            var response = HealthResponse()
            response.service = request.service
            response.version = context.peerService ?? "-"
            return response
        }
        let server = RPCServer<Void>(
            configuration: RPCServerConfiguration(
                endpoint: "tcp://127.0.0.1:*", workerCount: 2,
                curve: CurveServerSecurity(keyPair: keyPair, peers: peers)),
            router: router, logger: Logger(label: "svx.test.curve")
        ) { _ in () }
        try server.start()
        return (server, try #require(server.boundEndpoint))
    }

    @Test func aClientPinningTheServerKeyIsServedAndAPeerKeyIsNamed() async throws {
        try #require(CurveKeyPair.isAvailable)
        let serverKeys = try CurveKeyPair.generate()
        let vaultKeys = try CurveKeyPair.generate()
        let (server, endpoint) = try Self.server(keyPair: serverKeys, peers: ["vault": vaultKeys.publicKey])
        defer { server.shutdown() }

        let user = try RPCClient(endpoint: endpoint, configuration: .init(curve: .init(serverPublicKey: serverKeys.publicKey)))
        defer { user.close() }
        var request = HealthRequest()
        request.service = "marker"
        let answered = try await user.call(TestRPC.echo, request, timeout: .seconds(5))
        #expect(answered.service == "marker" && answered.version == "-")
        #expect(try await user.call(TestRPC.inlineEcho, request, timeout: .seconds(5)).version == "-")

        let vault = try RPCClient(
            endpoint: endpoint, configuration: .init(curve: .init(serverPublicKey: serverKeys.publicKey, keyPair: vaultKeys)))
        defer { vault.close() }
        #expect(try await vault.call(TestRPC.echo, request, timeout: .seconds(5)).version == "vault")
        #expect(try await vault.call(TestRPC.inlineEcho, request, timeout: .seconds(5)).version == "vault")
    }

    @Test func aWrongServerKeyOrAPlaintextClientNeverReachesAHandler() async throws {
        try #require(CurveKeyPair.isAvailable)
        let serverKeys = try CurveKeyPair.generate()
        let handled = Counter()
        let (server, endpoint) = try Self.server(keyPair: serverKeys, peers: [:], counter: handled)
        defer { server.shutdown() }
        var request = HealthRequest()
        request.service = "marker"

        let impostorKey = try CurveKeyPair.generate().publicKey
        let wrong = try RPCClient(endpoint: endpoint, configuration: .init(curve: .init(serverPublicKey: impostorKey)))
        defer { wrong.close() }
        // A clear error naming the endpoint, within the deadline, async and blocking alike.
        func isHandshakeFailure(_ error: any Error) -> Bool {
            guard let status = error as? RPCStatus else { return false }
            return status.code == .unavailable && status.message.contains("no CURVE handshake with \(endpoint)")
                && status.message.contains("its public key is not the one pinned for it")
        }
        await #expect { try await wrong.call(TestRPC.echo, request, timeout: .milliseconds(700)) } throws: { isHandshakeFailure($0) }
        // Timed on the blocking call: its thread waits for the client alone. An awaiting task also waits for a thread
        // of the cooperative pool that every test of the process shares (a full CI run kept one 6 s from resuming).
        let start = ContinuousClock.now
        #expect { try wrong.callBlocking(TestRPC.echo, request, timeout: .milliseconds(500)) } throws: { isHandshakeFailure($0) }
        #expect(ContinuousClock.now - start < .seconds(5))

        let plain = try RPCClient(endpoint: endpoint)
        defer { plain.close() }
        await #expect(throws: RPCStatus.self) { try await plain.call(TestRPC.echo, request, timeout: .milliseconds(700)) }

        #expect(handled.value.load(ordering: .relaxed) == 0)
        // The server is still serving a proper client.
        let good = try RPCClient(endpoint: endpoint, configuration: .init(curve: .init(serverPublicKey: serverKeys.publicKey)))
        defer { good.close() }
        #expect(try await good.call(TestRPC.echo, request, timeout: .seconds(5)).service == "marker")
        #expect(handled.value.load(ordering: .relaxed) == 1)
    }

    /// A server that cannot start (its port is taken) leaves no ZAP thread behind.
    @Test func aServerThatCannotBindStopsItsZAPHandler() throws {
        try #require(CurveKeyPair.isAvailable)
        let keys = try CurveKeyPair.generate()
        let (running, endpoint) = try Self.server(keyPair: keys, peers: [:])
        defer { running.shutdown() }
        let second = RPCServer<Void>(
            configuration: RPCServerConfiguration(
                endpoint: endpoint, workerCount: 1, threadName: "curvebind", curve: CurveServerSecurity(keyPair: keys)),
            router: RPCRouter<Void>(), logger: Logger(label: "svx.test.curve")
        ) { _ in () }
        #expect(throws: (any Error).self) { try second.start() }
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        let names = tasks.compactMap { try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8) }
        #expect(!tasks.isEmpty)
        #expect(!names.contains { $0.hasPrefix("curvebind-zap") }, "\(names)")
    }
}
