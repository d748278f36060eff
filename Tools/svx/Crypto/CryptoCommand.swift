import ArgumentParser

/// `svx crypto`: the Cryppo toolbox for people and scripts.
struct CryptoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Cryppo (Meeco-compatible) encryption, keys and signatures.",
        discussion: """
            DATA and STRING may be given as an argument, as `-`, or left out to read stdin.
            Decrypted plaintext is written to stdout as raw bytes. Errors go to stderr with a non-zero exit.
            KEY is the URL-safe base64 of 32 bytes (as printed by `svx crypto genkey`).
            Keys, passphrases and Secret Keys are never arguments: --key, --passphrase and --secret say where they
            are, as env:NAME (an environment variable), file:PATH (the first line of a file or pipe) or prompt (the
            terminal).
            """,
        subcommands: [
            GenKeyCommand.self, EncryptCommand.self, DecryptCommand.self, GenKeyPairCommand.self,
            SignCommand.self, VerifyCommand.self, DerivePDKCommand.self,
        ])
}
