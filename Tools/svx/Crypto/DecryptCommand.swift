import ArgumentParser
import Cryppo

/// `svx crypto decrypt`: a Cryppo string back to raw bytes on stdout.
struct DecryptCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decrypt",
        abstract: "Decrypt a Cryppo STRING; the plaintext goes to stdout as raw bytes.",
        discussion: "Exactly one of --key, --passphrase, --private-key.")

    @Option(parsing: .unconditional, help: "AES-256 key, URL-safe base64 of 32 bytes (may start with `-`).") var key: String?
    @Option(parsing: .unconditional, help: "Passphrase of a 5-part (derived-key) string.") var passphrase: String?
    @Option(name: .customLong("private-key"), help: "RSA private key PEM file (PKCS#1).") var privateKey: String?
    @Argument(help: "The Cryppo string; `-` or absent reads stdin.") var string: String?

    func validate() throws {
        guard [key, passphrase, privateKey].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --key, --passphrase, --private-key")
        }
    }

    func run() throws {
        let text = try CryptoIO.string(argument: string)
        let plaintext = try CryptoIO.run { () -> [UInt8] in
            if let key { return try Cryppo.decrypt(text, key: try SymmetricKey(base64URL: key)) }
            if let passphrase { return try Cryppo.decrypt(text, passphrase: passphrase) }
            let pem = try RSAPrivateKey(pem: try CryptoIO.readText(file: privateKey!))
            return try Cryppo.decrypt(text, privateKey: pem)
        }
        Terminal.writeStdout(plaintext)
    }
}
