import ArgumentParser
import Cryppo

/// `svx crypto genkeypair`: an RSA-4096 keypair written as PEM files.
struct GenKeyPairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkeypair", abstract: "Generate an RSA-4096 keypair (PKCS#1 private PEM, SPKI public PEM).")

    @Option(name: .customLong("private-key"), help: "Where to write the private key PEM (mode 0600).") var privateKey: String
    @Option(name: .customLong("public-key"), help: "Where to write the public key PEM.") var publicKey: String
    @Flag(help: "Overwrite existing files.") var force = false

    func run() throws {
        try CryptoIO.run {
            let key = try RSAPrivateKey.generate(bits: 4096)
            try CryptoIO.writeFile(try key.pem, to: privateKey, mode: 0o600, force: force)
            try CryptoIO.writeFile(try key.publicKeyPEM, to: publicKey, mode: 0o644, force: force)
        }
    }
}

/// `svx crypto sign`: `Sign.Rsa4096.…` of DATA.
struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign DATA (RSASSA-PKCS1-v1_5 SHA-256) and print the Cryppo signature string.")

    @Option(name: .customLong("private-key"), help: "RSA private key PEM file.") var privateKey: String
    @Option(name: .customLong("input"), help: "Read DATA from this file.") var inputFile: String?
    @Argument(help: "The data; `-` or absent reads stdin.") var data: String?

    func run() throws {
        let bytes = try CryptoIO.input(argument: data, file: inputFile)
        try CryptoIO.run {
            let key = try RSAPrivateKey(pem: try CryptoIO.readText(file: privateKey))
            CryptoIO.printLine(try Cryppo.sign(bytes, privateKey: key))
        }
    }
}

/// `svx crypto verify`: exit 0 when the signature is valid, 1 when invalid, 2 on any error.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify a Cryppo signature STRING: exit 0 valid, 1 invalid, 2 error.")

    @Option(name: .customLong("public-key"), help: "RSA public key PEM file.") var publicKey: String
    @Flag(name: .customLong("print-data"), help: "On success, write the signed data to stdout (raw bytes).")
    var printData = false
    @Argument(help: "The signature string; `-` or absent reads stdin.") var string: String?

    func run() throws {
        let data: [UInt8]?
        do {
            let text = try CryptoIO.string(argument: string)
            data = try CryptoIO.run {
                try Cryppo.verify(text, publicKey: try RSAPublicKey(pem: try CryptoIO.readText(file: publicKey)))
            }
        } catch {
            CryptoIO.printError("Error: \(error)")
            throw ExitCode(2)
        }
        guard let data else {
            CryptoIO.printError("invalid signature")
            throw ExitCode(1)
        }
        if printData { CryptoIO.writeStdout(data) }
    }
}

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
        let passphrase = try CryptoIO.passphrase(prompt: "Passphrase: ")
        try CryptoIO.run {
            CryptoIO.printLine(try secretKey.passphraseDerivedKey(passphrase: passphrase).base64URL)
            if srpPassword { CryptoIO.printLine(Hex.encode(try secretKey.srpPassword(passphrase: passphrase))) }
        }
    }
}
