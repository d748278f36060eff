import Foundation

/// Runs blocking `work` (waiting for a lock, a child process or the database) on a thread of its own and awaits it.
///
/// Every test of a `swift test` process shares Swift's cooperative pool, which has one thread per core (two on the
/// CI machine). A test that blocks one of them stops every other test's async code meanwhile: a login that had
/// begun could wait past its challenge's lifetime while other tests queued for a database (the clean-clone CI runs
/// of 2026-12-07 saw a right passphrase refused and a throttle not taken, both after some 80 s). Blocking work of
/// the harness goes through here instead.
public func offCooperativePool<Result: Sendable>(
    _ work: @escaping @Sendable () throws -> Result
) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Swift.Result { try work() }) }
        thread.name = "svx-test-blocking"
        thread.start()
    }
}
