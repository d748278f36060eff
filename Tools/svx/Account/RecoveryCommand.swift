import ArgumentParser
import Cryppo
import Foundation
import SVXClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `svx recovery enable|status|disable|start|cancel|complete`: account recovery with an offline Recovery Key
/// (docs/ADR-009-recovery.md).
struct RecoveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Make a Recovery Key, or get back into your account with one.",
        discussion: """
            A Recovery Key (R.1.<username>.<key>) is the one way back into your account if you lose your passphrase
            or your Secret Key. Keep it offline (on paper), apart from both. It works once: a recovery gives you a new
            Secret Key and passphrase, and you then make a new Recovery Key. A recovery waits for a delay (24 hours
            by default) during which every login of yours is told about it and can cancel it.
            """,
        subcommands: [Enable.self, Status.self, Disable.self, Start.self, Cancel.self, Complete.self])

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a Recovery Key for your account (shown once).",
            discussion: """
                Needs your Secret Key and passphrase (see `svx login --help` for where they come from). A previous
                Recovery Key stops working (`--replace` says you mean it).
                """)
        @OptionGroup var options: ClientOptions
        @Option(help: "A file holding the Secret Key (1.<username>.<key>).") var secretKeyFile: String?
        @Flag(help: "Replace the Recovery Key you already have (the old one stops working).") var replace = false

        func run() async throws {
            let state = ClientState()
            let saved = try state.loadSession()
            let secretKey = try readSecretKey(file: secretKeyFile, state: state)
            guard secretKey.username == saved.username else {
                throw CLIError("this Secret Key belongs to \(secretKey.username), the session to \(saved.username)")
            }
            let passphrase = try readPassphrase(prompt: "Passphrase: ")
            let recovery = try options.recoveryClient()
            let status = try await clientFlow { try await recovery.status(session: saved) }
            if status.enrolled, !replace {
                throw CLIError("you already have a Recovery Key: `svx recovery enable --replace` makes a new one and the old one stops working")
            }
            let progress = ProgressLine()
            let (fresh, recoveryKey) = try await clientFlow {
                try await Self.enrol(
                    recovery: recovery, secretKey: secretKey, passphrase: passphrase, previous: saved, progress: progress)
            }
            try state.saveSession(fresh)
            try? await recovery.account.logOut(saved)
            printRecoveryKey(recoveryKey, json: options.json)
        }

        /// A fresh login (enrolment needs a recent one), the keys opened, and a new Recovery Key enrolled.
        static func enrol(
            recovery: RecoveryClient, secretKey: SecretKey, passphrase: String, previous: AuthenticatedSession?,
            progress: ProgressLine
        ) async throws -> (AuthenticatedSession, RecoveryKey) {
            let credentials = CurrentCredentials(account: recovery.account, secretKey: secretKey, passphrase: passphrase)
            let fresh = try await credentials.logIn().remembering(previous)
            do {
                let keys = try await recovery.keyring.unlock(
                    session: fresh, pdk: try secretKey.passphraseDerivedKey(passphrase: passphrase), credentials: credentials,
                    progress: progress.keyringEvents)
                let recoveryKey = try await recovery.enrol(
                    session: fresh, keys: keys, credentials: credentials, progress: progress.keyringEvents)
                return (fresh.remembering(kekVersion: keys.kekVersion), recoveryKey)
            } catch {
                progress.end("failed")
                try? await recovery.account.logOut(fresh)
                throw error
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Whether you have a Recovery Key, and whether a recovery of your account is under way.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let session = try ClientState().loadSession()
            let recovery = try options.recoveryClient()
            let status = try await clientFlow { try await recovery.status(session: session) }
            if options.json {
                var object: [String: Any] = [
                    "enrolled": status.enrolled, "keystore_recovery_key": status.keystoreHasRecoveryKey,
                    "usable": status.isUsable,
                ]
                if let at = status.enrolledAt { object["enrolled_at"] = at.iso8601 }
                if let pending = status.pending { object["pending_recovery"] = pendingJSON(pending) }
                try printJSON(object)
                return
            }
            switch (status.enrolled, status.keystoreHasRecoveryKey) {
            case (true, true):
                Terminal.printLine("Recovery Key: enrolled since \(status.enrolledAt?.iso8601 ?? "?").")
            case (false, false):
                Terminal.printLine("Recovery Key: none. If you lose your passphrase or Secret Key, nobody can recover your account; `svx recovery enable` makes one.")
            case (true, false), (false, true):
                Terminal.printLine("Recovery Key: incomplete (an enrolment or a recovery stopped half-way); it would not work. `svx recovery enable --replace` makes a new one.")
            }
            if let pending = status.pending { Terminal.printLine(pendingWarning(pending)) }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove your Recovery Key: it stops working at once.",
            discussion: "Needs your Secret Key and passphrase (a recent login).")
        @OptionGroup var options: ClientOptions
        @Option(help: "A file holding the Secret Key (1.<username>.<key>).") var secretKeyFile: String?

        func run() async throws {
            let state = ClientState()
            let saved = try state.loadSession()
            let secretKey = try readSecretKey(file: secretKeyFile, state: state)
            guard secretKey.username == saved.username else {
                throw CLIError("this Secret Key belongs to \(secretKey.username), the session to \(saved.username)")
            }
            let passphrase = try readPassphrase(prompt: "Passphrase: ")
            let recovery = try options.recoveryClient()
            let (fresh, removed) = try await clientFlow {
                let fresh = try await CurrentCredentials(account: recovery.account, secretKey: secretKey, passphrase: passphrase)
                    .logIn().remembering(saved)
                return (fresh, try await recovery.disable(session: fresh))
            }
            try state.saveSession(fresh)
            try? await recovery.account.logOut(saved)
            if options.json {
                try printJSON(["removed": removed])
            } else {
                Terminal.printLine(removed ? "Recovery Key removed: it no longer works." : "You had no Recovery Key.")
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a recovery with your Recovery Key (when you lost your passphrase or Secret Key).",
            discussion: """
                The Recovery Key comes from --recovery-key-file, $SVX_RECOVERY_KEY, or a no-echo prompt. The recovery
                can be completed (`svx recovery complete`) once its waiting period has ended; until then every login
                to the account is told about it and can cancel it.
                """)
        @OptionGroup var options: ClientOptions
        @Option(help: "A file holding the Recovery Key (R.1.<username>.<key>).") var recoveryKeyFile: String?

        func run() async throws {
            let state = ClientState()
            let recoveryKey = try readRecoveryKey(file: recoveryKeyFile)
            let recovery = try options.recoveryClient()
            let pending = try await clientFlow { try await recovery.begin(recoveryKey: recoveryKey) }
            try state.saveRecovery(pending)
            if options.json {
                try printJSON([
                    "username": pending.session.username, "usable_at": pending.usableAt.iso8601,
                    "expires_at": pending.session.expiresAt.iso8601,
                ])
            } else if pending.usableAt <= Date() {
                Terminal.printLine("Recovery of \(pending.session.username) started: complete it now with `svx recovery complete`.")
            } else {
                Terminal.printLine("""
                    Recovery of \(pending.session.username) started. It can be completed from \(pending.usableAt.iso8601)
                    (until \(pending.session.expiresAt.iso8601)) with `svx recovery complete`. Until then every login to the
                    account is told about it and can cancel it.
                    """)
            }
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel a recovery of your account under way.",
            discussion: """
                With a login session (`svx login`), cancels whoever's recovery is pending; without one, abandons the
                recovery this device started. Your Recovery Key keeps working; if you think someone else has it,
                `svx recovery enable --replace` makes a new one.
                """)
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let state = ClientState()
            let recovery = try options.recoveryClient()
            let started = try? state.loadRecovery()
            let session: AuthenticatedSession
            if let saved = try? state.loadSession() {
                session = saved
            } else if let started {
                session = started.session
            } else {
                throw CLIError("not logged in and no recovery started here: `svx login` first")
            }
            let cancelled = try await clientFlow { try await recovery.cancel(session: session) }
            if let started, started.session.userID == session.userID { try state.removeRecovery() }
            if options.json {
                try printJSON(["cancelled": cancelled])
            } else {
                Terminal.printLine(cancelled ? "The pending recovery is cancelled." : "No recovery was pending.")
            }
        }
    }

    struct Complete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Complete the recovery started here: a new Secret Key and passphrase, shown once.",
            discussion: """
                Needs the Recovery Key again (--recovery-key-file, $SVX_RECOVERY_KEY, or a prompt) and a new
                passphrase ($SVX_NEW_PASSPHRASE, or asked twice). Nothing you stored is re-encrypted. Every session
                of the account ends, the Recovery Key stops working, and you are logged in with the new credentials.
                """)
        @OptionGroup var options: ClientOptions
        @Option(help: "A file holding the Recovery Key (R.1.<username>.<key>).") var recoveryKeyFile: String?
        @Flag(help: "Also keep the new Secret Key in the svx state directory (mode 0600).") var rememberSecretKey = false
        @Flag(help: "Make a new Recovery Key right away (asked on a terminal).") var newRecoveryKey = false

        func run() async throws {
            let state = ClientState()
            let pending = try state.loadRecovery()
            if pending.usableAt > Date() {
                throw CLIError("the recovery can be completed from \(pending.usableAt.iso8601), not yet")
            }
            let recoveryKey = try readRecoveryKey(file: recoveryKeyFile)
            guard recoveryKey.username == pending.session.username else {
                throw CLIError("this Recovery Key belongs to \(recoveryKey.username), the recovery to \(pending.session.username)")
            }
            let passphrase = try readNewPassphrase()
            let recovery = try options.recoveryClient()
            let progress = ProgressLine()
            let json = options.json
            let kept = Mutex<SecretKey?>(nil)
            let completed: RecoveryClient.Completed
            do {
                completed = try await recovery.complete(
                    pending, recoveryKey: recoveryKey, newPassphrase: passphrase,
                    keepSecretKey: { secretKey in
                        kept.withLock { $0 = secretKey }
                        if rememberSecretKey { try state.rememberSecretKey(secretKey.description) }
                        // Shown before Auth moves to it: whatever happens next, the person has it.
                        if !json {
                            Terminal.printLine("""
                                Your new Secret Key (shown only now):

                                    \(secretKey.description)

                                Write it down and keep it apart from your passphrase.
                                """)
                        }
                    }, progress: progress.keyringEvents)
            } catch {
                progress.end("failed")
                if let secretKey = kept.withLock({ $0 }) {
                    let unknown = ServiceError(error).map { $0.code == .unavailable || $0.code == .deadlineExceeded } ?? true
                    if json { Terminal.printError("New Secret Key: \(secretKey.description)") }
                    if unknown {
                        throw CLIError(
                            "the recovery may or may not have completed (\(error)). Try `svx login` with the new Secret Key \(secretKey.description) and the new passphrase first; if it is refused, run `svx recovery complete` again.")
                    }
                }
                _ = try await clientFlow { throw error }
                return
            }
            try state.saveSession(completed.session)
            try state.removeRecovery()
            var newKey: RecoveryKey?
            if newRecoveryKey || (!json && isatty(STDIN_FILENO) == 1 && Terminal.confirm("Make a new Recovery Key now? [Y/n] ")) {
                newKey = try await clientFlow {
                    try await recovery.enrol(
                        session: completed.session, keys: completed.keys,
                        credentials: CurrentCredentials(
                            account: recovery.account, secretKey: completed.secretKey, passphrase: passphrase),
                        progress: progress.keyringEvents)
                }
            }
            if json {
                var object: [String: Any] = [
                    "username": completed.session.username, "secret_key": completed.secretKey.description,
                    "revoked_sessions": completed.revokedSessions,
                ]
                if let newKey { object["recovery_key"] = newKey.description }
                try printJSON(object)
                return
            }
            Terminal.printLine("""
                Recovery complete: logged in as \(completed.session.username) with the new Secret Key and passphrase.
                \(completed.revokedSessions) session(s) ended. Your Recovery Key has been used and no longer works.
                If your old Secret Key and passphrase may have been stolen rather than lost, also run `svx keys rotate`.
                """)
            if let newKey {
                printRecoveryKey(newKey, json: false)
            } else {
                Terminal.printLine("Make a new one with `svx recovery enable`.")
            }
        }

        private func readNewPassphrase() throws -> String {
            if let value = ProcessInfo.processInfo.environment["SVX_NEW_PASSPHRASE"], !value.isEmpty { return value }
            let prompts = isatty(STDIN_FILENO) == 1 ? ["New passphrase: ", "Repeat the new passphrase: "] : ["New passphrase: "]
            let answers = try Terminal.passphrases(prompts: prompts)
            guard !answers[0].isEmpty else { throw CLIError("the new passphrase is empty") }
            if answers.count == 2, answers[0] != answers[1] { throw CLIError("the new passphrases differ") }
            return answers[0]
        }
    }
}

/// The Recovery Key: `--recovery-key-file`, `$SVX_RECOVERY_KEY`, or a no-echo prompt.
func readRecoveryKey(file: String?) throws -> RecoveryKey {
    let text: String
    if let file {
        text = try CryptoIO.readText(file: file)
    } else if let value = ProcessInfo.processInfo.environment["SVX_RECOVERY_KEY"], !value.isEmpty {
        text = value
    } else {
        guard isatty(STDIN_FILENO) == 1 else {
            throw CLIError("no Recovery Key: give --recovery-key-file or $SVX_RECOVERY_KEY (stdin is not a terminal)")
        }
        text = try Terminal.passphrase(prompt: "Recovery Key: ")
    }
    return try CryptoIO.run { try RecoveryKey(parsing: text) }
}

/// Shows a new Recovery Key once.
func printRecoveryKey(_ recoveryKey: RecoveryKey, json: Bool) {
    if json {
        try? printJSON(["recovery_key": recoveryKey.description, "username": recoveryKey.username])
        return
    }
    Terminal.printLine("""
        Your Recovery Key (shown only now):

            \(recoveryKey.description)

        Print it or write it down and keep it offline, apart from your passphrase and Secret Key. With it you can get
        back into your account if you lose both; it works once. Anyone who holds it can start a recovery, which you
        would see at your next login (and could cancel) during the waiting period.
        """)
}

func pendingJSON(_ pending: PendingRecovery) -> [String: Any] {
    [
        "session_id": pending.sessionID, "started_at": pending.startedAt.iso8601,
        "usable_at": pending.usableAt.iso8601, "expires_at": pending.expiresAt.iso8601,
    ]
}

func pendingWarning(_ pending: PendingRecovery) -> String {
    """
    WARNING: a recovery of this account was started at \(pending.startedAt.iso8601) with its Recovery Key; it can be
    completed from \(pending.usableAt.iso8601). If it was not you, run `svx recovery cancel` now, then
    `svx recovery enable --replace` (someone has your Recovery Key).
    """
}
