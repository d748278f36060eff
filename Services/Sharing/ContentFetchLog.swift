import Foundation
import SVXRPC
import SVXService
import SVXStore
import SharingSQL
import Synchronization

/// Content fetches of shares without a fetch limit, counted in memory and written to their rows in batches
/// (SharingQueries.addContentFetches): such a fetch is a read, and its bookkeeping (how many fetches, the first and
/// the last) need not cost a write and a WAL flush each. A fetch of a limited share (view-once) is never counted
/// here: its count decides whether the content is served, so it is stored, durably, in the transaction that serves
/// it.
///
/// Written, by one worker of the process at a time, when one of this process's requests finds the oldest pending fetch
/// at least ``interval`` old, when more than ``maximumPending`` shares are pending, and before this process lists shares for a sender or an owner (so
/// they see every fetch this process served). A crash loses the fetches not yet written: counts and times only,
/// never content or a decision. With several Sharing processes, each writes its own.
final class ContentFetchLog: Sendable {
    struct Key: Hashable, Sendable {
        let ownerID: UUID
        let shareID: UUID
    }

    struct Fetches: Sendable, Equatable {
        var count: Int
        /// Database clock (microseconds since the epoch) of the first and the last fetch counted.
        var first: DatabaseInstant
        var last: DatabaseInstant
    }

    static let interval: Duration = .seconds(1)
    /// Shares pending at most before a write is due regardless of time (and so at most one batch's rows).
    static let maximumPending = 1_000

    private struct State {
        var pending: [Key: Fetches] = [:]
        var oldest: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    /// Whether a worker of this process is writing a batch (one at a time: batches never wait for each other's rows).
    private let writing = Mutex(false)

    /// Runs `write` unless another worker is writing a batch (then the fetches wait for the next one).
    func whileWriting(_ write: () -> Void) {
        guard writing.withLock({ busy in
            if busy { return false }
            busy = true
            return true
        }) else { return }
        defer { writing.withLock { $0 = false } }
        write()
    }

    /// Counts one fetch of `key` at `at`; true when the pending fetches are due to be written.
    func record(_ key: Key, at: DatabaseInstant) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            if var fetches = state.pending[key] {
                fetches.count += 1
                fetches.first = min(fetches.first, at)
                fetches.last = max(fetches.last, at)
                state.pending[key] = fetches
            } else {
                state.pending[key] = Fetches(count: 1, first: at, last: at)
            }
            if state.oldest == nil { state.oldest = now }
            return state.pending.count > Self.maximumPending || now - state.oldest! >= Self.interval
        }
    }

    /// The pending fetches, taken out: all of them when `force` or when due, else none.
    func take(force: Bool) -> [Key: Fetches] {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let oldest = state.oldest,
                force || state.pending.count > Self.maximumPending || now - oldest >= Self.interval
            else { return [:] }
            let taken = state.pending
            state = State()
            return taken
        }
    }

    /// Puts fetches back that could not be written (they are tried again with the next batch).
    func restore(_ fetches: [Key: Fetches]) {
        guard !fetches.isEmpty else { return }
        let now = ContinuousClock.now
        state.withLock { state in
            for (key, value) in fetches {
                if let existing = state.pending[key] {
                    state.pending[key] = Fetches(
                        count: existing.count + value.count, first: min(existing.first, value.first),
                        last: max(existing.last, value.last))
                } else {
                    state.pending[key] = value
                }
            }
            if state.oldest == nil { state.oldest = now }
        }
    }
}

extension SharingService {
    /// Writes the pending content fetches (ContentFetchLog) when they are due, or now when `force`, on the worker's
    /// connection, outside any transaction of the request. A failure keeps them for the next try and is logged; the
    /// request goes on.
    func writeContentFetches(_ context: RequestContext, _ worker: ServiceWorker, force: Bool) {
        contentFetches.whileWriting { writePendingFetches(context, worker, force: force) }
    }

    private func writePendingFetches(_ context: RequestContext, _ worker: ServiceWorker, force: Bool) {
        let fetches = contentFetches.take(force: force)
        guard !fetches.isEmpty else { return }
        let entries = Array(fetches)
        do {
            _ = try worker.database.execute(
                SharingQueries.addContentFetches, uuidArrayLiteral(entries.map(\.key.ownerID)),
                uuidArrayLiteral(entries.map(\.key.shareID)), "{" + entries.map { String($0.value.count) }.joined(separator: ",") + "}",
                "{" + entries.map { String($0.value.first) }.joined(separator: ",") + "}",
                "{" + entries.map { String($0.value.last) }.joined(separator: ",") + "}")
        } catch {
            contentFetches.restore(fetches)
            context.logger.warning("content fetch counts not written yet", metadata: ["shares": "\(entries.count)"])
        }
    }
}
