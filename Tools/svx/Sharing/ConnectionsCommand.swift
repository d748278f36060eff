import ArgumentParser
import Foundation
import SVXClient

/// `svx connections accept|list|show|rename|verify|delete`: the people you are connected with. Every command that
/// shows a connection checks its two public keys against the invitation secret and says `MISMATCH` (exit status 1)
/// when a key was changed after the invitation.
struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections", abstract: "Accept an invitation; list, check, rename and delete your connections.",
        discussion: """
            A connection is a pair of public keys, one per side, each proved with the secret inside the invitation \
            code (which no server ever sees): a server that swaps a key is caught here. `verify` also prints a safety \
            code: both of you see the same one if no key was swapped, so you can compare it by voice. Names are your \
            own and encrypted with your private key. Commands that show names or check keys need your Secret Key and \
            passphrase.
            """,
        subcommands: [Accept.self, List.self, Show.self, Rename.self, Verify.self, Delete.self])

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept an invitation code: connect with the person who made it.",
            discussion: """
                The inviter's public key is checked against the code before anything is accepted; if it does not match, \
                nothing happens and the invitation stays pending. Without CODE, it is asked for on the terminal (a code \
                given as an argument stays in your shell's history; it stops working once accepted).
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The invitation code (svxi.1.…).") var code: String?
        @Option(help: "Your name for the inviter (default: their username).") var name: String?

        func validate() throws {
            if let name, name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ValidationError("--name must not be empty")
            }
        }

        func run() async throws {
            let text = try code ?? askForCode()
            let invitationCode = try clientCode(text)
            let (sharing, keys) = try await SharingSession.unlocked(options: options, unlock: unlock)
            let progress = ProgressLine()
            let connection = try await clientFlow {
                do {
                    return try await sharing.sharing.acceptInvitation(
                        session: sharing.session, keys: keys, code: invitationCode, name: name,
                        progress: progress.keyringEvents)
                } catch {
                    progress.end("failed")
                    throw error
                }
            }
            if options.json {
                try printJSON(SharingOutput.json(connection))
            } else {
                Terminal.printLine("The inviter's public key matches the code.")
                Terminal.printLine(
                    "Connected with \(connection.otherUsername) as \"\(connection.displayName)\" (connection \(connection.id)).")
                SharingOutput.printSafetyCode(connection)
                SharingOutput.printKeyCheck(connection)
            }
            try SharingOutput.failOnMismatch([connection])
        }

        /// The code asked for on the terminal (no echo: it is a secret until accepted).
        private func askForCode() throws -> String {
            guard let tty = try? Terminal.promptOnTerminal("Invitation code: ") else {
                throw CLIError("no invitation code: give it as CODE (there is no terminal to ask on)")
            }
            return tty
        }

        /// The code parsed, or one clear line saying what is wrong with it.
        private func clientCode(_ text: String) throws -> InvitationCode {
            do {
                return try InvitationCode(parsing: text)
            } catch let error as SVXClientError {
                throw CLIError(error.message)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List your connections, newest first, with the outcome of each key check.",
            discussion: "Exit status 1 when any connection fails the key check (shown as MISMATCH).")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Option(help: "Only connections in this state: active or ended.") var state: String?

        func validate() throws {
            if let state, ConnectionState(rawValue: state) == nil {
                throw ValidationError("--state must be one of \(ConnectionState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
        }

        func run() async throws {
            let (sharing, keys) = try await SharingSession.unlocked(options: options, unlock: unlock)
            let connections = try await clientFlow {
                try await sharing.sharing.connections(
                    session: sharing.session, keys: keys, state: state.flatMap(ConnectionState.init(rawValue:)))
            }
            if options.json {
                try printJSON(["connections": connections.map(SharingOutput.json)])
            } else {
                SharingOutput.printConnections(connections)
            }
            try SharingOutput.failOnMismatch(connections)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a connection: who, both key fingerprints, the safety code and the key check.",
            discussion: "Exit status 1 when the key check fails (MISMATCH).")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The connection's id.") var id: String

        func run() async throws {
            let connection = try await checkedConnection(id: id, options: options, unlock: unlock)
            if options.json { try printJSON(SharingOutput.json(connection)) } else { SharingOutput.printConnection(connection) }
            try SharingOutput.failOnMismatch([connection])
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a connection's keys against its invitation secret and print its safety code.",
            discussion: """
                Prints "verified" when both public keys are the ones proved with the invitation secret, else MISMATCH \
                with exit status 1: then a key was changed after the invitation, and nothing may be shared over this \
                connection. Compare the safety code with the other person's (`svx connections verify` on their side): \
                it is the same on both sides only if neither key was swapped.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The connection's id.") var id: String

        func run() async throws {
            let connection = try await checkedConnection(id: id, options: options, unlock: unlock)
            if options.json {
                try printJSON(SharingOutput.json(connection))
            } else {
                Terminal.printLine("Connection \(connection.id) with \(connection.otherUsername) (\"\(connection.displayName)\")")
                SharingOutput.printSafetyCode(connection)
                SharingOutput.printKeyCheck(connection)
            }
            try SharingOutput.failOnMismatch([connection])
        }
    }

    struct Rename: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give a connection another name (yours only: the other side does not see it).")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The connection's id.") var id: String
        @Argument(help: "The new name.") var name: String

        func validate() throws {
            if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { throw ValidationError("NAME must not be empty") }
        }

        func run() async throws {
            let (sharing, keys) = try await SharingSession.unlocked(options: options, unlock: unlock)
            let connection = try await clientFlow {
                try await sharing.sharing.renameConnection(session: sharing.session, keys: keys, id: id, name: name)
            }
            if options.json {
                try printJSON(SharingOutput.json(connection))
            } else {
                Terminal.printLine("Connection \(connection.id) with \(connection.otherUsername) is now \"\(connection.displayName)\".")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a connection, on both sides.",
            discussion: "The other person sees it ended too. To connect again, one of you makes a new invitation.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The connection's id.") var id: String

        func run() async throws {
            let sharing = try SharingSession(options: options)
            let deleted = try await clientFlow { try await sharing.sharing.deleteConnection(session: sharing.session, id: id) }
            if options.json {
                try printJSON(
                    SharingOutput.json(deleted.connection).merging(["revoked_shares": deleted.revokedShares]) { old, _ in old })
            } else {
                Terminal.printLine(
                    "Ended connection \(deleted.connection.id) with \(deleted.connection.otherUsername) on both sides (\(deleted.revokedShares) share(s) revoked).")
            }
        }
    }
}

/// One connection, its name decrypted and its keys checked.
private func checkedConnection(id: String, options: ClientOptions, unlock: UnlockOptions) async throws -> SharingConnection {
    let (sharing, keys) = try await SharingSession.unlocked(options: options, unlock: unlock)
    return try await clientFlow { try await sharing.sharing.connection(session: sharing.session, keys: keys, id: id) }
}
