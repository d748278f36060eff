import Foundation

/// Every decision about a share, as a value without I/O (sharing.md §2.5; docs/ADR-008-sharing.md, "State
/// decisions"): the handlers read the share's row (locked where a race matters) and the database clock, build this
/// from them, ask it, and write what it became; the unit tests (SharingTests) ask it the same questions with no
/// database.
///
/// create → `PENDING_ACCEPTANCE` (acceptance required) or `ACTIVE` (``created(acceptanceRequired:expiresAt:maxContentFetches:)``)
/// · `PENDING → ACTIVE` (``accept(at:)``) · `PENDING → REJECTED` (``reject(at:)``) · `PENDING|ACTIVE → EXPIRED` (time:
/// ``state(at:)`` says so at once, and every transition first stores it) · `PENDING|ACTIVE → REVOKED` (``revoke(at:reason:)``:
/// its sender or the item's owner, a revoked parent, an ended connection, the item or slot deleted) · `ACTIVE → DELETED` (``delete(at:)``, the
/// recipient) · `ACTIVE → CONSUMED` (``fetchContent(at:)``, the `max_content_fetches`-th content fetch). The ended
/// states are terminal; a change to one of them drops the share's ciphertext (``endsContent``).
///
/// The rules of a new share, its own and an on-share's, are ``admit(_:parent:at:)`` and ``admitRecipient(_:parent:field:)``.
struct ShareLifecycle: Equatable, Sendable {
    /// The states as stored (`sharing.shares.state`) and on the wire (ShareState).
    enum State: Int32, Sendable, Equatable, CaseIterable {
        case pendingAcceptance = 1
        case active = 2
        case rejected = 3
        case expired = 4
        case revoked = 5
        case deleted = 6
        case consumed = 7

        var name: String {
            switch self {
            case .pendingAcceptance: "pending_acceptance"
            case .active: "active"
            case .rejected: "rejected"
            case .expired: "expired"
            case .revoked: "revoked"
            case .deleted: "deleted"
            case .consumed: "consumed"
            }
        }

        /// Pending or active: the share holds its ciphertext.
        var isLive: Bool { self == .pendingAcceptance || self == .active }

        /// Why content is refused in this state (`details.reason`): `acceptance_pending` for a pending share, the
        /// state's name for an ended one.
        var contentRefusalReason: String { self == .pendingAcceptance ? "acceptance_pending" : name }
    }

    /// Why a share ended (`sharing.shares.end_reason`, Share.end_reason).
    enum EndReason: String, Sendable, Equatable, CaseIterable {
        case rejected
        case expired
        case revoked
        /// Revoked because the share it was on-shared from was revoked.
        case parentRevoked = "parent_revoked"
        /// Revoked because the connection it went over ended.
        case connectionEnded = "connection_ended"
        case deleted
        case consumed
        /// Revoked because the owner deleted the item, or removed the one slot the share holds (ForgetSharedEntities).
        case itemDeleted = "item_deleted"
    }

    /// Whether a recipient may on-share (`sharing.shares.sharing_mode`, SharingMode).
    enum SharingMode: Int32, Sendable, Equatable, CaseIterable {
        case owner = 1
        case anyone = 2
    }

    /// A chain of on-shares stops here: a share made by the owner is depth 1.
    static let maximumDepth = 8

    /// The state as stored: a live share past its expiry stays stored as live until it is next changed, read with
    /// content, or swept.
    private(set) var stored: State
    private(set) var endReason: EndReason?
    let acceptanceRequired: Bool
    /// nil: never expires. Immutable (revoke and share again to change it).
    let expiresAt: DatabaseInstant?
    /// 0: unlimited; 1: view once.
    let maxContentFetches: Int
    private(set) var contentFetches: Int

    init(
        stored: State, endReason: EndReason?, acceptanceRequired: Bool, expiresAt: DatabaseInstant?,
        maxContentFetches: Int, contentFetches: Int
    ) {
        self.stored = stored
        self.endReason = endReason
        self.acceptanceRequired = acceptanceRequired
        self.expiresAt = expiresAt
        self.maxContentFetches = maxContentFetches
        self.contentFetches = contentFetches
    }

    /// A new share: pending when acceptance is required, active otherwise.
    static func created(acceptanceRequired: Bool, expiresAt: DatabaseInstant?, maxContentFetches: Int) -> ShareLifecycle {
        ShareLifecycle(
            stored: acceptanceRequired ? .pendingAcceptance : .active, endReason: nil,
            acceptanceRequired: acceptanceRequired, expiresAt: expiresAt, maxContentFetches: maxContentFetches,
            contentFetches: 0)
    }

    /// What the share is at `now` by the database clock: a live one whose expiry has come is EXPIRED.
    func state(at now: DatabaseInstant) -> State {
        if stored.isLive, let expiresAt, expiresAt <= now { return .expired }
        return stored
    }

    /// Whether going from `before` to this value left the live states: the handler then deletes the share's slots
    /// and its wrapped DEK and terms in the same transaction.
    func endsContent(from before: ShareLifecycle) -> Bool { before.stored.isLive && !stored.isLive }

    /// What a transition decided. On ``refuse(_:)`` the value may still have changed (a share found expired is
    /// stored as expired): the handler writes any change, then answers the refusal.
    enum Decision: Equatable, Sendable {
        case change
        case refuse(SharingRefusal)
    }

    /// `PENDING|ACTIVE → EXPIRED` as stored, once its time has come: true when this changed anything.
    @discardableResult
    mutating func expire(at now: DatabaseInstant) -> Bool {
        guard stored.isLive, state(at: now) == .expired else { return false }
        stored = .expired
        endReason = .expired
        return true
    }

    /// `PENDING → ACTIVE`, by the recipient. Anything not pending is `not_pending`.
    mutating func accept(at now: DatabaseInstant) -> Decision {
        expire(at: now)
        guard stored == .pendingAcceptance else { return .refuse(.shareNotPending(stored)) }
        stored = .active
        return .change
    }

    /// `PENDING → REJECTED`, by the recipient. Anything not pending is `not_pending`.
    mutating func reject(at now: DatabaseInstant) -> Decision {
        expire(at: now)
        guard stored == .pendingAcceptance else { return .refuse(.shareNotPending(stored)) }
        stored = .rejected
        endReason = .rejected
        return .change
    }

    /// `PENDING|ACTIVE → REVOKED` for `reason` (``EndReason/revoked`` by its sender or the item's owner,
    /// ``EndReason/parentRevoked`` in a cascade, ``EndReason/connectionEnded``, ``EndReason/itemDeleted``). A share
    /// already ended is `not_live`.
    mutating func revoke(at now: DatabaseInstant, reason: EndReason = .revoked) -> Decision {
        expire(at: now)
        guard stored.isLive else { return .refuse(.shareNotLive(stored)) }
        stored = .revoked
        endReason = reason
        return .change
    }

    /// `ACTIVE → DELETED`, by the recipient (no cascade to its on-shares). A pending share is rejected, not deleted
    /// (`acceptance_pending`); an ended one is `not_live`.
    mutating func delete(at now: DatabaseInstant) -> Decision {
        expire(at: now)
        switch stored {
        case .active:
            stored = .deleted
            endReason = .deleted
            return .change
        case .pendingAcceptance:
            return .refuse(.deletePending)
        default:
            return .refuse(.shareNotLive(stored))
        }
    }

    /// A content fetch by the recipient: only while ACTIVE (else the state's reason, `acceptance_pending` for a
    /// pending one). Counted; the `max_content_fetches`-th moves the share to CONSUMED in the same transaction that
    /// serves it, so the content is served exactly `max_content_fetches` times.
    mutating func fetchContent(at now: DatabaseInstant) -> Decision {
        expire(at: now)
        guard stored == .active else { return .refuse(.contentUnavailable(stored)) }
        contentFetches += 1
        if maxContentFetches > 0, contentFetches >= maxContentFetches {
            stored = .consumed
            endReason = .consumed
        }
        return .change
    }

    /// Whether a content fetch at `now` would change nothing but the fetch count and times: an ACTIVE, unexpired
    /// share with no fetch limit (``fetchContent(at:)`` would only count it). Such a fetch needs no lock and no
    /// decision stored; every other fetch is decided by ``fetchContent(at:)`` on the locked row.
    func fetchOnlyCounts(at now: DatabaseInstant) -> Bool {
        maxContentFetches == 0 && state(at: now) == .active
    }

    /// Whether the recipient may read the files of the share at `now` (GetSharedAttachmentBlock): while its content
    /// may be fetched, ACTIVE and unexpired; nil then, else the refusal a content fetch would get. Never counted. A
    /// view-once share consumed by its one fetch is not decided here: its files stay readable for a while after that
    /// fetch (``SharingService/consumedFileWindow``).
    func fileReadRefusal(at now: DatabaseInstant) -> SharingRefusal? {
        let state = state(at: now)
        return state == .active ? nil : .contentUnavailable(state)
    }

    // MARK: New shares

    /// What a CreateShare asks for, besides its content.
    struct Request: Equatable, Sendable {
        /// A single-slot share: that slot; nil: the whole item (of an on-share: every slot of the parent).
        var slotID: UUID?
        var sharingMode: SharingMode
        var acceptanceRequired: Bool
        /// nil: no expiry asked for (an on-share then takes the parent's).
        var expiresAt: DatabaseInstant?
        var maxContentFetches: Int
        /// The fields of recipients that carry terms (`recipients[i].encrypted_terms`).
        var termsFields: [String]
        /// The fields of slots that carry a value verification hash (`recipients[i].slots[j].value_verification_hash`).
        var hashFields: [String]
    }

    /// The share an on-share is made from, as its recipient (the caller) reads it, locked.
    struct Parent: Equatable, Sendable {
        let lifecycle: ShareLifecycle
        let sharingMode: SharingMode
        let depth: Int
        /// The parent's single slot, or nil for a whole-item share.
        let slotID: UUID?
        /// The slots the parent holds.
        let slotIDs: Set<UUID>
        /// The item's owner and the recipient of every share of the chain down to the parent (the caller included):
        /// none of them may receive the on-share.
        let holders: Set<UUID>
    }

    /// What a new share will be: its lifecycle, its depth, its slot (nil: every slot of the item or of the parent).
    struct Admission: Equatable, Sendable {
        let lifecycle: ShareLifecycle
        let depth: Int
        let slotID: UUID?
    }

    /// The rules of a new share (sharing.md §2.5), for the owner's own item (`parent` nil) or an on-share, at `now`
    /// by the database clock, in this order: terms need `acceptance_required` and an expiry must be in the future
    /// (INVALID_ARGUMENT naming the field); then for an on-share: the parent ACTIVE (`share_not_active`, naming its
    /// state), its mode ANYONE (PERMISSION_DENIED `onsharing_not_permitted`), a depth of at most 8
    /// (`depth_exceeded`), an expiry no later than the parent's (absent: the parent's; INVALID_ARGUMENT
    /// `expires_at_ms`), a slot among the parent's (INVALID_ARGUMENT `slot_id`), and no hash sent (Sharing copies the
    /// parent's; INVALID_ARGUMENT naming the hash).
    static func admit(_ request: Request, parent: Parent?, at now: DatabaseInstant) throws(SharingRefusal) -> Admission {
        if !request.acceptanceRequired, let field = request.termsFields.first {
            throw .invalid(field, "\(field) makes acceptance necessary: set acceptance_required")
        }
        if let expiresAt = request.expiresAt, expiresAt <= now {
            throw .invalid("expires_at_ms", "expires_at_ms must be in the future")
        }
        guard let parent else {
            return Admission(
                lifecycle: .created(
                    acceptanceRequired: request.acceptanceRequired, expiresAt: request.expiresAt,
                    maxContentFetches: request.maxContentFetches),
                depth: 1, slotID: request.slotID)
        }
        let parentState = parent.lifecycle.state(at: now)
        guard parentState == .active else { throw .parentNotActive(parentState) }
        guard parent.sharingMode == .anyone else { throw .onsharingNotPermitted }
        guard parent.depth < maximumDepth else { throw .depthExceeded }
        if let asked = request.expiresAt, let limit = parent.lifecycle.expiresAt, asked > limit {
            throw .invalid("expires_at_ms", "expires_at_ms is after the expiry of the share it is made from")
        }
        let expiresAt = request.expiresAt ?? parent.lifecycle.expiresAt
        if let slotID = request.slotID, !parent.slotIDs.contains(slotID) {
            throw .invalid("slot_id", "slot_id is not a slot of the share it is made from")
        }
        if let field = request.hashFields.first {
            throw .invalid(
                field, "\(field) must be empty on an on-share: the owner's hash is copied from the share it is made from")
        }
        return Admission(
            lifecycle: .created(
                acceptanceRequired: request.acceptanceRequired, expiresAt: expiresAt,
                maxContentFetches: request.maxContentFetches),
            depth: parent.depth + 1, slotID: request.slotID ?? parent.slotID)
    }

    /// A recipient of an on-share must not already hold the item: not its owner, nor the recipient of any share of
    /// the chain (`recipient_has_item`). A share of the owner's own goes to a connection, never to the owner.
    static func admitRecipient(_ recipientID: UUID, parent: Parent?, field: String) throws(SharingRefusal) {
        if let parent, parent.holders.contains(recipientID) { throw .recipientHasItem(field) }
    }
}
