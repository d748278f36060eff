import Cryppo
import Foundation
import Logging
import Metrics
import Prometheus
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import ServiceLifecycle

/// What makes one service different from the others: its name (also its schema), its migrations
/// and its methods. Everything else is the shared bootstrap in ``ServiceMain``.
public struct ServiceDefinition: Sendable {
    public var name: String
    public var version: String
    /// Directory of `NNNN_name.sql` files, usually `Bundle.module.url(forResource: "Migrations", withExtension: nil)`.
    public var migrationsDirectory: URL?
    public var routes: @Sendable (ServiceRoutes) -> Void
    /// How ``ServiceRoutes/registerAuthenticated(_:_:)`` checks sessions. nil (every service but Auth): with
    /// Auth's ValidateSession at `SVX_AUTH_ENDPOINT` (``RemoteSessionValidator``).
    public var sessionValidator: (any SessionValidator)?
    /// The service's audit trail (its migrations create the tables): when set, the bootstrap answers
    /// `svx.audit.v1.Audit/ListEvents` and `/AppendCheckpoint` from it and prunes it (`SVX_AUDIT_RETENTION_DAYS`)
    /// (reference/sharing.md §5b).
    public var audit: AuditTrail?

    public init(
        name: String, version: String = svxVersion, migrationsDirectory: URL?,
        sessionValidator: (any SessionValidator)? = nil, audit: AuditTrail? = nil,
        routes: @escaping @Sendable (ServiceRoutes) -> Void = { _ in }
    ) {
        self.name = name
        self.version = version
        self.migrationsDirectory = migrationsDirectory
        self.sessionValidator = sessionValidator
        self.audit = audit
        self.routes = routes
    }
}

/// The version every svx executable reports.
public let svxVersion = "0.1.0"

/// The bootstrap every service runs from its `main.swift`:
/// core dumps off → configuration → logging → database (bounded wait) → migrations → RPC server with Health,
/// Metrics and the service's methods → run until SIGTERM/SIGINT → graceful shutdown → exit 0.
public enum ServiceMain {
    /// Turns core dumps off (``CoreDumps/disable()``: RLIMIT_CORE 0 and not dumpable), reporting on stderr what
    /// could not be done. ``run(_:)`` does it first; a `main.swift` that reads a secret before calling ``run(_:)``
    /// calls this before it.
    public static func disableCoreDumps(service name: String) {
        for failure in CoreDumps.disable() {
            FileHandle.standardError.write(Data("svx-\(name): warning: core dumps stay possible: \(failure)\n".utf8))
        }
    }

    /// What a service does with arguments, before it reads anything from its environment: none, it runs;
    /// `generate-key DIR` makes its CURVE keypair in DIR (`<name>.key`, 0600, and `<name>.pub`; an existing one is
    /// kept) and exits; anything else prints the usage and exits with 2.
    public static func handleCommandLine(service name: String, arguments: [String] = CommandLine.arguments) {
        let arguments = Array(arguments.dropFirst())
        if arguments.isEmpty { return }
        let usage = """
            usage: svx-\(name)                    run the service (configuration: README.md, "Configuration")
                   svx-\(name) generate-key DIR   make its CURVE keypair in DIR: \(name).key (0600) and \(name).pub

            """
        switch (arguments.count, arguments[0]) {
        case (1, "--help"), (1, "-h"), (1, "help"):
            FileHandle.standardOutput.write(Data(usage.utf8))
            exit(0)
        case (2, "generate-key"):
            do {
                let made = try TransportSecurity.generateKeyPair(service: name, in: arguments[1])
                let publicKey = try String(contentsOfFile: "\(arguments[1])/\(name).pub", encoding: .utf8)
                FileHandle.standardOutput.write(Data(
                    "svx-\(name): \(made ? "made" : "kept") \(arguments[1])/\(name).key; public key \(publicKey)".utf8))
                exit(0)
            } catch {
                FileHandle.standardError.write(Data("svx-\(name): generate-key: \(error)\n".utf8))
                exit(1)
            }
        default:
            FileHandle.standardError.write(Data(usage.utf8))
            exit(2)
        }
    }

    public static func run(_ definition: ServiceDefinition) async -> Never {
        disableCoreDumps(service: definition.name)
        let largeBlocksMapped = MemoryPolicy.apply()
        let configuration: ServiceConfiguration
        let curve: CurveServerSecurity?
        do {
            configuration = try ServiceConfiguration.fromEnvironment(service: definition.name)
            curve = try configuration.transport.server(of: definition.name)
        } catch {
            FileHandle.standardError.write(Data("svx-\(definition.name): configuration error: \(error)\n".utf8))
            exit(2)
        }
        LogSetup.bootstrap(format: configuration.logFormat, level: configuration.logLevel)
        let logger = Logger(label: "svx.\(definition.name)")
        if !largeBlocksMapped { logger.notice("the C library keeps its own threshold for mapped blocks (not glibc)") }
        if curve == nil {
            logger.warning("SVX_TRANSPORT=plaintext: requests, session tokens and wrapped keys cross the network in clear")
        }
        do {
            try await run(definition, configuration: configuration, curve: curve, logger: logger)
            logger.info("stopped")
            exit(0)
        } catch {
            logger.critical("service failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    static func run(
        _ definition: ServiceDefinition, configuration: ServiceConfiguration, curve: CurveServerSecurity?, logger: Logger
    ) async throws {
        logger.info("starting", metadata: [
            "version": "\(definition.version)", "endpoint": "\(configuration.endpoint)", "workers": "\(configuration.workers)",
            "transport": "\(configuration.transport.mode.rawValue)",
            "public_key": "\(curve.map { $0.keyPair.z85PublicKey } ?? "none")",
        ])
        let migrationConnection = try await connect(configuration, logger: logger)
        let migrations = try definition.migrationsDirectory.map { try MigrationLoader.load(directory: $0) } ?? []
        let applied = try Migrator(schema: definition.name, logger: logger).migrate(migrations, on: migrationConnection)
        logger.info("migrations done", metadata: [
            "applied": "\(applied.map(\.version))", "known": "\(migrations.count)",
        ])

        let metrics = RequestMetrics(service: definition.name)
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        let databaseHealth = DatabaseHealthMonitor(connection: migrationConnection, logger: logger)

        let router = RPCRouter<ServiceWorker>()
        let sessionValidator = try definition.sessionValidator
            ?? RemoteSessionValidator(
                authEndpoint: configuration.authEndpoint, transport: configuration.transport, keyPair: curve?.keyPair)
        let routes = ServiceRoutes(router: router, sessionValidator: sessionValidator, peersAreIdentified: curve != nil)
        if curve == nil {
            logger.warning("plaintext: the methods meant for peer services cannot tell them from other callers")
        }
        registerCommonMethods(routes, definition: definition, health: databaseHealth.health, metrics: metrics)
        if configuration.enableTestMethods {
            logger.warning("test methods enabled (SVX_ENABLE_TEST_METHODS=1): never in production")
            TestMethods.register(routes, schema: definition.name)
        }
        if let audit = definition.audit { audit.register(routes) }
        definition.routes(routes)
        metrics.recognize(methods: router.methods)

        let databaseURL = configuration.databaseURL
        let server = RPCServer<ServiceWorker>(
            configuration: RPCServerConfiguration(
                endpoint: configuration.endpoint, workerCount: configuration.workers,
                maxMessageBytes: configuration.maxMessageBytes, queueCapacity: configuration.queueCapacity,
                queueBytes: configuration.queueBytes,
                defaultTimeout: configuration.defaultTimeout, threadName: definition.name, curve: curve),
            router: router, logger: logger, observer: metrics,
            makeWorker: { index in
                var workerLogger = logger
                workerLogger[metadataKey: "worker"] = "\(index)"
                return ServiceWorker(index: index, database: try PostgresConnection(conninfo: databaseURL, logger: workerLogger))
            })

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: RPCServerService(server: server, logger: logger)),
            .init(service: databaseHealth),
        ]
        if let audit = definition.audit {
            if !audit.isEnabled {
                logger.warning("audit trail off (\(AuditTrail.offSwitchVariable)=1 with test methods): benchmarks only, never in production")
            }
            services.append(.init(service: AuditRetentionService(
                trail: audit, retentionDays: configuration.auditRetentionDays, databaseURL: databaseURL, logger: logger)))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// Connects, retrying until the configured timeout: PostgreSQL may still be starting.
    static func connect(_ configuration: ServiceConfiguration, logger: Logger) async throws -> PostgresConnection {
        let deadline = ContinuousClock.now + configuration.databaseConnectTimeout
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try PostgresConnection(conninfo: configuration.databaseURL, logger: logger)
            } catch {
                if ContinuousClock.now >= deadline { throw error }
                if attempt == 1 { logger.notice("waiting for the database", metadata: ["error": "\(error)"]) }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    static func registerCommonMethods(
        _ routes: ServiceRoutes, definition: ServiceDefinition, health: DatabaseHealth, metrics: RequestMetrics
    ) {
        let name = definition.name, version = definition.version
        // Inline: reads an atomic flag kept by DatabaseHealthMonitor, so it answers even when every worker is busy.
        routes.registerInline(HealthRPC.check) { _, _ in
            var response = Svx_Rpc_V1_HealthCheckResponse()
            response.status = health.isHealthy ? .serving : .notServing
            response.service = name
            response.version = version
            return response
        }
        routes.register(MetricsRPC.scrape) { _, _, _ in
            var response = Svx_Rpc_V1_MetricsScrapeResponse()
            response.text = metrics.render()
            return response
        }
    }
}

/// Runs the RPC server under swift-service-lifecycle: a graceful shutdown (SIGTERM/SIGINT) stops
/// accepting, lets in-flight and queued requests finish and be answered, then returns.
struct RPCServerService: Service {
    let server: RPCServer<ServiceWorker>
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await server.run()
        } onGracefulShutdown: { [server, logger] in
            logger.info("graceful shutdown: draining in-flight requests")
            server.shutdown()
        }
    }
}
