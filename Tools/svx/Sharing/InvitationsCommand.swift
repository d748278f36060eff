import ArgumentParser
import Foundation
import SVXClient

/// `svx invitations create|list|revoke`: inviting someone to connect. The code `create` prints carries the
/// invitation's token and a secret that never reaches any server; it is shown once.
struct InvitationsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invitations", abstract: "Invite someone to connect, list your invitations, revoke one.",
        discussion: """
            An invitation publishes your connection key (made in your Keystore the first time) with a code to hand \
            over out of band (in person, by phone, in a message you trust). The person runs `svx connections accept \
            CODE`; their client checks your public key against the code before accepting, and yours checks theirs \
            (`svx connections verify`). Create and list need your Secret Key and passphrase (names are encrypted \
            with your private key).
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an invitation and print its code (once).",
            discussion: """
                Whoever holds the code can accept the invitation until it expires, unless --for names the one user who \
                may. The code is shown only now: svx keeps no copy, and the service keeps only a hash of its token.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Option(help: "Your name for the person invited (default: the --for username, else \"New Connection\").")
        var name: String?
        @Option(help: "How long the code stays valid: 45s, 90m, 36h, 7d (default 7d, at most 30d).") var expires: String?
        @Option(name: .customLong("for"), help: ArgumentHelp("Only this user (their svx username) may accept.", valueName: "username"))
        var intendedUsername: String?

        func validate() throws {
            if let expires {
                do { _ = try InvitationLifetime.milliseconds(parsing: expires) } catch let error as SVXClientError {
                    throw ValidationError("--expires: \(error.message)")
                }
            }
            if let name, name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ValidationError("--name must not be empty")
            }
        }

        func run() async throws {
            let lifetime = try expires.map(InvitationLifetime.milliseconds(parsing:))
            let (sharing, keys) = try await SharingSession.unlocked(options: options, unlock: unlock)
            let progress = ProgressLine()
            let created = try await clientFlow {
                do {
                    return try await sharing.sharing.createInvitation(
                        session: sharing.session, keys: keys, name: name, expiresInMilliseconds: lifetime,
                        intendedUsername: intendedUsername, progress: progress.keyringEvents)
                } catch {
                    progress.end("failed")
                    throw error
                }
            }
            if options.json {
                try printJSON(["invitation": SharingOutput.json(created.invitation), "code": created.code.text])
                return
            }
            let invitation = created.invitation
            let who = invitation.recipientName ?? invitation.intendedUsername ?? "the person you invite"
            Terminal.printLine("Invitation \(invitation.id) for \(who), valid until \(invitation.expiresAt.iso8601).")
            if let intended = invitation.intendedUsername { Terminal.printLine("Only \(intended) can accept it.") }
            Terminal.printLine("Give \(who) this code over a channel you trust. It is shown only this once:")
            Terminal.printLine("")
            Terminal.printLine("  \(created.code.text)")
            Terminal.printLine("")
            Terminal.printLine("They run: svx connections accept CODE")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your invitations, newest first.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Option(help: "Only invitations in this state: pending, accepted, revoked or expired.") var state: String?

        func validate() throws {
            if let state, InvitationState(rawValue: state) == nil {
                throw ValidationError("--state must be one of \(InvitationState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            let (sharing, keys) = try await SharingSession.unlocked(options: options, unlock: unlock)
            let invitations = try await clientFlow {
                try await sharing.sharing.invitations(
                    session: sharing.session, keys: keys, state: state.flatMap(InvitationState.init(rawValue:)))
            }
            if options.json {
                try printJSON(["invitations": invitations.map(SharingOutput.json)])
            } else {
                SharingOutput.printInvitations(invitations)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a pending invitation: its code stops working.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The invitation's id.") var id: String

        func run() async throws {
            let sharing = try SharingSession(options: options)
            let invitation = try await clientFlow { try await sharing.sharing.revokeInvitation(session: sharing.session, id: id) }
            if options.json {
                try printJSON(SharingOutput.json(invitation))
            } else {
                Terminal.printLine("Revoked invitation \(invitation.id): its code no longer works.")
            }
        }
    }
}
