import Testing

@testable import SVXRPC

/// The client's request table driven without sockets or clocks.
struct ClientRequestTableTests {
    let t0 = ContinuousClock.now

    @Test func sendsWithinTheWindowAndQueuesTheRest() {
        var table = ClientRequestTable<String>(maxInFlight: 2)
        for id in UInt64(1)...3 {
            guard case .accepted = table.submit(id: id, deadline: t0 + .seconds(1), frame: [UInt8(id)], completion: "c\(id)")
            else { Issue.record("rejected"); return }
        }
        var sent: [UInt64] = []
        while let (id, frame) = table.nextToSend() {
            #expect(frame == [UInt8(id)])
            table.markSent(id: id)
            sent.append(id)
        }
        #expect(sent == [1, 2])
        #expect(table.sentCount == 2 && table.queuedCount == 1)
        #expect(table.receive(id: 2) == "c2")
        #expect(table.nextToSend()?.id == 3)
    }

    @Test func unknownAndDuplicateResponsesAreIgnored() {
        var table = ClientRequestTable<String>(maxInFlight: 10)
        _ = table.submit(id: 1, deadline: t0 + .seconds(1), frame: [], completion: "c1")
        #expect(table.receive(id: 1) == nil)  // queued, not sent: a response cannot be ours
        table.markSent(id: table.nextToSend()!.id)
        #expect(table.receive(id: 99) == nil)
        #expect(table.receive(id: 1) == "c1")
        #expect(table.receive(id: 1) == nil)
        #expect(table.count == 0)
    }

    @Test func deadlinesExpireInOrderWithTheRightCodes() {
        var table = ClientRequestTable<String>(maxInFlight: 1)
        _ = table.submit(id: 1, deadline: t0 + .milliseconds(300), frame: [], completion: "sent")
        _ = table.submit(id: 2, deadline: t0 + .milliseconds(100), frame: [], completion: "queued")
        table.markSent(id: table.nextToSend()!.id)
        #expect(table.nextDeadline() == t0 + .milliseconds(100))
        #expect(table.expire(now: t0 + .milliseconds(50)).isEmpty)
        let first = table.expire(now: t0 + .milliseconds(100))
        #expect(first.map(\.0) == ["queued"])
        #expect(first.first?.1.code == .deadlineExceeded)
        let second = table.expire(now: t0 + .seconds(1))
        #expect(second.map(\.0) == ["sent"])
        #expect(second.first?.1.code == .deadlineExceeded)
        #expect(table.nextDeadline() == nil)
        #expect(table.sentCount == 0)
    }

    @Test func unsendableCallsExpireUnavailable() {
        var table = ClientRequestTable<String>(maxInFlight: 4)
        _ = table.submit(id: 1, deadline: t0 + .milliseconds(10), frame: [], completion: "c1")
        table.socketBlocked = true
        let expired = table.expire(now: t0 + .milliseconds(10))
        #expect(expired.first?.1.code == .unavailable)
    }

    @Test func cancelFreesTheWindow() {
        var table = ClientRequestTable<String>(maxInFlight: 1)
        _ = table.submit(id: 1, deadline: t0 + .seconds(1), frame: [], completion: "c1")
        _ = table.submit(id: 2, deadline: t0 + .seconds(1), frame: [], completion: "c2")
        table.markSent(id: table.nextToSend()!.id)
        #expect(table.nextToSend() == nil)
        #expect(table.cancel(id: 1) == "c1")
        #expect(table.cancel(id: 1) == nil)
        #expect(table.nextToSend()?.id == 2)
    }

    @Test func closeReturnsEverythingAndRejectsLaterCalls() {
        var table = ClientRequestTable<String>(maxInFlight: 1)
        _ = table.submit(id: 1, deadline: t0 + .seconds(1), frame: [], completion: "c1")
        _ = table.submit(id: 2, deadline: t0 + .seconds(1), frame: [], completion: "c2")
        table.markSent(id: table.nextToSend()!.id)
        #expect(Set(table.close()) == ["c1", "c2"])
        guard case .rejected(let completion, let status) = table.submit(
            id: 3, deadline: t0 + .seconds(1), frame: [], completion: "c3")
        else { Issue.record("accepted after close"); return }
        #expect(completion == "c3" && status.code == .unavailable)
    }

    @Test func staleHeapItemsDoNotAccumulate() {
        var table = ClientRequestTable<Int>(maxInFlight: 1000)
        for id in UInt64(1)...10_000 {
            _ = table.submit(id: id, deadline: t0 + .seconds(30), frame: [], completion: Int(id))
            table.markSent(id: table.nextToSend()!.id)
            #expect(table.receive(id: id) == Int(id))
        }
        #expect(table.count == 0)
        #expect(table.heapCount <= 64)
        #expect(table.nextDeadline() == nil)
    }

    @Test func deadlineHeapOrders() {
        var heap = DeadlineHeap()
        for (offset, id) in [(5, 1), (1, 2), (3, 3), (2, 4), (4, 5)] {
            heap.push(t0 + .milliseconds(offset), UInt64(id))
        }
        var order: [UInt64] = []
        while let (_, id) = heap.top {
            order.append(id)
            heap.pop()
        }
        #expect(order == [2, 4, 3, 5, 1])
    }
}
