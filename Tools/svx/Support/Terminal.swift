import Cryppo
import Foundation
import SVXClient
import Synchronization

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
        try passphrases(prompts: [prompt])[0]
    }

    /// Reads several passphrases: one no-echo prompt each on the terminal, or the first lines of stdin (one each)
    /// when not a TTY.
    static func passphrases(prompts: [String]) throws -> [String] {
        if isatty(STDIN_FILENO) == 1 { return try prompts.map(prompted) }
        let bytes = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CLIError("passphrase is not UTF-8") }
        let lines = text.split(separator: "\n", maxSplits: prompts.count, omittingEmptySubsequences: false)
        return prompts.indices.map { index in
            var line = index < lines.count ? lines[index] : ""
            if line.hasSuffix("\r") { line = line.dropLast() }
            return String(line)
        }
    }

    /// Reads one line with a no-echo prompt on the controlling terminal (/dev/tty), whatever stdin and stderr are:
    /// for secrets while stdin carries data. No terminal is an error.
    static func promptOnTerminal(_ prompt: String) throws -> String {
        let tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard tty >= 0 else { throw CLIError("no terminal to prompt on: give env:NAME or file:PATH instead of prompt") }
        defer { close(tty) }
        func put(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { write(tty, $0.baseAddress, $0.count) } }
        put(prompt)
        var old = termios()
        let canHide = tcgetattr(tty, &old) == 0
        if canHide {
            var noEcho = old
            noEcho.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(tty, TCSAFLUSH, &noEcho)
        }
        defer {
            if canHide { tcsetattr(tty, TCSAFLUSH, &old) }
            put("\n")
        }
        var line: [UInt8] = []
        defer { secureZero(&line) }
        var byte: UInt8 = 0
        while line.count <= 64 << 10 {
            let n = read(tty, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        guard let text = String(validating: line, as: UTF8.self) else { throw CLIError("the answer is not UTF-8") }
        return text
    }

    /// A yes/no question on the terminal (stderr prompt, stdin answer): yes unless the answer starts with n or N.
    static func confirm(_ prompt: String) -> Bool {
        FileHandle.standardError.write(Data(prompt.utf8))
        guard let answer = readLine(strippingNewline: true) else { return false }
        return !answer.trimmingCharacters(in: .whitespaces).lowercased().hasPrefix("n")
    }

    private static func prompted(_ prompt: String) throws -> String {
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
}

/// One line on stderr for a slow step (stdout stays for results): the label when it starts, a dot a second on
/// a terminal, and how long it took when it ends.
final class ProgressLine: Sendable {
    private let running = Mutex<(start: ContinuousClock.Instant, ticker: Task<Void, Never>)?>(nil)

    func begin(_ label: String) {
        FileHandle.standardError.write(Data("\(label)...".utf8))
        let ticker = Task {
            guard isatty(STDERR_FILENO) == 1 else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if !Task.isCancelled { FileHandle.standardError.write(Data(".".utf8)) }
            }
        }
        running.withLock { $0 = (ContinuousClock.now, ticker) }
    }

    func end(_ outcome: String = "done") {
        guard let (start, ticker) = running.withLock({ state in defer { state = nil }; return state }) else { return }
        ticker.cancel()
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        FileHandle.standardError.write(Data(" \(outcome) (\(String(format: "%.1f", seconds)) s)\n".utf8))
    }

    /// The SDK's key events as progress lines (the RSA keypair takes seconds to generate).
    var keyringEvents: @Sendable (KeyringProgress) -> Void {
        { [self] event in
            switch event {
            case .generatingKeypair(let bits): begin("Generating your RSA-\(bits) keypair (this takes a few seconds)")
            case .generatingRecoveryKeypair(let bits): begin("Generating your RSA-\(bits) recovery keypair")
            case .keypairGenerated: end()
            case .creatingKEK: Terminal.printError("Creating your key encryption key.")
            case .creatingPrivateDEK: Terminal.printError("Creating your private data key.")
            case .rewrapping(let keys): Terminal.printError("Re-wrapping \(keys) keys under a new key encryption key.")
            }
        }
    }
}
