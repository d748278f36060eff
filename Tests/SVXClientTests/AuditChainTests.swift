import Cryppo
import SVXContracts
import Testing

/// The audit chain's rules without I/O (reference/sharing.md §5b): what a service appends and a client verifies.
@Suite struct AuditChainTests {
    static let userID = "0190f3c2-7a10-7b3e-9c41-2d5e8f6a1b20"
    static func sha256(_ bytes: [UInt8]) -> [UInt8] { HashFunction.sha256.hash(bytes) }

    /// Five events of one user in the Auth service, linked from the genesis.
    static func chain(_ count: Int = 5) -> [AuditEntry] {
        var previous = sha256(AuditChain.genesisInput(service: "auth", userID: userID))
        return (1...count).map { index in
            let entry = AuditChain.linked(
                AuditEntry(
                    userID: userID, seq: UInt64(index), occurredAtMs: 1_765_000_000_000 + UInt64(index),
                    type: index == 1 ? "account.registered" : "login.succeeded", sessionID: "s\(index)",
                    peerAddress: "127.0.0.1", details: ["generation": "1", "method": "srp"]),
                after: previous, sha256: sha256)
            previous = entry.entryHash
            return entry
        }
    }

    @Test func aChainFromItsGenesisHolds() {
        let entries = Self.chain()
        #expect(AuditChain.firstBreak(entries, service: "auth", userID: Self.userID, sha256: Self.sha256) == nil)
        #expect(entries.allSatisfy { $0.entryHash.count == 32 })
        // Another service's (or user's) genesis does not start it.
        #expect(AuditChain.firstBreak(entries, service: "keystore", userID: Self.userID, sha256: Self.sha256)
            == AuditChainBreak(seq: 1, reason: .brokenLink))
    }

    @Test func everyFieldTakesPart() {
        let original = Self.chain(1)[0]
        let changes: [(String, (inout AuditEntry) -> Void)] = [
            ("user", { $0.userID = "0190f3c2-7a10-7b3e-9c41-2d5e8f6a1b21" }), ("seq", { $0.seq = 2 }),
            ("time", { $0.occurredAtMs += 1 }), ("type", { $0.type = "login.failed" }), ("session", { $0.sessionID = "x" }),
            ("peer", { $0.peerAddress = "10.0.0.1" }), ("subject type", { $0.subjectType = "item" }),
            ("subject id", { $0.subjectID = "1" }), ("a detail", { $0.details["method"] = "other" }),
            ("a new detail", { $0.details["extra"] = "" }), ("prev", { $0.prevHash[0] ^= 1 }),
            // Length prefixes: moving a character from one field to the next changes the bytes.
            ("boundary", { $0.type = "login.succeede"; $0.sessionID = "ds1" }),
        ]
        let input = AuditChain.entryInput(original)
        for (name, change) in changes {
            var changed = original
            change(&changed)
            #expect(AuditChain.entryInput(changed) != input, "\(name)")
        }
        // The details' order does not matter: they are sorted.
        var reordered = original
        reordered.details = Dictionary(uniqueKeysWithValues: original.details.reversed().map { ($0.key, $0.value) })
        #expect(AuditChain.entryInput(reordered) == input)
    }

    @Test func anEditedEventIsNamed() {
        var entries = Self.chain()
        entries[2].type = "login.failed"
        #expect(AuditChain.firstBreak(entries, service: "auth", userID: Self.userID, sha256: Self.sha256)
            == AuditChainBreak(seq: 3, reason: .edited))
        // Edited and re-hashed by someone without the later links: the next event no longer links.
        entries[2].entryHash = Self.sha256(AuditChain.entryInput(entries[2]))
        #expect(AuditChain.firstBreak(entries, service: "auth", userID: Self.userID, sha256: Self.sha256)
            == AuditChainBreak(seq: 4, reason: .brokenLink))
    }

    @Test func aDeletedReorderedOrForeignEventIsNamed() {
        var deleted = Self.chain()
        deleted.remove(at: 1)
        #expect(AuditChain.firstBreak(deleted, service: "auth", userID: Self.userID, sha256: Self.sha256)
            == AuditChainBreak(seq: 2, reason: .gap))
        var reordered = Self.chain()
        reordered.swapAt(2, 3)
        #expect(AuditChain.firstBreak(reordered, service: "auth", userID: Self.userID, sha256: Self.sha256)
            == AuditChainBreak(seq: 3, reason: .gap))
        var foreign = Self.chain()
        foreign[4].userID = "0190f3c2-7a10-7b3e-9c41-2d5e8f6a1b21"
        #expect(AuditChain.firstBreak(foreign, service: "auth", userID: Self.userID, sha256: Self.sha256)?.seq == 5)
    }

    @Test func aPrunedChainHoldsFromItsAnchorAndATruncationBelowAKnownHeadIsSeen() {
        let entries = Self.chain()
        let anchor = (seq: entries[1].seq, hash: entries[1].entryHash)
        #expect(AuditChain.firstBreak(Array(entries.dropFirst(2)), service: "auth", userID: Self.userID, anchor: anchor, sha256: Self.sha256) == nil)
        // A wrong anchor breaks the first event after it.
        #expect(AuditChain.firstBreak(
            Array(entries.dropFirst(2)), service: "auth", userID: Self.userID, anchor: (2, [UInt8](repeating: 0, count: 32)),
            sha256: Self.sha256) == AuditChainBreak(seq: 3, reason: .brokenLink))
        // A device that saw event 4 finds it; once the chain is cut to 3 and rebuilt, it does not.
        let head = (seq: entries[3].seq, hash: entries[3].entryHash)
        #expect(AuditChain.contains(head: head, in: entries) == nil)
        var rebuilt = Array(entries.prefix(3))
        rebuilt.append(AuditChain.linked(
            AuditEntry(userID: Self.userID, seq: 4, occurredAtMs: 1, type: "logout"), after: rebuilt[2].entryHash,
            sha256: Self.sha256))
        #expect(AuditChain.firstBreak(rebuilt, service: "auth", userID: Self.userID, sha256: Self.sha256) == nil)
        #expect(AuditChain.contains(head: head, in: rebuilt) == AuditChainBreak(seq: 4, reason: .headMissing))
    }

    @Test func aCheckpointNamesServiceUserSequenceAndHead() {
        let message = AuditChain.checkpointMessage(service: "auth", userID: Self.userID, seq: 7, head: [0x00, 0xab, 0xff])
        #expect(String(decoding: message, as: UTF8.self) == "svx-audit-checkpoint-v1|auth|\(Self.userID)|7|00abff")
    }
}
