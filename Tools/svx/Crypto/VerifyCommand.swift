import ArgumentParser
import Cryppo

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
            Terminal.printError("Error: \(error)")
            throw ExitCode(2)
        }
        guard let data else {
            Terminal.printError("invalid signature")
            throw ExitCode(1)
        }
        if printData { Terminal.writeStdout(data) }
    }
}
