import Foundation

/// The Classification service's own settings (README.md, "Configuration"). Parsed like ``ServiceConfiguration``: a
/// pure function of the environment, every error names its variable.
public struct ClassificationConfiguration: Sendable, Equatable {
    /// How many live tombstones (entities forgotten in the last hour, ForgetEntities) one user may hold,
    /// `SVX_CLASSIFICATION_MAX_TOMBSTONES` (quota `tombstones`, review M4; docs/ADR-006-classification.md).
    public var maximumTombstones: Int

    public static let defaultMaximumTombstones = 100_000

    public init(maximumTombstones: Int = defaultMaximumTombstones) {
        self.maximumTombstones = maximumTombstones
    }

    /// Every variable Classification reads beyond ``ServiceConfiguration``'s.
    public static let variables = ["SVX_CLASSIFICATION_MAX_TOMBSTONES"]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ClassificationConfiguration {
        ClassificationConfiguration(
            maximumTombstones: try ConfigurationError.integer(
                environment, "SVX_CLASSIFICATION_MAX_TOMBSTONES", defaultMaximumTombstones, 1...10_000_000))
    }
}
