import ArgumentParser
import Foundation
import SVXClient

/// The saved session with the SDK's sharing client; ``unlocked(options:unlock:)`` adds the keys, for commands that
/// encrypt or decrypt (names, the invitation secret).
struct SharingSession {
    let session: AuthenticatedSession
    let sharing: SharingClient

    /// Without keys: for commands that send ids only (revoke, delete).
    init(options: ClientOptions) throws {
        self.init(session: try ClientState().loadSession(), sharing: try options.sharingClient())
    }

    private init(session: AuthenticatedSession, sharing: SharingClient) {
        self.session = session
        self.sharing = sharing
    }

    /// With the keys open (the Secret Key and the passphrase asked for as by every command that decrypts).
    static func unlocked(options: ClientOptions, unlock: UnlockOptions) async throws -> (SharingSession, UnlockedKeys) {
        let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
        let sharing = try options.sharingClient()
        return (SharingSession(session: unlocked.session, sharing: sharing), unlocked.keys)
    }
}

/// How the invitations and connections commands print, like every svx command: lines and aligned tables for
/// people, JSON with `--json` for scripts (objects with sorted keys).
enum SharingOutput {
    static func json(_ invitation: SharingInvitation) -> [String: Any] {
        [
            "invitation_id": invitation.id, "inviter_id": invitation.inviterID, "keypair_id": invitation.keypairID,
            "name": nullable(invitation.recipientName), "intended_username": nullable(invitation.intendedUsername),
            "state": invitation.state.rawValue, "expires_at": invitation.expiresAt.iso8601,
            "created_at": invitation.createdAt.iso8601, "decided_at": nullable(invitation.decidedAt?.iso8601),
            "accepted_by_user_id": nullable(invitation.acceptedByUserID),
            "accepted_by_username": nullable(invitation.acceptedByUsername),
            "connection_id": nullable(invitation.connectionID),
        ]
    }

    static func json(_ connection: SharingConnection) -> [String: Any] {
        var object: [String: Any] = [
            "connection_id": connection.id, "other_user_id": connection.otherUserID,
            "other_username": connection.otherUsername, "name": nullable(connection.name), "role": connection.role.rawValue,
            "state": connection.state.rawValue, "invitation_id": connection.invitationID,
            "created_at": connection.createdAt.iso8601, "ended_at": nullable(connection.endedAt?.iso8601),
            "own_keypair_id": connection.ownKeypairID, "own_key_sha256": nullable(connection.ownKey?.hex),
            "other_key_sha256": nullable(connection.otherKey?.hex), "keys": keyWord(connection.keyCheck),
            "safety_code": nullable(connection.safetyCode?.description),
        ]
        if case .mismatch(let reason) = connection.keyCheck { object["mismatch_reason"] = reason }
        return object
    }

    /// `verified`, `MISMATCH` or `not checked`, as the tables show it.
    static func keyColumn(_ check: ConnectionKeyCheck) -> String {
        switch check {
        case .verified: "verified"
        case .mismatch: "MISMATCH"
        case .notChecked: "not checked"
        }
    }

    static func keyWord(_ check: ConnectionKeyCheck) -> String {
        switch check {
        case .verified: "verified"
        case .mismatch: "mismatch"
        case .notChecked: "not_checked"
        }
    }

    static func printInvitations(_ invitations: [SharingInvitation]) {
        guard !invitations.isEmpty else {
            Terminal.printLine("No invitations.")
            return
        }
        VaultOutput.printTable(
            ["ID", "NAME", "STATE", "FOR", "EXPIRES", "ACCEPTED BY"],
            invitations.map {
                [
                    $0.id, $0.recipientName ?? "-", $0.state.rawValue, $0.intendedUsername ?? "anyone with the code",
                    $0.expiresAt.iso8601, $0.acceptedByUsername ?? "-",
                ]
            })
    }

    static func printConnections(_ connections: [SharingConnection]) {
        guard !connections.isEmpty else {
            Terminal.printLine("No connections.")
            return
        }
        VaultOutput.printTable(
            ["ID", "NAME", "USERNAME", "ROLE", "STATE", "KEYS", "SINCE"],
            connections.map {
                [
                    $0.id, $0.name ?? "-", $0.otherUsername, $0.role.rawValue, $0.state.rawValue, keyColumn($0.keyCheck),
                    $0.createdAt.iso8601,
                ]
            })
    }

    /// A connection in full: who, since when, both key fingerprints, the safety code and the outcome of the check.
    static func printConnection(_ connection: SharingConnection) {
        Terminal.printLine("Connection \(connection.id) with \(connection.otherUsername) (\"\(connection.displayName)\")")
        Terminal.printLine("  state       \(connection.state.rawValue)\(connection.endedAt.map { " since \($0.iso8601)" } ?? "")")
        Terminal.printLine("  you were    the \(connection.role.rawValue), connected \(connection.createdAt.iso8601)")
        Terminal.printLine("  your key    \(connection.ownKey?.hex ?? "unreadable") (keypair \(connection.ownKeypairID))")
        Terminal.printLine("  their key   \(connection.otherKey?.hex ?? "unreadable")")
        printSafetyCode(connection)
        printKeyCheck(connection)
    }

    static func printSafetyCode(_ connection: SharingConnection) {
        guard let code = connection.safetyCode else { return }
        Terminal.printLine("Safety code (\(connection.otherUsername) sees the same one for this connection if no key was swapped):")
        for line in code.lines { Terminal.printLine("  \(line)") }
    }

    static func printKeyCheck(_ connection: SharingConnection) {
        switch connection.keyCheck {
        case .verified:
            Terminal.printLine("verified: both public keys are the ones proved with the invitation secret.")
        case .mismatch(let reason):
            Terminal.printLine("MISMATCH: \(reason). Do not share anything over this connection.")
        case .notChecked:
            Terminal.printLine("not checked")
        }
    }

    /// Exit status 1 (after the output) when any of `connections` failed the key check.
    static func failOnMismatch(_ connections: [SharingConnection]) throws {
        let failed = connections.filter { if case .mismatch = $0.keyCheck { true } else { false } }
        guard failed.isEmpty else {
            Terminal.printError(
                "Key check failed for \(failed.map { "\($0.id) (\($0.otherUsername))" }.joined(separator: ", ")): see `svx connections verify`.")
            throw ExitCode(1)
        }
    }

    private static func nullable(_ value: String?) -> Any { value.map { $0 as Any } ?? NSNull() }
}
