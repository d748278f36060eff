import SVXProto
import SwiftProtobuf

/// What the server's I/O thread does with one multipart message read from its ROUTER socket.
/// Pure logic, tested without sockets.
enum IncomingDecision: Equatable {
    /// A well-formed request for a known method, to be queued for a worker.
    case dispatch(identity: [UInt8], request: Svx_Rpc_V1_Request)
    /// Answer at once with this status (the request id could be recovered).
    case reject(identity: [UInt8], requestID: UInt64, method: String, status: RPCStatus)
    /// Nothing can be answered (no identity or no request id): drop, log at debug.
    case drop(reason: String)
}

/// Classifies ROUTER input: `[identity, Request]` is the only well-formed shape.
struct IncomingFrames: Sendable {
    let maxMessageBytes: Int
    let knownMethod: @Sendable (String) -> Bool

    func decide(_ frames: [[UInt8]]) -> IncomingDecision {
        guard frames.count >= 2, !frames[0].isEmpty else {
            return .drop(reason: "message without routing identity or body (\(frames.count) frame(s))")
        }
        let identity = frames[0]
        let body = frames[1...]
        let size = body.reduce(0) { $0 + $1.count }

        // Try to recover a request id from the first body frame that decodes as a Request.
        var decoded: Svx_Rpc_V1_Request?
        for frame in body {
            if let request = try? Svx_Rpc_V1_Request(serializedBytes: frame) {
                decoded = request
                break
            }
        }
        guard let request = decoded else {
            return .drop(reason: "\(body.count) body frame(s), \(size) bytes, none a Request")
        }
        guard request.requestID != 0 else {
            return .drop(reason: "request without request_id")
        }
        if size > maxMessageBytes {
            return .reject(
                identity: identity, requestID: request.requestID, method: request.method,
                status: .resourceExhausted(
                    "request of \(size) bytes exceeds the limit of \(maxMessageBytes) bytes",
                    details: ["max_message_bytes": String(maxMessageBytes)]))
        }
        guard body.count == 1 else {
            return .reject(
                identity: identity, requestID: request.requestID, method: request.method,
                status: .invalidArgument("expected one Request frame, got \(body.count)"))
        }
        guard !request.method.isEmpty else {
            return .reject(
                identity: identity, requestID: request.requestID, method: "",
                status: .invalidArgument("missing method"))
        }
        guard knownMethod(request.method) else {
            return .reject(
                identity: identity, requestID: request.requestID, method: request.method,
                status: .unimplemented("unknown method \(request.method.prefix(200))"))
        }
        return .dispatch(identity: identity, request: request)
    }
}
