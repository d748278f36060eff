import ArgumentParser
import Foundation
import SVXClient

/// `svx logout`: ends the session at Auth and forgets it here.
struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "End the current session.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let state = ClientState()
        let session = try state.loadSession()
        let account = try options.accountClient()
        do {
            try await account.logOut(session)
        } catch where ServiceError(error)?.code == .unauthenticated {
            // Already ended (expired or revoked elsewhere): forgetting it is all that is left.
        } catch {
            _ = try await clientFlow { throw error }
        }
        try state.removeSession()
        if options.json { try printJSON(["logged_out": session.username]) } else { Terminal.printLine("Logged out \(session.username).") }
    }
}

/// `svx whoami`: the current session as Auth sees it.
struct WhoAmICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "whoami", abstract: "Show who the current session belongs to.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
        let session = try ClientState().loadSession()
        let account = try options.accountClient()
        let answer = try await clientFlow { try await account.whoAmI(session) }
        let expires = answer.sessionExpiresAt.iso8601
        if options.json {
            try printJSON(["username": answer.username, "user_id": answer.userID, "session_id": answer.sessionID, "session_expires_at": expires])
        } else {
            Terminal.printLine("\(answer.username) (user \(answer.userID)), session \(answer.sessionID) until \(expires)")
        }
    }
}

/// `svx sessions list|revoke`.
struct SessionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sessions", abstract: "List or revoke your sessions.", subcommands: [List.self, Revoke.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your live sessions.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let session = try ClientState().loadSession()
            let account = try options.accountClient()
            let sessions = try await clientFlow { try await account.sessions(session) }
            if options.json {
                let rows: [[String: Any]] = sessions.map {
                    ["session_id": $0.id, "created_at": $0.createdAt.iso8601, "last_seen_at": $0.lastSeenAt.iso8601,
                     "expires_at": $0.expiresAt.iso8601, "current": $0.isCurrent]
                }
                let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .prettyPrinted])
                Terminal.printLine(String(decoding: data, as: UTF8.self))
                return
            }
            Terminal.printLine("SESSION                               CREATED               LAST SEEN             EXPIRES")
            for row in sessions {
                let id = row.id.padding(toLength: 36, withPad: " ", startingAt: 0)
                Terminal.printLine(
                    "\(id)  \(row.createdAt.iso8601)  \(row.lastSeenAt.iso8601)  \(row.expiresAt.iso8601)\(row.isCurrent ? "  (this one)" : "")")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End one of your sessions.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The session id (from `svx sessions list`).") var sessionID: String

        func run() async throws {
            let state = ClientState()
            let session = try state.loadSession()
            let account = try options.accountClient()
            try await clientFlow { try await account.revokeSession(id: sessionID, using: session) }
            if sessionID.lowercased() == session.sessionID.lowercased() { try state.removeSession() }
            if options.json { try printJSON(["revoked": sessionID]) } else { Terminal.printLine("Revoked session \(sessionID).") }
        }
    }
}
