import CLibPQ
import Foundation

/// The isolation level of a transaction.
public enum IsolationLevel: Sendable, CaseIterable {
    case readCommitted, repeatableRead, serializable

    var sql: String {
        switch self {
        case .readCommitted: "READ COMMITTED"
        case .repeatableRead: "REPEATABLE READ"
        case .serializable: "SERIALIZABLE"
        }
    }
}

extension PostgresConnection {
    /// Runs `body` in a transaction and commits it.
    ///
    /// When the body or the COMMIT fails with a serialisation failure (40001), a deadlock (40P01), or a connection
    /// lost before COMMIT was sent, the transaction is rolled back and the body run again, up to `maxAttempts` runs
    /// in all, after a short jittered pause (about 5 ms, doubling, capped at 100 ms). The last error is then thrown.
    /// A connection lost during COMMIT is thrown at once (the outcome is unknown). Any other error rolls back and is
    /// rethrown. The body must therefore be safe to run more than once and let ``DatabaseError`` propagate.
    ///
    /// Transactions do not nest: calling this inside `body` throws ``DatabaseError/Kind/other``.
    @discardableResult
    public func transaction<T>(
        isolation: IsolationLevel = .readCommitted, maxAttempts: Int = 3,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        guard !isInTransaction else {
            throw DatabaseError(kind: .other, message: "transaction() inside a transaction: nesting is not supported")
        }
        let attempts = max(1, maxAttempts)
        var attempt = 1
        while true {
            do {
                return try runTransactionOnce(isolation: isolation, body)
            } catch let failure as TransactionFailure {
                guard failure.retryable, attempt < attempts else { throw failure.error }
                logger.debug(
                    "retrying transaction",
                    metadata: ["attempt": "\(attempt)", "error": "\((failure.error as? DatabaseError)?.kind.name ?? "other")"])
                Self.backoff(attempt: attempt)
                attempt += 1
            }
        }
    }

    private struct TransactionFailure: Error {
        let error: Error
        let retryable: Bool
    }

    private func runTransactionOnce<T>(isolation: IsolationLevel, _ body: (PostgresConnection) throws -> T) throws -> T {
        do {
            try runStatement("BEGIN ISOLATION LEVEL \(isolation.sql)", []) { _ in }
        } catch let error as DatabaseError {
            throw TransactionFailure(error: error, retryable: Self.isRetryable(error))
        }
        transactionOpen = true
        firstErrorInTransaction = nil
        let value: T
        do {
            value = try body(self)
        } catch {
            finishTransactionQuietly()
            let retryable = (error as? DatabaseError).map(Self.isRetryable) ?? false
            throw TransactionFailure(error: error, retryable: retryable)
        }
        if let handle, PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) == PQTRANS_INERROR {
            // The body swallowed an error; PostgreSQL would turn COMMIT into ROLLBACK.
            let error = firstErrorInTransaction ?? DatabaseError(
                kind: .other, message: "the transaction was aborted by an earlier error")
            finishTransactionQuietly()
            throw TransactionFailure(error: error, retryable: Self.isRetryable(error))
        }
        do {
            try runStatement("COMMIT", []) { _ in }
        } catch let error as DatabaseError {
            finishTransactionQuietly()
            if error.kind == .connectionLost {
                throw TransactionFailure(
                    error: DatabaseError(
                        kind: .connectionLost, sqlState: error.sqlState,
                        message: "connection lost during COMMIT; the outcome is unknown"),
                    retryable: false)
            }
            throw TransactionFailure(error: error, retryable: Self.isRetryable(error))
        }
        transactionOpen = false
        firstErrorInTransaction = nil
        return value
    }

    /// Rolls back whatever is open, ignoring errors, and forgets the transaction.
    func finishTransactionQuietly() {
        transactionOpen = false
        firstErrorInTransaction = nil
        lastKnownInTransaction = false
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return }
        let status = PQtransactionStatus(handle)
        if status == PQTRANS_INTRANS || status == PQTRANS_INERROR {
            if let result = PQexec(handle, "ROLLBACK") { PQclear(result) }
        }
    }

    static func isRetryable(_ error: DatabaseError) -> Bool {
        error.kind == .serializationFailure || error.kind == .deadlockDetected || error.kind == .connectionLost
    }

    static func backoff(attempt: Int) {
        let base = min(0.1, 0.005 * Double(1 << min(attempt - 1, 10)))
        Thread.sleep(forTimeInterval: Double.random(in: (base * 0.5)...(base * 1.5)))
    }

}
