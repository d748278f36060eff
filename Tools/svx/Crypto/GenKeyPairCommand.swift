import ArgumentParser
import Cryppo

/// `svx crypto genkeypair`: an RSA-4096 keypair written as PEM files.
struct GenKeyPairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkeypair", abstract: "Generate an RSA-4096 keypair (PKCS#1 private PEM, SPKI public PEM).")

    @Option(name: .customLong("private-key"), help: "Where to write the private key PEM (mode 0600; never through a symlink).")
    var privateKey: String
    @Option(name: .customLong("public-key"), help: "Where to write the public key PEM.") var publicKey: String
    @Flag(help: "Replace existing files (a symlink there is replaced, not followed).") var force = false

    func run() throws {
        try CryptoIO.refuseExisting(privateKey, force: force)
        try CryptoIO.refuseExisting(publicKey, force: force)
        try CryptoIO.run {
            let key = try RSAPrivateKey.generate(bits: 4096)
            try CryptoIO.writeFile(try key.pem, to: privateKey, mode: 0o600, force: force)
            try CryptoIO.writeFile(try key.publicKeyPEM, to: publicKey, mode: 0o644, force: force)
        }
    }
}
