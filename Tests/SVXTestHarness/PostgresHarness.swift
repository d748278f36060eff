import Foundation
import Logging
import SVXStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A PostgreSQL cluster for tests.
///
/// ``shared()`` gives one cluster per test process: the one named by `SVX_TEST_PG_PORT` (with `SVX_TEST_PG_HOST`,
/// default 127.0.0.1, and `SVX_TEST_PG_USER`, default postgres; it must allow that superuser and the service roles
/// in without a password) when set, otherwise a throwaway cluster started here. ``start()`` always starts a private
/// throwaway cluster (for tests that restart PostgreSQL).
///
/// A throwaway cluster lives in a fresh temporary directory (initdb as the `postgres` user when running as root,
/// trust authentication, UTF8), listens on 127.0.0.1 only, on a free port, with its unix socket inside the data
/// directory and fsync, synchronous_commit and full_page_writes off. It is stopped by pid in ``stop()`` or, at the
/// latest, when the test process exits. Every wait is bounded.
public final class TestPostgres: @unchecked Sendable {
    // @unchecked Sendable: the mutable state (the server pid) is only touched under `lock`.

    public let host: String
    public let port: Int
    /// The superuser tests create databases with.
    public let superuser: String
    /// True when this process started the cluster (and may restart and stop it).
    public let isOwned: Bool

    private let root: URL?
    private let binDirectory: URL
    private let lock = NSLock()
    private var serverPID: pid_t?
    private let logger = Logger(label: "svx.test.postgres")

    /// The data directory of an owned cluster.
    public var dataDirectory: URL? { root?.appendingPathComponent("data") }
    /// The server log of an owned cluster.
    public var logFile: URL? { root?.appendingPathComponent("postgres.log") }
    /// The postmaster's pid for an owned, running cluster.
    public var pid: Int32? { lock.withLock { serverPID } }

    private init(host: String, port: Int, superuser: String, root: URL?, binDirectory: URL) {
        self.host = host
        self.port = port
        self.superuser = superuser
        self.root = root
        self.binDirectory = binDirectory
        self.isOwned = root != nil
    }

    // MARK: Creating

    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedInstance: TestPostgres?

    /// The cluster of this test process (external through the environment, or started on first use).
    public static func shared() throws -> TestPostgres {
        try sharedLock.withLock {
            if let sharedInstance { return sharedInstance }
            let environment = ProcessInfo.processInfo.environment
            let instance: TestPostgres
            if let portText = environment["SVX_TEST_PG_PORT"], !portText.isEmpty {
                guard let port = Int(portText) else {
                    throw PostgresProcess.Failure(description: "SVX_TEST_PG_PORT=\(portText) is not a port")
                }
                instance = TestPostgres(
                    host: environment["SVX_TEST_PG_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1",
                    port: port,
                    superuser: environment["SVX_TEST_PG_USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "postgres",
                    root: nil, binDirectory: try findBinDirectory())
            } else {
                instance = try start()
            }
            sharedInstance = instance
            return instance
        }
    }

    /// Starts a private throwaway cluster (initdb + pg_ctl start), stopped by ``stop()`` or at process exit.
    public static func start() throws -> TestPostgres {
        let bin = try findBinDirectory()
        var template = Array((NSTemporaryDirectory() + "svx-pg-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PostgresProcess.Failure(description: "mkdtemp failed")
        }
        let root = URL(fileURLWithPath: String(cString: made))
        if geteuid() == 0 {
            guard let user = PostgresProcess.postgresUser() else {
                throw PostgresProcess.Failure(description: "running as root but there is no postgres user")
            }
            guard chown(root.path, user.uid, user.gid) == 0 else {
                throw PostgresProcess.Failure(description: "cannot chown \(root.path) to postgres")
            }
        }
        let data = root.appendingPathComponent("data")
        let initdb = try PostgresProcess.run(
            bin.appendingPathComponent("initdb").path,
            ["-D", data.path, "-A", "trust", "-E", "UTF8", "--locale=C", "-U", "postgres", "--no-sync",
             "--no-instructions"],
            in: root, timeout: 120)
        guard initdb.status == 0 else {
            try? FileManager.default.removeItem(at: root)
            throw PostgresProcess.Failure(description: "initdb failed (\(initdb.status)): \(initdb.output)")
        }
        var lastError: Error?
        for _ in 0..<3 {
            let port = try PostgresProcess.freeLoopbackPort()
            let cluster = TestPostgres(host: "127.0.0.1", port: port, superuser: "postgres", root: root, binDirectory: bin)
            do {
                try cluster.startServer()
                Registry.add(cluster)
                return cluster
            } catch {
                lastError = error
            }
        }
        try? FileManager.default.removeItem(at: root)
        throw lastError ?? PostgresProcess.Failure(description: "cannot start PostgreSQL")
    }

    static func findBinDirectory() throws -> URL {
        let fileManager = FileManager.default
        var candidates: [String] = []
        if let configured = ProcessInfo.processInfo.environment["SVX_TEST_PG_BIN"], !configured.isEmpty {
            candidates.append(configured)
        }
        candidates.append("/usr/lib/postgresql/15/bin")
        let versions = (try? fileManager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        candidates += versions.sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }.map { "/usr/lib/postgresql/\($0)/bin" }
        for candidate in candidates where fileManager.isExecutableFile(atPath: candidate + "/pg_ctl") {
            return URL(fileURLWithPath: candidate)
        }
        throw PostgresProcess.Failure(description: "no PostgreSQL binaries (set SVX_TEST_PG_BIN)")
    }

    // MARK: Server lifecycle (owned clusters)

    private func startServer() throws {
        guard let root, let dataDirectory, let logFile else {
            throw PostgresProcess.Failure(description: "an external cluster cannot be started here")
        }
        let options = [
            "-p \(port)", "-k \(dataDirectory.path)", "-c listen_addresses=127.0.0.1",
            "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off", "-c max_connections=200",
        ].joined(separator: " ")
        let result = try PostgresProcess.run(
            binDirectory.appendingPathComponent("pg_ctl").path,
            ["-D", dataDirectory.path, "-l", logFile.path, "-o", options, "-w", "-t", "60", "start"],
            in: root, timeout: 90)
        let pidText = (try? String(contentsOf: dataDirectory.appendingPathComponent("postmaster.pid"), encoding: .utf8))?
            .split(separator: "\n").first.map(String.init)
        let pid = pidText.flatMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
        if result.status != 0 {
            if let pid { PostgresProcess.stopServer(pid: pid, timeout: 10) }
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            throw PostgresProcess.Failure(
                description: "pg_ctl start failed (\(result.status)): \(result.output)\n\(log.suffix(2000))")
        }
        guard let pid else { throw PostgresProcess.Failure(description: "no postmaster.pid after start") }
        lock.withLock { serverPID = pid }
        logger.debug("PostgreSQL started", metadata: ["port": "\(port)", "pid": "\(pid)"])
    }

    /// Stops the server (fast shutdown by pid, SIGKILL after 20 s) and keeps the data directory.
    private func stopServer() {
        let pid: pid_t? = lock.withLock {
            defer { serverPID = nil }
            return serverPID
        }
        if let pid { PostgresProcess.stopServer(pid: pid, timeout: 20) }
    }

    /// Stops the server and the same server comes back on the same port (owned clusters only): existing
    /// connections break, which is what reconnect tests need.
    public func restart() throws {
        guard isOwned else { throw PostgresProcess.Failure(description: "cannot restart an external cluster") }
        stopServer()
        try startServer()
    }

    /// Stops an owned cluster and deletes its directory. Idempotent; nothing for an external cluster.
    public func stop() {
        guard isOwned else { return }
        stopServer()
        if let root { try? FileManager.default.removeItem(at: root) }
        Registry.remove(self)
    }

    // MARK: Connecting

    /// A libpq connection string for `user` (default: the superuser) and `database`.
    public func conninfo(user: String? = nil, database: String = "postgres") -> String {
        Self.conninfo(host: host, port: port, user: user ?? superuser, database: database)
    }

    static func conninfo(host: String, port: Int, user: String, database: String) -> String {
        if host.hasPrefix("/") {
            return "host='\(host)' port=\(port) user='\(user)' dbname='\(database)'"
        }
        return "postgresql://\(user)@\(host):\(port)/\(database)"
    }

    /// A new connection as the superuser.
    public func connect(database: String = "postgres", user: String? = nil) throws -> PostgresConnection {
        try PostgresConnection(
            conninfo: conninfo(user: user, database: database), logger: logger, applicationName: "svx-tests")
    }

    private static let createLock = NSLock()

    /// ``createDatabase(prefix:)`` from async code: the wait for other tests' bootstraps (serialised below) and the
    /// database's work happen on a thread of their own, not on the cooperative pool every test shares
    /// (``offCooperativePool(_:)``).
    public func createDatabase(prefix: String = "svx_test") async throws -> TestDatabase {
        try await offCooperativePool { try self.createDatabase(prefix: prefix) as TestDatabase }
    }

    /// Creates a fresh database named `<prefix>_<random>` and applies compose/bootstrap.sql to it (roles, schemas,
    /// privileges). Blocks (other tests' bootstraps first): async code calls the async overload.
    public func createDatabase(prefix: String = "svx_test") throws -> TestDatabase {
        let cleanPrefix = String(prefix.lowercased().map { ($0.isLetter || $0.isNumber) && $0.isASCII ? $0 : "_" })
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let database = "\(cleanPrefix.prefix(40))_\(suffix)"
        let sql = try String(contentsOf: Self.bootstrapFile(), encoding: .utf8)
        // Roles are cluster-wide: serialise bootstraps in this process, and retry once or twice in case another
        // test process bootstraps at the same moment.
        try Self.createLock.withLock {
            let admin = try connect()
            defer { admin.close() }
            try admin.execute("CREATE DATABASE \"\(database)\" TEMPLATE template0 ENCODING 'UTF8'")
            let target = try connect(database: database)
            defer { target.close() }
            var attempt = 0
            while true {
                attempt += 1
                do {
                    try target.executeScript(sql)
                    break
                } catch let error as DatabaseError where attempt < 3 {
                    logger.debug("bootstrap retry", metadata: ["error": "\(error)"])
                    usleep(100_000)
                }
            }
        }
        return TestDatabase(name: database, host: host, port: port, superuser: superuser)
    }

    /// compose/bootstrap.sql of this checkout (or `SVX_BOOTSTRAP_SQL`).
    public static func bootstrapFile() -> URL {
        if let configured = ProcessInfo.processInfo.environment["SVX_BOOTSTRAP_SQL"], !configured.isEmpty {
            return URL(fileURLWithPath: configured)
        }
        return URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("compose/bootstrap.sql")
    }

    // MARK: Process exit

    /// Owned clusters still running; stopped by an atexit handler.
    enum Registry {
        private static let lock = NSLock()
        nonisolated(unsafe) private static var clusters: [ObjectIdentifier: TestPostgres] = [:]
        nonisolated(unsafe) private static var installed = false

        static func add(_ cluster: TestPostgres) {
            lock.withLock {
                clusters[ObjectIdentifier(cluster)] = cluster
                if !installed {
                    installed = true
                    atexit { TestPostgres.Registry.stopAll() }
                }
            }
        }

        static func remove(_ cluster: TestPostgres) {
            _ = lock.withLock { clusters.removeValue(forKey: ObjectIdentifier(cluster)) }
        }

        static func stopAll() {
            let all = lock.withLock { Array(clusters.values) }
            for cluster in all { cluster.stop() }
        }
    }
}

/// A database of a test cluster with compose/bootstrap.sql applied.
public struct TestDatabase: Sendable {
    public let name: String
    public let host: String
    public let port: Int
    public let superuser: String

    /// The service schemas and the roles that own them, as created by bootstrap.sql.
    public static let serviceRoles: [String: String] = [
        "auth": "svx_auth", "keystore": "svx_keystore", "vault": "svx_vault", "sharing": "svx_sharing",
        "classification": "svx_classification",
    ]

    /// Connection string for the superuser.
    public var superuserConninfo: String { conninfo(role: superuser) }

    /// Connection string for `role` (for example `svx_auth`).
    public func conninfo(role: String) -> String {
        TestPostgres.conninfo(host: host, port: port, user: role, database: name)
    }

    /// Connection string for the role of `service` (`auth`, `keystore`, ...).
    public func conninfo(service: String) -> String {
        conninfo(role: TestDatabase.serviceRoles[service] ?? "svx_\(service)")
    }

    /// Connects as `role` (default: the superuser).
    public func connect(role: String? = nil, logger: Logger = Logger(label: "svx.test.postgres")) throws
        -> PostgresConnection
    {
        try PostgresConnection(conninfo: conninfo(role: role ?? superuser), logger: logger, applicationName: "svx-tests")
    }

    /// Drops the database, ending its sessions first.
    public func drop() throws {
        let admin = try PostgresConnection(
            conninfo: TestPostgres.conninfo(host: host, port: port, user: superuser, database: "postgres"),
            logger: Logger(label: "svx.test.postgres"), applicationName: "svx-tests")
        defer { admin.close() }
        try admin.execute("DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
    }
}
