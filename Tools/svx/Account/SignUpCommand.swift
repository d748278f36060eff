import ArgumentParser
import Foundation
import SVXClient

/// `svx signup`: a new account. Prints the Secret Key once.
struct SignUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signup",
        abstract: "Create an account: prints your new Secret Key once and logs you in.",
        discussion: """
            The passphrase comes from $SVX_PASSPHRASE, a no-echo prompt (asked twice), or the first line of stdin.
            Neither the passphrase nor the Secret Key is ever sent to a server.
            """)

    @OptionGroup var options: ClientOptions
    @Flag(help: "Also keep the Secret Key in the svx state directory (mode 0600). By default it is shown once and not stored.")
    var rememberSecretKey = false

    func run() async throws {
        let state = ClientState()
        let passphrase = try readPassphrase(prompt: "Choose a passphrase: ", confirm: true)
        let account = try options.accountClient()
        let signUp: AccountClient.SignUp
        do {
            signUp = try await clientFlow { try await account.signUp(passphrase: passphrase) }
        } catch let incomplete as SignUpLoginFailed {
            // The account exists: its Secret Key must not be lost with this error.
            if rememberSecretKey { try state.rememberSecretKey(incomplete.secretKey) }
            Terminal.printLine("""
                Your account is registered. Your Secret Key (shown only now):

                    \(incomplete.secretKey)

                Write it down and keep it apart from your passphrase.
                """)
            throw CLIError("the first login failed (\(incomplete.underlying)); run `svx login` with this Secret Key")
        }
        try state.saveSession(signUp.session)
        if rememberSecretKey { try state.rememberSecretKey(signUp.secretKey.description) }

        // The key hierarchy (KEK, RSA-4096 keypair, private DEK). If this fails the account still exists and the
        // Secret Key below must not be lost: the next `svx login` creates whatever is missing.
        let keyring = try options.keyringClient()
        let progress = ProgressLine()
        var keysFailure: (any Error)?
        do {
            let pdk = try signUp.secretKey.passphraseDerivedKey(passphrase: passphrase)
            let keys = try await clientFlow {
                try await keyring.unlock(session: signUp.session, pdk: pdk, progress: progress.keyringEvents)
            }
            try state.saveSession(signUp.session.remembering(kekVersion: keys.kekVersion))
        } catch {
            progress.end("failed")
            keysFailure = error
        }

        if options.json {
            try printJSON([
                "username": signUp.session.username, "user_id": signUp.session.userID,
                "secret_key": signUp.secretKey.description, "session_expires_at": signUp.session.expiresAt.iso8601,
                "keys_ready": keysFailure == nil,
            ])
        } else {
            Terminal.printLine("""
                Your Secret Key (shown only now):

                    \(signUp.secretKey.description)

                Write it down and keep it apart from your passphrase. You need both to log in on any device;
                svx cannot recover either, and without them nobody can decrypt your data, svx included.
                \(rememberSecretKey ? "A copy is kept in \(state.secretKeyFile.path) (readable by you only).\n" : "")
                Logged in as \(signUp.session.username) until \(signUp.session.expiresAt.iso8601).
                """)
        }
        if let keysFailure {
            throw CLIError("your account exists but its keys could not be created (\(keysFailure)); run `svx login` to finish")
        }
    }
}
