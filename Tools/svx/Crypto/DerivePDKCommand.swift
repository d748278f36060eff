import ArgumentParser
import Cryppo

/// `svx crypto derive-pdk --secret S`: the Passphrase Derived Key for a Secret Key.
struct DerivePDKCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "derive-pdk",
        abstract: "Derive the PDK (URL-safe base64) from a Secret Key and a passphrase.",
        discussion: "The passphrase is read with a no-echo prompt on a terminal, else from the first line of stdin.")

    @Option(help: "The Secret Key, 1.<username>.<key>.") var secret: String
    @Flag(name: .customLong("srp-password"), help: "Also print the SRP password (hex) on a second line.")
    var srpPassword = false

    func run() throws {
        let secretKey = try CryptoIO.run { try SecretKey(parsing: secret) }
        let passphrase = try Terminal.passphrase(prompt: "Passphrase: ")
        try CryptoIO.run {
            Terminal.printLine(try secretKey.passphraseDerivedKey(passphrase: passphrase).base64URL)
            if srpPassword { Terminal.printLine(Hex.encode(try secretKey.srpPassword(passphrase: passphrase))) }
        }
    }
}
