import Foundation
import SVXContracts
import SVXRPC

/// A client for another svx service, used from a handler on a worker thread: it forwards the caller's session
/// token and trace, never waits past the caller's deadline (nor ``callTimeout``), and turns what the peer could
/// not answer into UNAVAILABLE naming the peer. A peer's answers about the request itself (NOT_FOUND,
/// INVALID_ARGUMENT, OUT_OF_RANGE, FAILED_PRECONDITION, PERMISSION_DENIED, UNAUTHENTICATED, RESOURCE_EXHAUSTED, ABORTED)
/// come through as they are, for the caller to pass on or to translate.
///
/// Services never import each other: a peer is reached only through its proto (SVXContracts).
public final class PeerClient: Sendable {
    /// The peer's name, for messages and logs (`classification`).
    public let service: String
    public let callTimeout: Duration
    private let client: RPCClient

    private static let passedThrough: Set<RPCStatus.Code> = [
        .notFound, .invalidArgument, .outOfRange, .failedPrecondition, .permissionDenied, .unauthenticated,
        .resourceExhausted, .aborted,
    ]

    /// Over CURVE (`transport`), the peer's public key is pinned and `keyPair` (the calling service's own) proves to
    /// the peer which service calls (``RequestContext/peerService``).
    public init(
        service: String, endpoint: String, transport: TransportSecurity, keyPair: CurveKeyPair? = nil,
        callTimeout: Duration = .seconds(5)
    ) throws {
        self.service = service
        self.callTimeout = callTimeout
        client = try RPCClient(
            service: service, endpoint: endpoint, transport: transport, keyPair: keyPair,
            configuration: .init(defaultTimeout: callTimeout))
    }

    /// The peer for `SVX_<PEER>_ENDPOINT` (``ServiceConfiguration/peerEndpoint(_:_:)``), nil when it is `none`, called
    /// by service `caller` with its own keypair over CURVE (``TransportSecurity``). A malformed value or a missing key
    /// stops the process with exit code 2, like every other configuration error.
    public static func fromEnvironment(
        _ peer: String, caller: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> PeerClient? {
        do {
            guard let endpoint = try ServiceConfiguration.peerEndpoint(peer, environment) else { return nil }
            let transport = try TransportSecurity.fromEnvironment(environment)
            let keyPair = transport.mode == .curve ? try transport.keyPair(of: caller) : nil
            return try PeerClient(service: peer, endpoint: endpoint, transport: transport, keyPair: keyPair)
        } catch {
            FileHandle.standardError.write(Data("svx-\(caller): configuration error: \(error)\n".utf8))
            exit(2)
        }
    }

    public func close() { client.close() }

    /// Calls `method` on the peer with the session of the request being handled.
    public func call<Req, Resp>(_ method: RPCMethod<Req, Resp>, _ request: Req, context: RequestContext) throws(RPCStatus) -> Resp {
        let remaining = context.deadline - ContinuousClock.now
        guard remaining > .milliseconds(1) else { throw RPCStatus(.deadlineExceeded, "deadline exceeded") }
        do {
            return try client.callBlocking(
                method, request, sessionToken: context.sessionToken, timeout: min(callTimeout, remaining),
                traceParent: context.traceParent)
        } catch let status as RPCStatus where Self.passedThrough.contains(status.code) {
            throw status
        } catch let status as RPCStatus {
            context.logger.warning(
                "peer call failed", metadata: ["peer": "\(service)", "peer_method": "\(method.name)", "code": "\(status.code.name)"])
            throw RPCStatus(.unavailable, "the \(service) service is unavailable, try again")
        } catch {
            context.logger.warning(
                "peer call failed", metadata: ["peer": "\(service)", "peer_method": "\(method.name)", "error_type": "\(type(of: error))"])
            throw RPCStatus(.unavailable, "the \(service) service is unavailable, try again")
        }
    }
}
