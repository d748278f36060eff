import Foundation
import Logging
import SVXContracts

/// Everything a service reads from its environment, with the defaults documented in README.md
/// (section "Configuration"). Parsing is a pure function of the environment so it is tested without
/// starting anything.
public struct ServiceConfiguration: Sendable, Equatable {
    /// The bounded context, lower case: `auth`, `keystore`, `vault`, `sharing`, `classification`.
    public var name: String
    /// ZeroMQ endpoint the service binds, `SVX_<NAME>_ENDPOINT`.
    public var endpoint: String
    /// libpq connection URI for the service's own role, `SVX_<NAME>_DATABASE_URL`.
    public var databaseURL: String
    /// Worker threads, each with its own PostgreSQL connection, `SVX_WORKERS`.
    public var workers: Int
    /// Largest request accepted, `SVX_<NAME>_MAX_MESSAGE_BYTES`, else `SVX_MAX_MESSAGE_BYTES`, else the service's
    /// own default (``defaultMaxMessageBytes``); larger ones get RESOURCE_EXHAUSTED.
    public var maxMessageBytes: Int
    /// Requests waiting for a worker beyond which new ones get RESOURCE_EXHAUSTED, `SVX_QUEUE_CAPACITY`.
    public var queueCapacity: Int
    /// Bytes of requests waiting for a worker beyond which new ones get RESOURCE_EXHAUSTED, `SVX_QUEUE_BYTES`.
    public var queueBytes: Int
    /// Deadline applied to requests that carry none, `SVX_DEFAULT_TIMEOUT_MS`.
    public var defaultTimeout: Duration
    /// How long start-up waits for PostgreSQL before giving up, `SVX_DATABASE_CONNECT_TIMEOUT_MS`.
    public var databaseConnectTimeout: Duration
    /// `SVX_LOG_LEVEL`: trace, debug, info, notice, warning, error, critical.
    public var logLevel: Logger.Level
    /// `SVX_LOG_FORMAT`: `text` (human) or `json` (one JSON object per line).
    public var logFormat: LogFormat
    /// `SVX_ENABLE_TEST_METHODS=1` registers `svx.rpc.v1.Test/*` methods used by the integration tests
    /// (a sleep to exercise deadlines and shutdown). Never set in production.
    public var enableTestMethods: Bool
    /// Where Auth answers ValidateSession for authenticated methods, `SVX_AUTH_ENDPOINT` (for svx-auth itself
    /// this is its own endpoint; it validates sessions against its own tables instead).
    public var authEndpoint: String
    /// How long audit events are kept, `SVX_AUDIT_RETENTION_DAYS` (365): older ones are pruned, and the chain goes on
    /// from an anchor (``AuditTrail/prune(before:maxUsers:on:)``).
    public var auditRetentionDays: Int
    /// CURVE (the default) or plaintext, and the keys (``TransportSecurity``): `SVX_TRANSPORT`, `SVX_KEYS_DIR`,
    /// `SVX_<SERVICE>_PUBLIC_KEY`, `SVX_<NAME>_SECRET_KEY_FILE`.
    public var transport: TransportSecurity

    public enum LogFormat: String, Sendable, Equatable { case text, json }

    /// The port each service listens on by default (`tcp://127.0.0.1:<port>`).
    public static let defaultPorts: [String: Int] = [
        "auth": 7101, "keystore": 7102, "vault": 7103, "sharing": 7104, "classification": 7105,
    ]

    /// The largest request each service accepts unless configured: what its largest legitimate request needs, with
    /// room to spare. Auth's requests are SRP values and names (about 1 KiB); Classification's are node names and at
    /// most 500 ids; the Keystore's largest is a RotateKEK carrying every wrapped key of a user; the Vault's a
    /// CreateItem or an attachment block (1 MiB); Sharing's a share of an item.
    public static let defaultMaxMessageBytes: [String: Int] = [
        "auth": 64 << 10, "classification": 1 << 20, "keystore": 4 << 20, "vault": 4 << 20, "sharing": 4 << 20,
    ]

    /// Every environment variable a service named `name` reads (README.md documents each one;
    /// compose/docker-compose.yml sets the per-service ones).
    public static func variables(service name: String) -> [String] {
        let prefix = "SVX_\(name.uppercased())_"
        let own = [prefix + "ENDPOINT", prefix + "DATABASE_URL", prefix + "MAX_MESSAGE_BYTES"]
        // svx-auth reads its own settings; every other service asks Auth about sessions.
        let specific = name == "auth" ? AuthConfiguration.variables
            : ["SVX_AUTH_ENDPOINT"] + (ownVariables[name] ?? [])
        let peers = (peers[name] ?? []).map { "SVX_\($0.uppercased())_ENDPOINT" }
        return own + specific + peers + sharedVariables + TransportSecurity.variables(service: name)
    }

    /// The settings of services with a configuration of their own (besides Auth's).
    static let ownVariables: [String: [String]] = [
        "keystore": KeystoreConfiguration.variables, "vault": VaultConfiguration.variables,
        "classification": ClassificationConfiguration.variables, "sharing": SharingConfiguration.variables,
    ]

    /// The services each service calls besides Auth (``PeerClient``): the Vault asks Classification to filter
    /// items by node and to forget deleted entities, and Sharing to end the shares of deleted items and slots;
    /// Classification asks the Vault who owns an entity; Sharing asks the Keystore whether a public key is the
    /// caller's own, and the Vault for the outline of an item it shares. No request goes round a cycle: the methods
    /// a peer is asked never call out again (docs/ADR-006-classification.md, ADR-008-sharing.md).
    public static let peers: [String: [String]] = [
        "vault": ["classification", "sharing"], "classification": ["vault"], "sharing": ["keystore", "vault"],
    ]

    /// Where service `peer` answers, `SVX_<PEER>_ENDPOINT` (its default port when unset or empty), or nil when the
    /// variable is `none`: the peer is switched off, and what needs it answers UNAVAILABLE.
    public static func peerEndpoint(
        _ peer: String, _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> String? {
        let variable = "SVX_\(peer.uppercased())_ENDPOINT"
        guard let value = environment[variable], !value.isEmpty else {
            return "tcp://127.0.0.1:\(defaultPorts[peer] ?? 7100)"
        }
        if value == "none" { return nil }
        guard value.hasPrefix("tcp://") || value.hasPrefix("ipc://") || value.hasPrefix("inproc://") else {
            throw ConfigurationError(variable: variable, message: "expected tcp://HOST:PORT, ipc://PATH or none, got \"\(value)\"")
        }
        return value
    }

    /// The variables every service reads, whatever its name.
    public static let sharedVariables = [
        "SVX_WORKERS", "SVX_MAX_MESSAGE_BYTES", "SVX_QUEUE_CAPACITY", "SVX_QUEUE_BYTES", "SVX_DEFAULT_TIMEOUT_MS",
        "SVX_DATABASE_CONNECT_TIMEOUT_MS", "SVX_LOG_LEVEL", "SVX_LOG_FORMAT", "SVX_ENABLE_TEST_METHODS",
        "SVX_AUDIT_RETENTION_DAYS", AuditTrail.offSwitchVariable,
    ]

    /// Reads the configuration of service `name` from `environment`.
    /// - Throws: ``ConfigurationError`` naming the variable and what is wrong with it.
    public static func fromEnvironment(
        service name: String, _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ServiceConfiguration {
        let prefix = "SVX_\(name.uppercased())_"
        let port = defaultPorts[name] ?? 7100
        func string(_ key: String, _ fallback: String) -> String {
            guard let value = environment[key], !value.isEmpty else { return fallback }
            return value
        }
        func integer(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            try ConfigurationError.integer(environment, key, fallback, range)
        }

        let endpoint = string(prefix + "ENDPOINT", "tcp://127.0.0.1:\(port)")
        guard endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") else {
            throw ConfigurationError(variable: prefix + "ENDPOINT", message: "expected tcp://HOST:PORT or ipc://PATH, got \"\(endpoint)\"")
        }
        let authEndpoint = string("SVX_AUTH_ENDPOINT", "tcp://127.0.0.1:\(defaultPorts["auth"]!)")
        guard authEndpoint.hasPrefix("tcp://") || authEndpoint.hasPrefix("ipc://") || authEndpoint.hasPrefix("inproc://") else {
            throw ConfigurationError(variable: "SVX_AUTH_ENDPOINT", message: "expected tcp://HOST:PORT or ipc://PATH, got \"\(authEndpoint)\"")
        }
        let levelName = string("SVX_LOG_LEVEL", "info")
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ConfigurationError(variable: "SVX_LOG_LEVEL", message: "expected one of trace, debug, info, notice, warning, error, critical; got \"\(levelName)\"")
        }
        let formatName = string("SVX_LOG_FORMAT", "text")
        guard let format = LogFormat(rawValue: formatName.lowercased()) else {
            throw ConfigurationError(variable: "SVX_LOG_FORMAT", message: "expected text or json, got \"\(formatName)\"")
        }
        let transport: TransportSecurity
        do {
            transport = try TransportSecurity.fromEnvironment(environment)
        } catch {
            throw ConfigurationError(variable: error.variable, message: error.message)
        }
        return ServiceConfiguration(
            name: name,
            endpoint: endpoint,
            databaseURL: string(prefix + "DATABASE_URL", "postgresql://svx_\(name)@127.0.0.1:55432/svx"),
            workers: try integer("SVX_WORKERS", 4, 1...256),
            maxMessageBytes: try integer(
                prefix + "MAX_MESSAGE_BYTES",
                try integer("SVX_MAX_MESSAGE_BYTES", defaultMaxMessageBytes[name] ?? 4 << 20, 1024...(256 << 20)),
                1024...(256 << 20)),
            queueCapacity: try integer("SVX_QUEUE_CAPACITY", 10_000, 1...1_000_000),
            queueBytes: try integer("SVX_QUEUE_BYTES", 32 << 20, (64 << 10)...(16 << 30)),
            defaultTimeout: .milliseconds(try integer("SVX_DEFAULT_TIMEOUT_MS", 30_000, 1...3_600_000)),
            databaseConnectTimeout: .milliseconds(try integer("SVX_DATABASE_CONNECT_TIMEOUT_MS", 30_000, 0...3_600_000)),
            logLevel: level,
            logFormat: format,
            enableTestMethods: string("SVX_ENABLE_TEST_METHODS", "0") == "1",
            authEndpoint: authEndpoint,
            auditRetentionDays: try integer("SVX_AUDIT_RETENTION_DAYS", 365, 1...36_500),
            transport: transport
        )
    }
}

/// A configuration variable that could not be used.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String
    public var description: String { "\(variable): \(message)" }

    /// `environment[key]` as an integer in `range`, `fallback` when unset or empty; the one parser every
    /// configuration type uses.
    static func integer(
        _ environment: [String: String], _ key: String, _ fallback: Int, _ range: ClosedRange<Int>
    ) throws(ConfigurationError) -> Int {
        guard let raw = environment[key], !raw.isEmpty else { return fallback }
        guard let value = Int(raw), range.contains(value) else {
            throw ConfigurationError(
                variable: key, message: "expected an integer in \(range.lowerBound)...\(range.upperBound), got \"\(raw)\"")
        }
        return value
    }
}
