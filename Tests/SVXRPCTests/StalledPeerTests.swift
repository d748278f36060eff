import Foundation
import SVXProto
import SVXRPC
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A peer that completes the ZMTP handshake, starts a large frame and stops sending is disconnected by the server's
/// heartbeat (what libzmq buffered for it is freed), and the server keeps answering others.
@Suite struct StalledPeerTests {
    @Test func peerStalledInTheMiddleOfAFrameIsDisconnected() async throws {
        let test = try TestServer.start(workers: 1, heartbeatMilliseconds: 100)
        defer { test.server.shutdown() }
        let port = try #require(test.endpoint.split(separator: ":").last.flatMap { Int($0) })
        let peer = try RawTCPPeer(port: port)
        defer { peer.close() }

        // ZMTP 3.1 greeting: signature, version 3.1, mechanism NULL, not a server.
        var greeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 1]
        greeting += Array("NULL".utf8) + [UInt8](repeating: 0, count: 16) + [0] + [UInt8](repeating: 0, count: 31)
        try peer.send(greeting)
        // READY with Socket-Type DEALER.
        let ready: [UInt8] = [5] + Array("READY".utf8) + [11] + Array("Socket-Type".utf8) + [0, 0, 0, 6] + Array("DEALER".utf8)
        try peer.send([0x04, UInt8(ready.count)] + ready)
        // A long frame of 1 MiB announced, 1 KiB of it sent, then nothing.
        let size = UInt64(1 << 20)
        try peer.send([0x02] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: size >> (8 * UInt64($0))) })
        try peer.send([UInt8](repeating: 0x41, count: 1024))

        // The server's greeting and READY come back; then, once the heartbeat times out (300 ms), the end of the
        // stream. Bounded: a server without heartbeats would leave the connection open and this would fail.
        #expect(peer.readsUntilClosed(within: .seconds(20)), "the server closed the stalled connection")

        let client = try RPCClient(endpoint: test.endpoint)
        defer { client.close() }
        #expect(try await client.call(HealthRPC.check, HealthRequest(), timeout: .seconds(5)).status == .serving)
    }
}

/// A plain TCP connection to 127.0.0.1, for speaking ZMTP by hand.
private final class RawTCPPeer {
    private let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RPCStatus(.internal, "socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            Glibc.close(fd)
            throw RPCStatus(.internal, "connect() failed: errno \(errno)")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else { throw RPCStatus(.internal, "send() sent \(sent) of \(bytes.count)") }
    }

    /// Reads (and discards) until the peer closes the connection (true) or `within` passes (false).
    func readsUntilClosed(within limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return true }  // orderly close
            if count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return true }  // reset
        }
        return false
    }

    func close() { Glibc.close(fd) }
}
