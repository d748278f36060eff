import ArgumentParser
import Cryppo

/// `svx crypto decrypt`: a Cryppo string back to raw bytes on stdout.
struct DecryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a Cryppo STRING; the plaintext goes to stdout as raw bytes.",
        discussion: """
            Exactly one of --key, --passphrase, --private-key. The key and the passphrase are never given on the \
            command line: say where they are (env:NAME, file:PATH or prompt).
            """)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Where the AES-256 key is (URL-safe base64 of 32 bytes): env:NAME, file:PATH or prompt.", valueName: "source"))
    var key: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Where the passphrase of a 5-part (derived-key) string is: env:NAME, file:PATH or prompt.", valueName: "source"))
    var passphrase: String?
    @Option(name: .customLong("private-key"), help: "RSA private key PEM file (PKCS#1).") var privateKey: String?
    @Argument(help: "The Cryppo string; `-` or absent reads stdin.") var string: String?

    func validate() throws {
        guard [key, passphrase, privateKey].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --key, --passphrase, --private-key")
        }
        if let key { _ = try SecretSource(option: "key", value: key, what: "key") }
        if let passphrase { _ = try SecretSource(option: "passphrase", value: passphrase, what: "passphrase") }
    }

    func run() throws {
        let text = try CryptoIO.string(argument: string)
        let plaintext = try CryptoIO.run { () -> [UInt8] in
            if let key { return try Cryppo.decrypt(text, key: try CryptoIO.symmetricKey(from: key)) }
            if let passphrase {
                let source = try SecretSource(option: "passphrase", value: passphrase, what: "passphrase")
                return try Cryppo.decrypt(text, passphrase: try source.read(what: "passphrase"))
            }
            let pem = try RSAPrivateKey(pem: try CryptoIO.readText(file: privateKey!))
            return try Cryppo.decrypt(text, privateKey: pem)
        }
        Terminal.writeStdout(plaintext)
    }
}
