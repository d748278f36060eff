import ArgumentParser
import Cryppo
import Foundation

/// `svx crypto derive-pdk`: the Passphrase Derived Key for a Secret Key.
struct DerivePDKCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "derive-pdk",
        abstract: "Derive the PDK (URL-safe base64) from a Secret Key and a passphrase.",
        discussion: """
            The Secret Key comes from --secret (env:NAME, file:PATH or prompt), else $SVX_SECRET_KEY, else a no-echo \
            prompt on the terminal; never from the command line itself. The passphrase is read with a no-echo prompt \
            on a terminal, else from the first line of stdin.
            """)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Where the Secret Key (1.<username>.<key>) is: env:NAME, file:PATH or prompt.", valueName: "source"))
    var secret: String?
    @Flag(name: .customLong("srp-password"), help: "Also print the SRP password (hex) on a second line.")
    var srpPassword = false

    func validate() throws {
        if let secret { _ = try SecretSource(option: "secret", value: secret, what: "Secret Key") }
    }

    func run() throws {
        let source: SecretSource
        if let secret {
            source = try SecretSource(option: "secret", value: secret, what: "Secret Key")
        } else if let value = ProcessInfo.processInfo.environment["SVX_SECRET_KEY"], !value.isEmpty {
            source = .environment("SVX_SECRET_KEY")
        } else {
            source = .prompt
        }
        let text = try source.read(what: "Secret Key").trimmingCharacters(in: .whitespacesAndNewlines)
        let secretKey = try CryptoIO.run { try SecretKey(parsing: text) }
        let passphrase = try Terminal.passphrase(prompt: "Passphrase: ")
        try CryptoIO.run {
            Terminal.printLine(try secretKey.passphraseDerivedKey(passphrase: passphrase).base64URL)
            if srpPassword { Terminal.printLine(Hex.encode(try secretKey.srpPassword(passphrase: passphrase))) }
        }
    }
}
