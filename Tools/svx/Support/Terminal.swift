import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A user-facing failure: printed as `Error: <message>` on stderr by ArgumentParser, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Standard streams and the terminal, for every `svx` command.
enum Terminal {
    /// Raw bytes to stdout.
    static func writeStdout(_ bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }

    /// A line to stdout.
    static func printLine(_ text: String) {
        writeStdout(Array((text + "\n").utf8))
    }

    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Reads a passphrase: a no-echo prompt on the terminal, or the first line of stdin when not a TTY.
    static func passphrase(prompt: String) throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            FileHandle.standardError.write(Data(prompt.utf8))
            var old = termios()
            tcgetattr(STDIN_FILENO, &old)
            var noEcho = old
            noEcho.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &noEcho)
            defer {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &old)
                FileHandle.standardError.write(Data("\n".utf8))
            }
            guard let line = readLine(strippingNewline: true) else { throw CLIError("no passphrase given") }
            return line
        }
        let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("passphrase is not UTF-8") }
        var line = Substring(text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        if line.hasSuffix("\r") { line = line.dropLast() }
        return String(line)
    }
}
