import Foundation
import SVXModels

/// Where a share stands (sharing.md §2.5). Expiry is judged by the Sharing service's database clock on every read.
/// Every state but ``pendingAcceptance`` and ``active`` is an end: the service has deleted the share's ciphertext.
public enum ShareState: String, Sendable, Equatable, CaseIterable {
    /// Terms to accept first: no content yet.
    case pendingAcceptance = "pending_acceptance"
    case active
    /// By the recipient, while pending.
    case rejected
    /// Its expiry passed.
    case expired
    /// By its sender or the item's owner, or with the share it was on-shared from.
    case revoked
    /// The recipient deleted its copy.
    case deleted
    /// Its last allowed content fetch was served (a view-once share after its one view).
    case consumed

    /// Pending or active: the service still holds its content.
    public var isLive: Bool { self == .pendingAcceptance || self == .active }
}

/// Whether the recipient of a share may share it on (Meeco's `sharing_mode`).
public enum ShareOnwardMode: String, Sendable, Equatable, CaseIterable {
    /// Only the owner shares the item: the recipient may not on-share.
    case owner
    /// The recipient may on-share it to its own connections (values still verified against the owner's).
    case anyone
}

/// A share as its sender, its recipient or the item's owner sees it: never its content
/// (proto/svx/sharing/v1/sharing.proto `Share`).
public struct ShareRecord: Sendable, Equatable {
    public let id: String
    /// The item's owner; nil on an on-share seen by someone who is not connected to the owner.
    public let ownerID: String?
    public let senderID: String
    public let senderUsername: String
    public let recipientID: String
    public let recipientUsername: String
    /// The sender's side of the connection it went over (in the sender's view only).
    public let senderConnectionID: String?
    /// The recipient's side of that connection (in the recipient's view only).
    public let recipientConnectionID: String?
    /// The owner's item id.
    public let itemID: String
    /// A single-slot share: that slot's id; nil: the whole item.
    public let slotID: String?
    /// An on-share: the share it was made from.
    public let parentShareID: String?
    /// 1: shared by the owner; each on-share one more, at most 8.
    public let depth: Int
    public let itemLabel: String
    public let templateName: String
    /// The owner's item version the values were encrypted from.
    public let itemVersion: UInt64
    public let onwardMode: ShareOnwardMode
    public let acceptanceRequired: Bool
    public let state: ShareState
    /// Nil: never expires.
    public let expiresAt: Date?
    /// 0: unlimited; 1: view once.
    public let maximumContentFetches: Int
    public let contentFetches: Int
    public let firstFetchedAt: Date?
    public let lastFetchedAt: Date?
    public let createdAt: Date
    public let acceptedAt: Date?
    public let updatedAt: Date?
    public let endedAt: Date?
    /// Why it ended: `rejected`, `expired`, `revoked`, `parent_revoked`, `deleted`, `consumed`, ...
    public let endReason: String?
    /// The recipient's connection keypair the share DEK is wrapped with.
    public let recipientKeypairID: String
    /// The fingerprint of the public key the sender encrypted for, as the sender confirmed it.
    public let recipientKeySHA256: String

    /// Whether the recipient may on-share it (and it is still active).
    public var mayBeSharedOn: Bool { onwardMode == .anyone && state == .active }
}

/// What to share and how (the options of Meeco's `shares create`, sharing.md §1.3, §2.3).
public struct ShareOptions: Sendable, Equatable {
    /// One slot only (its name, id or label); nil: the whole item (every slot).
    public var slot: String?
    /// Terms the recipient must accept before it sees anything (encrypted for the recipient alone).
    public var terms: String?
    /// When it ends; must be in the future (judged again by the service's clock). An on-share ends no later than
    /// the share it comes from: nil there means the parent's expiry.
    public var expiresAt: Date?
    /// Whether the recipient may share it on.
    public var onwardMode: ShareOnwardMode
    /// How many times the content may be fetched: nil unlimited, 1 view once.
    public var maximumContentFetches: Int?

    public init(
        slot: String? = nil, terms: String? = nil, expiresAt: Date? = nil, onwardMode: ShareOnwardMode = .owner,
        maximumContentFetches: Int? = nil
    ) {
        self.slot = slot
        self.terms = terms
        self.expiresAt = expiresAt
        self.onwardMode = onwardMode
        self.maximumContentFetches = maximumContentFetches
    }

    /// A view-once share: its content is served once, then it is ``ShareState/consumed``.
    public static func viewOnce(slot: String? = nil, terms: String? = nil, expiresAt: Date? = nil) -> ShareOptions {
        ShareOptions(slot: slot, terms: terms, expiresAt: expiresAt, maximumContentFetches: 1)
    }
}

/// How a shared value matched its verification hash (sharing.md §2.7).
public enum ValueEncoding: String, Sendable, Equatable {
    /// HMAC over the value's UTF-8 bytes, as svx and Meeco's SDK for ASCII values write it.
    case utf8
    /// HMAC over the value's Latin-1 bytes: how Meeco's SDK (forge "raw" strings) hashed values beyond ASCII.
    case latin1
}

/// One slot of a share as its recipient reads it: value decrypted with the share DEK and verified against the
/// owner's hash. A slot that does not verify is never returned (the whole read fails, naming it).
public struct VerifiedSharedSlot: Sendable, Equatable {
    public let id: String
    public let name: String
    public let label: String
    /// The Vault's slot type name (`key_value`, `password`, `attachment`, ...); ``type`` when it is one svx knows.
    public let typeName: String
    public var type: SlotType? { SlotType(wire: typeName) }
    public let ordinal: Int32
    /// The decrypted value (an attachment slot's: its file's name); nil for a slot shared without one.
    public let value: String?
    /// How the value matched the owner's hash; nil with no value.
    public let verifiedAs: ValueEncoding?
    /// An attachment slot's file, whose key the share carries: read it with
    /// ``SharesClient/downloadSharedAttachment(session:keys:shareID:slot:to:overwrite:progress:)``. Nil for any other
    /// slot, an empty attachment slot, or one shared before files travelled in shares (until the owner updates it).
    public let attachmentID: String?

    public init(
        id: String, name: String, label: String, typeName: String, ordinal: Int32, value: String?,
        verifiedAs: ValueEncoding?, attachmentID: String? = nil
    ) {
        self.id = id
        self.name = name
        self.label = label
        self.typeName = typeName
        self.ordinal = ordinal
        self.value = value
        self.verifiedAs = verifiedAs
        self.attachmentID = attachmentID
    }
}

/// The content of a share as its recipient reads it, every value verified.
public struct VerifiedSharedItem: Sendable, Equatable {
    public let label: String
    public let templateName: String
    /// The owner's item version the values come from.
    public let itemVersion: UInt64
    /// By ordinal, then name.
    public let slots: [VerifiedSharedSlot]

    public func slot(named name: String) -> VerifiedSharedSlot? { slots.first { $0.name == name } }
}

/// A share its recipient received: the record, its terms (decrypted) and, once active and asked for, its content.
public struct ReceivedShare: Sendable, Equatable {
    public let share: ShareRecord
    /// Nil: the share has no terms.
    public let terms: String?
    /// Nil unless the share is active and its content was asked for (each fetch is counted: a view-once share gives
    /// it once).
    public let item: VerifiedSharedItem?
}

/// A file of a share its recipient downloaded: the share as the content fetch left it (a view-once share is then
/// consumed), the slot, and the file's metadata.
public struct SharedFileDownload: Sendable, Equatable {
    public let share: ShareRecord
    public let slot: VerifiedSharedSlot
    public let metadata: AttachmentMetadata
    /// Where the file was written.
    public let path: URL
}

/// A live share of an item as its owner sees it (pending or active; on-shares included), with the recipient's
/// public key.
public struct ItemShareRecord: Sendable, Equatable {
    public let share: ShareRecord
    public let recipientPublicKeyPEM: String
}

/// A share just revoked, with the count of shares revoked with it (itself and every on-share made from it).
public struct RevokedShare: Sendable, Equatable {
    public let share: ShareRecord
    public let revoked: Int
}

/// What an owner's update of its shares did for one item (``SharesClient/syncShares(session:keys:item:)``).
public struct ShareSyncReport: Sendable, Equatable {
    public let itemID: String
    /// The item version the shares now hold.
    public let itemVersion: UInt64
    /// Shares re-encrypted for this version, on-shares included.
    public let updated: [ShareRecord]
    /// Shares the service left as they were, with why (`expired`, `revoked`, ..., `slot_removed`, `newer_version`).
    public let skipped: [SkippedShareUpdate]
    /// Live shares that already held this version (an earlier sync got to them).
    public let alreadyCurrent: Int
}

/// A share an UpdateShares left as it was.
public struct SkippedShareUpdate: Sendable, Equatable {
    public let shareID: String
    public let reason: String
}
