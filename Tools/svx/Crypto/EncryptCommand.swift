import ArgumentParser
import Cryppo

/// `svx crypto encrypt`: to a Cryppo string with a key, a passphrase or an RSA public key.
struct EncryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt DATA to a Cryppo string.",
        discussion: """
            Exactly one of --key, --passphrase, --public-key. The key and the passphrase are never given on the \
            command line: say where they are (env:NAME, file:PATH or prompt). A passphrase string uses at least \
            600 000 PBKDF2 iterations.
            """)

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Where the AES-256 key is (URL-safe base64 of 32 bytes): env:NAME, file:PATH or prompt.", valueName: "source"))
    var key: String?
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Where the passphrase is (PBKDF2-derived key; 5-part string): env:NAME, file:PATH or prompt.", valueName: "source"))
    var passphrase: String?
    @Option(name: .customLong("public-key"), help: "RSA public key PEM file (Rsa4096 OAEP).") var publicKey: String?
    @Option(name: .customLong("input"), help: "Read DATA from this file.") var inputFile: String?
    @Argument(help: "The data; `-` or absent reads stdin.") var data: String?

    func validate() throws {
        guard [key, passphrase, publicKey].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --key, --passphrase, --public-key")
        }
        if let key { _ = try SecretSource(option: "key", value: key, what: "key") }
        if let passphrase { _ = try SecretSource(option: "passphrase", value: passphrase, what: "passphrase") }
    }

    func run() throws {
        let plaintext = try CryptoIO.input(argument: data, file: inputFile)
        try CryptoIO.run {
            if let key {
                Terminal.printLine(try Cryppo.encrypt(plaintext, key: try CryptoIO.symmetricKey(from: key)))
            } else if let passphrase {
                let source = try SecretSource(option: "passphrase", value: passphrase, what: "passphrase")
                Terminal.printLine(try Cryppo.encrypt(plaintext, passphrase: try source.read(what: "passphrase")))
            } else if let publicKey {
                let pem = try RSAPublicKey(pem: try CryptoIO.readText(file: publicKey))
                Terminal.printLine(try Cryppo.encrypt(plaintext, publicKey: pem))
            }
        }
    }
}
