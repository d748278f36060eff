import Foundation

/// The Vault's own settings (README.md, "Configuration"): the per-user quotas of security review M4. Parsed like
/// ``ServiceConfiguration``: a pure function of the environment, every error names its variable.
public struct VaultConfiguration: Sendable, Equatable {
    /// Items one user may hold, `SVX_VAULT_QUOTA_ITEMS`.
    public var maxItems: Int64
    /// Bytes of attachments (their declared plaintext size, unfinished uploads included) one user may hold,
    /// `SVX_VAULT_QUOTA_ATTACHMENT_BYTES`.
    public var maxAttachmentBytes: Int64
    /// Attachments created and not yet finished that one user may have at once, `SVX_VAULT_QUOTA_UNFINISHED_UPLOADS`.
    public var maxUnfinishedAttachments: Int64

    public init(maxItems: Int64 = 1_000_000, maxAttachmentBytes: Int64 = 10 << 30, maxUnfinishedAttachments: Int64 = 20) {
        self.maxItems = maxItems
        self.maxAttachmentBytes = maxAttachmentBytes
        self.maxUnfinishedAttachments = maxUnfinishedAttachments
    }

    /// Every variable the Vault reads beyond ``ServiceConfiguration``'s.
    public static let variables = [
        "SVX_VAULT_QUOTA_ITEMS", "SVX_VAULT_QUOTA_ATTACHMENT_BYTES", "SVX_VAULT_QUOTA_UNFINISHED_UPLOADS",
    ]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> VaultConfiguration {
        let defaults = VaultConfiguration()
        return VaultConfiguration(
            maxItems: Int64(try ConfigurationError.integer(
                environment, "SVX_VAULT_QUOTA_ITEMS", Int(defaults.maxItems), 1...1_000_000_000)),
            maxAttachmentBytes: Int64(try ConfigurationError.integer(
                environment, "SVX_VAULT_QUOTA_ATTACHMENT_BYTES", Int(defaults.maxAttachmentBytes), 1...(1 << 50))),
            maxUnfinishedAttachments: Int64(try ConfigurationError.integer(
                environment, "SVX_VAULT_QUOTA_UNFINISHED_UPLOADS", Int(defaults.maxUnfinishedAttachments), 1...10_000)))
    }
}
