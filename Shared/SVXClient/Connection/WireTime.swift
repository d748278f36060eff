import Foundation

extension Date {
    /// A time in Unix epoch milliseconds, as every `*_ms` field of the wire carries it.
    init(wireMilliseconds milliseconds: UInt64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
