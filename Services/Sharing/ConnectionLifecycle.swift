import Foundation

/// Every decision about a connection, as a value without I/O (docs/ADR-008-sharing.md, "State decisions"): one
/// connection is two rows, one per side, each in its owner's hands; both are ACTIVE from the acceptance until either
/// side ends it, and then both are ENDED (terminal; a new invitation makes a new connection).
struct ConnectionLifecycle: Equatable, Sendable {
    /// The states as stored (`sharing.connections.state`) and on the wire (ConnectionState).
    enum State: Int32, Sendable, Equatable, CaseIterable {
        case active = 1
        case ended = 2
    }

    /// Which side of the connection a row is (`sharing.connections.role`; the proto's ConnectionRole).
    enum Role: Int32, Sendable, Equatable, CaseIterable {
        case inviter = 1
        case invitee = 2
    }

    /// The caller's side.
    private(set) var own: State
    /// The other side, nil when its row is missing (never written so; tolerated, not created).
    private(set) var other: State?

    init(own: State, other: State?) {
        self.own = own
        self.other = other
    }

    enum EndAction: Equatable, Sendable {
        /// Store both sides as ENDED (the other side only when its row exists and is still active).
        case end(otherSide: Bool)
        case refuse(SharingRefusal)
    }

    /// `ACTIVE → ENDED` on both sides, by either side (the handler reads the caller's own row and the other side's,
    /// both locked). Ending what has ended is `connection_ended`.
    mutating func end() -> EndAction {
        guard own == .active else { return .refuse(.connectionEnded) }
        own = .ended
        let otherSide = other == .active
        if otherSide { other = .ended }
        return .end(otherSide: otherSide)
    }
}
