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

        // Too big: only the method and the request id are read (the payload is skipped, never copied or decoded).
        if size > maxMessageBytes {
            guard let header = body.lazy.compactMap(RequestHeader.init(scanning:)).first, header.requestID != 0 else {
                return .drop(reason: "\(body.count) body frame(s), \(size) bytes over the limit, no request id")
            }
            return .reject(
                identity: identity, requestID: header.requestID, method: header.method,
                status: .resourceExhausted(
                    "request of \(size) bytes exceeds the limit of \(maxMessageBytes) bytes",
                    details: ["max_message_bytes": String(maxMessageBytes)]))
        }

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

/// The `method` (field 1) and `request_id` (field 2) of a serialized `svx.rpc.v1.Request`, read by walking the
/// protobuf wire format and skipping every other field without copying it. nil when the bytes are not a
/// well-formed message.
struct RequestHeader: Equatable {
    var method = ""
    var requestID: UInt64 = 0

    init?(scanning bytes: [UInt8]) {
        var index = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while index < bytes.count, shift < 64 {
                let byte = bytes[index]
                index += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while index < bytes.count {
            guard let key = varint(), key >> 3 != 0 else { return nil }
            switch (key >> 3, key & 7) {
            case (2, 0):
                guard let value = varint() else { return nil }
                requestID = value
            case (_, 0):
                guard varint() != nil else { return nil }
            case (_, 1):
                index += 8
            case (_, 5):
                index += 4
            case (let field, 2):
                guard let length = varint(), length <= UInt64(bytes.count - index) else { return nil }
                if field == 1 {
                    method = String(decoding: bytes[index..<index + Int(min(length, 512))], as: UTF8.self)
                }
                index += Int(length)
            default:
                return nil
            }
            guard index <= bytes.count else { return nil }
        }
    }
}
