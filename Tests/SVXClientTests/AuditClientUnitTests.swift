import Cryppo
import Foundation
import SVXClient
import SVXContracts
import Testing

/// The audit client's merge, verification and stored heads without I/O (the chains through real services:
/// IntegrationTests/AuditClientTests).
@Suite struct AuditClientUnitTests {
    static let userID = "0190f3c2-7a10-7b3e-9c41-2d5e8f6a1b20"
    static func sha256(_ bytes: [UInt8]) -> [UInt8] { HashFunction.sha256.hash(bytes) }

    /// `count` events of `service` from the genesis, at the times given (default 1000, 2000, ...).
    static func entries(_ service: String, _ count: Int, times: [UInt64]? = nil) -> [AuditEntry] {
        var previous = sha256(AuditChain.genesisInput(service: service, userID: userID))
        return (1...count).map { index in
            let entry = AuditChain.linked(
                AuditEntry(
                    userID: userID, seq: UInt64(index), occurredAtMs: times?[index - 1] ?? UInt64(index) * 1000,
                    type: "login.succeeded"),
                after: previous, sha256: sha256)
            previous = entry.entryHash
            return entry
        }
    }

    static func chain(_ service: String, _ entries: [AuditEntry], anchor: AuditHead? = nil) -> AuditServiceChain {
        let head = entries.last.map { AuditHead(seq: $0.seq, hash: $0.entryHash) } ?? anchor ?? AuditHead(seq: 0, hash: [])
        return AuditServiceChain(
            service: service, answeredService: service, userID: userID, entries: entries, head: head, anchor: anchor)
    }

    static func failure(_ verification: AuditServiceVerification) -> AuditFailure? {
        if case .failed(let failure) = verification.state { failure } else { nil }
    }

    @Test func theMergeIsByTimeThenServiceThenSeqAndHonoursSince() {
        let auth = Self.entries("auth", 3, times: [1000, 3000, 3000])
        let vault = Self.entries("vault", 2, times: [2000, 3000])
        let listing = AuditClient.merge([
            .chain(Self.chain("vault", vault)), .notKept(service: "sharing"), .chain(Self.chain("auth", auth)),
        ])
        #expect(listing.events.map { "\($0.service)#\($0.seq)" } == ["auth#1", "vault#1", "auth#2", "auth#3", "vault#2"])
        #expect(listing.servicesWithoutTrail == ["sharing"])
        let since = AuditClient.merge([.chain(Self.chain("auth", auth))], since: Date(timeIntervalSince1970: 3))
        #expect(since.events.map(\.seq) == [2, 3])
    }

    @Test func aVerifiedChainGivesItsHeadAndAStoredHeadMustStillBeInIt() {
        let entries = Self.entries("auth", 5)
        let chain = Self.chain("auth", entries)
        let verified = AuditVerifier.verify(chain, storedHead: nil, key: nil)
        #expect(verified.state == .verified(head: AuditHead(seq: 5, hash: entries[4].entryHash)))
        let stored = AuditHead(seq: 3, hash: entries[2].entryHash)
        #expect(Self.failure(AuditVerifier.verify(chain, storedHead: stored, key: nil)) == nil)
        let other = AuditHead(seq: 3, hash: [UInt8](repeating: 1, count: 32))
        #expect(Self.failure(AuditVerifier.verify(chain, storedHead: other, key: nil))?.reason == .headMissing)
        let beyond = AuditHead(seq: 9, hash: entries[2].entryHash)
        #expect(Self.failure(AuditVerifier.verify(chain, storedHead: beyond, key: nil))?.seq == 9)
        // The head claimed must be the last event listed.
        let withheld = AuditServiceChain(
            service: "auth", answeredService: "auth", userID: Self.userID, entries: Array(entries.prefix(4)),
            head: AuditHead(seq: 5, hash: entries[4].entryHash), anchor: nil)
        #expect(Self.failure(AuditVerifier.verify(withheld, storedHead: nil, key: nil))
            == AuditFailure(service: "auth", seq: 5, reason: .headMismatch, message: "the service claims head 5 but listed events up to 4"))
        // Another service's name is not this chain.
        let renamed = AuditServiceChain(
            service: "auth", answeredService: "vault", userID: Self.userID, entries: entries, head: chain.head, anchor: nil)
        #expect(Self.failure(AuditVerifier.verify(renamed, storedHead: nil, key: nil))?.reason == .malformed)
    }

    @Test func aServiceThatStopsKeepingATrailThisDeviceVerifiedFails() {
        let entries = Self.entries("keystore", 2)
        let stored = ["keystore": AuditHead(seq: 2, hash: entries[1].entryHash)]
        let hidden = AuditClient.verify([.notKept(service: "keystore")], userID: Self.userID, storedHeads: stored, key: nil)
        #expect(hidden.failures.map(\.reason) == [.headMissing] && hidden.failures.first?.seq == 2 && hidden.newHeads.isEmpty)
        let never = AuditClient.verify([.notKept(service: "keystore")], userID: Self.userID, storedHeads: [:], key: nil)
        #expect(never.isVerified && never.services.first?.state == .notKept && never.newHeads.isEmpty)
        // An emptied chain, likewise.
        let emptied = AuditClient.verify(
            [.chain(Self.chain("keystore", []))], userID: Self.userID, storedHeads: stored, key: nil)
        #expect(emptied.failures.map(\.reason) == [.headMissing])
    }

    @Test func anAnchorIsWhereTheChainStartsAndAPrunedStoredHeadIsNamed() {
        let entries = Self.entries("auth", 6)
        let anchor = AuditHead(seq: 3, hash: entries[2].entryHash)
        let pruned = Self.chain("auth", Array(entries.dropFirst(3)), anchor: anchor)
        #expect(Self.failure(AuditVerifier.verify(pruned, storedHead: nil, key: nil)) == nil)
        #expect(Self.failure(AuditVerifier.verify(pruned, storedHead: anchor, key: nil)) == nil)
        let rewrittenAnchor = AuditHead(seq: 3, hash: [UInt8](repeating: 2, count: 32))
        #expect(Self.failure(AuditVerifier.verify(pruned, storedHead: rewrittenAnchor, key: nil))?.reason == .headMissing)
        let below = AuditHead(seq: 2, hash: entries[1].entryHash)
        #expect(Self.failure(AuditVerifier.verify(pruned, storedHead: below, key: nil))
            == AuditFailure(
                service: "auth", seq: 2, reason: .prunedPastHead,
                message: "retention pruned past this device's last verified head (2; the chain now starts after 3)"))
        #expect(Self.failure(AuditVerifier.verify(pruned, storedHead: below, key: nil, acceptPrunedHead: true)) == nil)
        // Everything pruned: the anchor is the head.
        let empty = Self.chain("auth", [], anchor: AuditHead(seq: 6, hash: entries[5].entryHash))
        #expect(AuditVerifier.verify(empty, storedHead: nil, key: nil).state
            == .verified(head: AuditHead(seq: 6, hash: entries[5].entryHash)))
    }

    @Test func checkpointsAreCheckedWithTheUsersOwnKey() throws {
        let privateKey = try RSAPrivateKey.generate(bits: 2048)
        let key = try AuditVerifier.SigningKey(publicKeyPEM: try privateKey.publicKeyPEM)
        var entries = Self.entries("auth", 3)
        func appendCheckpoint(signing seq: UInt64, head: [UInt8], by signer: RSAPrivateKey, digest: String) throws {
            let message = AuditChain.checkpointMessage(service: "auth", userID: Self.userID, seq: seq, head: head)
            let event = AuditChain.linked(
                AuditEntry(
                    userID: Self.userID, seq: UInt64(entries.count + 1), occurredAtMs: 9_000,
                    type: AuditClient.checkpointEventType, subjectType: "audit_event", subjectID: String(seq),
                    details: ["signature": try Cryppo.sign(message, privateKey: signer), "public_key_sha256": digest]),
                after: entries.last!.entryHash, sha256: Self.sha256)
            entries.append(event)
        }
        try appendCheckpoint(signing: 3, head: entries[2].entryHash, by: privateKey, digest: key.publicKeySHA256)
        let good = AuditVerifier.verify(Self.chain("auth", entries), storedHead: nil, key: key)
        #expect(Self.failure(good) == nil && good.checkpointsVerified == 1)
        let unchecked = AuditVerifier.verify(Self.chain("auth", entries), storedHead: nil, key: nil)
        #expect(Self.failure(unchecked) == nil && unchecked.checkpointsUnchecked == 1)

        // A signature over another head of seq 3.
        let wrongHead = entries
        try appendCheckpoint(signing: 3, head: [UInt8](repeating: 9, count: 32), by: privateKey, digest: key.publicKeySHA256)
        let mismatch = Self.failure(AuditVerifier.verify(Self.chain("auth", entries), storedHead: nil, key: key))
        #expect(mismatch?.seq == 5 && mismatch?.reason == .checkpointMismatch)
        entries = wrongHead
        // Another key, claimed as ours or not.
        let stranger = try RSAPrivateKey.generate(bits: 2048)
        let strangerKey = try AuditVerifier.SigningKey(publicKeyPEM: try stranger.publicKeyPEM)
        let beforeStranger = entries
        try appendCheckpoint(signing: 4, head: entries[3].entryHash, by: stranger, digest: key.publicKeySHA256)
        #expect(Self.failure(AuditVerifier.verify(Self.chain("auth", entries), storedHead: nil, key: key))?.reason
            == .checkpointSignature)
        entries = beforeStranger
        try appendCheckpoint(signing: 4, head: entries[3].entryHash, by: stranger, digest: strangerKey.publicKeySHA256)
        #expect(Self.failure(AuditVerifier.verify(Self.chain("auth", entries), storedHead: nil, key: key))?.reason
            == .checkpointSignature)
        // A checkpoint of a later event than itself, or with no signature, is malformed.
        entries = beforeStranger
        try appendCheckpoint(signing: 9, head: entries[3].entryHash, by: privateKey, digest: key.publicKeySHA256)
        #expect(Self.failure(AuditVerifier.verify(Self.chain("auth", entries), storedHead: nil, key: key))?.reason
            == .checkpointMalformed)
    }

    @Test func storedHeadsRoundTripPerUserAndRefuseGarbage() throws {
        var heads = StoredAuditHeads()
        let hash = [UInt8](repeating: 0xab, count: 32)
        heads.store(["auth": AuditHead(seq: 5, hash: hash), "vault": AuditHead(seq: 2, hash: hash)], userID: Self.userID.uppercased())
        heads.store(["auth": AuditHead(seq: 7, hash: hash)], userID: Self.userID)
        #expect(heads.heads(userID: Self.userID) == ["auth": AuditHead(seq: 7, hash: hash), "vault": AuditHead(seq: 2, hash: hash)])
        #expect(heads.heads(userID: "someone-else").isEmpty)
        let data = try heads.encoded()
        #expect(try StoredAuditHeads(decoding: data) == heads)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"head\" : \"\(String(repeating: "ab", count: 32))\"") && text.contains(Self.userID))
        for garbage in ["[]", "{\"u\": 1}", "{\"u\": {\"auth\": {\"seq\": 1, \"head\": \"ab\"}}}", "not json"] {
            #expect(throws: SVXClientError.self) { _ = try StoredAuditHeads(decoding: Data(garbage.utf8)) }
        }
    }

    @Test func sinceTakesADurationBackADayOrAMoment() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(try AuditSince.date(parsing: "2h", now: now) == now.addingTimeInterval(-7_200))
        #expect(try AuditSince.date(parsing: "2026-12-01", now: now) == Date(timeIntervalSince1970: 1_796_083_200))
        #expect(try AuditSince.date(parsing: "2026-12-01T18:00:00Z", now: now) == Date(timeIntervalSince1970: 1_796_148_000))
        #expect(throws: SVXClientError.self) { _ = try AuditSince.date(parsing: "yesterday", now: now) }
    }
}
