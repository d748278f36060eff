import Foundation
import SVXClient

/// What `svx items update` and `remove-slot` do right after the Vault took the change: every live share of the item
/// re-encrypted from the new version (``SharesClient/syncShares(session:keys:item:)``). The update stands whatever
/// happens here; a failure is said, with the command that finishes the job (`svx shares sync ITEM`).
struct ShareResync {
    let report: ShareSyncReport?
    /// Why the shares were not (all) updated, as one line.
    let failure: String?

    static func run(options: ClientOptions, unlocked: UnlockedVault, item: DecryptedItem) async -> ShareResync {
        do {
            let shares = try options.sharesClient()
            let report = try await clientFlow {
                try await shares.syncShares(session: unlocked.session, keys: unlocked.keys, item: item)
            }
            return ShareResync(report: report, failure: nil)
        } catch let error as CLIError {
            return ShareResync(report: nil, failure: error.description)
        } catch {
            return ShareResync(report: nil, failure: "\(error)")
        }
    }

    /// `{"updated": N, "skipped": [{share_id, reason}], "error": null | "..."}`.
    var json: [String: Any] {
        [
            "updated": report?.updated.count ?? 0,
            "skipped": (report?.skipped ?? []).map { ["share_id": $0.shareID, "reason": $0.reason] },
            "error": SharesOutput.nullable(failure),
        ]
    }

    func print(itemID: String) {
        if let failure {
            Terminal.printError(
                "The item's shares were not updated (\(failure)): they still hold the previous version. `svx shares sync \(itemID)` updates them.")
            return
        }
        guard let report else { return }
        Terminal.printLine(SharesOutput.syncLine(report))
    }
}
