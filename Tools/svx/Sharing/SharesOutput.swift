import Foundation
import SVXClient

/// How the shares commands print: aligned tables and lines for people, JSON with `--json` for scripts (objects with
/// sorted keys), like every svx command.
enum SharesOutput {
    /// Whose view a listing is.
    enum Direction { case incoming, outgoing, owned }

    static func json(_ share: ShareRecord) -> [String: Any] {
        [
            "share_id": share.id, "owner_id": nullable(share.ownerID), "sender_id": share.senderID,
            "sender_username": share.senderUsername, "recipient_id": share.recipientID,
            "recipient_username": share.recipientUsername, "sender_connection_id": nullable(share.senderConnectionID),
            "recipient_connection_id": nullable(share.recipientConnectionID), "item_id": share.itemID,
            "slot_id": nullable(share.slotID), "parent_share_id": nullable(share.parentShareID), "depth": share.depth,
            "item_label": share.itemLabel, "template_name": share.templateName, "item_version": share.itemVersion,
            "sharing_mode": share.onwardMode.rawValue, "acceptance_required": share.acceptanceRequired,
            "state": share.state.rawValue, "expires_at": nullable(share.expiresAt?.iso8601),
            "max_content_fetches": share.maximumContentFetches, "content_fetches": share.contentFetches,
            "first_fetched_at": nullable(share.firstFetchedAt?.iso8601), "last_fetched_at": nullable(share.lastFetchedAt?.iso8601),
            "created_at": share.createdAt.iso8601, "accepted_at": nullable(share.acceptedAt?.iso8601),
            "ended_at": nullable(share.endedAt?.iso8601), "end_reason": nullable(share.endReason),
            "recipient_key_sha256": share.recipientKeySHA256,
        ]
    }

    /// A received share: the record, the terms, and (when shown) every slot with its verified value.
    static func json(_ received: ReceivedShare) -> [String: Any] {
        var object: [String: Any] = ["share": json(received.share), "terms": nullable(received.terms)]
        if let item = received.item {
            object["item"] = [
                "label": item.label, "template_name": item.templateName, "item_version": item.itemVersion,
                "slots": item.slots.map { slot -> [String: Any] in
                    [
                        "slot_id": slot.id, "name": slot.name, "label": slot.label, "slot_type": slot.typeName,
                        "value": nullable(slot.value), "verified": slot.verifiedAs.map { $0.rawValue as Any } ?? NSNull(),
                        "attachment_id": nullable(slot.attachmentID),
                    ]
                },
            ] as [String: Any]
        } else {
            object["item"] = NSNull()
        }
        return object
    }

    /// The state in words for a line: "active", "waiting for acceptance", ...
    static func stateWords(_ state: ShareState) -> String {
        state == .pendingAcceptance ? "waiting for the terms to be accepted" : state.rawValue
    }

    static func printShares(_ shares: [ShareRecord], direction: Direction) {
        guard !shares.isEmpty else {
            Terminal.printLine("No shares.")
            return
        }
        let who = direction == .incoming ? "FROM" : "TO"
        VaultOutput.printTable(
            ["ID", "ITEM", "SLOT", who, "STATE", "ON-SHARE", "EXPIRES", "FETCHES", "DEPTH"],
            shares.map { share in
                [
                    share.id, share.itemLabel, share.slotID ?? "all",
                    direction == .incoming ? share.senderUsername : share.recipientUsername, share.state.rawValue,
                    share.onwardMode == .anyone ? "allowed" : "no", share.expiresAt?.iso8601 ?? "never",
                    share.maximumContentFetches == 0
                        ? "\(share.contentFetches)" : "\(share.contentFetches)/\(share.maximumContentFetches)",
                    "\(share.depth)",
                ]
            })
    }

    /// A received share as a person reads it: who sent what, its terms, then the values (only verified ones exist).
    static func printReceived(_ received: ReceivedShare, filesSaved: Bool = false) {
        let share = received.share
        Terminal.printLine(
            "Share \(share.id): \"\(share.itemLabel)\" (\(share.templateName)) from \(share.senderUsername), \(stateWords(share.state))")
        if share.depth > 1 { Terminal.printLine("  shared on to you (depth \(share.depth)); values checked against the owner's") }
        if let expires = share.expiresAt { Terminal.printLine("  expires     \(expires.iso8601)") }
        if share.maximumContentFetches > 0 {
            Terminal.printLine("  fetches     \(share.contentFetches) of \(share.maximumContentFetches)")
        }
        if share.onwardMode == .anyone { Terminal.printLine("  you may share it on (`svx shares create --from-share \(share.id) --to ...`)") }
        if let terms = received.terms { Terminal.printLine("Terms:\n  \(terms)") }
        guard let item = received.item else {
            if share.state == .pendingAcceptance {
                Terminal.printLine("Accept the terms to see it: svx shares accept \(share.id) (or reject them: svx shares reject \(share.id))")
            }
            return
        }
        VaultOutput.printTable(
            ["SLOT", "LABEL", "TYPE", "VALUE", "CHECK"],
            item.slots.map { slot in
                [
                    slot.name, slot.label, slot.typeName,
                    slot.value ?? (slot.attachmentID != nil ? "(file)" : "-"),
                    slot.verifiedAs.map { $0 == .utf8 ? "verified" : "verified (latin-1)" } ?? "-",
                ]
            })
        let consumed = share.maximumContentFetches > 0 && share.contentFetches >= share.maximumContentFetches
        for slot in item.slots where slot.attachmentID != nil && !filesSaved && !consumed {
            Terminal.printLine("File in slot \(slot.name): svx shares get-attachment \(share.id) --slot \(slot.name) --output FILE")
        }
        for slot in item.slots where slot.typeName == "attachment" && slot.attachmentID == nil {
            Terminal.printLine(
                "Slot \(slot.name) carries no file: it is empty, or was shared before files travelled in shares (the owner's next update of the item adds it)")
        }
        if consumed {
            Terminal.printLine("That was the last view: the share is now consumed.")
            if !filesSaved, item.slots.contains(where: { $0.attachmentID != nil }) {
                Terminal.printLine("Its files were not saved: a view-once share's files are read in its one view (`--save-files DIR`).")
            }
        }
    }

    /// One item's sync, as a line: how many shares were encrypted again, and which were left and why.
    static func syncLine(_ report: ShareSyncReport) -> String {
        var line: String
        if report.updated.isEmpty && report.skipped.isEmpty {
            line = report.alreadyCurrent == 0
                ? "Item \(report.itemID) has no live shares: nothing to re-share."
                : "Every live share of item \(report.itemID) already holds version \(report.itemVersion)."
        } else {
            line = "Re-shared item \(report.itemID) (version \(report.itemVersion)): \(report.updated.count) share(s) updated under fresh keys"
            if !report.skipped.isEmpty {
                line += "; \(report.skipped.count) left as they were (\(report.skipped.map { "\($0.shareID): \($0.reason)" }.joined(separator: ", ")))"
            }
            line += "."
        }
        return line
    }

    /// `{"item_id", "item_version", "updated": [shares], "skipped": [{share_id, reason}], "already_current"}`.
    static func json(_ report: ShareSyncReport) -> [String: Any] {
        [
            "item_id": report.itemID, "item_version": report.itemVersion, "updated": report.updated.map(json),
            "skipped": report.skipped.map { ["share_id": $0.shareID, "reason": $0.reason] },
            "already_current": report.alreadyCurrent,
        ]
    }

    /// `{"share_id", "slot", "file_name", "size", "media_type", "sha256", "state"}`: one downloaded file of a share.
    static func json(_ download: SharedFileDownload) -> [String: Any] {
        [
            "share_id": download.share.id, "slot": download.slot.name, "file_name": download.metadata.fileName,
            "size": download.metadata.size, "media_type": download.metadata.mediaType,
            "sha256": nullable(download.metadata.sha256), "state": download.share.state.rawValue, "path": download.path.path,
        ]
    }

    static func nullable(_ value: String?) -> Any { value.map { $0 as Any } ?? NSNull() }
}
