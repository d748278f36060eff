import SVXContracts
import SVXRPC

/// The svx services at `endpoints`, as the SDK's clients: what a program that reaches svx only through the SDK
/// (the `svx` command line) starts from. Each client made here opens its own connection (one ZeroMQ DEALER socket
/// and its I/O thread, connected in the background: a service that is down shows as UNAVAILABLE on the first
/// call), closed when the client is released.
public struct SVXConnection: Sendable {
    public var endpoints: ServiceEndpoints
    /// How the sockets are secured: CURVE pinning each service's public key unless `SVX_TRANSPORT=plaintext`. nil: read
    /// from the environment when a client is made (``TransportSecurity/fromEnvironment(_:)``).
    public var transport: TransportSecurity?

    /// The services at `endpoints` (default: `SVX_<SERVICE>_ENDPOINT`, else the local stack's ports), secured as
    /// `transport` says (default: the environment's `SVX_TRANSPORT`, `SVX_KEYS_DIR`, `SVX_<SERVICE>_PUBLIC_KEY`).
    public init(endpoints: ServiceEndpoints = .fromEnvironment(), transport: TransportSecurity? = nil) {
        self.endpoints = endpoints
        self.transport = transport
    }

    /// Sign-up, login and sessions at Auth.
    public func account(timeout: Duration = .seconds(10)) throws -> AccountClient {
        AccountClient(auth: try client("Auth", endpoints.auth), timeout: timeout)
    }

    /// The key hierarchy at the Keystore; RSA-4096 account keypairs, as Meeco's SDK makes them.
    public func keyring(timeout: Duration = .seconds(30), keypairBits: Int = 4096) throws -> KeyringClient {
        KeyringClient(keystore: try client("Keystore", endpoints.keystore), timeout: timeout, keypairBits: keypairBits)
    }

    /// Account recovery with a Recovery Key: Auth and the Keystore.
    public func recovery(timeout: Duration = .seconds(30)) throws -> RecoveryClient {
        RecoveryClient(account: try account(timeout: timeout), keyring: try keyring(timeout: timeout))
    }

    /// Items, templates and attachments at the Vault.
    public func vault(timeout: Duration = .seconds(30)) throws -> VaultClient {
        VaultClient(vault: try client("Vault", endpoints.vault), timeout: timeout)
    }

    /// Schemes, nodes and classifications at Classification.
    public func classification(timeout: Duration = .seconds(30)) throws -> ClassificationClient {
        ClassificationClient(classification: try client("Classification", endpoints.classification), timeout: timeout)
    }

    /// Invitations and connections at Sharing, with their keypairs at the Keystore; RSA-4096 connection keypairs.
    public func sharing(timeout: Duration = .seconds(30), keypairBits: Int = 4096) throws -> SharingClient {
        SharingClient(
            sharing: try client("Sharing", endpoints.sharing), keyring: try keyring(timeout: timeout), timeout: timeout,
            keypairBits: keypairBits)
    }

    /// Shares at Sharing: items read from the Vault, connections checked and connection keypairs read from the
    /// Keystore (RSA-4096 keypairs when an invitation is made through ``SharesClient/sharing``).
    public func shares(timeout: Duration = .seconds(30), keypairBits: Int = 4096) throws -> SharesClient {
        SharesClient(
            sharing: try sharing(timeout: timeout, keypairBits: keypairBits), vault: try vault(timeout: timeout), timeout: timeout)
    }

    /// The user's audit trail in every service (each keeps its own chain).
    public func audit(timeout: Duration = .seconds(30)) throws -> AuditClient {
        AuditClient(
            services: [
                ("auth", try client("Auth", endpoints.auth)), ("keystore", try client("Keystore", endpoints.keystore)),
                ("vault", try client("Vault", endpoints.vault)), ("sharing", try client("Sharing", endpoints.sharing)),
                ("classification", try client("Classification", endpoints.classification)),
            ], timeout: timeout)
    }

    /// A malformed endpoint or a missing or malformed server key is the caller's input:
    /// ``SVXClientError/Code/invalidInput`` naming the service (and the variable to set).
    private func client(_ service: String, _ endpoint: String) throws -> RPCClient {
        let transport: TransportSecurity
        do {
            transport = try self.transport ?? TransportSecurity.fromEnvironment()
        } catch {
            throw SVXClientError(.invalidInput, "the transport settings are not usable: \(error)")
        }
        let security: CurveClientSecurity?
        do {
            security = try transport.client(of: service.lowercased())
        } catch {
            throw SVXClientError(.invalidInput, "no server key for \(service) at \(endpoint): \(error)")
        }
        do {
            return try RPCClient(endpoint: endpoint, configuration: .init(curve: security))
        } catch {
            throw SVXClientError(.invalidInput, "\(service)'s endpoint \"\(endpoint)\" is not usable: \(error)")
        }
    }
}
