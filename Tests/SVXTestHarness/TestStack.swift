import Foundation
import SVXClient
import SVXRPC
import SVXService
import Synchronization

/// The services a ``TestStack`` can run, by the name their executable (`svx-<name>`) and variables
/// (`SVX_<NAME>_…`) carry.
public enum TestService: String, CaseIterable, Sendable, Comparable {
    case auth, keystore, vault, sharing, classification

    /// The order the services are listed (and stopped in reverse).
    public static func < (lhs: TestService, rhs: TestService) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The service answering `method` (`svx.<service>.v1.<Service>/<Method>`), nil for one every service answers
    /// (`svx.rpc.v1.*`).
    public init?(answering method: String) {
        let parts = method.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "svx", let service = TestService(rawValue: String(parts[1])) else { return nil }
        self = service
    }
}

/// Any subset of the svx services, real processes on one throwaway database, wired to each other: every port is
/// chosen before any process starts, and each service is told the endpoint of every other one in the stack. A peer
/// that is not in the stack is switched off (`none`); a stack without Auth points the others at a loopback port
/// where nothing listens, so no test ever reaches whatever runs on a default port.
///
/// ```swift
/// let stack = try await TestStack.start([.auth, .keystore, .vault, .classification])
/// defer { stack.stop() }
/// let alice = try await stack.newUser()
/// let item = try await alice.call(VaultRPC.createItem, .init(templateName: "password"))
/// ```
///
/// ``stop()`` stops every process by its pid (SIGTERM, then SIGKILL); a stack released without it is stopped
/// all the same. `SVX_ENABLE_TEST_METHODS=1` is set unless the environment given says otherwise.
public final class TestStack: @unchecked Sendable {  // used from one test at a time; `state` guards what changes
    /// The database every service of the stack uses (the roles and schemas of compose/bootstrap.sql).
    public let database: TestDatabase
    /// Whether the stack made its database (and drops it at ``stop()``).
    private let ownsDatabase: Bool
    /// The services started, in ``TestService`` order.
    public let services: [TestService]
    /// Where each service of the stack answers.
    public let endpoints: [TestService: String]

    private struct State {
        var processes: [TestService: ServiceProcess]
        var clients: [ClientKey: RPCClient]
        var environments: [TestService: [String: String]]
        var homes: [URL] = []
        var stopped = false
    }
    private let state: Mutex<State>
    private struct ClientKey: Hashable {
        let service: TestService
        let peer: TestService?
    }

    /// Starts `services` (Auth is not added for you) on `database` (a new one when nil), each with the variables of
    /// `environment[service]` on top of the wiring (what a test sets wins).
    public static func start(
        _ services: Set<TestService>, environment: [TestService: [String: String]] = [:], database: TestDatabase? = nil
    ) async throws -> TestStack {
        precondition(!services.isEmpty, "a stack of no service")
        let ownsDatabase = database == nil
        let database = if let database { database } else { try await TestPostgres.shared().createDatabase(prefix: "it") }
        var lastError: (any Error)?
        // A port probed free can be taken before the service binds it: then the whole stack starts again on others.
        for _ in 0..<3 {
            let ports = try Dictionary(uniqueKeysWithValues: services.map { ($0, try freeLoopbackPort()) })
            let stack = TestStack(database: database, ownsDatabase: ownsDatabase, ports: ports, environment: environment)
            do {
                try await stack.startAll()
                return stack
            } catch {
                lastError = error
                stack.stopProcesses()
                stack.state.withLock { $0.stopped = true }  // the database stays for the next attempt
            }
        }
        if ownsDatabase { try? database.drop() }
        throw lastError ?? HarnessError("the stack \(services.sorted()) did not start")
    }

    private init(
        database: TestDatabase, ownsDatabase: Bool, ports: [TestService: Int], environment: [TestService: [String: String]]
    ) {
        self.database = database
        self.ownsDatabase = ownsDatabase
        services = ports.keys.sorted()
        endpoints = ports.mapValues { "tcp://127.0.0.1:\($0)" }
        var environments: [TestService: [String: String]] = [:]
        let unreachableAuth = (try? freeLoopbackPort()).map { "tcp://127.0.0.1:\($0)" } ?? "tcp://127.0.0.1:1"
        for service in services {
            var wiring = ["SVX_ENABLE_TEST_METHODS": "1"]
            for peer in ServiceConfiguration.peers[service.rawValue] ?? [] {
                wiring["SVX_\(peer.uppercased())_ENDPOINT"] = "none"
            }
            if service != .auth { wiring["SVX_AUTH_ENDPOINT"] = unreachableAuth }
            for (other, endpoint) in endpoints where other != service {
                wiring["SVX_\(other.rawValue.uppercased())_ENDPOINT"] = endpoint
            }
            environments[service] = wiring.merging(environment[service] ?? [:]) { _, set in set }
        }
        state = Mutex(State(processes: [:], clients: [:], environments: environments))
    }

    deinit { stop() }

    private func startAll() async throws {
        let environments = state.withLock { $0.environments }
        try await withThrowingTaskGroup(of: (TestService, ServiceProcess).self) { group in
            for service in services {
                let port = Int(endpoints[service]!.split(separator: ":").last!)!
                let databaseURL = database.conninfo(role: "svx_\(service.rawValue)")
                let environment = environments[service] ?? [:]
                group.addTask {
                    (service, try await ServiceProcess.start(
                        service.rawValue, databaseURL: databaseURL, environment: environment, port: port, attempts: 1))
                }
            }
            for try await (service, process) in group {
                state.withLock { $0.processes[service] = process }
            }
        }
    }

    /// The running process of `service`.
    public subscript(_ service: TestService) -> ServiceProcess {
        state.withLock { state in
            guard let process = state.processes[service] else { preconditionFailure("\(service) is not in this stack") }
            return process
        }
    }

    /// The stack's client of `service`, shared by every user of the stack (made on first use, closed by ``stop()``).
    /// `peer`: a client that proves, with that service's own key (``TestTransport``), to be that service, as its peer
    /// calls do (the methods meant for peers refuse everyone else over CURVE).
    public func client(_ service: TestService, as peer: TestService? = nil) -> RPCClient {
        state.withLock { state in
            let key = ClientKey(service: service, peer: peer)
            if let client = state.clients[key] { return client }
            guard let endpoint = endpoints[service] else { preconditionFailure("\(service) is not in this stack") }
            // A tcp:// endpoint of our own making and the tests' keys: never malformed. The service's transport: a
            // test may start one in plain TCP.
            let transport = state.processes[service]?.transport ?? TestTransport.security
            let client = try! TestTransport.client(service.rawValue, endpoint: endpoint, as: peer?.rawValue, transport: transport)
            state.clients[key] = client
            return client
        }
    }

    /// The endpoints as the SDK takes them (a service not in the stack at an unreachable loopback port).
    public var serviceEndpoints: ServiceEndpoints {
        let absent = state.withLock { $0.environments[.keystore]?["SVX_AUTH_ENDPOINT"] } ?? "tcp://127.0.0.1:1"
        func endpoint(_ service: TestService) -> String { endpoints[service] ?? absent }
        return ServiceEndpoints(
            auth: endpoint(.auth), keystore: endpoint(.keystore), vault: endpoint(.vault), sharing: endpoint(.sharing),
            classification: endpoint(.classification))
    }

    /// The SDK's account client on the stack's Auth.
    public var account: AccountClient { AccountClient(auth: client(.auth)) }

    /// The SDK's keyring client on the stack's Keystore, with 2048-bit keypairs (4096, the product's, takes seconds
    /// a key: the `svx` binary makes those).
    public var keyring: KeyringClient { KeyringClient(keystore: client(.keystore), timeout: .seconds(30), keypairBits: 2048) }

    /// The SDK's Vault client on the stack's Vault.
    public var vault: VaultClient { VaultClient(vault: client(.vault), timeout: .seconds(30)) }

    /// The SDK's Classification client on the stack's Classification.
    public var classification: ClassificationClient { ClassificationClient(classification: client(.classification)) }

    /// The environment `service` was started with, wiring included.
    public func environment(of service: TestService) -> [String: String] {
        state.withLock { $0.environments[service] ?? [:] }
    }

    /// Stops `service` (SIGKILL with `crash`, as a crash would; else SIGTERM) and starts it again on the same port and
    /// database, with `environment` changed on top of what it had. The stack's client of it reconnects by itself.
    public func restart(_ service: TestService, crash: Bool = false, environment changes: [String: String] = [:])
        async throws
    {
        let (old, environment) = state.withLock { state in
            state.environments[service, default: [:]].merge(changes) { _, new in new }
            return (state.processes[service], state.environments[service] ?? [:])
        }
        guard let old else { preconditionFailure("\(service) is not in this stack") }
        if crash { old.kill() } else { old.stop() }
        let port = Int(endpoints[service]!.split(separator: ":").last!)!
        let process = try await ServiceProcess.start(
            service.rawValue, databaseURL: database.conninfo(role: "svx_\(service.rawValue)"), environment: environment,
            port: port, attempts: 3)  // the old process may still hold the port for a moment
        state.withLock { $0.processes[service] = process }
    }

    /// What the `svx` command line needs to run against this stack as a user's shell would: the binary, a new
    /// `SVX_HOME` (removed by ``stop()``) and the environment naming both and every endpoint.
    public func commandLine() throws -> CommandLine {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("svx-home-\(UUID().uuidString)")
        state.withLock { $0.homes.append(home) }
        var environment = ProcessInfo.processInfo.environment
        environment["SVX_HOME"] = home.path
        let endpoints = serviceEndpoints
        environment["SVX_AUTH_ENDPOINT"] = endpoints.auth
        environment["SVX_KEYSTORE_ENDPOINT"] = endpoints.keystore
        environment["SVX_VAULT_ENDPOINT"] = endpoints.vault
        environment["SVX_SHARING_ENDPOINT"] = endpoints.sharing
        environment["SVX_CLASSIFICATION_ENDPOINT"] = endpoints.classification
        environment.merge(TestTransport.environment) { _, new in new }
        return CommandLine(
            svx: try ServiceProcess.binaryDirectory().appendingPathComponent("svx").path, home: home, environment: environment)
    }

    /// The `svx` binary, its home and environment (``commandLine()``).
    public struct CommandLine: Sendable {
        public let svx: String
        public let home: URL
        public var environment: [String: String]
    }

    /// Every service SIGKILLed, as a crash of the machine would, and started again on the same ports and database.
    public func restartAfterCrash() async throws {
        for service in services.reversed() { self[service].kill() }
        for service in services { try await restart(service, crash: true) }
    }

    /// Closes the clients, stops every process (SIGTERM, then SIGKILL after a bounded wait) in reverse order,
    /// removes the command line homes and drops the database if the stack made it. Idempotent.
    public func stop() {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        stopProcesses()
        if first && ownsDatabase { try? database.drop() }
    }

    private func stopProcesses() {
        let (clients, processes, homes) = state.withLock { state -> ([RPCClient], [ServiceProcess], [URL]) in
            defer {
                state.clients = [:]
                state.homes = []
            }
            return (Array(state.clients.values), services.reversed().compactMap { state.processes[$0] }, state.homes)
        }
        for client in clients { client.close() }
        for process in processes { process.stop() }
        for home in homes { try? FileManager.default.removeItem(at: home) }
    }
}
