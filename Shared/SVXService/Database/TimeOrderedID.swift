import Cryppo
import Foundation

/// UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids made this way sort by creation, so listing
/// by id is listing by creation and new rows land at the end of the primary-key index (no random page splits at a
/// million rows). The Vault's items and Sharing's invitations and connections take such ids.
public enum TimeOrderedID {
    public static func make(now: Date = Date()) throws -> UUID {
        var bytes = try SecureRandom.bytes(count: 16)
        let milliseconds = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (8 * (5 - index))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        return UUID(uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
