import ArgumentParser
import Cryppo
import Foundation
import SVXClient

/// Options every command that talks to the services takes.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("auth-endpoint"), help: "Auth's endpoint (default: $SVX_AUTH_ENDPOINT or tcp://127.0.0.1:7101).")
    var authEndpoint: String?

    @Option(
        name: .customLong("keystore-endpoint"),
        help: "Keystore's endpoint (default: $SVX_KEYSTORE_ENDPOINT or tcp://127.0.0.1:7102).")
    var keystoreEndpoint: String?

    @Option(
        name: .customLong("vault-endpoint"), help: "Vault's endpoint (default: $SVX_VAULT_ENDPOINT or tcp://127.0.0.1:7103).")
    var vaultEndpoint: String?

    @Option(
        name: .customLong("sharing-endpoint"), help: "Sharing's endpoint (default: $SVX_SHARING_ENDPOINT or tcp://127.0.0.1:7104).")
    var sharingEndpoint: String?

    @Option(
        name: .customLong("classification-endpoint"),
        help: "Classification's endpoint (default: $SVX_CLASSIFICATION_ENDPOINT or tcp://127.0.0.1:7105).")
    var classificationEndpoint: String?

    @Flag(help: "Print machine-readable JSON on stdout.")
    var json = false

    var endpoints: ServiceEndpoints {
        var endpoints = ServiceEndpoints.fromEnvironment()
        if let authEndpoint { endpoints.auth = authEndpoint }
        if let keystoreEndpoint { endpoints.keystore = keystoreEndpoint }
        if let vaultEndpoint { endpoints.vault = vaultEndpoint }
        if let sharingEndpoint { endpoints.sharing = sharingEndpoint }
        if let classificationEndpoint { endpoints.classification = classificationEndpoint }
        return endpoints
    }

    /// The services these options name, through the SDK (the only way the CLI reaches them).
    var connection: SVXConnection { SVXConnection(endpoints: endpoints) }

    func accountClient() throws -> AccountClient { try connection.account() }

    /// RSA-4096 account keypairs, as Meeco's SDK makes them.
    func keyringClient() throws -> KeyringClient { try connection.keyring() }

    func vaultClient() throws -> VaultClient { try connection.vault() }

    /// Account recovery: Auth and the Keystore.
    func recoveryClient() throws -> RecoveryClient { try connection.recovery() }

    /// RSA-4096 connection keypairs, as Meeco's SDK makes them.
    func sharingClient() throws -> SharingClient { try connection.sharing() }

    /// Shares, with their connections checked and items read from the Vault.
    func sharesClient() throws -> SharesClient { try connection.shares() }

    func classificationClient() throws -> ClassificationClient { try connection.classification() }

    /// The audit trail in every service.
    func auditClient() throws -> AuditClient { try connection.audit() }
}

/// The Secret Key: `--secret-key-file`, `$SVX_SECRET_KEY`, the copy kept by `signup --remember-secret-key`,
/// or a no-echo prompt.
func readSecretKey(file: String?, state: ClientState) throws -> SecretKey {
    try CryptoIO.run { try SecretKey(parsing: try readSecretKeyText(file: file, state: state)) }
}

private func readSecretKeyText(file: String?, state: ClientState) throws -> String {
    if let file { return try CryptoIO.readText(file: file).trimmingCharacters(in: .whitespacesAndNewlines) }
    if let value = ProcessInfo.processInfo.environment["SVX_SECRET_KEY"], !value.isEmpty { return value }
    if let remembered = state.rememberedSecretKey() { return remembered }
    guard isatty(STDIN_FILENO) == 1 else {
        throw CLIError("no Secret Key: give --secret-key-file or $SVX_SECRET_KEY (stdin is not a terminal)")
    }
    return try Terminal.passphrase(prompt: "Secret Key: ").trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The passphrase for scripts and people: `$SVX_PASSPHRASE`, else a no-echo prompt on a terminal,
/// else the first line of stdin.
func readPassphrase(prompt: String, confirm: Bool = false) throws -> String {
    if let value = ProcessInfo.processInfo.environment["SVX_PASSPHRASE"], !value.isEmpty { return value }
    let passphrase = try Terminal.passphrase(prompt: prompt)
    guard !passphrase.isEmpty else { throw CLIError("the passphrase is empty") }
    if confirm && isatty(STDIN_FILENO) == 1 {
        guard try Terminal.passphrase(prompt: "Repeat the passphrase: ") == passphrase else {
            throw CLIError("the passphrases differ")
        }
    }
    return passphrase
}

/// Prints a value as JSON (sorted keys) on stdout.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    Terminal.printLine(String(decoding: data, as: UTF8.self))
}

/// Prints a list as a JSON array (each object with sorted keys) on stdout.
func printJSON(_ array: [[String: Any]]) throws {
    let data = try JSONSerialization.data(withJSONObject: array, options: [.sortedKeys, .prettyPrinted])
    Terminal.printLine(String(decoding: data, as: UTF8.self))
}

/// Runs a client flow, turning the server's statuses into one clear line.
func clientFlow<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        if let status = ServiceError(error) { throw CLIError(status) }
        if let error = error as? SVXClientError { throw CLIError(error.message) }
        if let error = error as? CryppoError { throw CLIError("\(error)") }
        throw error
    }
}

extension CLIError {
    /// A service's answer as one line: what the person can do about it, where that is clear.
    init(_ status: ServiceError) {
        switch status.code {
        case .unavailable where status.field != nil:
            // The service answered: something it needs is switched off, not a stack that is down.
            self.init("\(status.code.name): \(status.message)")
        case .unavailable, .deadlineExceeded:
            self.init("cannot reach svx (\(status.code.name)): \(status.message). Is the stack up (`make up`)?")
        case .unauthenticated:
            self.init(status.message.isEmpty ? "not authenticated" : status.message)
        case .resourceExhausted:
            let wait = status.details["retry_after_ms"].flatMap(Int.init).map { " Try again in \(($0 + 999) / 1000) s." } ?? ""
            self.init("\(status.message).\(wait)")
        default:
            self.init("\(status.code.name): \(status.message)")
        }
    }
}

extension Date {
    var iso8601: String { ISO8601DateFormatter().string(from: self) }
}
