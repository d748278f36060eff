import Foundation

/// The Sharing service's own settings (README.md, "Configuration"): the caps of docs/ADR-008-sharing.md. Parsed like
/// ``ServiceConfiguration``: a pure function of the environment, every error names its variable.
public struct SharingConfiguration: Sendable, Equatable {
    /// Pending (unexpired, neither accepted nor revoked) invitations one user may have out at once,
    /// `SVX_SHARING_MAX_PENDING_INVITATIONS` (quota `pending_invitations`).
    public var maximumPendingInvitations: Int
    /// Active connections one user may have, `SVX_SHARING_MAX_CONNECTIONS` (quota `connections`): an acceptance
    /// that would take either side past it is refused.
    public var maximumConnections: Int
    /// Live (pending or active, unexpired) shares one user may have sent, and, counted apart, received,
    /// `SVX_SHARING_MAX_SHARES` (quota `shares` for the sender, `incoming_shares` for a recipient): a CreateShare that
    /// would take the sender or a recipient past it is refused as a whole.
    public var maximumShares: Int
    /// Live shares of one item, on-shares included, `SVX_SHARING_MAX_SHARES_PER_ITEM` (quota `item_shares`).
    public var maximumSharesPerItem: Int

    public static let defaultMaximumPendingInvitations = 100
    public static let defaultMaximumConnections = 5_000
    public static let defaultMaximumShares = 50_000
    public static let defaultMaximumSharesPerItem = 500

    public init(
        maximumPendingInvitations: Int = defaultMaximumPendingInvitations,
        maximumConnections: Int = defaultMaximumConnections,
        maximumShares: Int = defaultMaximumShares,
        maximumSharesPerItem: Int = defaultMaximumSharesPerItem
    ) {
        self.maximumPendingInvitations = maximumPendingInvitations
        self.maximumConnections = maximumConnections
        self.maximumShares = maximumShares
        self.maximumSharesPerItem = maximumSharesPerItem
    }

    /// Every variable Sharing reads beyond ``ServiceConfiguration``'s.
    public static let variables = [
        "SVX_SHARING_MAX_PENDING_INVITATIONS", "SVX_SHARING_MAX_CONNECTIONS", "SVX_SHARING_MAX_SHARES",
        "SVX_SHARING_MAX_SHARES_PER_ITEM",
    ]

    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> SharingConfiguration {
        SharingConfiguration(
            maximumPendingInvitations: try ConfigurationError.integer(
                environment, "SVX_SHARING_MAX_PENDING_INVITATIONS", defaultMaximumPendingInvitations, 1...100_000),
            maximumConnections: try ConfigurationError.integer(
                environment, "SVX_SHARING_MAX_CONNECTIONS", defaultMaximumConnections, 1...1_000_000),
            maximumShares: try ConfigurationError.integer(
                environment, "SVX_SHARING_MAX_SHARES", defaultMaximumShares, 1...10_000_000),
            maximumSharesPerItem: try ConfigurationError.integer(
                environment, "SVX_SHARING_MAX_SHARES_PER_ITEM", defaultMaximumSharesPerItem, 1...100_000))
    }
}
