import ArgumentParser
import Cryppo
import Foundation
import SVXClient

/// `svx keys list|rotate|delete-keypair`: the key hierarchy kept (wrapped) by the Keystore.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "List your keys, rotate your key encryption key, or delete a keypair.",
        subcommands: [List.self, Rotate.self, DeleteKeypair.self])

    struct DeleteKeypair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete-keypair",
            abstract: "Delete one of your keypairs (refused while a connection or pending invitation uses it).",
            discussion: """
                The Keystore cannot know which keypairs your connections use: svx asks Sharing first and refuses to
                delete a keypair an active connection or a pending invitation publishes (end those connections with
                `svx connections delete` and revoke those invitations first). Ids only: needs no passphrase.
                """)
        @OptionGroup var options: ClientOptions
        @Argument(help: "The keypair's id (svx keys list).") var keypair: String

        func run() async throws {
            let session = try ClientState().loadSession()
            let keyring = try options.keyringClient()
            let sharing = try options.sharingClient()
            try await clientFlow { try await keyring.deleteKeypair(session: session, id: keypair, sharing: sharing) }
            if options.json {
                try printJSON(["deleted_keypair_id": keypair])
            } else {
                Terminal.printLine("Deleted keypair \(keypair).")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List your KEK, data keys and keypairs (ids and versions; no key material).")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let session = try ClientState().loadSession()
            guard session.credentialGeneration >= 1 else { throw CLIError("this session predates key generations: run `svx login` again") }
            let keyring = try options.keyringClient()
            let inventory = try await clientFlow { try await keyring.inventory(session: session) }
            func bits(_ pem: String) -> Int? { try? RSAPublicKey(pem: pem).bits }
            if options.json {
                try printJSON([
                    "kek": [
                        "kek_version": inventory.kek.kekVersion, "credential_generation": inventory.kek.credentialGeneration,
                        "created_at": inventory.kek.createdAt.iso8601, "derivation": inventory.kek.derivation.algorithm,
                        "iterations": inventory.kek.derivation.iterations,
                        "passphrase_change_pending": inventory.passphraseChangePending,
                        "kek_check": !inventory.kekCheck.isEmpty,
                    ] as [String: Any],
                    "deks": inventory.deks.map {
                        ["dek_id": $0.id, "external_id": $0.externalID, "kek_version": $0.kekVersion, "created_at": $0.createdAt.iso8601]
                            as [String: Any]
                    },
                    "keypairs": inventory.keypairs.map {
                        ["keypair_id": $0.id, "external_identifiers": $0.externalIdentifiers, "kek_version": $0.kekVersion,
                         "bits": bits($0.publicKeyPEM) ?? 0, "created_at": $0.createdAt.iso8601] as [String: Any]
                    },
                ])
                return
            }
            let kek = inventory.kek
            Terminal.printLine("KEK        version \(kek.kekVersion), wrapped for passphrase generation \(kek.credentialGeneration) (\(kek.derivation.algorithm), \(kek.derivation.iterations) iterations), since \(kek.createdAt.iso8601)")
            if inventory.passphraseChangePending {
                Terminal.printLine("           a passphrase change was started and not finished (`svx passphrase change` again settles it)")
            }
            if inventory.kekCheck.isEmpty {
                Terminal.printLine("           no KEK check yet (an account older than KEK checks): `svx login` sets it")
            }
            Terminal.printLine("\nData keys (\(inventory.deks.count))")
            for dek in inventory.deks {
                Terminal.printLine("  \(dek.id)  \(dek.externalID.isEmpty ? "-" : dek.externalID)  KEK v\(dek.kekVersion)  \(dek.createdAt.iso8601)")
            }
            Terminal.printLine("\nKeypairs (\(inventory.keypairs.count))")
            for keypair in inventory.keypairs {
                let size = bits(keypair.publicKeyPEM).map { "RSA-\($0)" } ?? "RSA"
                let names = keypair.externalIdentifiers.isEmpty ? "-" : keypair.externalIdentifiers.joined(separator: ",")
                Terminal.printLine("  \(keypair.id)  \(names)  \(size)  KEK v\(keypair.kekVersion)  \(keypair.createdAt.iso8601)")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new KEK and re-wrap every data key and private key with it, in one atomic step.",
            discussion: """
                Nothing you stored is re-encrypted: the data keys stay the same, only the key that wraps them changes.
                Needs your Secret Key and passphrase (see `svx login --help` for where they come from).
                """)
        @OptionGroup var options: ClientOptions
        @Option(help: "A file holding the Secret Key (1.<username>.<key>).") var secretKeyFile: String?

        func run() async throws {
            let state = ClientState()
            let session = try state.loadSession()
            guard session.credentialGeneration >= 1 else { throw CLIError("this session predates key generations: run `svx login` again") }
            let secretKey = try readSecretKey(file: secretKeyFile, state: state)
            guard secretKey.username == session.username else {
                throw CLIError("this Secret Key belongs to \(secretKey.username), the session to \(session.username)")
            }
            let passphrase = try readPassphrase(prompt: "Passphrase: ")
            let account = try options.accountClient()
            let keyring = try options.keyringClient()
            let progress = ProgressLine()
            // Rotation needs a recent login: this one also proves the passphrase before anything is re-wrapped.
            let credentials = CurrentCredentials(account: account, secretKey: secretKey, passphrase: passphrase)
            let (fresh, keys) = try await clientFlow {
                let fresh = try await credentials.logIn().remembering(session)
                do {
                    // The credentials set the KEK check first if the account predates KEK checks.
                    let keys = try await keyring.rotate(
                        session: fresh, pdk: try secretKey.passphraseDerivedKey(passphrase: passphrase),
                        credentials: credentials, progress: progress.keyringEvents)
                    return (fresh.remembering(kekVersion: keys.kekVersion), keys)
                } catch {
                    if let refusal = ServiceError(error), refusal.code == .failedPrecondition,
                        refusal.reason == "passphrase_change_pending"
                    {
                        try? await account.logOut(fresh)
                        throw CLIError(
                            "\(refusal.message). Run `svx passphrase change` (you may keep the same passphrase), then rotate again.")
                    }
                    progress.end("failed")
                    try? await account.logOut(fresh)
                    throw error
                }
            }
            try state.saveSession(fresh)
            try? await account.logOut(session)
            if options.json {
                try printJSON(["kek_version": keys.kekVersion])
            } else {
                Terminal.printLine("Rotated: your keys are now wrapped by KEK version \(keys.kekVersion).")
            }
        }
    }
}

/// `svx passphrase change`.
struct PassphraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passphrase", abstract: "Change your passphrase.", subcommands: [Change.self])

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change your passphrase: nothing is re-encrypted, your KEK is re-wrapped and Auth gets a new verifier.",
            discussion: """
                The current passphrase comes from $SVX_PASSPHRASE, the new one from $SVX_NEW_PASSPHRASE; otherwise
                both are asked (the new one twice) on the terminal, or read as the first two lines of stdin.
                Every other session of yours ends; this one continues. If the change is interrupted, log in with the
                new passphrase if it was accepted, else the old one: either way nothing is lost.
                """)
        @OptionGroup var options: ClientOptions
        @Option(help: "A file holding the Secret Key (1.<username>.<key>).") var secretKeyFile: String?

        func run() async throws {
            let state = ClientState()
            let secretKey = try readSecretKey(file: secretKeyFile, state: state)
            let (current, new) = try readPassphrases()
            let change = PassphraseChange(account: try options.accountClient(), keyring: try options.keyringClient())
            let progress = ProgressLine()
            // The highest KEK version the saved session of this user had seen (a lower one is a rollback).
            let previous = (try? state.loadSession()).flatMap { $0.username == secretKey.username ? $0 : nil }
            let staged = try await clientFlow {
                do {
                    let begun = try await change.begin(
                        secretKey: secretKey, currentPassphrase: current,
                        highestKEKVersion: previous?.highestKEKVersion ?? 0, progress: progress.keyringEvents)
                    return try await change.stage(begun, newPassphrase: new)
                } catch {
                    progress.end("failed")
                    throw error
                }
            }
            let changed: PassphraseChange.Changed
            do {
                changed = try await change.changeVerifier(staged)
            } catch {
                if let status = ServiceError(error), status.code == .unavailable || status.code == .deadlineExceeded {
                    // The request may have reached Auth: either passphrase opens the keys, whichever Auth holds now.
                    throw CLIError(
                        "no answer from Auth (\(status.code.name)): the change may or may not have happened. Log in with the new passphrase; if it is refused, the old one still works.")
                }
                if let error = error as? SVXClientError, error.code == .serverProofMismatch {
                    // An OK that does not prove Auth checked the passphrase: it may not come from Auth at all.
                    throw CLIError(
                        "\(error.message): the change may or may not have happened. Log in with the new passphrase; if it is refused, the old one still works.")
                }
                _ = try await clientFlow { throw error }
                return
            }
            // From here the new passphrase is the one: keep the session that made the change (the others ended).
            try state.saveSession(changed.session)
            try? await change.commit(changed)  // tidying up only: the next login does it if this fails
            if options.json {
                try printJSON([
                    "username": changed.session.username, "credential_generation": changed.session.credentialGeneration,
                    "revoked_sessions": changed.revokedSessions,
                ])
            } else {
                Terminal.printLine("Passphrase changed for \(changed.session.username). \(changed.revokedSessions) other session(s) ended.")
            }
        }

        private func readPassphrases() throws -> (String, String) {
            let environment = ProcessInfo.processInfo.environment
            let current = environment["SVX_PASSPHRASE"].flatMap { $0.isEmpty ? nil : $0 }
            let new = environment["SVX_NEW_PASSPHRASE"].flatMap { $0.isEmpty ? nil : $0 }
            var prompts: [String] = []
            if current == nil { prompts.append("Current passphrase: ") }
            if new == nil { prompts += isatty(STDIN_FILENO) == 1 ? ["New passphrase: ", "Repeat the new passphrase: "] : ["New passphrase: "] }
            var answers = prompts.isEmpty ? [] : try Terminal.passphrases(prompts: prompts)
            let currentValue = current ?? answers.removeFirst()
            let newValue = new ?? answers.removeFirst()
            if new == nil, isatty(STDIN_FILENO) == 1, answers.first != newValue { throw CLIError("the new passphrases differ") }
            guard !currentValue.isEmpty, !newValue.isEmpty else { throw CLIError("a passphrase is empty") }
            return (currentValue, newValue)
        }
    }
}
