/// How long an invitation stays open (sharing.md §2.3): 7 days unless asked otherwise, at most 30 days, judged by
/// the Sharing service's database clock.
public enum InvitationLifetime {
    public static let defaultMilliseconds: UInt64 = 7 * 86_400_000
    public static let maximumMilliseconds: UInt64 = 30 * 86_400_000

    /// Parses a lifetime such as `7d`, `36h`, `90m` or `45s` (a whole number and one unit) into milliseconds,
    /// 1 s to 30 days. Anything else is ``SVXClientError/Code/invalidInput`` saying what is expected.
    public static func milliseconds(parsing text: String) throws -> UInt64 {
        let usage = "a lifetime is a whole number and a unit: s, m, h or d (7d, 36h, 90m), at most 30d"
        let digits = text.dropLast()
        guard let unit = text.last, text.utf8.count <= 12, !digits.isEmpty,
            digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }), let number = UInt64(digits)
        else {
            throw SVXClientError(.invalidInput, "\"\(text.prefix(16))\" is not \(usage)")
        }
        let scale: UInt64
        switch unit {
        case "s": scale = 1_000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        default: throw SVXClientError(.invalidInput, "\"\(text.prefix(16))\" is not \(usage)")
        }
        let (milliseconds, overflow) = number.multipliedReportingOverflow(by: scale)
        guard number > 0, !overflow, milliseconds <= maximumMilliseconds else {
            throw SVXClientError(.invalidInput, "\(text) is not a lifetime from 1s to 30d")
        }
        return milliseconds
    }
}
