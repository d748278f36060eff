import Cryppo
import Foundation
import SVXRPC
import Testing

@testable import Sharing

/// Every decision about an invitation, without I/O: the same code the handlers run on the rows they read.
@Suite struct InvitationLifecycleTests {
    static let inviter = UUID()
    static let invitee = UUID()
    static let token = try! SecureRandom.bytes(count: 32)
    static let tokenHash = HashFunction.sha256.hash(token)
    static let created: DatabaseInstant = 1_700_000_000_000_000
    static let expires: DatabaseInstant = created + 7 * 86_400 * 1_000_000

    static func pending(intended: String? = nil) -> InvitationLifecycle {
        InvitationLifecycle(
            stored: .pending, inviterID: inviter, tokenSHA256: tokenHash, intendedUsername: intended, expiresAt: expires)
    }

    static func acceptance(
        by caller: UUID = invitee, username: String = "bob", token: [UInt8] = tokenHash, connected: Bool = false,
        inviterConnections: Int = 0, inviteeConnections: Int = 0, limit: Int = 5_000
    ) -> InvitationLifecycle.Acceptance {
        .init(
            callerID: caller, callerUsername: username, presentedTokenSHA256: token, alreadyConnected: connected,
            inviterConnections: inviterConnections, inviteeConnections: inviteeConnections, maximumConnections: limit)
    }

    @Test func theStateIsExpiredTheMomentItsTimeComesByTheDatabaseClock() {
        let invitation = Self.pending()
        #expect(invitation.state(at: Self.created) == .pending)
        #expect(invitation.state(at: Self.expires - 1) == .pending)
        #expect(invitation.state(at: Self.expires) == .expired)
        #expect(invitation.state(at: Self.expires + 1) == .expired)
        // Terminal states stay what they are, whatever the clock says.
        for stored in [InvitationLifecycle.State.accepted, .revoked, .expired] {
            let settled = InvitationLifecycle(
                stored: stored, inviterID: Self.inviter, tokenSHA256: nil, intendedUsername: nil, expiresAt: Self.expires)
            #expect(settled.state(at: Self.created) == stored)
            #expect(settled.state(at: Self.expires + 1) == stored)
        }
    }

    @Test func onlyTheRightTokenOpensAPendingUnexpiredInvitation() throws {
        let invitation = Self.pending()
        try invitation.open(presenting: Self.tokenHash, at: Self.created)
        var other = Self.tokenHash
        other[31] ^= 1
        for presented in [other, [], Array(Self.tokenHash.prefix(31)), Self.token] {
            #expect(throws: SharingRefusal.invitationNotFound) { try invitation.open(presenting: presented, at: Self.created) }
        }
        #expect(throws: SharingRefusal.invitationNotFound) { try invitation.open(presenting: Self.tokenHash, at: Self.expires) }
        for stored in [InvitationLifecycle.State.accepted, .revoked, .expired] {
            // Even with a hash left in place (never written so), a settled invitation opens for nobody.
            let settled = InvitationLifecycle(
                stored: stored, inviterID: Self.inviter, tokenSHA256: Self.tokenHash, intendedUsername: nil,
                expiresAt: Self.expires)
            #expect(throws: SharingRefusal.invitationNotFound) { try settled.open(presenting: Self.tokenHash, at: Self.created) }
        }
    }

    @Test func anAcceptanceConnectsOnceAndDropsTheTokenHash() {
        var invitation = Self.pending()
        #expect(invitation.accept(Self.acceptance(), at: Self.created) == .connect)
        #expect(invitation.stored == .accepted)
        #expect(invitation.tokenSHA256 == nil)
        // The replay, by anyone with the same token: NOT_FOUND, and nothing changes.
        let after = invitation
        #expect(invitation.accept(Self.acceptance(), at: Self.created) == .refuse(.invitationNotFound))
        #expect(invitation.accept(Self.acceptance(by: UUID(), username: "carol"), at: Self.created) == .refuse(.invitationNotFound))
        #expect(invitation == after)
    }

    @Test func refusalsLeaveTheInvitationPending() {
        var other = Self.tokenHash
        other[0] ^= 0x80
        let cases: [(InvitationLifecycle, InvitationLifecycle.Acceptance, DatabaseInstant, SharingRefusal)] = [
            (Self.pending(), Self.acceptance(token: other), Self.created, .invitationNotFound),
            (Self.pending(), Self.acceptance(token: []), Self.created, .invitationNotFound),
            (Self.pending(), Self.acceptance(), Self.expires, .invitationNotFound),
            (Self.pending(), Self.acceptance(by: Self.inviter, username: "alice"), Self.created, .selfConnection),
            (Self.pending(intended: "carol"), Self.acceptance(), Self.created, .notIntendedRecipient),
            (Self.pending(intended: "Bob"), Self.acceptance(), Self.created, .notIntendedRecipient),  // usernames are exact
            (Self.pending(), Self.acceptance(connected: true), Self.created, .alreadyConnected),
            (Self.pending(), Self.acceptance(inviteeConnections: 5_000), Self.created, .connectionQuota(.invitee, limit: 5_000)),
            (Self.pending(), Self.acceptance(inviterConnections: 3, limit: 3), Self.created, .connectionQuota(.inviter, limit: 3)),
        ]
        for (invitation, acceptance, now, refusal) in cases {
            var decided = invitation
            #expect(decided.accept(acceptance, at: now) == .refuse(refusal), "\(refusal)")
            #expect(decided == invitation, "\(refusal) changed the invitation")
            #expect(decided.tokenSHA256 == Self.tokenHash)
        }
        var intended = Self.pending(intended: "bob")
        #expect(intended.accept(Self.acceptance(inviteeConnections: 4_999, limit: 5_000), at: Self.created) == .connect)
    }

    /// A wrong token is NOT_FOUND before anything else is said: its holder learns nothing about who may accept.
    @Test func theTokenIsCheckedFirst() {
        var other = Self.tokenHash
        other[5] ^= 1
        var invitation = Self.pending(intended: "carol")
        #expect(invitation.accept(Self.acceptance(by: Self.inviter, token: other, connected: true), at: Self.created)
            == .refuse(.invitationNotFound))
        // Then self, then the intended username, then an existing connection, then the caps.
        #expect(invitation.accept(Self.acceptance(by: Self.inviter, connected: true), at: Self.created) == .refuse(.selfConnection))
        #expect(invitation.accept(Self.acceptance(connected: true), at: Self.created) == .refuse(.notIntendedRecipient))
        invitation = Self.pending()
        #expect(invitation.accept(Self.acceptance(connected: true, inviteeConnections: 9, limit: 9), at: Self.created)
            == .refuse(.alreadyConnected))
    }

    @Test func onlyAPendingInvitationIsRevoked() {
        var invitation = Self.pending()
        #expect(invitation.revoke(at: Self.created) == .revoke)
        #expect(invitation.stored == .revoked)
        #expect(invitation.tokenSHA256 == nil)
        #expect(invitation.revoke(at: Self.created) == .refuse(.invitationNotPending(.revoked)))

        var accepted = Self.pending()
        _ = accepted.accept(Self.acceptance(), at: Self.created)
        #expect(accepted.revoke(at: Self.created) == .refuse(.invitationNotPending(.accepted)))

        var expired = Self.pending()
        #expect(expired.revoke(at: Self.expires) == .refuse(.invitationNotPending(.expired)))
        #expect(expired.stored == .pending)  // the refusal changes nothing; expiring is its own decision
        let changed = expired.expire(at: Self.expires)
        #expect(changed)
        #expect(expired.stored == .expired && expired.tokenSHA256 == nil)
    }

    @Test func housekeepingExpiresOnlyWhatTimeHasExpired() {
        var invitation = Self.pending()
        let early = invitation.expire(at: Self.expires - 1)
        #expect(!early)
        #expect(invitation == Self.pending())
        let due = invitation.expire(at: Self.expires)
        #expect(due)
        let again = invitation.expire(at: Self.expires + 1)
        #expect(!again)  // once
        var revoked = Self.pending()
        _ = revoked.revoke(at: Self.created)
        let settled = revoked.expire(at: Self.expires + 1)
        #expect(!settled)
        #expect(revoked.stored == .revoked)
    }

    @Test func theCapOfPendingInvitationsSaysWhenRoomComes() {
        #expect(throws: Never.self) {
            try InvitationLifecycle.admitNewInvitation(pending: 99, limit: 100, earliestExpiry: Self.expires, at: Self.created)
        }
        #expect(throws: SharingRefusal.pendingInvitationQuota(limit: 100, retryAfterMs: 1_500)) {
            try InvitationLifecycle.admitNewInvitation(
                pending: 100, limit: 100, earliestExpiry: Self.created + 1_499_001, at: Self.created)
        }
        #expect(throws: SharingRefusal.pendingInvitationQuota(limit: 1, retryAfterMs: 0)) {
            try InvitationLifecycle.admitNewInvitation(pending: 1, limit: 1, earliestExpiry: nil, at: Self.created)
        }
    }

    @Test func refusalsAnswerWithTheDocumentedStatus() {
        let expected: [(SharingRefusal, RPCStatus.Code, String, String)] = [
            (.invitationNotFound, .notFound, "field", "invitation_id"),
            (.selfConnection, .failedPrecondition, "reason", "self_connection"),
            (.notIntendedRecipient, .failedPrecondition, "reason", "not_intended_recipient"),
            (.alreadyConnected, .alreadyExists, "reason", "already_connected"),
            (.connectionQuota(.invitee, limit: 7), .resourceExhausted, "quota", "connections"),
            (.pendingInvitationQuota(limit: 100, retryAfterMs: 0), .resourceExhausted, "retry_after_ms", "1"),
            (.invitationNotPending(.accepted), .failedPrecondition, "reason", "not_pending"),
            (.connectionEnded, .failedPrecondition, "reason", "connection_ended"),
        ]
        for (refusal, code, key, value) in expected {
            #expect(refusal.status.code == code, "\(refusal)")
            #expect(refusal.status.details[key] == value, "\(refusal): \(refusal.status.details)")
        }
        #expect(SharingRefusal.invitationNotFound.status.message == "invitation not found")
        #expect(SharingRefusal.connectionQuota(.inviter, limit: 7).status.details["limit"] == "7")
    }
}

/// Every decision about a connection, without I/O.
@Suite struct ConnectionLifecycleTests {
    @Test func endingEndsBothSidesOnce() {
        var connection = ConnectionLifecycle(own: .active, other: .active)
        #expect(connection.end() == .end(otherSide: true))
        #expect(connection == ConnectionLifecycle(own: .ended, other: .ended))
        #expect(connection.end() == .refuse(.connectionEnded))
        #expect(connection == ConnectionLifecycle(own: .ended, other: .ended))
    }

    @Test func aMissingOrEndedOtherSideIsLeftAlone() {
        var lonely = ConnectionLifecycle(own: .active, other: nil)
        #expect(lonely.end() == .end(otherSide: false))
        #expect(lonely == ConnectionLifecycle(own: .ended, other: nil))
        var half = ConnectionLifecycle(own: .active, other: .ended)
        #expect(half.end() == .end(otherSide: false))
        var ended = ConnectionLifecycle(own: .ended, other: .active)
        #expect(ended.end() == .refuse(.connectionEnded))
        #expect(ended == ConnectionLifecycle(own: .ended, other: .active))
    }
}
