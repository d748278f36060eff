import Foundation

/// The Keystore service's own settings (README.md, "Configuration"). Parsed like ``ServiceConfiguration``: a pure
/// function of the environment, every error names its variable.
public struct KeystoreConfiguration: Sendable, Equatable {
    /// How many days a wrap that left use (a KEK wrap replaced by a rotation or a passphrase change, a DEK or
    /// private-key wrap replaced by a rotation) is kept aside for an operator's restore before it is purged,
    /// `SVX_KEYSTORE_WRAP_RETENTION_DAYS` (docs/ADR-004-keystore.md, "Superseded wraps").
    public var wrapRetentionDays: Int

    public init(wrapRetentionDays: Int = 14) {
        self.wrapRetentionDays = wrapRetentionDays
    }

    /// Every variable the Keystore reads beyond ``ServiceConfiguration``'s.
    public static let variables = ["SVX_KEYSTORE_WRAP_RETENTION_DAYS"]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> KeystoreConfiguration {
        KeystoreConfiguration(
            wrapRetentionDays: try ConfigurationError.integer(environment, "SVX_KEYSTORE_WRAP_RETENTION_DAYS", 14, 1...3650))
    }
}
