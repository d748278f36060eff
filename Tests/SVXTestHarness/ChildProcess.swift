import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with posix_spawn and reaped with waitpid under bounded loops.
///
/// Not Foundation's `Process`: its exit is observed by a monitoring thread we do not control (a
/// test run once hung waiting for it), while here every wait has a deadline and the pid is ours.
public final class ChildProcess: @unchecked Sendable {  // state guarded by `lock`
    public let pid: pid_t
    public let executable: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` with `arguments` and `environment`; stdin is /dev/null, stdout goes to `outputFile`
    /// (created or truncated), stderr to `errorFile`, or to `outputFile` too when it is nil.
    public init(
        executable: String, arguments: [String] = [], environment: [String: String], outputFile: URL,
        errorFile: URL? = nil
    ) throws {
        self.executable = executable
        let outputFD = open(outputFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard outputFD >= 0 else { throw HarnessError("cannot create \(outputFile.path)") }
        defer { close(outputFD) }
        var errorFD = outputFD
        if let errorFile {
            errorFD = open(errorFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard errorFD >= 0 else { throw HarnessError("cannot create \(errorFile.path)") }
        }
        defer { if errorFD != outputFD { close(errorFD) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, errorFD, 2)

        // A clean signal state: the test process's threads may block signals the child relies on (SIGTERM).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptySet = sigset_t()
        sigemptyset(&emptySet)
        posix_spawnattr_setsigmask(&attributes, &emptySet)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else { throw HarnessError("cannot run \(executable): errno \(spawned)") }
        self.pid = pid
    }

    deinit { kill() }

    /// The exit status once the child has exited (128 + signal when a signal ended it), else nil.
    public var status: Int32? {
        lock.withLock {
            if let exitStatus { return exitStatus }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            guard result == pid else { return nil }
            let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)  // WIFEXITED/WEXITSTATUS by hand
            exitStatus = code
            return code
        }
    }

    public var isRunning: Bool { status == nil }

    /// Waits (bounded) for the child to exit; returns its status, or nil if it is still running.
    @discardableResult
    public func waitForExit(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(5_000)
        }
    }

    /// Sends `signal` to the child if it is still running.
    public func signal(_ signal: Int32) {
        if isRunning { Glibc.kill(pid, signal) }
    }

    /// SIGKILL and reap.
    public func kill() {
        guard isRunning else { return }
        Glibc.kill(pid, SIGKILL)
        waitForExit(timeout: .seconds(10))
    }

    /// ``run(_:_:environment:timeout:)`` from async code: the wait happens on a thread of its own, not on the
    /// cooperative pool every test shares (``offCooperativePool(_:)``); a command can run for minutes.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(30)
    ) async throws -> (status: Int32, output: String) {
        try await offCooperativePool { try run(executable, arguments, environment: environment, timeout: timeout) }
    }

    /// ``runSeparately(_:_:environment:timeout:)`` from async code, off the cooperative pool like
    /// ``run(_:_:environment:timeout:)``.
    public static func runSeparately(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(30)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await offCooperativePool { try runSeparately(executable, arguments, environment: environment, timeout: timeout) }
    }

    /// Runs a short-lived command to completion (bounded; killed past `timeout`) and returns its
    /// status and combined output. Blocks: async code calls the async overload.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(30)
    ) throws -> (status: Int32, output: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("svx-cmd-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        let child = try ChildProcess(executable: executable, arguments: arguments, environment: environment, outputFile: output)
        guard let status = child.waitForExit(timeout: timeout) else {
            child.kill()
            throw HarnessError("\(executable) did not finish within \(timeout)")
        }
        return (status, (try? String(contentsOf: output, encoding: .utf8)) ?? "")
    }

    /// The same with stdout and stderr apart (for commands whose stdout is JSON and stderr shows progress).
    public static func runSeparately(
        _ executable: String, _ arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
        timeout: Duration = .seconds(30)
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("svx-cmd-\(UUID().uuidString)")
        let output = base.appendingPathExtension("out"), errors = base.appendingPathExtension("err")
        defer {
            try? FileManager.default.removeItem(at: output)
            try? FileManager.default.removeItem(at: errors)
        }
        let child = try ChildProcess(
            executable: executable, arguments: arguments, environment: environment, outputFile: output, errorFile: errors)
        guard let status = child.waitForExit(timeout: timeout) else {
            child.kill()
            throw HarnessError("\(executable) did not finish within \(timeout)")
        }
        return (
            status, (try? String(contentsOf: output, encoding: .utf8)) ?? "",
            (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        )
    }
}
