import Foundation
import SVXClient

#if canImport(Glibc)
    import Glibc
#endif

/// What the command line keeps between runs, in one directory readable by its owner only:
/// `$SVX_HOME`, else `$XDG_CONFIG_HOME/svx`, else `~/.config/svx` (mode 0700).
///
/// - `session.json` (0600): the current session, including its bearer token. Removed by `svx logout`.
/// - `recovery.json` (0600): the RECOVERY session of a recovery started here, until `svx recovery complete`.
/// - `secret-key` (0600): the Secret Key, ONLY when the user asked for it with `--remember-secret-key`.
///   By default svx does not keep it: it is one of the two factors, and a copy on disk is one more
///   place to lose it from. Without it, `svx login` asks for it.
/// - `audit.json` (0600): the audit heads `svx audit verify` (and `checkpoint`) verified last, per user and service;
///   the next verification checks that they are still in the chains.
struct ClientState {
    let directory: URL

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let home = environment["SVX_HOME"], !home.isEmpty {
            directory = URL(fileURLWithPath: home, isDirectory: true)
        } else if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty {
            directory = URL(fileURLWithPath: config, isDirectory: true).appendingPathComponent("svx", isDirectory: true)
        } else {
            directory = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".config/svx", isDirectory: true)
        }
    }

    var sessionFile: URL { directory.appendingPathComponent("session.json") }
    /// The RECOVERY session of a recovery started on this device (`svx recovery start`), until it is completed.
    var recoveryFile: URL { directory.appendingPathComponent("recovery.json") }
    var secretKeyFile: URL { directory.appendingPathComponent("secret-key") }
    /// The audit heads verified last on this device (`svx audit verify`).
    var auditHeadsFile: URL { directory.appendingPathComponent("audit.json") }

    func loadSession() throws -> AuthenticatedSession {
        guard let data = try? Data(contentsOf: sessionFile) else {
            throw CLIError("not logged in (run `svx login`)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(AuthenticatedSession.self, from: data)
        } catch {
            throw CLIError("\(sessionFile.path) is unreadable; run `svx login` again")
        }
    }

    func saveSession(_ session: AuthenticatedSession) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writePrivate(try encoder.encode(session), to: sessionFile)
    }

    func removeSession() throws {
        guard unlink(sessionFile.path) == 0 || errno == ENOENT else {
            throw CLIError("cannot remove \(sessionFile.path): \(String(cString: strerror(errno)))")
        }
    }

    func loadRecovery() throws -> RecoverySession {
        guard let data = try? Data(contentsOf: recoveryFile) else {
            throw CLIError("no recovery started here (run `svx recovery start`)")
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(RecoverySession.self, from: data)
        } catch {
            throw CLIError("\(recoveryFile.path) is unreadable; run `svx recovery start` again")
        }
    }

    func saveRecovery(_ recovery: RecoverySession) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writePrivate(try encoder.encode(recovery), to: recoveryFile)
    }

    func removeRecovery() throws {
        guard unlink(recoveryFile.path) == 0 || errno == ENOENT else {
            throw CLIError("cannot remove \(recoveryFile.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The audit heads verified last here (none when the file does not exist yet; an unreadable file is an error, not
    /// a fresh start: a verification without its heads would accept a rewritten history).
    func loadAuditHeads() throws -> StoredAuditHeads {
        let data: Data
        do {
            data = try Data(contentsOf: auditHeadsFile)
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            return StoredAuditHeads()
        } catch {
            throw CLIError("cannot read \(auditHeadsFile.path): \(error.localizedDescription)")
        }
        do {
            return try StoredAuditHeads(decoding: data)
        } catch {
            throw CLIError("\(auditHeadsFile.path) is unreadable (\(error)); move it away to start verifying afresh")
        }
    }

    func saveAuditHeads(_ heads: StoredAuditHeads) throws { try writePrivate(try heads.encoded(), to: auditHeadsFile) }

    func rememberedSecretKey() -> String? {
        (try? String(contentsOf: secretKeyFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func rememberSecretKey(_ text: String) throws { try writePrivate(Data((text + "\n").utf8), to: secretKeyFile) }

    /// Writes `data` to `file` with mode 0600 from the first byte (a new temporary file in the same
    /// directory, created exclusively and never through a symlink, then an atomic rename), inside a
    /// directory that must be the user's own, mode 0700.
    private func writePrivate(_ data: Data, to file: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try checkPrivateDirectory()
        let temporary = directory.appendingPathComponent(".\(file.lastPathComponent).\(getpid()).tmp")
        unlink(temporary.path)  // a leftover of a crashed run; O_EXCL below refuses anything that reappears
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError("cannot write \(temporary.path): \(String(cString: strerror(errno)))") }
        fchmod(fd, 0o600)  // whatever the umask
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == data.count, synced == 0, rename(temporary.path, file.path) == 0 else {
            unlink(temporary.path)
            throw CLIError("cannot write \(file.path): \(String(cString: strerror(errno)))")
        }
    }

    /// The state directory must be a real directory (not a symlink) owned by this user; it is made 0700.
    private func checkPrivateDirectory() throws {
        var info = stat()
        guard lstat(directory.path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw CLIError("\(directory.path) is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw CLIError("\(directory.path) belongs to another user: refusing to keep a session there (set SVX_HOME)")
        }
        guard chmod(directory.path, 0o700) == 0 else {
            throw CLIError("cannot make \(directory.path) private: \(String(cString: strerror(errno)))")
        }
    }
}
