import Foundation

/// A bounded multi-producer multi-consumer FIFO: producers never block (``tryPush(_:weight:)`` fails when full or
/// closed), consumers block in ``pop()`` until an element arrives or the queue is closed and drained.
///
/// Bounded twice: by count (``capacity``) and by the sum of the elements' weights (``maxWeight``, e.g. their size in
/// bytes). An empty queue takes one element of any weight, so a single heavy element is never refused for good.
final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: every stored var is read and written only while `condition` is locked.
    private let condition = NSCondition()
    private var buffer: [(element: Element, weight: Int)?]
    private var head = 0
    private var count = 0
    private var weight = 0
    private var closed = false
    private var waitingConsumers = 0
    let capacity: Int
    let maxWeight: Int

    init(capacity: Int, maxWeight: Int = .max) {
        precondition(capacity > 0 && maxWeight > 0)
        self.capacity = capacity
        self.maxWeight = maxWeight
        self.buffer = Array(repeating: nil, count: capacity)
    }

    /// Appends, or returns `false` if the queue is closed, holds `capacity` elements, or would weigh more than
    /// `maxWeight` with this one (unless it is empty).
    func tryPush(_ element: Element, weight elementWeight: Int = 1) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, count < capacity, count == 0 || elementWeight <= maxWeight - weight else { return false }
        buffer[(head + count) % capacity] = (element, elementWeight)
        count += 1
        weight += elementWeight
        if waitingConsumers > 0 { condition.signal() }
        return true
    }

    /// Removes the head; the lock is held and the queue is not empty.
    private func removeHead() -> Element {
        let (element, elementWeight) = buffer[head]!
        buffer[head] = nil
        head = (head + 1) % capacity
        count -= 1
        weight -= elementWeight
        return element
    }

    /// The next element; `nil` once the queue is closed and empty.
    func pop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 {
            if closed { return nil }
            waitingConsumers += 1
            condition.wait()
            waitingConsumers -= 1
        }
        return removeHead()
    }

    /// What an idle server worker does next.
    enum Next {
        case element(Element)
        /// Take the reading role (offered by ``offerReaderRole()``).
        case read
        case closed
    }

    private var readerOffered = false

    /// The next element; else the reading role if it is on offer; else waits. `.closed` once closed and empty.
    func next() -> Next {
        condition.lock()
        defer { condition.unlock() }
        while true {
            // The role first: an offer is made only to waiting consumers, and one of them must take it.
            if readerOffered && !closed {
                readerOffered = false
                return .read
            }
            if count > 0 { return .element(removeHead()) }
            if closed { return .closed }
            waitingConsumers += 1
            condition.wait()
            waitingConsumers -= 1
        }
    }

    /// Offers the reading role to a waiting consumer. Returns `false` if none is waiting (nothing is offered).
    func offerReaderRole() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard waitingConsumers > 0, !closed else { return false }
        readerOffered = true
        condition.signal()
        return true
    }

    func tryPop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        guard count > 0 else { return nil }
        return removeHead()
    }

    /// Refuses further pushes; consumers drain what is left, then get `nil`.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return count == 0
    }

    /// The sum of the queued elements' weights.
    var totalWeight: Int {
        condition.lock()
        defer { condition.unlock() }
        return weight
    }
}

/// A one-shot latch: threads block in ``wait()`` and tasks suspend in ``waitAsync()`` until ``open()``.
final class Latch: @unchecked Sendable {
    // @unchecked Sendable: `isOpen` and `continuations` are touched only while `condition` is locked.
    private let condition = NSCondition()
    private var isOpen = false
    private var continuations: [CheckedContinuation<Void, Never>] = []

    func open() {
        condition.lock()
        isOpen = true
        let waiting = continuations
        continuations = []
        condition.broadcast()
        condition.unlock()
        for continuation in waiting { continuation.resume() }
    }

    var opened: Bool {
        condition.lock()
        defer { condition.unlock() }
        return isOpen
    }

    func wait() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    /// Waits at most `timeout`; returns whether the latch is open.
    func wait(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let limit = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !isOpen {
            if !condition.wait(until: limit) { return isOpen }
        }
        return true
    }

    func waitAsync() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            condition.lock()
            if isOpen {
                condition.unlock()
                continuation.resume()
            } else {
                continuations.append(continuation)
                condition.unlock()
            }
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch (the wire's `deadline_ms`).
func unixMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

extension Duration {
    /// Whole milliseconds, rounded up (so a poll never wakes before a deadline).
    var millisecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let rest = attoseconds % 1_000_000_000_000_000
        return rest > 0 ? ms + 1 : ms
    }
}
