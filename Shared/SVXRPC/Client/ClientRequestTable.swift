/// The client's pending calls as a pure state machine (no I/O, no clock reads): the client's I/O thread owns one and
/// feeds it events; tests drive it directly.
///
/// A call is *queued* (accepted, not yet written to the socket: the in-flight window is full or the socket has no
/// connection) or *sent* (on the wire, awaiting its response). At most `maxInFlight` calls are sent at once; the rest
/// wait in FIFO order. Every call, queued or sent, fails when its deadline passes.
struct ClientRequestTable<Completion> {
    enum Phase: Equatable {
        case queued
        case sent
    }

    struct Entry {
        var deadline: ContinuousClock.Instant
        var frame: [UInt8]  // emptied once sent
        var phase: Phase
        var completion: Completion
    }

    let maxInFlight: Int
    private(set) var entries: [UInt64: Entry] = [:]
    private(set) var sentCount = 0
    private(set) var isClosed = false
    /// Set by the I/O thread when the socket refused a write (no connection): queued calls that expire then fail
    /// UNAVAILABLE (never sent, safe to retry) instead of DEADLINE_EXCEEDED.
    var socketBlocked = false

    private var backlog: [UInt64] = []
    private var backlogHead = 0
    private var deadlines = DeadlineHeap()

    init(maxInFlight: Int) {
        precondition(maxInFlight > 0)
        self.maxInFlight = maxInFlight
    }

    var count: Int { entries.count }
    var queuedCount: Int { entries.count - sentCount }
    /// Items in the deadline heap, stale ones included (bounded: see remove(_:)).
    var heapCount: Int { deadlines.count }

    enum SubmitResult {
        case accepted
        case rejected(Completion, RPCStatus)
    }

    /// A new call. Rejected if the table is closed or the id is in use.
    mutating func submit(id: UInt64, deadline: ContinuousClock.Instant, frame: [UInt8], completion: Completion)
        -> SubmitResult
    {
        if isClosed { return .rejected(completion, .unavailable("client closed")) }
        if entries[id] != nil { return .rejected(completion, .internal("duplicate request id")) }
        entries[id] = Entry(deadline: deadline, frame: frame, phase: .queued, completion: completion)
        backlog.append(id)
        deadlines.push(deadline, id)
        return .accepted
    }

    /// The next queued call that may be sent now (window not full), without changing state.
    mutating func nextToSend() -> (id: UInt64, frame: [UInt8])? {
        guard sentCount < maxInFlight else { return nil }
        while backlogHead < backlog.count {
            let id = backlog[backlogHead]
            if let entry = entries[id], entry.phase == .queued { return (id, entry.frame) }
            backlogHead += 1  // cancelled or expired while queued
        }
        compactBacklog()
        return nil
    }

    /// The call returned by ``nextToSend()`` was written to the socket.
    mutating func markSent(id: UInt64) {
        guard var entry = entries[id], entry.phase == .queued else { return }
        precondition(backlogHead < backlog.count && backlog[backlogHead] == id, "markSent out of order")
        backlogHead += 1
        entry.phase = .sent
        entry.frame = []
        entries[id] = entry
        sentCount += 1
        socketBlocked = false
        compactBacklog()
    }

    /// Whether a queued call is waiting for room in the window or for the socket.
    var hasSendable: Bool { sentCount < maxInFlight && queuedCount > 0 }

    /// A response arrived: the call it completes, or nil for an unknown id (late, cancelled, expired, or never ours).
    mutating func receive(id: UInt64) -> Completion? {
        guard let entry = entries[id], entry.phase == .sent else { return nil }
        return remove(id)?.completion
    }

    /// The caller gave up (task cancelled): the call's completion, or nil if already finished.
    mutating func cancel(id: UInt64) -> Completion? {
        remove(id)?.completion
    }

    /// Every call whose deadline is at or before `now`, with the status it fails with.
    mutating func expire(now: ContinuousClock.Instant) -> [(Completion, RPCStatus)] {
        var expired: [(Completion, RPCStatus)] = []
        while let (deadline, id) = deadlines.top, deadline <= now {
            deadlines.pop()
            guard let entry = entries[id], entry.deadline == deadline else { continue }  // stale heap item
            remove(id)
            let status: RPCStatus
            switch entry.phase {
            case .sent: status = .deadlineExceeded("deadline exceeded")
            case .queued where socketBlocked: status = .unavailable("no connection to the server")
            case .queued: status = .deadlineExceeded("deadline exceeded while waiting for the in-flight window")
            }
            expired.append((entry.completion, status))
        }
        return expired
    }

    /// The earliest deadline of a live call.
    mutating func nextDeadline() -> ContinuousClock.Instant? {
        while let (deadline, id) = deadlines.top {
            if let entry = entries[id], entry.deadline == deadline { return deadline }
            deadlines.pop()
        }
        return nil
    }

    /// Closes the table: every call is returned to be failed; later submissions are rejected.
    mutating func close() -> [Completion] {
        isClosed = true
        let all = entries.values.map(\.completion)
        entries = [:]
        sentCount = 0
        backlog = []
        backlogHead = 0
        deadlines = DeadlineHeap()
        return all
    }

    @discardableResult
    private mutating func remove(_ id: UInt64) -> Entry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        if entry.phase == .sent { sentCount -= 1 }
        // Keep the heap from filling with stale items when calls complete long before their deadlines.
        if deadlines.count > 64 && deadlines.count > 4 * entries.count {
            deadlines = DeadlineHeap(entries.map { ($0.value.deadline, $0.key) })
        }
        return entry
    }

    private mutating func compactBacklog() {
        if backlogHead > 0 && backlogHead * 2 >= backlog.count {
            backlog.removeFirst(backlogHead)
            backlogHead = 0
        }
    }
}

/// A binary min-heap of (deadline, request id).
struct DeadlineHeap {
    private var items: [(ContinuousClock.Instant, UInt64)] = []

    init() {}

    init(_ elements: [(ContinuousClock.Instant, UInt64)]) {
        items = elements
        var index = items.count / 2 - 1
        while index >= 0 {
            siftDown(index)
            index -= 1
        }
    }

    var count: Int { items.count }
    var top: (ContinuousClock.Instant, UInt64)? { items.first }

    mutating func push(_ deadline: ContinuousClock.Instant, _ id: UInt64) {
        items.append((deadline, id))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].0 < items[parent].0 else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() {
        guard !items.isEmpty else { return }
        items.swapAt(0, items.count - 1)
        items.removeLast()
        if !items.isEmpty { siftDown(0) }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < items.count && items[left].0 < items[smallest].0 { smallest = left }
            if right < items.count && items[right].0 < items[smallest].0 { smallest = right }
            if smallest == parent { return }
            items.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
