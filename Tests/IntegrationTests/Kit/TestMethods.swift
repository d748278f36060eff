import Foundation
import SVXProto
import SVXRPC
import SVXTestHarness

/// The `svx.rpc.v1.Test/*` methods a service registers with SVX_ENABLE_TEST_METHODS=1.
enum TestRPC {
    static let sleep = RPCMethod<Svx_Rpc_V1_SleepRequest, Svx_Rpc_V1_SleepResponse>("svx.rpc.v1.Test/Sleep")
    static let executions = RPCMethod<Svx_Rpc_V1_ExecutionsRequest, Svx_Rpc_V1_ExecutionsResponse>("svx.rpc.v1.Test/Executions")
    static let migrations = RPCMethod<Svx_Rpc_V1_MigrationsRequest, Svx_Rpc_V1_MigrationsResponse>("svx.rpc.v1.Test/Migrations")
    static let whoAmI = RPCMethod<Svx_Rpc_V1_WhoAmIRequest, Svx_Rpc_V1_WhoAmIResponse>("svx.rpc.v1.Test/WhoAmI")
}

extension Svx_Rpc_V1_SleepRequest {
    init(milliseconds: UInt32) {
        self.init()
        self.milliseconds = milliseconds
    }
}

/// Milliseconds since the Unix epoch, as `Request.deadline_ms` wants them.
func unixMilliseconds(offset: Int64 = 0) -> UInt64 {
    UInt64(Int64(Date().timeIntervalSince1970 * 1000) + offset)
}

/// Sends raw frames on a DEALER socket and returns the first frame of the reply, or nil on timeout.
func rawExchange(endpoint: String, frames: [[UInt8]], timeoutMilliseconds: Int = 2000) throws -> [UInt8]? {
    let context = try ZMQContext()
    let socket = try ZMQSocket(context: context, type: .dealer)
    defer { socket.close() }
    try socket.setOption(.linger, 0)
    try TestTransport.secure(socket, toServiceAt: endpoint)
    try socket.connect(endpoint)
    _ = try socket.send(multipart: frames)
    let poller = ZMQPoller()
    poller.add(socket)
    guard try poller.poll(timeoutMilliseconds: timeoutMilliseconds) > 0 else { return nil }
    return try socket.receiveMultipart()?.first
}

/// Sends each message as one frame on a single DEALER socket, in order, and collects up to
/// `replies` reply frames before the timeout.
func rawExchange(endpoint: String, messages: [[UInt8]], replies: Int, timeoutMilliseconds: Int) throws -> [[UInt8]] {
    let context = try ZMQContext()
    let socket = try ZMQSocket(context: context, type: .dealer)
    defer { socket.close() }
    try socket.setOption(.linger, 0)
    try TestTransport.secure(socket, toServiceAt: endpoint)
    try socket.connect(endpoint)
    for message in messages { _ = try socket.send(message) }
    let poller = ZMQPoller()
    poller.add(socket)
    let deadline = ContinuousClock.now + .milliseconds(timeoutMilliseconds)
    var received: [[UInt8]] = []
    while received.count < replies && ContinuousClock.now < deadline {
        guard try poller.poll(timeoutMilliseconds: 50) > 0 else { continue }
        while let frames = try socket.receiveMultipart(dontWait: true), let first = frames.first { received.append(first) }
    }
    return received
}
