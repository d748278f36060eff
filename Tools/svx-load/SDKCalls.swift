import Dispatch
import SVXClient
import Synchronization

/// Runs an async SDK call from one of svx-load's blocking threads (a load lane, a synchronous command) and waits
/// for its outcome. Never call it from a task of the cooperative pool: it blocks the calling thread.
func waitFor<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) throws -> T {
    let outcome = Outcome<T>()
    Task {
        do {
            outcome.finish(.success(try await call()))
        } catch {
            outcome.finish(.failure(error))
        }
    }
    return try outcome.wait().get()
}

/// One result handed from a task to a waiting thread.
private final class Outcome<T: Sendable>: Sendable {
    private let result = Mutex<Result<T, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func finish(_ value: Result<T, any Error>) {
        result.withLock { $0 = value }
        done.signal()
    }

    func wait() -> Result<T, any Error> {
        done.wait()
        return result.withLock { $0! }
    }
}

/// The code name under which a failed call is counted: the service's status code, or what failed on the client
/// (the SDK refusing a server proof, ...).
func failureName(_ error: any Error) -> String {
    if let status = ServiceError(error) { return status.code.name }
    if let error = error as? SVXClientError { return "CLIENT_\(error.code.rawValue)" }
    return "ERROR"
}

/// A failure the lane should back off from for a moment (the service is gone or shedding load).
func isBackOff(_ error: any Error) -> Bool {
    guard let status = ServiceError(error) else { return false }
    return status.code == .unavailable || status.code == .resourceExhausted
}
