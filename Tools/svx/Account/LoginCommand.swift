import ArgumentParser
import Cryppo
import Foundation
import SVXClient

/// `svx login`: SRP-6a with the Secret Key and the passphrase.
struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login",
        abstract: "Log in with your Secret Key and passphrase.",
        discussion: """
            The Secret Key comes from --secret-key-file, $SVX_SECRET_KEY, the copy kept by `signup --remember-secret-key`,
            or a no-echo prompt. The passphrase from $SVX_PASSPHRASE, a no-echo prompt, or the first line of stdin.
            """)

    @OptionGroup var options: ClientOptions
    @Option(help: "A file holding the Secret Key (1.<username>.<key>).") var secretKeyFile: String?

    func run() async throws {
        let state = ClientState()
        let secretKey = try CryptoIO.run { try SecretKey(parsing: try readSecretKey(state: state)) }
        let passphrase = try readPassphrase(prompt: "Passphrase: ")
        let account = try options.accountClient()
        let session = try await clientFlow { try await account.logIn(secretKey: secretKey, passphrase: passphrase) }
        try state.saveSession(session)
        if options.json {
            try printJSON(["username": session.username, "user_id": session.userID, "session_expires_at": session.expiresAt.iso8601])
        } else {
            Terminal.printLine("Logged in as \(session.username) until \(session.expiresAt.iso8601).")
        }
    }

    private func readSecretKey(state: ClientState) throws -> String {
        if let secretKeyFile { return try CryptoIO.readText(file: secretKeyFile).trimmingCharacters(in: .whitespacesAndNewlines) }
        if let value = ProcessInfo.processInfo.environment["SVX_SECRET_KEY"], !value.isEmpty { return value }
        if let remembered = state.rememberedSecretKey() { return remembered }
        guard isatty(STDIN_FILENO) == 1 else {
            throw CLIError("no Secret Key: give --secret-key-file or $SVX_SECRET_KEY (stdin is not a terminal)")
        }
        return try Terminal.passphrase(prompt: "Secret Key: ").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
