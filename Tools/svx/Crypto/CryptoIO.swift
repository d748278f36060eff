import ArgumentParser
import Cryppo
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum CryptoIO {
    /// Bytes of DATA: the argument's UTF-8, or stdin when the argument is absent or `-`; or the file given.
    static func input(argument: String?, file: String?) throws -> [UInt8] {
        if let file {
            guard argument == nil else { throw ValidationError("give DATA or --input, not both") }
            do {
                return [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            } catch {
                throw CLIError("cannot read \(file): \(error.localizedDescription)")
            }
        }
        if let argument, argument != "-" { return Array(argument.utf8) }
        return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
    }

    /// A Cryppo string from the argument or stdin, surrounding whitespace removed.
    static func string(argument: String?) throws -> String {
        let bytes = try input(argument: argument, file: nil)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("input is not UTF-8 text") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The AES-256 key that `--key` points to (URL-safe base64, surrounding whitespace ignored).
    static func symmetricKey(from option: String) throws -> SymmetricKey {
        let text = try SecretSource(option: "key", value: option, what: "key").read(what: "key")
        return try SymmetricKey(base64URL: text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    static func readText(file: String) throws -> String {
        do {
            return try String(contentsOf: URL(fileURLWithPath: file), encoding: .utf8)
        } catch {
            throw CLIError("cannot read \(file): \(error.localizedDescription)")
        }
    }

    /// Writes `text` to `path` with `mode` from the first byte, never through a symlink and never in place: a new
    /// temporary file in the same directory (created exclusively, `O_NOFOLLOW`), flushed, then given the name.
    /// Without `force` the name must be free (`link(2)` refuses anything there, a dangling symlink included); with
    /// `force` `rename(2)` replaces whatever is there (a symlink itself, not its target), and a reader of the old
    /// file keeps the old file. The bytes written are wiped from memory afterwards.
    static func writeFile(_ text: String, to path: String, mode: mode_t, force: Bool) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = "\(directory)/.\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: .min ... .max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CLIError("cannot write in \(directory): \(errorText())") }
        var bytes = Array(text.utf8)
        defer { secureZero(&bytes) }
        var failure: String?
        if fchmod(fd, mode) != 0 { failure = errorText() }  // whatever the umask
        var written = 0
        while failure == nil && written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { failure = errorText() } else { written += n }
        }
        if failure == nil && fsync(fd) != 0 { failure = errorText() }
        close(fd)
        if failure == nil {
            if force {
                if rename(temporary, path) != 0 { failure = errorText() }
            } else if link(temporary, path) != 0 {
                let reason = errno == EEXIST ? "\(path) exists (use --force to overwrite)" : "cannot write \(path): \(errorText())"
                unlink(temporary)
                throw CLIError(reason)
            }
        }
        if let failure {
            unlink(temporary)
            throw CLIError("cannot write \(path): \(failure)")
        }
        if !force { unlink(temporary) }
    }

    /// Refuses early (before a slow key generation) when `path` exists and may not be replaced; ``writeFile`` checks
    /// again when it writes.
    static func refuseExisting(_ path: String, force: Bool) throws {
        var info = stat()
        if !force && lstat(path, &info) == 0 { throw CLIError("\(path) exists (use --force to overwrite)") }
    }

    private static func errorText() -> String { String(cString: strerror(errno)) }

    /// Runs `body`, turning Cryppo errors into clean CLI errors.
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CryppoError {
            throw CLIError(error.message)
        }
    }
}
