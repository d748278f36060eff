import Foundation

/// One statement parameter in PostgreSQL's binary format: its type and its bytes (`nil` is SQL NULL).
public struct PostgresParameter: Sendable, Equatable {
    public var type: PostgresType
    public var bytes: [UInt8]?
    public init(type: PostgresType, bytes: [UInt8]?) {
        self.type = type
        self.bytes = bytes
    }
    /// SQL NULL with a type left to the server.
    public static let null = PostgresParameter(type: .unspecified, bytes: nil)
}

/// A Swift value that can be bound to a `$n` placeholder.
///
/// Values always travel apart from the SQL text (`PQexecParams`, binary format), so they can never change a
/// statement's meaning. Conformances: `String` (text), `Int`/`Int64` (int8), `Int32` (int4), `Bool`, `Double`
/// (float8), `[UInt8]` and `Data` (bytea), `UUID`, `Date` (timestamptz, microsecond precision) and `Optional` of
/// any of them (`nil` is NULL).
public protocol PostgresEncodable {
    /// The binary representation of this value.
    var postgresParameter: PostgresParameter { get }
}

extension FixedWidthInteger {
    fileprivate var bigEndianBytes: [UInt8] {
        withUnsafeBytes(of: self.bigEndian) { Array($0) }
    }
}

extension String: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .text, bytes: Array(utf8)) }
}

extension Int: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .int8, bytes: Int64(self).bigEndianBytes) }
}

extension Int64: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .int8, bytes: bigEndianBytes) }
}

extension Int32: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .int4, bytes: bigEndianBytes) }
}

extension Bool: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .bool, bytes: [self ? 1 : 0]) }
}

extension Double: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .float8, bytes: bitPattern.bigEndianBytes) }
}

extension Array: PostgresEncodable where Element == UInt8 {
    public var postgresParameter: PostgresParameter { .init(type: .bytea, bytes: self) }
}

extension Data: PostgresEncodable {
    public var postgresParameter: PostgresParameter { .init(type: .bytea, bytes: Array(self)) }
}

extension UUID: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        withUnsafeBytes(of: uuid) { .init(type: .uuid, bytes: Array($0)) }
    }
}

/// Seconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC).
let postgresEpochOffset: Double = 946_684_800

extension Date: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        let micros = ((timeIntervalSince1970 - postgresEpochOffset) * 1_000_000).rounded()
        let clamped: Int64 =
            micros >= 9.2e18 ? Int64.max : micros <= -9.2e18 ? Int64.min : Int64(micros)
        return .init(type: .timestamptz, bytes: clamped.bigEndianBytes)
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresParameter: PostgresParameter {
        switch self {
        case .none: .null
        case .some(let value): value.postgresParameter
        }
    }
}
