import Foundation

/// One cell of a result row as received (binary format): its column, the column's type, and its bytes (`nil` is NULL).
public struct PostgresCell: Sendable {
    /// The column's name in the result.
    public let columnName: String
    /// The column's 0-based position.
    public let columnIndex: Int
    /// The column's type as reported by the server.
    public let type: PostgresType
    /// The value in binary format; `nil` is SQL NULL.
    public let bytes: [UInt8]?

    /// A decoding error about this cell.
    public func error(_ message: String) -> PostgresDecodingError {
        PostgresDecodingError(column: columnName, columnIndex: columnIndex, message: message)
    }

    /// The bytes, or an error naming `T` when the cell is NULL.
    public func nonNullBytes<T>(for _: T.Type) throws -> [UInt8] {
        guard let bytes else { throw error("NULL cannot be decoded as \(T.self); decode an Optional") }
        return bytes
    }

    func typeMismatch<T>(_: T.Type) -> PostgresDecodingError {
        error("column type \(type) cannot be decoded as \(T.self)")
    }
}

/// A Swift type that can be read from a result column.
///
/// Decoding is strict about the column type (a `text` column is not an `Int`): cast in SQL when a different
/// representation is wanted (`count(*)::int4`, `price::text`). NULL decodes only into an `Optional`.
public protocol PostgresDecodable {
    /// Decodes a value from a cell, throwing ``PostgresDecodingError`` for NULL (unless optional) or a wrong type.
    static func decode(from cell: PostgresCell) throws -> Self
}

func readBigEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: [UInt8]) -> T {
    var value: T = 0
    for byte in bytes { value = (value << 8) | T(byte) }
    return value
}

func decodeInteger(_ cell: PostgresCell, allowInt8: Bool) throws -> Int64 {
    let bytes = try cell.nonNullBytes(for: Int64.self)
    switch (cell.type, bytes.count) {
    case (.int2, 2): return Int64(readBigEndian(Int16.self, bytes))
    case (.int4, 4): return Int64(readBigEndian(Int32.self, bytes))
    case (.int8, 8) where allowInt8: return readBigEndian(Int64.self, bytes)
    default: throw cell.error("column type \(cell.type) (\(bytes.count) bytes) is not an integer of this width")
    }
}

extension String: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> String {
        let bytes = try cell.nonNullBytes(for: String.self)
        switch cell.type {
        case .text, .varchar, .bpchar, .name, .json, .unknown, .char:
            return String(decoding: bytes, as: UTF8.self)
        case .jsonb:
            guard bytes.first == 1 else { throw cell.error("unknown jsonb binary version") }
            return String(decoding: bytes.dropFirst(), as: UTF8.self)
        default:
            throw cell.typeMismatch(String.self)
        }
    }
}

extension Int: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int {
        Int(try decodeInteger(cell, allowInt8: true))
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int64 {
        try decodeInteger(cell, allowInt8: true)
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int32 {
        Int32(try decodeInteger(cell, allowInt8: false))
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Bool {
        let bytes = try cell.nonNullBytes(for: Bool.self)
        guard cell.type == .bool, bytes.count == 1 else { throw cell.typeMismatch(Bool.self) }
        return bytes[0] != 0
    }
}

extension Double: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Double {
        let bytes = try cell.nonNullBytes(for: Double.self)
        switch (cell.type, bytes.count) {
        case (.float8, 8): return Double(bitPattern: readBigEndian(UInt64.self, bytes))
        case (.float4, 4): return Double(Float(bitPattern: readBigEndian(UInt32.self, bytes)))
        default: throw cell.typeMismatch(Double.self)
        }
    }
}

extension Array: PostgresDecodable where Element == UInt8 {
    public static func decode(from cell: PostgresCell) throws -> [UInt8] {
        let bytes = try cell.nonNullBytes(for: [UInt8].self)
        guard cell.type == .bytea else { throw cell.typeMismatch([UInt8].self) }
        return bytes
    }
}

extension Data: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Data {
        let bytes = try cell.nonNullBytes(for: Data.self)
        guard cell.type == .bytea else { throw cell.typeMismatch(Data.self) }
        return Data(bytes)
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> UUID {
        let b = try cell.nonNullBytes(for: UUID.self)
        guard cell.type == .uuid, b.count == 16 else { throw cell.typeMismatch(UUID.self) }
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

extension Date: PostgresDecodable {
    /// `timestamptz` (and `timestamp`, read as UTC). PostgreSQL's `infinity`/`-infinity` become
    /// `Date.distantFuture`/`Date.distantPast`.
    public static func decode(from cell: PostgresCell) throws -> Date {
        let bytes = try cell.nonNullBytes(for: Date.self)
        guard cell.type == .timestamptz || cell.type == .timestamp, bytes.count == 8 else {
            throw cell.typeMismatch(Date.self)
        }
        let micros = readBigEndian(Int64.self, bytes)
        if micros == Int64.max { return .distantFuture }
        if micros == Int64.min { return .distantPast }
        // Whole seconds and the microsecond remainder apart, so no precision is lost in the Double.
        let seconds = micros / 1_000_000, rest = micros % 1_000_000
        return Date(timeIntervalSince1970: Double(seconds) + postgresEpochOffset + Double(rest) / 1_000_000)
    }
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Wrapped? {
        if cell.bytes == nil { return nil }
        return try Wrapped.decode(from: cell)
    }
}
