import ArgumentParser
import Cryppo

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
            Terminal.printLine(try Cryppo.sign(bytes, privateKey: key))
        }
    }
}
