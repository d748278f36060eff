import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// The owner's update of its shares (sharing.md §1.6, §2.7 "Owner update"): after an item changes in the Vault,
/// every live share of it (on-shares made by its recipients included) is re-encrypted from the new version, each
/// under a fresh DEK with fresh verification keys and the owner's hashes, and sent with UpdateShares. Nothing is
/// queued on the server: a share is stale while its item version is behind the Vault's, and
/// ``SharesClient/syncStaleShares(session:keys:itemID:)`` catches up whatever a stopped client left behind.
extension SharesClient {
    /// Shares of one UpdateShares (the service's limit).
    public static let maximumSharesPerUpdate = 50
    /// An UpdateShares request is kept under this many bytes (the services take 3 MiB a request); a batch closes
    /// before a share would pass it.
    static let maximumUpdateBytes = 2 * 1024 * 1024

    /// Re-encrypts every live share of the caller's `item` that holds an older version (all of them right after
    /// ``VaultClient/updateItem(session:keys:item:label:set:remove:)``) and sends them in batches of UpdateShares.
    /// `item` is the item as the update returned it (or as just read): its version is sent as
    /// `expected_item_version`, so an item changed again meanwhile is the service's ABORTED `item_version_changed`
    /// and that batch writes nothing (run the sync again on the new version).
    ///
    /// Per share: a fresh 32-byte DEK wrapped with the recipient's key; every valued slot it covers (its one slot,
    /// or every slot that holds a value; attachment slots go as metadata) as Cryppo(DEK, UTF-8 value), a fresh
    /// 64-byte vvk under the DEK and hex HMAC-SHA256(vvk, value): on-shares get the owner's hashes again. The
    /// recipient's key is checked first: for the caller's own shares, the connection's keys under its invitation
    /// secret and the key the share was made for; for on-shares (whose recipients the caller may not know), that
    /// the key is the one the on-sharer confirmed (its fingerprint). A key that fails stops the sync before anything
    /// is sent (``SVXClientError/Code/keyVerificationFailed``).
    public func syncShares(
        session: AuthenticatedSession, keys: UnlockedKeys, item: DecryptedItem
    ) async throws -> ShareSyncReport {
        let prepared = try await prepareShareUpdates(session: session, keys: keys, item: item)
        var updated: [ShareRecord] = []
        var skipped: [SkippedShareUpdate] = []
        for batch in prepared.batches {
            let answer = try await send(batch, session: session)
            updated += answer.updated
            skipped += answer.skipped
        }
        return ShareSyncReport(
            itemID: item.id, itemVersion: item.version, updated: updated, skipped: skipped,
            alreadyCurrent: prepared.alreadyCurrent)
    }

    /// What ``syncShares(session:keys:item:)`` sends, made and encrypted but not sent: the same reads and key checks,
    /// a fresh DEK and fresh verification keys for every stale share, in UpdateShares batches. A benchmark prepares
    /// updates ahead so that its timing holds the service's work only; ``send(_:session:)`` sends one batch.
    public func prepareShareUpdates(
        session: AuthenticatedSession, keys: UnlockedKeys, item: DecryptedItem
    ) async throws -> PreparedShareUpdates {
        let live = try await itemShares(session: session, itemID: item.id)
        let stale = live.filter { $0.share.itemVersion < item.version }
        var recipients: [(share: ShareRecord, key: RSAPublicKey)] = []
        var verified: [String: SharingConnection] = [:]
        for entry in stale {
            recipients.append((entry.share, try await recipientKey(of: entry, session: session, keys: keys, verified: &verified)))
        }
        let files = stale.isEmpty ? [:] : try await sharedFiles(of: item.slots, session: session, keys: keys)
        let valued = item.slots.filter { $0.value != nil || files[$0.id] != nil }
        var batches: [PreparedShareUpdate] = []
        var batch: [Svx_Sharing_V1_UpdateShareInput] = []
        var batchBytes = 0
        func close() {
            guard !batch.isEmpty else { return }
            var request = Svx_Sharing_V1_UpdateSharesRequest()
            request.itemID = item.id
            request.expectedItemVersion = item.version
            request.shares = batch
            batches.append(PreparedShareUpdate(request: request))
            batch = []
            batchBytes = 0
        }
        for (share, key) in recipients {
            let slots = share.slotID.map { id in valued.filter { $0.id == id } } ?? valued
            let dek = try SymmetricKey.random(byteCount: ShareCrypto.keyByteCount)
            var input = Svx_Sharing_V1_UpdateShareInput()
            input.shareID = share.id
            input.encryptedDek = try ShareCrypto.wrap(dek, for: key)
            input.slots = try slots.map { slot in
                try ShareCrypto.ownedSlot(id: slot.id, value: slot.value, file: files[slot.id], dek: dek)
            }
            let bytes = Self.estimatedBytes(input)
            if batch.count == Self.maximumSharesPerUpdate || (!batch.isEmpty && batchBytes + bytes > Self.maximumUpdateBytes) {
                close()
            }
            batch.append(input)
            batchBytes += bytes
        }
        close()
        return PreparedShareUpdates(batches: batches, alreadyCurrent: live.count - stale.count)
    }

    /// Sends one prepared UpdateShares batch: the shares it updated and those it left, with why.
    public func send(
        _ batch: PreparedShareUpdate, session: AuthenticatedSession
    ) async throws -> (updated: [ShareRecord], skipped: [SkippedShareUpdate]) {
        let response = try await service.call(SharingRPC.updateShares, batch.request, sessionToken: session.token, timeout: timeout)
        return (
            try response.updated.map(Self.record),
            response.skipped.map { SkippedShareUpdate(shareID: $0.shareID, reason: $0.reason) }
        )
    }

    /// About the bytes `input` takes in a request: its strings and a field header allowance per slot (a little over,
    /// never under).
    static func estimatedBytes(_ input: Svx_Sharing_V1_UpdateShareInput) -> Int {
        input.slots.reduce(input.shareID.utf8.count + input.encryptedDek.utf8.count + 32) { total, slot in
            total + slot.slotID.utf8.count + slot.encryptedValue.utf8.count + slot.encryptedValueVerificationKey.utf8.count
                + slot.valueVerificationHash.utf8.count + slot.attachmentID.utf8.count
                + slot.encryptedAttachmentDek.utf8.count + 32
        }
    }

    /// Every stale share of the caller's items (of `itemID` only, if given) brought up to date: the items whose
    /// shares are behind (ListOutgoingShares `stale_only`), each read from the Vault and synced
    /// (``syncShares(session:keys:item:)``). An item that changes while it is synced is read again (at most 3
    /// times). Returns one report per item, in the order the stale shares were listed.
    public func syncStaleShares(
        session: AuthenticatedSession, keys: UnlockedKeys, itemID: String? = nil
    ) async throws -> [ShareSyncReport] {
        let stale = try await outgoingShares(session: session, itemID: itemID, staleOnly: true)
        var itemIDs: [String] = []
        for share in stale where !itemIDs.contains(share.itemID) { itemIDs.append(share.itemID) }
        var reports: [ShareSyncReport] = []
        for id in itemIDs {
            var attempt = 1
            while true {
                let item = try await vault.item(session: session, keys: keys, id: id)
                do {
                    reports.append(try await syncShares(session: session, keys: keys, item: item))
                    break
                } catch let status as RPCStatus
                    where status.code == .aborted && status.details["reason"] == "item_version_changed" && attempt < 3
                {
                    attempt += 1
                }
            }
        }
        return reports
    }

    /// The key to encrypt a share's new DEK for, checked. The caller's own share (depth 1): its connection read again
    /// and verified under its invitation secret (each connection once, in `verified`), and the share's recipient key
    /// must be that connection's. An on-share: the key's fingerprint must be the one its sender confirmed.
    func recipientKey(
        of entry: ItemShareRecord, session: AuthenticatedSession, keys: UnlockedKeys, verified: inout [String: SharingConnection]
    ) async throws -> RSAPublicKey {
        let share = entry.share
        var pem = entry.recipientPublicKeyPEM
        if share.depth == 1 {
            guard let connectionID = share.senderConnectionID else {
                throw SVXClientError(.malformedResponse, "share \(share.id) of your item names no connection of yours")
            }
            let connection: SharingConnection
            if let known = verified[connectionID] {
                connection = known
            } else {
                connection = try await sharing.verifiedConnection(session: session, keys: keys, id: connectionID)
                verified[connectionID] = connection
            }
            guard let otherKey = connection.otherKey,
                ConstantTime.equals(Array(otherKey.hex.utf8), Array(share.recipientKeySHA256.utf8))
            else {
                throw SVXClientError(
                    .keyVerificationFailed,
                    "share \(share.id) was made for another key than connection \(connectionID) holds now: nothing was sent")
            }
            pem = connection.otherPublicKeyPEM
        }
        let key: RSAPublicKey
        let fingerprint: KeyFingerprint
        do {
            key = try RSAPublicKey(pem: pem)
            fingerprint = try KeyFingerprint(publicKey: key)
        } catch {
            throw SVXClientError(.keyVerificationFailed, "share \(share.id): the recipient's key is not an RSA public key")
        }
        guard ConstantTime.equals(Array(fingerprint.hex.utf8), Array(share.recipientKeySHA256.utf8)) else {
            throw SVXClientError(
                .keyVerificationFailed,
                "share \(share.id): the recipient's key is not the one its sender confirmed: nothing was sent")
        }
        return key
    }
}
