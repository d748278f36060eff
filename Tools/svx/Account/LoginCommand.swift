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
        let secretKey = try readSecretKey(file: secretKeyFile, state: state)
        let passphrase = try readPassphrase(prompt: "Passphrase: ")
        let account = try options.accountClient()
        let keyring = try options.keyringClient()
        let progress = ProgressLine()
        // The keys are opened (and whatever a half-done sign-up left missing is created) before the session is
        // kept: a login that cannot reach its keys is not a login.
        // What the previous session of this user had seen (the highest KEK version: a lower one is a rollback).
        let previous = try? state.loadSession()
        let credentials = CurrentCredentials(account: account, secretKey: secretKey, passphrase: passphrase)
        let session = try await clientFlow {
            let session = try await credentials.logIn().remembering(previous)
            let pdk = try secretKey.passphraseDerivedKey(passphrase: passphrase)
            do {
                // With the credentials, an account made before KEK checks gets its check now.
                let keys = try await keyring.unlock(
                    session: session, pdk: pdk, credentials: credentials, progress: progress.keyringEvents)
                return session.remembering(kekVersion: keys.kekVersion)
            } catch {
                progress.end("failed")
                try? await account.logOut(session)
                throw error
            }
        }
        try state.saveSession(session)
        if options.json {
            var object: [String: Any] = [
                "username": session.username, "user_id": session.userID, "session_expires_at": session.expiresAt.iso8601,
            ]
            if let pending = session.pendingRecovery { object["pending_recovery"] = pendingJSON(pending) }
            try printJSON(object)
        } else {
            Terminal.printLine("Logged in as \(session.username) until \(session.expiresAt.iso8601).")
        }
        // Someone proved this account's Recovery Key: the owner hears of it at every login until it ends.
        if let pending = session.pendingRecovery { Terminal.printError(pendingWarning(pending)) }
    }
}
