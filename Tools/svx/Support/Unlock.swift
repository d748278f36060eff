import ArgumentParser
import Foundation
import SVXClient

/// Where the Secret Key comes from, for commands that decrypt or encrypt vault values.
struct UnlockOptions: ParsableArguments {
    @Option(help: "A file holding the Secret Key (1.<username>.<key>).") var secretKeyFile: String?
}

/// The saved session with the vault client, for commands that read no values (templates).
struct VaultSession {
    let session: AuthenticatedSession
    let vault: VaultClient

    init(options: ClientOptions) throws {
        session = try ClientState().loadSession()
        vault = try options.vaultClient()
    }
}

/// The saved session with its keys open (KEK, private DEK): what every command that encrypts or decrypts with them
/// needs. The private DEK is reached only with the Secret Key and the passphrase; neither is kept, so each command
/// asks for them again ($SVX_SECRET_KEY / --secret-key-file, $SVX_PASSPHRASE, or prompts).
struct UnlockedKeyring {
    let session: AuthenticatedSession
    let keys: UnlockedKeys

    /// Session → Secret Key → passphrase → the key hierarchy unwrapped (KEK, private DEK). Errors come out as one
    /// clear line (`clientFlow`).
    static func open(options: ClientOptions, unlock: UnlockOptions) async throws -> UnlockedKeyring {
        let state = ClientState()
        let session = try state.loadSession()
        guard session.credentialGeneration >= 1 else { throw CLIError("this session predates key generations: run `svx login` again") }
        let secretKey = try readSecretKey(file: unlock.secretKeyFile, state: state)
        guard secretKey.username == session.username else {
            throw CLIError("this Secret Key belongs to \(secretKey.username), the session to \(session.username)")
        }
        let passphrase = try readPassphrase(prompt: "Passphrase: ")
        let keyring = try options.keyringClient()
        let progress = ProgressLine()
        let credentials = CurrentCredentials(account: try options.accountClient(), secretKey: secretKey, passphrase: passphrase)
        let keys = try await clientFlow {
            let pdk = try secretKey.passphraseDerivedKey(passphrase: passphrase)
            do {
                return try await keyring.unlock(
                    session: session, pdk: pdk, credentials: credentials, progress: progress.keyringEvents)
            } catch let error as SVXClientError where error.code == .keyUnwrapFailed {
                progress.end("failed")
                throw CLIError("\(error.message). Check the passphrase.")
            } catch {
                progress.end("failed")
                throw error
            }
        }
        // A newer KEK than the session knew (a rotation from another device): remember it.
        if keys.kekVersion > session.highestKEKVersion { try? state.saveSession(session.remembering(kekVersion: keys.kekVersion)) }
        return UnlockedKeyring(session: session, keys: keys)
    }
}

/// The saved session with its keys open and the vault user made sure of: what every command that touches item
/// values needs (values are encrypted and decrypted with the private DEK).
struct UnlockedVault {
    let session: AuthenticatedSession
    let keys: UnlockedKeys
    let vault: VaultClient

    /// ``UnlockedKeyring/open(options:unlock:)``, then the vault user made sure of.
    static func open(options: ClientOptions, unlock: UnlockOptions) async throws -> UnlockedVault {
        let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
        let vault = try options.vaultClient()
        try await clientFlow { try await vault.ensureVaultUser(session: unlocked.session, keys: unlocked.keys) }
        return UnlockedVault(session: unlocked.session, keys: unlocked.keys, vault: vault)
    }
}
