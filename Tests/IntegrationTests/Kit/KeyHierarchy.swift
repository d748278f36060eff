import Cryppo
import Foundation
import SVXClient
import SVXTestHarness

/// The key hierarchy as the SDK and `svx` use it: a sign-up with the Secret Key, the KEK, the private DEK and the
/// keypair, and a login that opens them.
extension TestStack {
    var passphraseChange: PassphraseChange { PassphraseChange(account: account, keyring: keyring) }

    /// Login and unlock, as `svx login` does.
    func logIn(_ secretKey: SecretKey, _ passphrase: String) async throws -> (AuthenticatedSession, UnlockedKeys) {
        let session = try await account.logIn(secretKey: secretKey, passphrase: passphrase)
        let keys = try await keyring.unlock(session: session, pdk: try secretKey.passphraseDerivedKey(passphrase: passphrase))
        return (session, keys)
    }

    /// Sign-up with the whole key hierarchy, as `svx signup` does; with a Vault in the stack, the user's Vault record
    /// too, as the first `svx items` command makes it.
    func signUp(_ passphrase: String) async throws -> (SecretKey, AuthenticatedSession, UnlockedKeys) {
        let signUp = try await account.signUp(passphrase: passphrase)
        let keys = try await keyring.unlock(
            session: signUp.session, pdk: try signUp.secretKey.passphraseDerivedKey(passphrase: passphrase))
        if services.contains(.vault) { try await vault.ensureVaultUser(session: signUp.session, keys: keys) }
        return (signUp.secretKey, signUp.session, keys)
    }

    /// The credential generations the Keystore holds a KEK wrap for.
    func wrapGenerations(_ userID: String) throws -> [Int64] {
        let connection = try database.connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT credential_generation FROM keystore.kek_wraps WHERE user_id = $1::uuid ORDER BY 1", userID
        ).map { try $0.decode(Int64.self, at: 0) }
    }
}
