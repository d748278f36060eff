import Foundation

/// When a share ends, as people write it (`svx shares create --expires`): a duration from now (`45s`, `90m`, `36h`,
/// `7d`, `2w`: a whole number and one unit, at most 3 650 days), a date (`2027-01-31`: 00:00 UTC that day), or a
/// date and time in ISO 8601 with its zone (`2027-01-31T18:00:00Z`, `2027-01-31T18:00:00+01:00`). The time must be
/// in the future; the Sharing service judges it again by its database clock.
public enum ShareExpiry {
    public static let maximumDays = 3_650

    /// The moment `text` names, from `now`. Anything else is ``SVXClientError/Code/invalidInput`` saying what is
    /// expected.
    public static func date(parsing text: String, now: Date = Date()) throws -> Date {
        let text = text.trimmingCharacters(in: .whitespaces)
        let usage =
            "an expiry is a duration (45s, 90m, 36h, 7d, 2w; at most \(maximumDays)d) or a date (2027-01-31, 2027-01-31T18:00:00Z)"
        let date: Date
        if let seconds = try duration(text, usage: usage) {
            date = now.addingTimeInterval(seconds)
        } else if let day = day(text) {
            date = day
        } else if let moment = ISO8601DateFormatter().date(from: text) {
            date = moment
        } else {
            throw SVXClientError(.invalidInput, "\"\(text.prefix(40))\" is not \(usage)")
        }
        guard date > now else { throw SVXClientError(.invalidInput, "\(text) is not in the future") }
        return date
    }

    /// Seconds of a duration such as `7d`; nil when `text` is not shaped like one.
    static func duration(_ text: String, usage: String) throws -> TimeInterval? {
        guard let unit = text.last, "smhdw".contains(unit), text.count >= 2, text.count <= 12 else { return nil }
        let digits = text.dropLast()
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int(digits) else { return nil }
        let scale: Int
        switch unit {
        case "s": scale = 1
        case "m": scale = 60
        case "h": scale = 3_600
        case "d": scale = 86_400
        default: scale = 7 * 86_400
        }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: scale)
        guard number > 0, !overflow, seconds <= maximumDays * 86_400 else {
            throw SVXClientError(.invalidInput, "\(text) is not \(usage)")
        }
        return TimeInterval(seconds)
    }

    /// 00:00 UTC of a `YYYY-MM-DD` day; nil for anything else.
    static func day(_ text: String) -> Date? {
        guard text.count == 10 else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd"
        formatter.isLenient = false
        guard let date = formatter.date(from: text), formatter.string(from: date) == text else { return nil }
        return date
    }
}
