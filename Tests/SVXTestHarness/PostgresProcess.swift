import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Small bounded process helpers for the PostgreSQL harness.
enum PostgresProcess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct Outcome {
        let status: Int32
        let output: String
    }

    /// Runs `executable` with `arguments`, as the `postgres` user when this process is root (initdb and the server
    /// refuse to run as root), in `directory`, killing it after `timeout` seconds.
    ///
    /// Through ``ChildProcess`` (posix_spawn + waitpid under a bounded loop), with output to a file: a server forked
    /// by pg_ctl must never hold a pipe of ours open.
    static func run(
        _ executable: String, _ arguments: [String], in directory: URL, timeout: TimeInterval
    ) throws -> Outcome {
        // sh changes to `directory` (readable by postgres) and execs the command: $0 is the directory, "$@" the command.
        let command = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory.path, executable] + arguments
        let argv = (geteuid() == 0 ? [runuserPath(), "-u", "postgres", "--"] : []) + command
        do {
            let (status, output) = try ChildProcess.run(argv[0], Array(argv.dropFirst()), timeout: .seconds(timeout))
            return Outcome(status: status, output: output)
        } catch let error as HarnessError {
            throw Failure(description: "\((executable as NSString).lastPathComponent): \(error)")
        }
    }

    static func runuserPath() -> String {
        for candidate in ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "runuser"
    }

    /// uid/gid of the `postgres` user, when it exists.
    static func postgresUser() -> (uid: uid_t, gid: gid_t)? {
        guard let entry = getpwnam("postgres") else { return nil }
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago.
    static func freeLoopbackPort() throws -> Int {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure(description: "socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw Failure(description: "bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw Failure(description: "getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether process `pid` exists and is not a zombie.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        {
            let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
            return state != "Z"
        }
        return true
    }

    /// Sends SIGINT (PostgreSQL's fast shutdown) to `pid`, waits up to `timeout` seconds, then SIGKILL.
    /// Async-signal-unsafe work is avoided so that it can run from an atexit handler.
    static func stopServer(pid: pid_t, timeout: TimeInterval) {
        guard isAlive(pid) else { return }
        kill(pid, SIGINT)
        let deadline = Date().addingTimeInterval(timeout)
        while isAlive(pid) && Date() < deadline { usleep(20_000) }
        if isAlive(pid) {
            kill(pid, SIGKILL)
            let killDeadline = Date().addingTimeInterval(5)
            while isAlive(pid) && Date() < killDeadline { usleep(20_000) }
        }
    }
}
