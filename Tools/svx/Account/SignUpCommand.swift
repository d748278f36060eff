import ArgumentParser
import Cryppo
import Foundation
import SVXClient

/// `svx signup`: a new account. Prints the Secret Key once.
struct SignUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signup",
        abstract: "Create an account: prints your new Secret Key once and logs you in.",
        discussion: """
            The passphrase comes from $SVX_PASSPHRASE, a no-echo prompt (asked twice), or the first line of stdin.
            Neither the passphrase nor the Secret Key is ever sent to a server. With --recovery-key (or when you
            answer yes on a terminal) a Recovery Key is made too and shown once (`svx recovery --help`).
            """)

    @OptionGroup var options: ClientOptions
    @Flag(help: "Also keep the Secret Key in the svx state directory (mode 0600). By default it is shown once and not stored.")
    var rememberSecretKey = false
    @Flag(inversion: .prefixedNo, help: "Make a Recovery Key right away (asked on a terminal when neither flag is given).")
    var recoveryKey: Bool?

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
        var keys: UnlockedKeys?
        do {
            let pdk = try signUp.secretKey.passphraseDerivedKey(passphrase: passphrase)
            let unlocked = try await clientFlow {
                try await keyring.unlock(session: signUp.session, pdk: pdk, progress: progress.keyringEvents)
            }
            keys = unlocked
            try state.saveSession(signUp.session.remembering(kekVersion: unlocked.kekVersion))
        } catch {
            progress.end("failed")
            keysFailure = error
        }

        // The Recovery Key: the one way back if both the passphrase and the Secret Key are lost.
        let wantsRecoveryKey = recoveryKey
            ?? (!options.json && isatty(STDIN_FILENO) == 1 && Terminal.confirm("""
                Make a Recovery Key now? It is the only way back into your account if you lose your passphrase or
                Secret Key; without one, nobody can recover your account or your data. [Y/n] 
                """))
        var madeRecoveryKey: RecoveryKey?
        var recoveryFailure: (any Error)?
        if wantsRecoveryKey, let keys {
            do {
                let recovery = try options.recoveryClient()
                madeRecoveryKey = try await clientFlow {
                    try await recovery.enrol(
                        session: signUp.session, keys: keys,
                        credentials: CurrentCredentials(account: account, secretKey: signUp.secretKey, passphrase: passphrase),
                        progress: progress.keyringEvents)
                }
            } catch {
                progress.end("failed")
                recoveryFailure = error
            }
        }

        if options.json {
            try printJSON([
                "username": signUp.session.username, "user_id": signUp.session.userID,
                "secret_key": signUp.secretKey.description, "session_expires_at": signUp.session.expiresAt.iso8601,
                "keys_ready": keysFailure == nil, "recovery_key": madeRecoveryKey?.description ?? NSNull(),
            ])
        } else {
            Terminal.printLine("""
                Your Secret Key (shown only now):

                    \(signUp.secretKey.description)

                Write it down and keep it apart from your passphrase. You need both to log in on any device;
                svx cannot recover either (only a Recovery Key can), and nobody can decrypt your data, svx included.
                \(rememberSecretKey ? "A copy is kept in \(state.secretKeyFile.path) (readable by you only).\n" : "")
                Logged in as \(signUp.session.username) until \(signUp.session.expiresAt.iso8601).
                """)
            if let madeRecoveryKey {
                printRecoveryKey(madeRecoveryKey, json: false)
            } else if keysFailure == nil {
                Terminal.printLine("""
                    No Recovery Key: if you lose your passphrase or your Secret Key, nobody can recover your account or
                    your data. `svx recovery enable` makes one at any time.
                    """)
            }
        }
        if let recoveryFailure {
            throw CLIError("your account is ready but the Recovery Key could not be made (\(recoveryFailure)); run `svx recovery enable`")
        }
        if let keysFailure {
            throw CLIError("your account exists but its keys could not be created (\(keysFailure)); run `svx login` to finish")
        }
    }
}
