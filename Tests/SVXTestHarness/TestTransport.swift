import Foundation
import SVXContracts
import SVXRPC
import Synchronization

/// The transport every service the tests start runs, and every test client uses: CURVE, with one keypair per service
/// made once per test process in a private temporary directory (0700, removed at exit), as `make up` makes them in
/// `.svx/stack/keys`. `SVX_TRANSPORT=plaintext` in the test process's environment runs the suite over plain TCP.
public enum TestTransport {
    private static let keys: (directory: String?, security: TransportSecurity) = {
        if ProcessInfo.processInfo.environment["SVX_TRANSPORT"]?.lowercased() == "plaintext" { return (nil, .plaintext) }
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("svx-test-keys-\(getpid())-\(UUID().uuidString.prefix(8))").path
        do {
            for service in TransportSecurity.services {
                try TransportSecurity.generateKeyPair(service: service, in: directory)
            }
            keysDirectoryToRemove.withLock { $0 = directory }
            atexit { keysDirectoryToRemove.withLock { path in if let path { try? FileManager.default.removeItem(atPath: path) } } }
            return (directory, try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": directory]))
        } catch {
            fatalError("the test services' CURVE keys could not be made in \(directory): \(error)")
        }
    }()

    /// What a service process is started with (on top of the test process's environment).
    public static var environment: [String: String] {
        guard let directory = keys.directory else { return ["SVX_TRANSPORT": "plaintext"] }
        return ["SVX_TRANSPORT": "curve", "SVX_KEYS_DIR": directory]
    }

    /// The settings a test client uses (a plain TCP one when the suite runs in plaintext).
    public static var security: TransportSecurity { keys.security }

    /// The directory of the keys (nil in plaintext): `<service>.pub`, and `<service>.key` for a test that acts as a
    /// service.
    public static var keysDirectory: String? { keys.directory }

    /// Sets CURVE on a raw socket (a test's own DEALER) to the service the harness started at `endpoint`, as a user's
    /// client with a throwaway key; nothing in plaintext, or for an endpoint no service of the harness has.
    public static func secure(_ socket: ZMQSocket, toServiceAt endpoint: String) throws {
        guard let service = servicesByEndpoint.withLock({ $0[endpoint] }), service.secured,
              let curve = try security.client(of: service.name)
        else { return }
        try curve.apply(to: socket)
    }

    /// Remembers which service (and whether over CURVE) a process of the harness serves at `endpoint`.
    static func started(_ name: String, at endpoint: String, secured: Bool) {
        servicesByEndpoint.withLock { $0[endpoint] = (name, secured) }
    }

    /// A client of `service` at `endpoint` as the tests' users connect (a throwaway client key), or, with `peer`, as
    /// that service's peer calls do (its own keypair; a plain client in plaintext).
    /// `transport`: the service's own when a test started it otherwise (e.g. `SVX_TRANSPORT=plaintext`).
    public static func client(
        _ service: String, endpoint: String, as peer: String? = nil, transport: TransportSecurity = security,
        configuration: RPCClientConfiguration = .init()
    ) throws -> RPCClient {
        let keyPair = try peer.flatMap { transport.mode == .curve ? try security.keyPair(of: $0) : nil }
        return try RPCClient(service: service, endpoint: endpoint, transport: transport, keyPair: keyPair, configuration: configuration)
    }
}

private let keysDirectoryToRemove = Mutex<String?>(nil)
private let servicesByEndpoint = Mutex<[String: (name: String, secured: Bool)]>([:])
