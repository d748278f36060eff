import Foundation
import SVXProto
import SVXRPC

/// A real svx service process for a test: started from the built executable with its own
/// environment, on a free loopback port, and stopped by its pid (SIGTERM, then SIGKILL after a
/// bounded wait). A process still running when the value is released is killed.
public final class ServiceProcess: @unchecked Sendable {  // used from one test at a time
    public let name: String
    public let endpoint: String
    public let logFile: URL
    private let process: Process

    public var pid: Int32 { process.processIdentifier }
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

    /// Starts `svx-<name>` against `databaseURL` and waits until it answers Health SERVING.
    public static func start(
        _ name: String, databaseURL: String, environment extra: [String: String] = [:],
        healthyWithin timeout: Duration = .seconds(30)
    ) async throws -> ServiceProcess {
        var lastError: (any Error)?
        for _ in 0..<3 {  // a free port can be taken between the probe and the bind: retry on another
            let port = try freeLoopbackPort()
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
        environment.merge(extra) { _, new in new }

        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("svx-test-logs", isDirectory: true)
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        logFile = logs.appendingPathComponent("svx-\(name)-\(port)-\(UUID().uuidString.prefix(8)).log")
        guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
            throw HarnessError("cannot create \(logFile.path)")
        }
        let handle = try FileHandle(forWritingTo: logFile)

        process = Process()
        process.executableURL = try Self.binaryDirectory().appendingPathComponent("svx-\(name)")
        process.environment = environment
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { kill() }

    /// Polls Health/Check until SERVING; fails early if the process exits.
    public func waitUntilHealthy(timeout: Duration = .seconds(30)) async throws {
        let client = try RPCClient(endpoint: endpoint)
        defer { client.close() }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard process.isRunning else {
                throw HarnessError("svx-\(name) exited with \(process.terminationStatus); log:\n\(log())")
            }
            if let health = try? await client.call(HealthRPC.check, .init(), timeout: .milliseconds(500)),
               health.status == .serving {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("svx-\(name) not healthy within \(timeout); log:\n\(log())")
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the exit status, or nil when it had
    /// to be killed.
    @discardableResult
    public func stop(timeout: Duration = .seconds(10)) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        Foundation.kill(pid, SIGTERM)
        if waitForExit(timeout: timeout) { return process.terminationStatus }
        kill()
        return nil
    }

    /// SIGKILL, as a crash would.
    public func kill() {
        guard process.isRunning else { return }
        Foundation.kill(pid, SIGKILL)
        _ = waitForExit(timeout: .seconds(10))
    }

    /// Waits (bounded) for the process to exit; true when it did.
    public func waitForExit(timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        return !process.isRunning
    }

    public var terminationStatus: Int32 { process.terminationStatus }

    /// What the process wrote to stdout and stderr so far.
    public func log() -> String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }
}

/// A loopback TCP port free at the time of the call.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket() failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    guard bound == 0 else { throw HarnessError("bind() failed") }
    let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw HarnessError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
