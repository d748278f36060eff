import Foundation
import SVXRPC
import Testing

@testable import Sharing

/// Every decision about a share, without I/O: the same code the handlers run on the rows they read (sharing.md
/// §2.5).
@Suite struct ShareLifecycleTests {
    static let now: DatabaseInstant = 1_700_000_000_000_000
    static let hour: DatabaseInstant = 3_600 * 1_000_000
    static let owner = UUID()
    static let bob = UUID()
    static let carol = UUID()
    static let slotA = UUID()
    static let slotB = UUID()

    static func share(
        _ stored: ShareLifecycle.State = .active, acceptance: Bool = false, expiresAt: DatabaseInstant? = nil,
        max: Int = 0, fetches: Int = 0
    ) -> ShareLifecycle {
        ShareLifecycle(
            stored: stored, endReason: stored.isLive ? nil : .revoked, acceptanceRequired: acceptance,
            expiresAt: expiresAt, maxContentFetches: max, contentFetches: fetches)
    }

    static func request(
        slot: UUID? = nil, mode: ShareLifecycle.SharingMode = .owner, acceptance: Bool = false,
        expiresAt: DatabaseInstant? = nil, max: Int = 0, terms: [String] = [], hashes: [String] = []
    ) -> ShareLifecycle.Request {
        .init(
            slotID: slot, sharingMode: mode, acceptanceRequired: acceptance, expiresAt: expiresAt,
            maxContentFetches: max, termsFields: terms, hashFields: hashes)
    }

    static func parent(
        _ lifecycle: ShareLifecycle = share(), mode: ShareLifecycle.SharingMode = .anyone, depth: Int = 1,
        slot: UUID? = nil, slots: Set<UUID> = [slotA, slotB], holders: Set<UUID> = [owner, bob]
    ) -> ShareLifecycle.Parent {
        .init(lifecycle: lifecycle, sharingMode: mode, depth: depth, slotID: slot, slotIDs: slots, holders: holders)
    }

    @Test func aNewShareIsPendingWhenAcceptanceIsRequiredAndActiveOtherwise() throws {
        let pending = try ShareLifecycle.admit(Self.request(acceptance: true), parent: nil, at: Self.now)
        #expect(pending.lifecycle.stored == .pendingAcceptance)
        #expect(pending.depth == 1)
        let active = try ShareLifecycle.admit(Self.request(slot: Self.slotA, max: 1), parent: nil, at: Self.now)
        #expect(active.lifecycle.stored == .active)
        #expect(active.slotID == Self.slotA)
        #expect(active.lifecycle.maxContentFetches == 1)
    }

    @Test func termsNeedAcceptanceAndAnExpiryMustBeInTheFuture() {
        #expect(throws: SharingRefusal.invalid(
            "recipients[1].encrypted_terms", "recipients[1].encrypted_terms makes acceptance necessary: set acceptance_required"
        )) {
            try ShareLifecycle.admit(Self.request(terms: ["recipients[1].encrypted_terms"]), parent: nil, at: Self.now)
        }
        #expect((try? ShareLifecycle.admit(
            Self.request(acceptance: true, terms: ["recipients[0].encrypted_terms"]), parent: nil, at: Self.now)) != nil)
        for past in [Self.now, Self.now - 1, 0] {
            #expect(throws: SharingRefusal.invalid("expires_at_ms", "expires_at_ms must be in the future")) {
                try ShareLifecycle.admit(Self.request(expiresAt: past), parent: nil, at: Self.now)
            }
        }
        #expect((try? ShareLifecycle.admit(Self.request(expiresAt: Self.now + 1), parent: nil, at: Self.now)) != nil)
    }

    @Test func theStateIsExpiredTheMomentItsTimeComesAndEndedStatesStay() {
        let expiring = Self.share(expiresAt: Self.now + Self.hour)
        #expect(expiring.state(at: Self.now) == .active)
        #expect(expiring.state(at: Self.now + Self.hour - 1) == .active)
        #expect(expiring.state(at: Self.now + Self.hour) == .expired)
        #expect(Self.share(.pendingAcceptance, acceptance: true, expiresAt: Self.now).state(at: Self.now) == .expired)
        for ended in [ShareLifecycle.State.rejected, .revoked, .deleted, .consumed, .expired] {
            #expect(Self.share(ended, expiresAt: Self.now).state(at: Self.now + Self.hour) == ended)
        }
        #expect(Self.share(expiresAt: nil).state(at: .max) == .active)
    }

    @Test func acceptAndRejectOnlyWhilePending() {
        var pending = Self.share(.pendingAcceptance, acceptance: true)
        #expect(pending.accept(at: Self.now) == .change)
        #expect(pending.stored == .active)
        #expect(pending.accept(at: Self.now) == .refuse(.shareNotPending(.active)))

        var rejected = Self.share(.pendingAcceptance, acceptance: true)
        let before = rejected
        #expect(rejected.reject(at: Self.now) == .change)
        #expect(rejected.stored == .rejected)
        #expect(rejected.endReason == .rejected)
        #expect(rejected.endsContent(from: before))
        #expect(rejected.reject(at: Self.now) == .refuse(.shareNotPending(.rejected)))

        // A pending share past its time is stored as expired, and the answer says so.
        var late = Self.share(.pendingAcceptance, acceptance: true, expiresAt: Self.now)
        #expect(late.accept(at: Self.now) == .refuse(.shareNotPending(.expired)))
        #expect(late.stored == .expired)
        #expect(late.endReason == .expired)
    }

    @Test func revokeEndsLiveSharesForItsReasonAndRefusesEndedOnes() {
        for reason in [ShareLifecycle.EndReason.revoked, .parentRevoked, .connectionEnded, .itemDeleted] {
            for live in [ShareLifecycle.State.pendingAcceptance, .active] {
                var share = Self.share(live, acceptance: live == .pendingAcceptance)
                let before = share
                #expect(share.revoke(at: Self.now, reason: reason) == .change)
                #expect(share.stored == .revoked)
                #expect(share.endReason == reason)
                #expect(share.endsContent(from: before))
            }
        }
        for ended in [ShareLifecycle.State.rejected, .expired, .revoked, .deleted, .consumed] {
            var share = Self.share(ended)
            let before = share
            #expect(share.revoke(at: Self.now) == .refuse(.shareNotLive(ended)))
            #expect(share == before)
        }
        var late = Self.share(expiresAt: Self.now - 1)
        #expect(late.revoke(at: Self.now) == .refuse(.shareNotLive(.expired)))
        #expect(late.stored == .expired)
    }

    /// ForgetSharedEntities: a deleted item (or removed slot) ends every live share as `item_deleted`; a share that
    /// had already ended keeps how it ended (a retry changes nothing), and one past its time is stored as expired.
    @Test func anItemDeletionRevokesLiveSharesAndLeavesEndedOnesAsTheyEnded() {
        for ended in [ShareLifecycle.State.rejected, .expired, .revoked, .deleted, .consumed] {
            var share = Self.share(ended)
            let before = share
            #expect(share.revoke(at: Self.now, reason: .itemDeleted) == .refuse(.shareNotLive(ended)))
            #expect(share == before)
        }
        var once = Self.share()
        #expect(once.revoke(at: Self.now, reason: .itemDeleted) == .change)
        let afterFirst = once
        #expect(once.revoke(at: Self.now, reason: .itemDeleted) == .refuse(.shareNotLive(.revoked)))
        #expect(once == afterFirst && once.endReason == .itemDeleted)
        var late = Self.share(expiresAt: Self.now - 1)
        #expect(late.revoke(at: Self.now, reason: .itemDeleted) == .refuse(.shareNotLive(.expired)))
        #expect(late.endReason == .expired)
        // The stored names: migration 0005's CHECK and the proto's Share.end_reason list exactly these.
        #expect(Set(ShareLifecycle.EndReason.allCases.map(\.rawValue)) == [
            "rejected", "expired", "revoked", "parent_revoked", "connection_ended", "deleted", "consumed", "item_deleted",
        ])
    }

    @Test func theRecipientDeletesAnActiveShareRejectsAPendingOne() {
        var active = Self.share()
        #expect(active.delete(at: Self.now) == .change)
        #expect(active.stored == .deleted)
        #expect(active.endReason == .deleted)
        var pending = Self.share(.pendingAcceptance, acceptance: true)
        #expect(pending.delete(at: Self.now) == .refuse(.deletePending))
        #expect(pending.stored == .pendingAcceptance)
        var ended = Self.share(.consumed)
        #expect(ended.delete(at: Self.now) == .refuse(.shareNotLive(.consumed)))
    }

    @Test func contentOnlyWhileActiveAndTheLastPermittedFetchConsumesIt() {
        var viewOnce = Self.share(max: 1)
        let before = viewOnce
        #expect(viewOnce.fetchContent(at: Self.now) == .change)
        #expect(viewOnce.stored == .consumed)
        #expect(viewOnce.endReason == .consumed)
        #expect(viewOnce.contentFetches == 1)
        #expect(viewOnce.endsContent(from: before))
        #expect(viewOnce.fetchContent(at: Self.now) == .refuse(.contentUnavailable(.consumed)))
        #expect(viewOnce.contentFetches == 1)

        var thrice = Self.share(max: 3)
        #expect(thrice.fetchContent(at: Self.now) == .change)
        #expect(thrice.fetchContent(at: Self.now) == .change)
        #expect(thrice.stored == .active)
        #expect(thrice.fetchContent(at: Self.now) == .change)
        #expect(thrice.stored == .consumed)

        var unlimited = Self.share(max: 0)
        for _ in 0..<50 { #expect(unlimited.fetchContent(at: Self.now) == .change) }
        #expect(unlimited.stored == .active)
        #expect(unlimited.contentFetches == 50)

        var pending = Self.share(.pendingAcceptance, acceptance: true)
        #expect(pending.fetchContent(at: Self.now) == .refuse(.contentUnavailable(.pendingAcceptance)))
        #expect(ShareLifecycle.State.pendingAcceptance.contentRefusalReason == "acceptance_pending")
        #expect(ShareLifecycle.State.revoked.contentRefusalReason == "revoked")
        var late = Self.share(max: 1, fetches: 0)
        late = ShareLifecycle(
            stored: .active, endReason: nil, acceptanceRequired: false, expiresAt: Self.now, maxContentFetches: 1,
            contentFetches: 0)
        #expect(late.fetchContent(at: Self.now) == .refuse(.contentUnavailable(.expired)))
        #expect(late.stored == .expired)
        #expect(late.contentFetches == 0)
    }

    @Test func anOnShareNeedsAnActiveParentThatPermitsIt() {
        for state in [ShareLifecycle.State.pendingAcceptance, .rejected, .revoked, .deleted, .consumed, .expired] {
            #expect(throws: SharingRefusal.parentNotActive(state)) {
                try ShareLifecycle.admit(
                    Self.request(), parent: Self.parent(Self.share(state, acceptance: true)), at: Self.now)
            }
        }
        #expect(throws: SharingRefusal.parentNotActive(.expired)) {
            try ShareLifecycle.admit(Self.request(), parent: Self.parent(Self.share(expiresAt: Self.now)), at: Self.now)
        }
        #expect(throws: SharingRefusal.onsharingNotPermitted) {
            try ShareLifecycle.admit(Self.request(), parent: Self.parent(mode: .owner), at: Self.now)
        }
        #expect(SharingRefusal.onsharingNotPermitted.status.code == .permissionDenied)
    }

    @Test func aChainStopsAtDepthEight() throws {
        let seventh = try ShareLifecycle.admit(Self.request(), parent: Self.parent(depth: 7), at: Self.now)
        #expect(seventh.depth == 8)
        #expect(throws: SharingRefusal.depthExceeded) {
            try ShareLifecycle.admit(Self.request(), parent: Self.parent(depth: 8), at: Self.now)
        }
    }

    @Test func anOnShareNeverOutlivesItsParentAndTakesItsExpiryWhenNoneIsAsked() throws {
        let limit = Self.now + Self.hour
        let parent = Self.parent(Self.share(expiresAt: limit))
        #expect(try ShareLifecycle.admit(Self.request(), parent: parent, at: Self.now).lifecycle.expiresAt == limit)
        #expect(try ShareLifecycle.admit(Self.request(expiresAt: limit), parent: parent, at: Self.now).lifecycle.expiresAt == limit)
        #expect(try ShareLifecycle.admit(Self.request(expiresAt: limit - 1), parent: parent, at: Self.now).lifecycle.expiresAt == limit - 1)
        #expect(throws: SharingRefusal.invalid(
            "expires_at_ms", "expires_at_ms is after the expiry of the share it is made from")) {
            try ShareLifecycle.admit(Self.request(expiresAt: limit + 1), parent: parent, at: Self.now)
        }
        // A parent without expiry leaves it to the on-sharer.
        #expect(try ShareLifecycle.admit(Self.request(), parent: Self.parent(), at: Self.now).lifecycle.expiresAt == nil)
    }

    @Test func anOnShareTakesOnlyTheParentsSlotsAndSendsNoHash() throws {
        #expect(throws: SharingRefusal.invalid("slot_id", "slot_id is not a slot of the share it is made from")) {
            try ShareLifecycle.admit(Self.request(slot: UUID()), parent: Self.parent(), at: Self.now)
        }
        #expect(try ShareLifecycle.admit(Self.request(slot: Self.slotB), parent: Self.parent(), at: Self.now).slotID == Self.slotB)
        // A single-slot parent: the on-share is of that slot.
        let single = Self.parent(slot: Self.slotA, slots: [Self.slotA])
        #expect(try ShareLifecycle.admit(Self.request(), parent: single, at: Self.now).slotID == Self.slotA)
        let field = "recipients[0].slots[1].value_verification_hash"
        #expect(throws: SharingRefusal.invalid(
            field, "\(field) must be empty on an on-share: the owner's hash is copied from the share it is made from")) {
            try ShareLifecycle.admit(Self.request(hashes: [field]), parent: Self.parent(), at: Self.now)
        }
        // The owner's own share carries the hashes.
        #expect((try? ShareLifecycle.admit(Self.request(hashes: [field]), parent: nil, at: Self.now)) != nil)
    }

    /// A file's slot is like any other: its files are read while the content may be (ACTIVE, unexpired), never
    /// while pending or after any end (a consumed view-once share's files are the service's window, not this rule).
    @Test func filesAreReadableExactlyWhileTheContentIs() throws {
        #expect(Self.share().fileReadRefusal(at: Self.now) == nil)
        var pending = Self.share(.pendingAcceptance, acceptance: true)
        #expect(pending.fileReadRefusal(at: Self.now) == .contentUnavailable(.pendingAcceptance))
        #expect(pending.accept(at: Self.now) == .change)
        #expect(pending.fileReadRefusal(at: Self.now) == nil)
        let expiring = Self.share(expiresAt: Self.now + 10)
        #expect(expiring.fileReadRefusal(at: Self.now + 9) == nil)
        #expect(expiring.fileReadRefusal(at: Self.now + 10) == .contentUnavailable(.expired))
        var once = Self.share(max: 1)
        #expect(once.fetchContent(at: Self.now) == .change)
        #expect(once.fileReadRefusal(at: Self.now) == .contentUnavailable(.consumed))
        var revoked = Self.share()
        #expect(revoked.revoke(at: Self.now) == .change)
        #expect(revoked.fileReadRefusal(at: Self.now) == .contentUnavailable(.revoked))
        // An on-share of one attachment slot is admitted like any single-slot on-share.
        #expect(try ShareLifecycle.admit(Self.request(slot: Self.slotB), parent: Self.parent(), at: Self.now).slotID == Self.slotB)
    }

    @Test func anOnShareNeverGoesBackToTheOwnerOrARecipientOfTheChain() throws {
        let parent = Self.parent(holders: [Self.owner, Self.bob])
        for holder in [Self.owner, Self.bob] {
            #expect(throws: SharingRefusal.recipientHasItem("recipients[0].connection_id")) {
                try ShareLifecycle.admitRecipient(holder, parent: parent, field: "recipients[0].connection_id")
            }
        }
        try ShareLifecycle.admitRecipient(Self.carol, parent: parent, field: "recipients[0].connection_id")
        try ShareLifecycle.admitRecipient(Self.owner, parent: nil, field: "recipients[0].connection_id")
    }

    @Test func refusalsAnswerWithTheirCodesAndReasons() {
        #expect(SharingRefusal.shareNotFound(field: "share_id").status.code == .notFound)
        #expect(SharingRefusal.shareNotFound(field: "share_id").status.message
            == SharingRefusal.shareNotFound(field: "parent_share_id").status.message)
        #expect(SharingRefusal.depthExceeded.status.details["reason"] == "depth_exceeded")
        #expect(SharingRefusal.recipientHasItem("x").status.details["reason"] == "recipient_has_item")
        #expect(SharingRefusal.parentNotActive(.revoked).status.code == .failedPrecondition)
        #expect(SharingRefusal.contentUnavailable(.pendingAcceptance).status.details["reason"] == "acceptance_pending")
        #expect(SharingRefusal.contentUnavailable(.consumed).status.details["reason"] == "consumed")
        #expect(SharingRefusal.shareQuota(limit: 3).status.code == .resourceExhausted)
        #expect(SharingRefusal.shareQuota(limit: 3).status.details["quota"] == "shares")
        #expect(SharingRefusal.invalid("slot_id", "m").status.code == .invalidArgument)
    }

    @Test func onlyAnActiveUnexpiredShareWithoutAFetchLimitIsFetchedWithoutALock() {
        let now = Self.now
        #expect(Self.share().fetchOnlyCounts(at: now))
        #expect(Self.share(expiresAt: now + 1).fetchOnlyCounts(at: now))
        #expect(!Self.share(expiresAt: now).fetchOnlyCounts(at: now))
        #expect(!Self.share(max: 1).fetchOnlyCounts(at: now))
        #expect(!Self.share(max: 5, fetches: 2).fetchOnlyCounts(at: now))
        #expect(!Self.share(.pendingAcceptance, acceptance: true).fetchOnlyCounts(at: now))
        for ended in [ShareLifecycle.State.rejected, .expired, .revoked, .deleted, .consumed] {
            #expect(!Self.share(ended).fetchOnlyCounts(at: now))
        }
        // What fetchContent does with such a share: the count only.
        var counted = Self.share(fetches: 7)
        #expect(counted.fetchContent(at: now) == .change)
        #expect(counted == Self.share(fetches: 8))
    }

    @Test func contentFetchesAreKeptPerShareWithWhoFetchedAndTakenWhenDueOrForced() {
        let log = ContentFetchLog()
        let recipient = UUID()
        func parties() -> ShareParties {
            ShareParties(
                ownerID: Self.owner, shareID: UUID(), senderID: Self.owner, recipientID: recipient, itemID: UUID(),
                parentShareID: nil)
        }
        let (a, b) = (parties(), parties())
        let keyA = ContentFetchLog.Key(ownerID: Self.owner, shareID: a.shareID)
        let keyB = ContentFetchLog.Key(ownerID: Self.owner, shareID: b.shareID)
        let first = SharingActor(userID: recipient, sessionID: "session-1", peerAddress: "127.0.0.1")
        let second = SharingActor(userID: recipient, sessionID: "session-2", peerAddress: "127.0.0.2")
        #expect(log.take(force: true).isEmpty)
        #expect(!log.record(a, by: first, at: Self.now + 5))
        #expect(!log.record(a, by: second, at: Self.now + 2))
        #expect(!log.record(b, by: first, at: Self.now + 9))
        // Not yet a second old: nothing is due.
        #expect(log.take(force: false).isEmpty)
        let taken = log.take(force: true)
        #expect(Set(taken.keys) == [keyA, keyB])
        let fetchesOfA = taken[keyA]
        #expect(fetchesOfA?.share == a && fetchesOfA?.count == 2)
        #expect(fetchesOfA?.first == Self.now + 2 && fetchesOfA?.last == Self.now + 5)
        #expect(fetchesOfA?.fetches == [.init(by: first, at: Self.now + 5), .init(by: second, at: Self.now + 2)])
        #expect(taken[keyB]?.fetches == [.init(by: first, at: Self.now + 9)])
        #expect(log.take(force: true).isEmpty)
        // Fetches that could not be written come back, before newer ones.
        _ = log.record(a, by: second, at: Self.now + 20)
        log.restore(taken)
        let again = log.take(force: true)
        #expect(again[keyA]?.count == 3 && again[keyA]?.first == Self.now + 2 && again[keyA]?.last == Self.now + 20)
        #expect(again[keyA]?.fetches.last == .init(by: second, at: Self.now + 20))
        #expect(again[keyB] == taken[keyB])
        // More than maximumPending fetches are due at once, even of one share and within the second.
        for index in 0..<ContentFetchLog.maximumPending {
            #expect(!log.record(a, by: first, at: Self.now + Int64(index)))
        }
        #expect(log.record(a, by: first, at: Self.now))
    }

}
