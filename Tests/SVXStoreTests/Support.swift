import Foundation
import Logging
import SVXStore
import SVXTestHarness

/// A log handler that keeps messages, to check what SVXStore logs.
final class CollectingLogHandler: LogHandler, @unchecked Sendable {
    // @unchecked Sendable: `entries` is only touched under `lock`.
    private let lock = NSLock()
    private var entries: [(Logger.Level, String, Logger.Metadata)] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        lock.withLock { entries.append((event.level, "\(event.message)", event.metadata ?? [:])) }
    }

    var messages: [(level: Logger.Level, message: String, metadata: Logger.Metadata)] {
        lock.withLock { entries.map { (level: $0.0, message: $0.1, metadata: $0.2) } }
    }

    func logger() -> Logger {
        Logger(label: "svx.test") { _ in self }
    }
}

struct ThreadTimedOut: Error {}

/// Runs `body` on `count` new threads started together, and returns their results in index order (bounded: a
/// thread still running after 60 s is reported as a failure).
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) -> [Result<T, Error>] {
    let lock = NSLock()
    nonisolated(unsafe) var results = [Result<T, Error>?](repeating: nil, count: count)
    let finished = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    for index in 0..<count {
        let thread = Thread {
            go.wait()
            let result = Result { try body(index) }
            lock.withLock { results[index] = result }
            finished.signal()
        }
        thread.start()
    }
    for _ in 0..<count { go.signal() }
    let deadline = DispatchTime.now() + .seconds(60)
    for _ in 0..<count { _ = finished.wait(timeout: deadline) }
    return lock.withLock { results.map { $0 ?? .failure(ThreadTimedOut()) } }
}

func sharedDatabase(_ prefix: String) throws -> TestDatabase {
    try TestPostgres.shared().createDatabase(prefix: prefix)
}

let quietLogger = Logger(label: "svx.test.quiet") { _ in SwiftLogNoOpLogHandler() }
