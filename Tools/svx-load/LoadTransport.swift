import Foundation
import SVXContracts
import SVXRPC

/// How svx-load's clients connect: as the services' other clients do (``TransportSecurity``: CURVE pinning the
/// service's public key from `SVX_KEYS_DIR` / `SVX_<SERVICE>_PUBLIC_KEY`, unless `SVX_TRANSPORT=plaintext`). The
/// service at an endpoint is the one whose `SVX_<SERVICE>_ENDPOINT` (else default port) it is.
enum LoadTransport {
    private static let settings = Result { () throws(TransportConfigurationError) -> TransportSecurity in
        try TransportSecurity.fromEnvironment()
    }

    /// The transport settings of this process's environment.
    static func security() throws -> TransportSecurity { try settings.get() }

    /// The service answering at `endpoint`, by the endpoints svx-load's environment names (the local stack's ports
    /// by default).
    static func service(at endpoint: String) -> String? {
        let environment = ProcessInfo.processInfo.environment
        let defaults = ["auth": 7101, "keystore": 7102, "vault": 7103, "sharing": 7104, "classification": 7105]
        return TransportSecurity.services.first { service in
            let configured = environment["SVX_\(service.uppercased())_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 }
            return endpoint == configured ?? "tcp://127.0.0.1:\(defaults[service]!)"
        }
    }

    /// A client of `service` (nil: the one configured at `endpoint`), its key pinned over CURVE, with a throwaway key
    /// of its own.
    static func client(
        service named: String? = nil, endpoint: String, configuration: RPCClientConfiguration = .init()
    ) throws -> RPCClient {
        let transport = try security()
        guard transport.mode == .curve else { return try RPCClient(endpoint: endpoint, configuration: configuration) }
        guard let service = named ?? service(at: endpoint) else {
            throw TransportConfigurationError(
                variable: "SVX_<SERVICE>_ENDPOINT",
                message: "no service is configured at \(endpoint), so its CURVE key is unknown: set the service's "
                    + "endpoint variable to it (or SVX_TRANSPORT=plaintext against a plaintext stack)")
        }
        return try RPCClient(service: service, endpoint: endpoint, transport: transport, configuration: configuration)
    }

    /// Sets CURVE on a raw DEALER `socket` to `service` (nil: the one configured at `endpoint`) before it connects;
    /// nothing in plaintext.
    static func secure(_ socket: ZMQSocket, service named: String? = nil, endpoint: String) throws {
        let transport = try security()
        guard transport.mode == .curve else { return }
        guard let service = named ?? service(at: endpoint), let curve = try transport.client(of: service) else {
            throw TransportConfigurationError(
                variable: "SVX_<SERVICE>_ENDPOINT", message: "no service is configured at \(endpoint), so its CURVE key is unknown")
        }
        let keyPair = try CurveKeyPair.generate()
        try socket.setOption(.curveServerKey, curve.serverPublicKey)
        try socket.setOption(.curvePublicKey, keyPair.publicKey)
        try socket.setOption(.curveSecretKey, keyPair.secretKey)
    }
}
