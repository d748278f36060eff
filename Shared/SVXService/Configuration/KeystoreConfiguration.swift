import Foundation

/// The Keystore service's own settings (README.md, "Configuration"). Parsed like ``ServiceConfiguration``: a pure
/// function of the environment, every error names its variable.
public struct KeystoreConfiguration: Sendable, Equatable {
    /// How many days a wrap that left use (a KEK wrap replaced by a rotation or a passphrase change, a DEK or
    /// private-key wrap replaced by a rotation) is kept aside for an operator's restore before it is purged,
    /// `SVX_KEYSTORE_WRAP_RETENTION_DAYS` (docs/ADR-004-keystore.md, "Superseded wraps").
    public var wrapRetentionDays: Int
    /// How many DEKs one user may store, `SVX_KEYSTORE_MAX_DATA_KEYS` (quota `data_keys`, review M4).
    public var maximumDataKeys: Int
    /// How many keypairs one user may store, `SVX_KEYSTORE_MAX_KEYPAIRS` (quota `keypairs`, review M4).
    public var maximumKeypairs: Int
    /// How many rotations' replaced DEK and private-key wraps one user may have kept aside at once (within the
    /// retention), `SVX_KEYSTORE_MAX_KEPT_ROTATIONS` (quota `kept_rotations`): a RotateKEK past it is refused until
    /// the oldest are purged, so a user who rotates in a loop cannot grow the kept copies without bound.
    public var maximumKeptRotations: Int

    /// The defaults keep a full RotateKEK (every key of a user, each wrap at its largest) under the Keystore's
    /// default 4 MiB request limit: 2 000 × 556 B + 120 × 24 622 B = 4 066 640 B (docs/ADR-004-keystore.md, "Quotas").
    public static let defaultMaximumDataKeys = 2_000
    public static let defaultMaximumKeypairs = 120
    public static let defaultMaximumKeptRotations = 20

    public init(
        wrapRetentionDays: Int = 14, maximumDataKeys: Int = defaultMaximumDataKeys,
        maximumKeypairs: Int = defaultMaximumKeypairs, maximumKeptRotations: Int = defaultMaximumKeptRotations
    ) {
        self.wrapRetentionDays = wrapRetentionDays
        self.maximumDataKeys = maximumDataKeys
        self.maximumKeypairs = maximumKeypairs
        self.maximumKeptRotations = maximumKeptRotations
    }

    /// Every variable the Keystore reads beyond ``ServiceConfiguration``'s.
    public static let variables = [
        "SVX_KEYSTORE_WRAP_RETENTION_DAYS", "SVX_KEYSTORE_MAX_DATA_KEYS", "SVX_KEYSTORE_MAX_KEYPAIRS",
        "SVX_KEYSTORE_MAX_KEPT_ROTATIONS",
    ]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> KeystoreConfiguration {
        KeystoreConfiguration(
            wrapRetentionDays: try ConfigurationError.integer(environment, "SVX_KEYSTORE_WRAP_RETENTION_DAYS", 14, 1...3650),
            maximumDataKeys: try ConfigurationError.integer(
                environment, "SVX_KEYSTORE_MAX_DATA_KEYS", defaultMaximumDataKeys, 1...1_000_000),
            maximumKeypairs: try ConfigurationError.integer(
                environment, "SVX_KEYSTORE_MAX_KEYPAIRS", defaultMaximumKeypairs, 1...1_000_000),
            maximumKeptRotations: try ConfigurationError.integer(
                environment, "SVX_KEYSTORE_MAX_KEPT_ROTATIONS", defaultMaximumKeptRotations, 1...10_000))
    }
}
