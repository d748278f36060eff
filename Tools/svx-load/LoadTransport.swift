import Foundation
import SVXClient
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

    /// The service answering at `endpoint`, by the endpoints svx-load's environment names (`SVX_<SERVICE>_ENDPOINT`,
    /// else the local stack's ports, as the SDK reads them).
    static func service(at endpoint: String) -> String? {
        let endpoints = ServiceEndpoints.fromEnvironment()
        let byService = [
            "auth": endpoints.auth, "keystore": endpoints.keystore, "vault": endpoints.vault,
            "sharing": endpoints.sharing, "classification": endpoints.classification,
        ]
        return TransportSecurity.services.first { byService[$0] == endpoint }
    }

    /// A client of `service` (nil: the one configured at `endpoint`), its key pinned over CURVE, with a throwaway key
    /// of its own.
    static func client(
        service named: String? = nil, endpoint: String, configuration: RPCClientConfiguration = .init()
    ) throws -> RPCClient {
        let transport = try security()
        guard transport.mode == .curve else { return try RPCClient(endpoint: endpoint, configuration: configuration) }
        return try RPCClient(
            service: try serviceName(named, at: endpoint), endpoint: endpoint, transport: transport,
            configuration: configuration)
    }

    /// `named`, else the service configured at `endpoint`; its CURVE key is unknown without one.
    private static func serviceName(_ named: String?, at endpoint: String) throws -> String {
        guard let service = named ?? service(at: endpoint) else {
            throw TransportConfigurationError(
                variable: "SVX_<SERVICE>_ENDPOINT",
                message: "no service is configured at \(endpoint), so its CURVE key is unknown: set the service's "
                    + "endpoint variable to it (or SVX_TRANSPORT=plaintext against a plaintext stack)")
        }
        return service
    }

    /// Sets CURVE on a raw DEALER `socket` to `service` (nil: the one configured at `endpoint`) before it connects;
    /// nothing in plaintext.
    static func secure(_ socket: ZMQSocket, service named: String? = nil, endpoint: String) throws {
        let transport = try security()
        guard transport.mode == .curve else { return }
        try transport.client(of: try serviceName(named, at: endpoint))?.apply(to: socket)
    }
}
