import ArgumentParser
import Cryppo

/// `svx crypto genkey`: a random AES-256 key as URL-safe base64.
struct GenKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "genkey", abstract: "Print a new random 32-byte key (URL-safe base64).")

    func run() throws {
        try CryptoIO.run { Terminal.printLine(try SymmetricKey.random().base64URL) }
    }
}
