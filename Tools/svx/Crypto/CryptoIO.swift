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

    static func readText(file: String) throws -> String {
        do {
            return try String(contentsOf: URL(fileURLWithPath: file), encoding: .utf8)
        } catch {
            throw CLIError("cannot read \(file): \(error.localizedDescription)")
        }
    }

    /// Creates `path` with `mode` from the start (a private key is never readable by others, even briefly);
    /// refuses to replace an existing file unless `force`.
    static func writeFile(_ text: String, to path: String, mode: mode_t, force: Bool) throws {
        let flags = O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL)
        let fd = open(path, flags, mode)
        guard fd >= 0 else {
            if errno == EEXIST { throw CLIError("\(path) exists (use --force to overwrite)") }
            throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        if force { fchmod(fd, mode) }
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
    }

    /// Runs `body`, turning Cryppo errors into clean CLI errors.
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CryppoError {
            throw CLIError(error.message)
        }
    }
}
