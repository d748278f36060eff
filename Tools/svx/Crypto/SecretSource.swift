import ArgumentParser
import Cryppo
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where `svx crypto` reads a key, passphrase or Secret Key: never from its own arguments, which every local user
/// can read (`ps`, /proc/PID/cmdline) and shells keep in their history (security review L3).
///
/// - `env:NAME`: the environment variable NAME (the process's environment is readable only by its user and root);
/// - `file:PATH`: the first line of the file at PATH (without its line end); a pipe works, as in
///   `--passphrase file:<(pass show backup)`;
/// - `prompt`: a no-echo prompt on the controlling terminal (/dev/tty), so that stdin stays free for the data.
enum SecretSource: Equatable {
    case environment(String)
    case file(String)
    case prompt

    /// The longest secret file or answer read (a key is 44 characters, a Secret Key under 100).
    static let maximumLength = 64 << 10

    /// Parses the value of `--<option>`. Anything but the three forms is refused without being repeated, since it is
    /// most likely the secret itself.
    init(option: String, value: String, what: String) throws {
        if value.hasPrefix("env:"), value.count > 4 {
            self = .environment(String(value.dropFirst(4)))
        } else if value.hasPrefix("file:"), value.count > 5 {
            self = .file(String(value.dropFirst(5)))
        } else if value == "prompt" {
            self = .prompt
        } else {
            throw ValidationError("""
                --\(option) takes where the \(what) is: env:NAME, file:PATH or prompt. The \(what) itself never goes \
                on the command line, where every local user can read it (ps, /proc) and the shell keeps it.
                """)
        }
    }

    /// Reads the secret; `what` names it in errors and in the prompt.
    func read(what: String) throws -> String {
        switch self {
        case .environment(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw CLIError("$\(name) is not set: it should hold the \(what)")
            }
            return value
        case .file(let path):
            var bytes = try Self.readFirstLine(path: path)
            defer { secureZero(&bytes) }
            guard !bytes.isEmpty else { throw CLIError("\(path) is empty: it should hold the \(what)") }
            guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("the \(what) in \(path) is not UTF-8") }
            return text
        case .prompt:
            let answer = try Terminal.promptOnTerminal("\(what.prefix(1).uppercased())\(what.dropFirst()): ")
            guard !answer.isEmpty else { throw CLIError("no \(what) given") }
            return answer
        }
    }

    /// The bytes of `path` up to its first line end (`\n` or `\r\n`), read with plain read(2) so that pipes and
    /// /dev/fd paths work; at most ``maximumLength`` bytes.
    private static func readFirstLine(path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: maximumLength + 1)
        var count = 0
        while count < bytes.count {
            let n = bytes.withUnsafeMutableBytes { posixRead(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                secureZero(&bytes)
                throw CLIError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 || bytes[count..<(count + n)].contains(UInt8(ascii: "\n")) {
                count += n
                break
            }
            count += n
        }
        var end = bytes[..<count].firstIndex(of: UInt8(ascii: "\n")) ?? count
        guard end <= maximumLength else {
            secureZero(&bytes)
            throw CLIError("the first line of \(path) is longer than \(maximumLength) bytes")
        }
        if end > 0 && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = Array(bytes[..<end])
        secureZero(&bytes)
        return line
    }
}

private func posixRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
