import CLibPQ
import Foundation
import Logging

/// One libpq connection to PostgreSQL.
///
/// **Ownership**: a connection is used by one thread at a time (libpq's `PGconn` is not safe for concurrent use).
/// In a service, ``PostgresPool`` gives each RPC worker thread its own connection and nothing else touches it.
///
/// **Statements**: every statement carries its values bound as `$1`, `$2`, ... in PostgreSQL's binary format, so values
/// never become SQL text. Results are read in binary format too and decoded by ``PostgresRow`` strictly by column type.
/// A statement with parameters is prepared on the server the first time this connection runs it (by SQL text and
/// parameter types, at most `statementCacheCapacity` of them, least recently used evicted) and run prepared from then
/// on, so the server parses, analyses and plans it once per connection, not once per call (docs/store.md).
///
/// **Lost connections**: before a statement, a connection whose status is bad is reset (`PQreset`). A statement that
/// fails because the connection went away is, outside a transaction, retried once on the reset connection (note: an
/// autocommit statement whose reply was lost may already have been applied; make such statements idempotent or put
/// them in a transaction). Inside a transaction the statement throws ``DatabaseError/Kind/connectionLost`` and
/// ``transaction(isolation:maxAttempts:_:)`` decides whether to run the whole transaction again.
///
/// NOTICEs from the server are logged at debug level instead of being written to stderr.
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked Sendable: a connection has mutable state and must only be used by one thread at a time. It is
    // Sendable so that it can be created on one thread and handed to the worker thread that owns it from then on
    // (PostgresPool does exactly that, one connection per worker index). Nothing here is safe to call concurrently.

    private(set) var handle: OpaquePointer?
    private let noticeSink: NoticeSink
    /// The logger given at creation (NOTICEs and reconnects are logged here).
    public let logger: Logger

    /// True between BEGIN and COMMIT/ROLLBACK of ``transaction(isolation:maxAttempts:_:)``.
    var transactionOpen = false
    /// The server's transaction status after the last statement (covers a BEGIN sent by hand).
    var lastKnownInTransaction = false
    /// The first error seen inside the open transaction (reported if the body swallowed it).
    var firstErrorInTransaction: DatabaseError?

    /// How many times this connection has been reset after the server went away.
    public private(set) var reconnectCount = 0

    /// The statements prepared on the server (nil: every statement is sent with its text, `PQexecParams`).
    private var statements: StatementCache?

    /// Opens a connection.
    ///
    /// - Parameters:
    ///   - conninfo: a libpq connection string, URI (`postgresql://svx_auth@127.0.0.1:5432/svx`) or `key=value` form.
    ///   - logger: where NOTICEs and reconnects are logged.
    ///   - applicationName: the `application_name` reported to the server unless `conninfo` sets one.
    ///   - connectTimeout: seconds allowed for connecting (and reconnecting) unless `conninfo` sets `connect_timeout`.
    ///   - statementCacheCapacity: how many statements with parameters to keep prepared on the server (0: none).
    /// - Throws: ``DatabaseError`` with kind ``DatabaseError/Kind/connectionLost`` when the server cannot be reached
    ///   or refuses the login.
    public init(
        conninfo: String, logger: Logger, applicationName: String = "svx", connectTimeout: Int = 10,
        statementCacheCapacity: Int = 256
    ) throws {
        self.logger = logger
        statements = statementCacheCapacity > 0 ? StatementCache(capacity: statementCacheCapacity) : nil
        self.noticeSink = NoticeSink(logger: logger)
        // Entries before "dbname" are defaults that the expanded conninfo may override.
        let pairs: [(String, String)] = [
            ("connect_timeout", String(connectTimeout)),
            ("client_encoding", "UTF8"),
            ("dbname", conninfo),
            ("fallback_application_name", applicationName),
        ]
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        let keywordPointers: [UnsafePointer<CChar>?] = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers: [UnsafePointer<CChar>?] = values.map { UnsafePointer($0) } + [nil]
        let connection = PQconnectdbParams(keywordPointers, valuePointers, 1)
        guard let connection else {
            throw DatabaseError(kind: .connectionLost, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)  // handle is still nil, so deinit will not free it again
            throw DatabaseError(kind: .connectionLost, message: "cannot connect: \(message)")
        }
        self.handle = connection
        installNoticeProcessor()
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Closes the connection now; later statements throw. Idempotent.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// Whether the connection is inside a transaction (one opened by ``transaction(isolation:maxAttempts:_:)`` or a
    /// BEGIN sent by hand).
    public var isInTransaction: Bool { transactionOpen || lastKnownInTransaction }

    /// The process id of the server backend serving this connection (changes after a reconnect).
    public var backendProcessID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    // MARK: Statements

    /// Runs one statement and returns its rows. Values are bound to `$1`, `$2`, ... in order.
    ///
    /// ```swift
    /// let rows = try connection.query("SELECT id, name FROM users WHERE email = $1", email)
    /// let id = try rows.first?.decode(UUID.self, column: "id")
    /// ```
    @discardableResult
    public func query(_ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> [PostgresRow] {
        try query(sql, parameters: parameters)
    }

    /// Runs one statement with an array of parameters (for statements built with a variable number of them).
    @discardableResult
    public func query(_ sql: String, parameters: [(any PostgresEncodable)?]) throws -> [PostgresRow] {
        try runStatement(sql, Self.bind(parameters)) { Self.rows(from: $0) }
    }

    /// Runs one statement and returns the number of rows it affected (0 for statements that report none).
    @discardableResult
    public func execute(_ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> Int {
        try execute(sql, parameters: parameters)
    }

    /// Runs one statement with an array of parameters and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, parameters: [(any PostgresEncodable)?]) throws -> Int {
        try runStatement(sql, Self.bind(parameters)) { result in
            Int(String(cString: PQcmdTuples(result))) ?? 0
        }
    }

    /// Runs a script of several statements without parameters (simple query protocol).
    ///
    /// Only for trusted SQL that ships with the program, such as migration files and bootstrap.sql. Never build the
    /// text from values: use ``query(_:_:)`` with parameters for anything that carries data.
    public func executeScript(_ sql: String) throws {
        let inTransaction = isInTransaction
        try ensureUsable(inTransaction: inTransaction)
        let result = PQexec(handle, sql)
        try check(result, inTransaction: inTransaction) { _ in }
    }

    /// Runs `SELECT 1`; false when the server cannot be reached even after a reset.
    public func ping() -> Bool {
        (try? query("SELECT 1")) != nil
    }

    // MARK: Execution

    func runStatement<R>(
        _ sql: String, _ parameters: [PostgresParameter], _ read: (OpaquePointer) throws -> R
    ) throws -> R {
        let inTransaction = isInTransaction
        try ensureUsable(inTransaction: inTransaction)
        do {
            return try execute(sql, parameters, inTransaction: inTransaction, read)
        } catch let error as DatabaseError where error.kind == .connectionLost {
            if inTransaction {
                // The server ended the transaction with the connection; the next statement starts afresh.
                lastKnownInTransaction = false
                throw error
            }
            logger.warning("PostgreSQL connection lost; resetting and retrying the statement once")
            try reconnect()
            return try execute(sql, parameters, inTransaction: false, read)
        }
    }

    /// Resets a bad connection when that is allowed (outside a transaction).
    private func ensureUsable(inTransaction: Bool) throws {
        guard let handle else { throw DatabaseError(kind: .other, message: "the connection was closed") }
        guard PQstatus(handle) != CONNECTION_OK else { return }
        if inTransaction {
            lastKnownInTransaction = false
            throw DatabaseError(kind: .connectionLost, message: "connection lost inside a transaction")
        }
        try reconnect()
    }

    private func reconnect() throws {
        guard let handle else { throw DatabaseError(kind: .other, message: "the connection was closed") }
        reconnectCount += 1
        lastKnownInTransaction = false
        statements?.removeAll()  // a new server session has none of them
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw DatabaseError(
                kind: .connectionLost, message: "reconnect failed: \(Self.trimmed(PQerrorMessage(handle)))")
        }
        installNoticeProcessor()
        logger.info("PostgreSQL connection re-established", metadata: ["reconnects": "\(reconnectCount)"])
    }

    private func execute<R>(
        _ sql: String, _ parameters: [PostgresParameter], inTransaction: Bool, _ read: (OpaquePointer) throws -> R
    ) throws -> R {
        var types: [Oid] = []
        var lengths: [Int32] = []
        var offsets: [Int] = []
        var buffer: [UInt8] = []
        for parameter in parameters {
            types.append(Oid(parameter.type.rawValue))
            if let bytes = parameter.bytes {
                offsets.append(buffer.count)
                lengths.append(Int32(bytes.count))
                buffer.append(contentsOf: bytes)
            } else {
                offsets.append(-1)
                lengths.append(0)
            }
        }
        buffer.append(0)  // never empty, so every non-NULL value (even an empty one) gets a non-nil pointer
        let formats = [Int32](repeating: 1, count: parameters.count)
        let count = Int32(parameters.count)
        return try buffer.withUnsafeBufferPointer { raw in
            try raw.withMemoryRebound(to: CChar.self) { chars in
                let base = chars.baseAddress!
                let values: [UnsafePointer<CChar>?] = offsets.map { $0 < 0 ? nil : base + $0 }
                guard statements != nil, !parameters.isEmpty else {
                    let result = PQexecParams(handle, sql, count, types, values, lengths, formats, 1)
                    return try check(result, inTransaction: inTransaction, read)
                }
                let key = StatementCache.Key(sql: sql, types: types.map { UInt32($0) })
                func runPrepared(_ name: String) -> OpaquePointer? {
                    PQexecPrepared(handle, name, count, values, lengths, formats, 1)
                }
                switch statements!.decide(key) {
                case .run(let name):
                    let result = runPrepared(name)
                    // The server lost the statement (a DEALLOCATE or DISCARD sent by hand) or cannot reuse its plan
                    // after a change of schema: prepare it afresh, once, where a failed statement did no harm.
                    if let result, PQresultStatus(result) == PGRES_FATAL_ERROR,
                       let field = PQresultErrorField(result, Int32(Character("C").asciiValue!)),
                       ["26000", "0A000"].contains(String(cString: field)) {
                        statements!.forget(key)
                        if !inTransaction, case .prepare(let fresh) = statements!.decide(key) {
                            PQclear(result)
                            return try prepareAndRun(key, sql, types, as: fresh, runPrepared, inTransaction: inTransaction, read)
                        }
                    }
                    return try check(result, inTransaction: inTransaction, read)
                case .prepare(let name):
                    return try prepareAndRun(key, sql, types, as: name, runPrepared, inTransaction: inTransaction, read)
                }
            }
        }
    }

    /// Prepares `key`'s statement as `name` and runs it; deallocates the statement the cache let go to make room.
    private func prepareAndRun<R>(
        _ key: StatementCache.Key, _ sql: String, _ types: [Oid], as name: String,
        _ runPrepared: (String) -> OpaquePointer?, inTransaction: Bool, _ read: (OpaquePointer) throws -> R
    ) throws -> R {
        try check(PQprepare(handle, name, sql, Int32(types.count), types), inTransaction: inTransaction) { _ in }
        if let evicted = statements!.prepared(key, name: name), let result = PQexec(handle, "DEALLOCATE \(evicted)") {
            PQclear(result)
        }
        return try check(runPrepared(name), inTransaction: inTransaction, read)
    }

    /// Turns a PGresult into a value or a ``DatabaseError``, and clears it.
    private func check<R>(_ result: OpaquePointer?, inTransaction: Bool, _ read: (OpaquePointer) throws -> R) throws -> R {
        defer {
            if let result { PQclear(result) }
            recordTransactionStatus()
        }
        guard let result else { throw makeError(nil) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return try read(result)
        default:
            let error = makeError(result)
            if transactionOpen, firstErrorInTransaction == nil { firstErrorInTransaction = error }
            throw error
        }
    }

    private func recordTransactionStatus() {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return }
        let status = PQtransactionStatus(handle)
        lastKnownInTransaction = status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    private func makeError(_ result: OpaquePointer?) -> DatabaseError {
        let connectionBad = handle.map { PQstatus($0) != CONNECTION_OK } ?? true
        func field(_ code: Character) -> String? {
            guard let result, let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: value)
        }
        let sqlState = field("C")
        var message = field("M") ?? (handle.map { Self.trimmed(PQerrorMessage($0)) } ?? "no connection")
        if message.isEmpty { message = "PostgreSQL reported an error without a message" }
        var kind = sqlState.map(DatabaseError.kind(forSQLState:)) ?? .other
        if connectionBad { kind = .connectionLost }
        if kind == .invalidInput || (sqlState ?? "").hasPrefix("P0") {
            message = DatabaseError.redactQuoted(message)
        }
        return DatabaseError(kind: kind, sqlState: sqlState, message: message, constraintName: field("n"))
    }

    // MARK: Helpers

    static func bind(_ parameters: [(any PostgresEncodable)?]) -> [PostgresParameter] {
        parameters.map { $0?.postgresParameter ?? .null }
    }

    static func rows(from result: OpaquePointer) -> [PostgresRow] {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        var columns: [PostgresColumn] = []
        columns.reserveCapacity(columnCount)
        for c in 0..<columnCount {
            let name = PQfname(result, Int32(c)).map { String(cString: $0) } ?? ""
            columns.append(PostgresColumn(name: name, type: PostgresType(rawValue: UInt32(PQftype(result, Int32(c))))))
        }
        let layout = PostgresColumns(columns)
        var rows: [PostgresRow] = []
        rows.reserveCapacity(rowCount)
        for r in 0..<rowCount {
            var values: [[UInt8]?] = []
            values.reserveCapacity(columnCount)
            for c in 0..<columnCount {
                if PQgetisnull(result, Int32(r), Int32(c)) != 0 {
                    values.append(nil)
                    continue
                }
                let length = Int(PQgetlength(result, Int32(r), Int32(c)))
                guard length > 0, let pointer = PQgetvalue(result, Int32(r), Int32(c)) else {
                    values.append([])
                    continue
                }
                values.append(UnsafeRawBufferPointer(start: pointer, count: length).map { $0 })
            }
            rows.append(PostgresRow(layout: layout, values: values))
        }
        return rows
    }

    static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "" }
        return String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func installNoticeProcessor() {
        guard let handle else { return }
        PQsetNoticeProcessor(handle, svxNoticeProcessor, Unmanaged.passUnretained(noticeSink).toOpaque())
    }
}

/// Holds the logger that libpq's notice processor writes to (kept alive by its connection).
final class NoticeSink {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private func svxNoticeProcessor(_ argument: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let argument, let message else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(argument).takeUnretainedValue()
    let text = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines)
    sink.logger.debug("PostgreSQL notice", metadata: ["notice": "\(text)"])
}
