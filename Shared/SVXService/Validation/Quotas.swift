import SVXRPC

/// A per-user limit on what one account may store (security review M4): checked inside the transaction of the write
/// that would exceed it, under a lock of the user's rows, so concurrent writes cannot overshoot it together.
public struct UserQuota: Sendable, Equatable {
    /// The name callers see in the refusal (`details["quota"]`), e.g. `items`.
    public let name: String
    public let limit: Int64

    public init(name: String, limit: Int64) {
        self.name = name
        self.limit = limit
    }

    /// Throws ``RPCStatus/quotaExceeded(_:)`` when `used` plus `adding` would exceed the limit.
    public func check(used: Int64, adding: Int64 = 1) throws(RPCStatus) {
        guard adding <= limit - used else { throw RPCStatus.quotaExceeded(self) }
    }
}

extension RPCStatus {
    /// RESOURCE_EXHAUSTED naming the quota and its limit (`details["quota"]`, `details["limit"]`). Nothing was written.
    public static func quotaExceeded(_ quota: UserQuota) -> RPCStatus {
        RPCStatus(
            .resourceExhausted, "quota exceeded: \(quota.name) (limit \(quota.limit) per user)",
            details: ["quota": quota.name, "limit": String(quota.limit)])
    }
}
