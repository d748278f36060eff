/// An error reported by PostgreSQL or by the connection to it.
///
/// ``kind`` is derived from the SQLSTATE. ``message`` is PostgreSQL's primary message with quoted text removed for
/// input errors, so it never carries a parameter value; PostgreSQL's DETAIL field (which can quote row values, as in
/// "Key (email)=(...) already exists") is never read.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, in the terms a service maps to a status (an opaque struct so kinds can be added).
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The kind's name, for logs and metrics (`uniqueViolation`).
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// 23505: a unique constraint was violated (a service answers ALREADY_EXISTS).
        public static let uniqueViolation = Kind("uniqueViolation")
        /// 23503: a foreign key constraint was violated.
        public static let foreignKeyViolation = Kind("foreignKeyViolation")
        /// 23514: a check constraint was violated.
        public static let checkViolation = Kind("checkViolation")
        /// 23502: NULL written to a NOT NULL column.
        public static let notNullViolation = Kind("notNullViolation")
        /// 40001: the transaction could not be serialised; retried by ``PostgresConnection/transaction(isolation:maxAttempts:_:)``.
        public static let serializationFailure = Kind("serializationFailure")
        /// 40P01: PostgreSQL broke a deadlock by aborting this transaction; retried like a serialisation failure.
        public static let deadlockDetected = Kind("deadlockDetected")
        /// Class 08, 57P01-57P03, or the connection went bad: the server is unreachable or went away.
        public static let connectionLost = Kind("connectionLost")
        /// 42501: the role lacks a privilege (for example another service's schema).
        public static let insufficientPrivilege = Kind("insufficientPrivilege")
        /// 42P01: the table does not exist (or is not visible on the search path).
        public static let undefinedTable = Kind("undefinedTable")
        /// Class 22: a value was not acceptable for its type (bad input syntax, out of range, ...).
        public static let invalidInput = Kind("invalidInput")
        /// Anything else, including misuse of this API (nested transactions, ...).
        public static let other = Kind("other")
    }

    /// The category of the failure.
    public let kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public let sqlState: String?
    /// A human-readable message without parameter values.
    public let message: String
    /// The constraint named by the server for constraint violations (for example `users_email_key`).
    public let constraintName: String?

    /// Creates an error (SVXStore creates them; public for tests and adapters).
    public init(kind: Kind, sqlState: String? = nil, message: String, constraintName: String? = nil) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.constraintName = constraintName
    }

    public var description: String {
        var text = "DatabaseError(\(kind)"
        if let sqlState { text += ", \(sqlState)" }
        text += "): \(message)"
        if let constraintName { text += " [constraint \(constraintName)]" }
        return text
    }

    /// Maps a SQLSTATE to a ``Kind``.
    public static func kind(forSQLState state: String) -> Kind {
        switch state {
        case "23505": return .uniqueViolation
        case "23503": return .foreignKeyViolation
        case "23514": return .checkViolation
        case "23502": return .notNullViolation
        case "40001": return .serializationFailure
        case "40P01": return .deadlockDetected
        case "42501": return .insufficientPrivilege
        case "42P01": return .undefinedTable
        case "57P01", "57P02", "57P03": return .connectionLost
        default: break
        }
        if state.hasPrefix("08") { return .connectionLost }
        if state.hasPrefix("22") { return .invalidInput }
        return .other
    }

    /// Removes every double-quoted or single-quoted span from a server message, for the error classes whose
    /// messages quote the offending input (class 22: `invalid input syntax for type uuid: "..."`).
    static func redactQuoted(_ message: String) -> String {
        var out = ""
        var quote: Character?
        for ch in message {
            if let q = quote {
                if ch == q { quote = nil; out.append(ch) }
            } else {
                out.append(ch)
                if ch == "\"" || ch == "'" { quote = ch; out += "…" }
            }
        }
        return out
    }
}

/// A value could not be decoded from a result column: NULL into a non-optional, or a column type that the Swift
/// type does not accept. A programming error in the service, never caused by user input.
public struct PostgresDecodingError: Error, Sendable, CustomStringConvertible {
    /// The column name (or the name asked for when no such column exists).
    public let column: String
    /// The 0-based column position (-1 when looked up by a name that does not exist).
    public let columnIndex: Int
    /// What was wrong.
    public let message: String
    public var description: String { "cannot decode column \(columnIndex) (\(column)): \(message)" }
}

/// Why a set of migration files or an applied migration history was refused.
public struct MigrationError: Error, Sendable, CustomStringConvertible {
    /// What was refused and why.
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "MigrationError: \(message)" }
}
