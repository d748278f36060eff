/// The columns of a result, shared by all its rows.
public struct PostgresColumn: Sendable, Equatable {
    /// The column name (or alias).
    public let name: String
    /// The column's type OID.
    public let type: PostgresType
}

final class PostgresColumns: Sendable {
    let columns: [PostgresColumn]
    let indexByName: [String: Int]
    init(_ columns: [PostgresColumn]) {
        self.columns = columns
        var index: [String: Int] = [:]
        for (i, column) in columns.enumerated() where index[column.name] == nil { index[column.name] = i }
        self.indexByName = index
    }
}

/// One row of a query result, copied out of libpq (it does not keep the connection or the result alive).
public struct PostgresRow: Sendable {
    let layout: PostgresColumns
    let values: [[UInt8]?]

    init(layout: PostgresColumns, values: [[UInt8]?]) {
        self.layout = layout
        self.values = values
    }

    /// The columns of this row, in order.
    public var columns: [PostgresColumn] { layout.columns }

    /// The number of columns.
    public var count: Int { values.count }

    /// The raw cell at `index` (0-based).
    public func cell(at index: Int) throws -> PostgresCell {
        guard values.indices.contains(index) else {
            throw PostgresDecodingError(
                column: "?", columnIndex: index, message: "the row has \(values.count) columns")
        }
        let column = layout.columns[index]
        return PostgresCell(columnName: column.name, columnIndex: index, type: column.type, bytes: values[index])
    }

    /// Decodes the column at `column` (0-based) as `T`.
    ///
    /// - Throws: ``PostgresDecodingError`` for a NULL into a non-optional, a column type `T` does not accept, or an
    ///   index out of range.
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, at column: Int) throws -> T {
        try T.decode(from: cell(at: column))
    }

    /// Decodes the first column named `name` as `T`.
    public func decode<T: PostgresDecodable>(_: T.Type = T.self, column name: String) throws -> T {
        guard let index = layout.indexByName[name] else {
            throw PostgresDecodingError(column: name, columnIndex: -1, message: "no column named \(name)")
        }
        return try T.decode(from: cell(at: index))
    }

    /// Whether the column at `index` is NULL.
    public func isNull(at index: Int) -> Bool {
        values.indices.contains(index) && values[index] == nil
    }
}
