import ArgumentParser
import Foundation
import SVXClient

/// `svx shares create|list|get|get-attachment|accept|reject|revoke|delete|sync`: sharing items (or one slot) with connections, and
/// reading what others shared, every value verified against its owner's.
struct SharesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shares", abstract: "Share items with your connections; read, accept, revoke and delete shares.",
        discussion: """
            A share is a copy of an item (or of one slot) encrypted on this machine for one connection: a fresh key \
            per recipient, wrapped with their connection key after that key is checked against your invitation \
            secret. Every value carries its owner's verification hash: `get` shows a value only if it matches, and \
            refuses the share naming the slot otherwise (changed by the server or by whoever shared it on). \
            Commands that encrypt or decrypt need your Secret Key and passphrase; reject, revoke and delete send ids \
            only.

            CONNECTION (after --to) is a connection id, your own name for a connection, or the other user's \
            username (names and usernames match your active connections, in any case; a name that matches several \
            needs the id). See `svx connections list`.
            """,
        subcommands: [
            Create.self, List.self, Get.self, GetAttachment.self, Accept.self, Reject.self, Revoke.self, Delete.self, Sync.self,
        ])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Share an item, or a share you received (--from-share), with up to 50 connections.",
            discussion: """
                svx shares create ITEM --to CONNECTION... [--slot NAME] [--expires DATE|DURATION] [--terms TEXT] \
                [--onshare] [--view-once]
                svx shares create --from-share SHARE --to CONNECTION... [same options]

                All recipients get the share or none does. --terms makes each recipient accept them before seeing \
                anything. --onshare lets the recipients share it on (their recipients still verify every value \
                against yours). --view-once serves the content once, then the share is consumed. --expires takes \
                45s, 90m, 36h, 7d, 2w, a date (2027-01-31, 00:00 UTC) or a time (2027-01-31T18:00:00Z); a share \
                made from another one ends no later than it. Attachment slots are shared without their files.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id (see `svx items list`).") var item: String?
        @Option(name: .customLong("from-share"), help: ArgumentHelp("Share on a share you received.", valueName: "share"))
        var fromShare: String?
        @Option(
            name: .customLong("to"), parsing: .upToNextOption,
            help: ArgumentHelp("The connections to share with (1 to 50).", valueName: "connection"))
        var recipients: [String] = []
        @Option(help: "Only this slot (its name, label or id).") var slot: String?
        @Option(help: "When the share ends: a duration (7d) or a date (2027-01-31).") var expires: String?
        @Option(help: "Terms the recipients must accept first.") var terms: String?
        @Flag(name: .customLong("onshare"), help: "Let the recipients share it on.") var onShare = false
        @Flag(name: .customLong("view-once"), help: "Serve the content once only.") var viewOnce = false

        func validate() throws {
            guard (item == nil) != (fromShare == nil) else {
                throw ValidationError("give either ITEM or --from-share SHARE")
            }
            guard !recipients.isEmpty else { throw ValidationError("--to needs at least one connection") }
            guard recipients.count <= SharesClient.maximumRecipients else {
                throw ValidationError("--to takes at most \(SharesClient.maximumRecipients) connections")
            }
            if let expires {
                do { _ = try ShareExpiry.date(parsing: expires) } catch let error as SVXClientError {
                    throw ValidationError("--expires: \(error.message)")
                }
            }
            if let terms, terms.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                throw ValidationError("--terms must not be empty")
            }
        }

        func run() async throws {
            let shareOptions = ShareOptions(
                slot: slot, terms: terms, expiresAt: try expires.map { try ShareExpiry.date(parsing: $0) },
                onwardMode: onShare ? .anyone : .owner, maximumContentFetches: viewOnce ? 1 : nil)
            let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
            let shares = try options.sharesClient()
            let created = try await clientFlow {
                let connectionIDs = try await shares.connectionIDs(session: unlocked.session, keys: unlocked.keys, naming: recipients)
                if let fromShare {
                    return try await shares.onShare(
                        session: unlocked.session, keys: unlocked.keys, parentShareID: fromShare, to: connectionIDs,
                        options: shareOptions)
                }
                return try await shares.createShare(
                    session: unlocked.session, keys: unlocked.keys, itemID: item ?? "", to: connectionIDs, options: shareOptions)
            }
            if options.json {
                try printJSON(["shares": created.map(SharesOutput.json)])
                return
            }
            for share in created {
                Terminal.printLine(
                    "Shared \"\(share.itemLabel)\"\(share.slotID.map { " (slot \($0))" } ?? "") with \(share.recipientUsername): share \(share.id), \(SharesOutput.stateWords(share.state)).")
            }
            Terminal.printLine("Each recipient's connection key was checked first; `svx shares list --outgoing` lists them.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the shares you received (--incoming), sent (--outgoing), or every live copy of your item (--item).",
            discussion: """
                Newest first. --item ITEM lists the shares of your item that are still live, on-shares made by your \
                recipients included. --outgoing --stale lists the live shares of your items (on-shares included) that \
                still hold an older version of the item than your vault: `svx shares sync` updates them.
                """)
        @OptionGroup var options: ClientOptions
        @Flag(help: "Shares you received.") var incoming = false
        @Flag(help: "Shares you sent.") var outgoing = false
        @Flag(help: "With --outgoing: only shares of your items that hold an older version than your vault.") var stale = false
        @Option(help: "Every live share of your item, on-shares included.") var item: String?
        @Option(help: "Only shares in this state: \(ShareState.allCases.map(\.rawValue).joined(separator: ", ")).") var state: String?

        func validate() throws {
            guard [incoming, outgoing, item != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give one of --incoming, --outgoing or --item ITEM")
            }
            if let state, ShareState(rawValue: state) == nil {
                throw ValidationError("--state must be one of \(ShareState.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if item != nil, state != nil { throw ValidationError("--item lists live shares: --state does not apply") }
            if stale, !outgoing { throw ValidationError("--stale goes with --outgoing") }
        }

        func run() async throws {
            let session = try ClientState().loadSession()
            let shares = try options.sharesClient()
            let wanted = state.flatMap(ShareState.init(rawValue:))
            if let item {
                let live = try await clientFlow { try await shares.itemShares(session: session, itemID: item) }
                if options.json {
                    try printJSON(["shares": live.map { SharesOutput.json($0.share) }])
                } else {
                    SharesOutput.printShares(live.map(\.share), direction: .owned)
                }
                return
            }
            let listed = try await clientFlow {
                incoming
                    ? try await shares.incomingShares(session: session, state: wanted)
                    : try await shares.outgoingShares(session: session, state: wanted, staleOnly: stale)
            }
            if options.json {
                try printJSON(["shares": listed.map(SharesOutput.json)])
            } else {
                SharesOutput.printShares(listed, direction: incoming ? .incoming : .outgoing)
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a share you received: its values, each verified against its owner's.",
            discussion: """
                Each time the values are shown counts as one fetch (a view-once share shows them once). A share with \
                terms shows them until you accept (`svx shares accept SHARE`). If any value does not match its owner's \
                verification hash, nothing is shown, the slot is named, and the exit status is 1.

                --save-files DIR also downloads every file the share carries into DIR in the same view (each under \
                its own name, mode 0600, checked like `get-attachment`): the way to keep the files of a view-once share.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The share's id (see `svx shares list --incoming`).") var share: String
        @Option(name: .customLong("save-files"), help: "Download the share's files into this directory.") var saveFiles: String?
        @Flag(help: "With --save-files: replace files that exist.") var force = false

        func run() async throws {
            let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
            let shares = try options.sharesClient()
            guard let saveFiles else {
                let received = try await clientFlow {
                    try await shares.incomingShare(session: unlocked.session, keys: unlocked.keys, id: share)
                }
                if options.json { try printJSON(SharesOutput.json(received)) } else { SharesOutput.printReceived(received) }
                return
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: saveFiles, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CLIError("--save-files \(saveFiles) is not a directory")
            }
            let (received, files) = try await clientFlow {
                try await shares.incomingShareWithFiles(
                    session: unlocked.session, keys: unlocked.keys, id: share, into: URL(fileURLWithPath: saveFiles),
                    overwrite: force)
            }
            if options.json {
                try printJSON(SharesOutput.json(received).merging(["files": files.map(SharesOutput.json)]) { _, new in new })
                return
            }
            SharesOutput.printReceived(received, filesSaved: true)
            for file in files {
                Terminal.printLine(
                    "Wrote \(file.path.path) from slot \(file.slot.name) (\(file.metadata.fileName), \(VaultOutput.byteCount(file.metadata.size)), \(file.metadata.mediaType)).")
            }
        }
    }

    struct GetAttachment: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get-attachment", abstract: "Download and decrypt a file of a share you received.",
            discussion: """
                The file's key comes with the share's values, so this is one fetch of the share (a view-once share is \
                consumed by it; use `svx shares get SHARE --save-files DIR` to see its values and keep its files in its \
                one view). The file is written with mode 0600; an existing file is never replaced unless --force. \
                Nothing is written unless the file's size, name (verified against its owner's) and SHA-256 match.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The share's id.") var share: String
        @Option(help: "The attachment slot's name (default: the share's one file).") var slot: String?
        @Option(help: "Where to write the file.") var output: String
        @Flag(help: "Replace the output file if it exists.") var force = false

        func run() async throws {
            let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
            let shares = try options.sharesClient()
            let destination = URL(fileURLWithPath: output)
            let progress = TransferLine("Downloading to \(destination.lastPathComponent)")
            let download = try await clientFlow {
                do {
                    let download = try await shares.downloadSharedAttachment(
                        session: unlocked.session, keys: unlocked.keys, shareID: share, slot: slot, to: destination,
                        overwrite: force, progress: progress.events)
                    progress.end()
                    return download
                } catch {
                    progress.end("failed")
                    throw error
                }
            }
            let metadata = download.metadata
            if metadata.sha256 == nil {
                Terminal.printError(
                    "warning: this file was attached before svx recorded a digest of it: its size was checked, the order of its blocks was not")
            }
            if options.json {
                try printJSON(SharesOutput.json(download))
                return
            }
            Terminal.printLine(
                "Wrote \(destination.path) (\(metadata.fileName), \(VaultOutput.byteCount(metadata.size)), \(metadata.mediaType)) from slot \(download.slot.name) of share \(share).")
            if download.share.state == .consumed {
                Terminal.printLine("That was the share's last view: it is now consumed.")
            }
        }
    }

    struct Accept: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept the terms of a share you received: its values become readable.",
            discussion: "The terms are shown with the answer (read them first with `svx shares get SHARE`).")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The share's id.") var share: String

        func run() async throws {
            let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
            let shares = try options.sharesClient()
            let (pending, accepted) = try await clientFlow {
                let pending = try await shares.incomingShare(
                    session: unlocked.session, keys: unlocked.keys, id: share, includeContent: false)
                return (pending, try await shares.acceptShare(session: unlocked.session, id: share))
            }
            if options.json {
                try printJSON(SharesOutput.json(accepted).merging(["terms": SharesOutput.nullable(pending.terms)]) { _, new in new })
                return
            }
            if let terms = pending.terms { Terminal.printLine("Terms you accepted:\n  \(terms)") }
            Terminal.printLine("Accepted share \(accepted.id) from \(accepted.senderUsername): `svx shares get \(accepted.id)` shows it.")
        }
    }

    struct Reject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a share whose terms you do not accept.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The share's id.") var share: String

        func run() async throws {
            let record = try await idOnly(options) { shares, session in try await shares.rejectShare(session: session, id: share) }
            if options.json { try printJSON(SharesOutput.json(record)) } else {
                Terminal.printLine("Rejected share \(record.id) from \(record.senderUsername).")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a share you sent (or any share of your item), and every share made from it.",
            discussion: "Its content is deleted from the service at once. What the recipient already read cannot be recalled.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The share's id (see `svx shares list --outgoing` or `--item ITEM`).") var share: String

        func run() async throws {
            let session = try ClientState().loadSession()
            let shares = try options.sharesClient()
            let revoked = try await clientFlow { try await shares.revokeShare(session: session, id: share) }
            if options.json {
                try printJSON(SharesOutput.json(revoked.share).merging(["revoked": revoked.revoked]) { _, new in new })
            } else {
                Terminal.printLine(
                    "Revoked share \(revoked.share.id) to \(revoked.share.recipientUsername) (\(revoked.revoked) share(s) revoked, on-shares included).")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete your copy of a share you received.",
            discussion: "Shares you made from it live on until they end themselves.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The share's id.") var share: String

        func run() async throws {
            let record = try await idOnly(options) { shares, session in try await shares.deleteIncomingShare(session: session, id: share) }
            if options.json { try printJSON(SharesOutput.json(record)) } else {
                Terminal.printLine("Deleted your copy of share \(record.id) from \(record.senderUsername).")
            }
        }
    }
}

extension SharesCommand {
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring the shares of your items up to date with your vault (all items, or ITEM).",
            discussion: """
                `svx items update` re-shares right after the update; if it was stopped (or failed) in between, the \
                shares still hold the previous version. This finds every live share of your items (on-shares \
                included) that is behind and encrypts it again from the current version, under fresh keys. \
                `svx shares list --outgoing --stale` shows what it would do.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "Only this item's shares (its id).") var item: String?

        func run() async throws {
            let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
            let shares = try options.sharesClient()
            let reports = try await clientFlow {
                try await shares.syncStaleShares(session: unlocked.session, keys: unlocked.keys, itemID: item)
            }
            if options.json {
                try printJSON(["items": reports.map(SharesOutput.json)])
                return
            }
            if reports.isEmpty {
                Terminal.printLine(item.map { "Every live share of item \($0) is up to date." } ?? "Every live share of your items is up to date.")
            }
            for report in reports { Terminal.printLine(SharesOutput.syncLine(report)) }
        }
    }
}

/// A call that sends a share id only: the saved session, no keys.
private func idOnly(
    _ options: ClientOptions, _ body: (SharesClient, AuthenticatedSession) async throws -> ShareRecord
) async throws -> ShareRecord {
    let session = try ClientState().loadSession()
    let shares = try options.sharesClient()
    return try await clientFlow { try await body(shares, session) }
}
