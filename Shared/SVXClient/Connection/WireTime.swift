import Foundation

extension Date {
    /// A time in Unix epoch milliseconds, as every `*_ms` field of the wire carries it.
    init(wireMilliseconds milliseconds: UInt64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// The time in Unix epoch milliseconds for a `*_ms` field (rounded up, so a time in the future stays there; 0 for
    /// a time at or before the epoch).
    var wireMilliseconds: UInt64 {
        let milliseconds = (timeIntervalSince1970 * 1000).rounded(.up)
        return milliseconds > 0 ? UInt64(milliseconds) : 0
    }
}
