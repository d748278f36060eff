import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// A real svx service process for a test: started from the built executable with its own
/// environment, on a free loopback port, and stopped by its pid (SIGTERM, then SIGKILL after a
/// bounded wait). A process still running when the value is released is killed.
public final class ServiceProcess: @unchecked Sendable {  // used from one test at a time
    public let name: String
    public let endpoint: String
    public let logFile: URL
    /// How its socket is secured (``TestTransport``, unless the test's environment for it said otherwise).
    public let transport: TransportSecurity
    private let process: ChildProcess

    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }

    /// The directory holding the built executables: `SVX_BIN_DIR`, else the directory of this test
    /// binary (`swift build --build-tests` puts the executables beside it).
    public static func binaryDirectory() throws -> URL {
        var candidates: [URL] = []
        if let dir = ProcessInfo.processInfo.environment["SVX_BIN_DIR"] { candidates.append(URL(fileURLWithPath: dir)) }
        candidates.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug"))
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("svx-auth").path) {
            return candidate
        }
        throw HarnessError("no built svx-auth in \(candidates.map(\.path)); run `swift build --build-tests` first")
    }

    /// Starts `svx-<name>` against `databaseURL` and waits until it answers Health SERVING. `port`: a port
    /// chosen beforehand (when another service must know the endpoint first), else a free one. `attempts`: how many
    /// times to try (a free port can be taken between the probe and the bind; without `port` each attempt probes
    /// another).
    public static func start(
        _ name: String, databaseURL: String, environment extra: [String: String] = [:], port chosen: Int? = nil,
        healthyWithin timeout: Duration = .seconds(30), attempts: Int = 3
    ) async throws -> ServiceProcess {
        var lastError: (any Error)?
        for _ in 0..<max(1, attempts) {
            let port = try chosen ?? freeLoopbackPort()
            let service = try ServiceProcess(name: name, port: port, databaseURL: databaseURL, environment: extra)
            do {
                try await service.waitUntilHealthy(timeout: timeout)
                return service
            } catch {
                lastError = error
                service.kill()
            }
        }
        throw lastError ?? HarnessError("svx-\(name) did not start")
    }

    private init(name: String, port: Int, databaseURL: String, environment extra: [String: String]) throws {
        self.name = name
        self.endpoint = "tcp://127.0.0.1:\(port)"
        let upper = name.uppercased()
        var environment = ProcessInfo.processInfo.environment
        environment["SVX_\(upper)_ENDPOINT"] = endpoint
        environment["SVX_\(upper)_DATABASE_URL"] = databaseURL
        environment["SVX_WORKERS"] = environment["SVX_WORKERS"] ?? "4"
        environment["SVX_LOG_LEVEL"] = "info"
        environment["SVX_DATABASE_CONNECT_TIMEOUT_MS"] = "10000"
        environment.merge(TestTransport.environment) { _, new in new }
        environment.merge(extra) { _, new in new }
        // What the service reads, as a client reads it (a malformed setting a test gives shows in the service's exit).
        transport = (try? TransportSecurity.fromEnvironment(environment)) ?? TestTransport.security
        TestTransport.started(name, at: endpoint, secured: transport.mode == .curve)

        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("svx-test-logs", isDirectory: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        logFile = logs.appendingPathComponent("svx-\(name)-\(port)-\(UUID().uuidString.prefix(8)).log")
        process = try ChildProcess(
            executable: try Self.binaryDirectory().appendingPathComponent("svx-\(name)").path,
            environment: environment, outputFile: logFile)
    }


    /// Polls Health/Check until this service (by name) answers SERVING; fails early if the process exits. The name
    /// matters: when two services start at once, the free port probed for one may be bound by the other first, and
    /// that one's SERVING must not pass for this one's (the retry in ``start`` then picks another port).
    public func waitUntilHealthy(timeout: Duration = .seconds(30)) async throws {
        let client = try self.client()
        defer { client.close() }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let status = process.status {
                throw HarnessError("svx-\(name) exited with \(status); log:\n\(log())")
            }
            if let health = try? await client.call(HealthRPC.check, .init(), timeout: .milliseconds(500)),
               health.status == .serving {
                guard health.service == name else {
                    throw HarnessError("svx-\(name) expected at \(endpoint), but svx-\(health.service) answers there")
                }
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("svx-\(name) not healthy within \(timeout); log:\n\(log())")
    }

    /// A new client of this service, as a user's (a throwaway key, this service's public key pinned over CURVE).
    public func client(configuration: RPCClientConfiguration = .init()) throws -> RPCClient {
        try RPCClient(service: name, endpoint: endpoint, transport: transport, configuration: configuration)
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the exit status, or nil when it had
    /// to be killed.
    @discardableResult
    public func stop(timeout: Duration = .seconds(10)) -> Int32? {
        if let status = process.status { return status }
        process.signal(SIGTERM)
        if let status = process.waitForExit(timeout: timeout) { return status }
        process.kill()
        return nil
    }

    /// SIGKILL, as a crash would.
    public func kill() { process.kill() }

    /// The exit status once the process has exited.
    public var exitStatus: Int32? { process.status }

    /// What the process wrote to stdout and stderr so far.
    public func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
}

/// A loopback TCP port free at the time of the call.
public func freeLoopbackPort() throws -> Int { try PostgresProcess.freeLoopbackPort() }

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
