import ArgumentParser
import Cryppo

/// `svx crypto encrypt`: to a Cryppo string with a key, a passphrase or an RSA public key.
struct EncryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encrypt",
        abstract: "Encrypt DATA to a Cryppo string.",
        discussion: "Exactly one of --key, --passphrase, --public-key.")

    @Option(parsing: .unconditional, help: "AES-256 key, URL-safe base64 of 32 bytes (may start with `-`).") var key: String?
    @Option(parsing: .unconditional, help: "Passphrase (PBKDF2-derived key; 5-part string).") var passphrase: String?
    @Option(name: .customLong("public-key"), help: "RSA public key PEM file (Rsa4096 OAEP).") var publicKey: String?
    @Option(name: .customLong("input"), help: "Read DATA from this file.") var inputFile: String?
    @Argument(help: "The data; `-` or absent reads stdin.") var data: String?

    func validate() throws {
        guard [key, passphrase, publicKey].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --key, --passphrase, --public-key")
        }
    }

    func run() throws {
        let plaintext = try CryptoIO.input(argument: data, file: inputFile)
        try CryptoIO.run {
            if let key {
                Terminal.printLine(try Cryppo.encrypt(plaintext, key: try SymmetricKey(base64URL: key)))
            } else if let passphrase {
                Terminal.printLine(try Cryppo.encrypt(plaintext, passphrase: passphrase))
            } else if let publicKey {
                let pem = try RSAPublicKey(pem: try CryptoIO.readText(file: publicKey))
                Terminal.printLine(try Cryppo.encrypt(plaintext, publicKey: pem))
            }
        }
    }
}
