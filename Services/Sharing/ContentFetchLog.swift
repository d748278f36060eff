import Foundation
import SVXRPC
import SVXService
import SVXStore
import SharingSQL
import Synchronization

/// Content fetches of shares without a fetch limit, counted in memory and written to their rows in batches
/// (SharingQueries.addContentFetches): such a fetch is a read, and its bookkeeping (how many fetches, the first and
/// the last, and its `share.fetched` audit events) need not cost a write and a WAL flush each. A fetch of a limited
/// share (view-once) is never counted here: its count decides whether the content is served, so it is stored,
/// durably, with its audit events, in the transaction that serves it.
///
/// Each fetch is kept (who fetched: the user, session and peer address; and when, by the database clock), and the
/// batch appends one `share.fetched` per fetch on the recipient's chain and one on the sender's, in the transaction
/// that writes the counts: an event exists if and only if its fetch was counted (docs/ADR-010-audit.md, "Sharing").
///
/// Written, by one worker of the process at a time, when one of this process's requests finds the oldest pending fetch
/// at least ``interval`` old, when more than ``maximumPending`` shares or fetches are pending, and before this process
/// lists shares for a sender or an owner (so they see every fetch this process served). A crash loses the fetches not
/// yet written: counts, times and their audit events, never content or a decision. With several Sharing processes,
/// each writes its own.
final class ContentFetchLog: Sendable {
    struct Key: Hashable, Sendable {
        let ownerID: UUID
        let shareID: UUID
    }

    /// One fetch: who made it, and the database clock (microseconds since the epoch) of the read that served it.
    struct Fetch: Sendable, Equatable {
        let by: SharingActor
        let at: DatabaseInstant
    }

    struct Fetches: Sendable, Equatable {
        let share: ShareParties
        /// In the order they were counted.
        var fetches: [Fetch]

        var count: Int { fetches.count }
        /// Database clock of the first and the last fetch counted.
        var first: DatabaseInstant { fetches.map(\.at).min() ?? 0 }
        var last: DatabaseInstant { fetches.map(\.at).max() ?? 0 }
    }

    static let interval: Duration = .seconds(1)
    /// Shares, and fetches, pending at most before a write is due regardless of time (and so at most one batch's rows).
    static let maximumPending = 1_000

    private struct State {
        var pending: [Key: Fetches] = [:]
        var fetchCount = 0
        var oldest: ContinuousClock.Instant?

        var isFull: Bool { pending.count > ContentFetchLog.maximumPending || fetchCount > ContentFetchLog.maximumPending }
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

    /// Counts one fetch of `share` by `fetcher` at `at`; true when the pending fetches are due to be written.
    func record(_ share: ShareParties, by fetcher: SharingActor, at: DatabaseInstant) -> Bool {
        let now = ContinuousClock.now
        let key = Key(ownerID: share.ownerID, shareID: share.shareID)
        return state.withLock { state in
            state.pending[key, default: Fetches(share: share, fetches: [])].fetches.append(Fetch(by: fetcher, at: at))
            state.fetchCount += 1
            if state.oldest == nil { state.oldest = now }
            return state.isFull || now - state.oldest! >= Self.interval
        }
    }

    /// The pending fetches, taken out: all of them when `force` or when due, else none.
    func take(force: Bool) -> [Key: Fetches] {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let oldest = state.oldest, force || state.isFull || now - oldest >= Self.interval else { return [:] }
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
                if var existing = state.pending[key] {
                    existing.fetches = value.fetches + existing.fetches
                    state.pending[key] = existing
                } else {
                    state.pending[key] = value
                }
                state.fetchCount += value.count
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

    /// One transaction: the counts added (one statement), then a `share.fetched` on both sides' chains for every fetch
    /// of a share whose row was written, in the order of the fetches (one AuditTrail call, two statements an event).
    private func writePendingFetches(_ context: RequestContext, _ worker: ServiceWorker, force: Bool) {
        let fetches = contentFetches.take(force: force)
        guard !fetches.isEmpty else { return }
        let entries = Array(fetches)
        do {
            try worker.database.transaction { db in
                try audited(db, by: nil) { events in
                    let written = Set(try db.query(
                        SharingQueries.addContentFetches, uuidArrayLiteral(entries.map(\.key.ownerID)),
                        uuidArrayLiteral(entries.map(\.key.shareID)),
                        "{" + entries.map { String($0.value.count) }.joined(separator: ",") + "}",
                        "{" + entries.map { String($0.value.first) }.joined(separator: ",") + "}",
                        "{" + entries.map { String($0.value.last) }.joined(separator: ",") + "}"
                    ).map { row in
                        ContentFetchLog.Key(ownerID: try row.decode(UUID.self, at: 0), shareID: try row.decode(UUID.self, at: 1))
                    })
                    let served = entries.filter { written.contains($0.key) }
                        .flatMap { entry in entry.value.fetches.map { (share: entry.value.share, fetch: $0) } }
                        .sorted { $0.fetch.at < $1.fetch.at }
                    for (share, fetch) in served { events.shareFetched(share, by: fetch.by, at: fetch.at) }
                }
            }
        } catch {
            contentFetches.restore(fetches)
            context.logger.warning("content fetch counts not written yet", metadata: ["shares": "\(entries.count)"])
        }
    }
}
