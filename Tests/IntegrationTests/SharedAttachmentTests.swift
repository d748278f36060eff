import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

extension SharingIntegrationTests {
    /// Files in shares (issue 20, docs/ADR-008-sharing.md "Attachments in shares") through real processes: the owner's
    /// SDK puts each file's key in the share under the share's DEK, the recipient's SDK reads the blocks through
    /// Sharing, which reads them from the owner's Vault as the Sharing service. A dishonest server is played by editing
    /// the `vault` and `sharing` schemas as those services' own roles.
    @Suite struct SharedAttachmentTests {
        typealias Member = SharesClientTests.Member

        static let blockSize = VaultClient.attachmentBlockSize

        /// A scratch directory, removed by the caller.
        static func directory() throws -> URL {
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("svx-shared-files-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }

        /// The status a Sharing call fails with (nil and an issue when it succeeds).
        static func status<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async -> RPCStatus? {
            do {
                _ = try await body()
                Issue.record("expected the call to be refused", sourceLocation: sourceLocation)
            } catch let status as RPCStatus {
                return status
            } catch {
                Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            }
            return nil
        }

        /// Sharing/GetSharedAttachmentBlock as `member`'s own client sends it.
        static func block(
            _ stack: TestStack, _ member: Member, shareID: String, slotID: String, index: UInt32 = 0
        ) async throws -> Svx_Sharing_V1_GetSharedAttachmentBlockResponse {
            var request = Svx_Sharing_V1_GetSharedAttachmentBlockRequest()
            request.shareID = shareID
            request.slotID = slotID
            request.index = index
            return try await stack.client(.sharing).call(
                SharingRPC.getSharedAttachmentBlock, request, sessionToken: member.session.token, timeout: .seconds(30))
        }

        static func download(
            _ member: Member, _ shareID: String, slot: String? = "scan", to url: URL
        ) async throws -> SharedFileDownload {
            try await member.shares.downloadSharedAttachment(
                session: member.session, keys: member.keys, shareID: shareID, slot: slot, to: url, overwrite: true)
        }

        /// Whole item, one slot alone, on-shared, replaced and synced, revoked: each recipient gets the file byte for
        /// byte while the share lets it, and the server never holds its name or its key in clear.
        @Test func aSharedFileReachesEveryRecipientByteExactWhileTheShareLetsIt() async throws {
            let stack = try await SharesClientTests.stack()
            defer { stack.stop() }
            let alice = try await SharesClientTests.member(stack)
            let bob = try await SharesClientTests.member(stack)
            let carol = try await SharesClientTests.member(stack)
            let (aliceBob, _) = try await SharesClientTests.connect(alice, bob)
            let (bobCarol, _) = try await SharesClientTests.connect(bob, carol)
            let directory = try Self.directory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let item = try await SharesClientTests.passportItem(alice)
            // Two full blocks and a short third.
            let source = try randomFile(bytes: 2 * Self.blockSize + 777)
            defer { try? FileManager.default.removeItem(at: source) }
            let attached = try await alice.vault.attachFile(
                session: alice.session, keys: alice.keys, itemID: item.id, slotName: "scan", slotLabel: "Scan", fileURL: source)
            let attachmentID = try #require(attached.slot.attachmentID)

            // The whole item to Bob, who may share it on.
            let whole = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id],
                options: ShareOptions(onwardMode: .anyone)).first)
            let received = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: whole.id)
            let scan = try #require(received.item?.slot(named: "scan"))
            #expect(scan.type == .attachment && scan.attachmentID == attachmentID)
            #expect(scan.value == source.lastPathComponent && scan.verifiedAs == .utf8)
            #expect(SharesClientTests.values(received.item).filter { $0.key != "scan" } == SharesClientTests.expected)

            let bobFile = directory.appendingPathComponent("bob.bin")
            let bobDownload = try await Self.download(bob, whole.id, to: bobFile)
            #expect(try Data(contentsOf: bobFile) == Data(contentsOf: source))
            #expect(bobDownload.metadata.fileName == source.lastPathComponent && bobDownload.slot.name == "scan")
            #expect(bobDownload.metadata.size == UInt64(2 * Self.blockSize + 777) && bobDownload.metadata.sha256 != nil)
            // Named by label, and with no slot named (the share's one file).
            _ = try await Self.download(bob, whole.id, slot: "Scan", to: bobFile)
            _ = try await Self.download(bob, whole.id, slot: nil, to: bobFile)
            #expect(try Data(contentsOf: bobFile) == Data(contentsOf: source))
            // Past the last block: OUT_OF_RANGE naming the index.
            let pastEnd = await Self.status { try await Self.block(stack, bob, shareID: whole.id, slotID: scan.id, index: 3) }
            #expect(pastEnd?.code == .outOfRange && pastEnd?.details["field"] == "index", "\(String(describing: pastEnd))")
            // A slot of the share that holds no file, a slot id that is not the share's: one NOT_FOUND.
            let fullName = try #require(received.item?.slot(named: "full_name"))
            let noFile = await Self.status { try await Self.block(stack, bob, shareID: whole.id, slotID: fullName.id) }
            let notSlot = await Self.status { try await Self.block(stack, bob, shareID: whole.id, slotID: UUID().uuidString) }
            #expect(noFile?.code == .notFound && noFile?.message == notSlot?.message && noFile?.details == notSlot?.details)
            // Carol, who holds no share, and Alice, the owner (whose file it is, but whose share this is not): the
            // answer of an unknown share.
            let carolAsks = await Self.status { try await Self.block(stack, carol, shareID: whole.id, slotID: scan.id) }
            let unknown = await Self.status { try await Self.block(stack, carol, shareID: UUID().uuidString, slotID: scan.id) }
            let aliceAsks = await Self.status { try await Self.block(stack, alice, shareID: whole.id, slotID: scan.id) }
            #expect(carolAsks?.code == .notFound && carolAsks?.details["field"] == "share_id")
            #expect(carolAsks?.message == unknown?.message && aliceAsks?.message == unknown?.message)

            // The scan alone, in a share of its own.
            let single = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id],
                options: ShareOptions(slot: "scan")).first)
            #expect(single.slotID == scan.id)
            let singleFile = directory.appendingPathComponent("single.bin")
            _ = try await Self.download(bob, single.id, slot: nil, to: singleFile)
            #expect(try Data(contentsOf: singleFile) == Data(contentsOf: source))

            // Bob shares it on to Carol, who reads the same file (the owner's hash checks its name).
            let onShare = try #require(try await bob.shares.onShare(
                session: bob.session, keys: bob.keys, parentShareID: whole.id, to: [bobCarol.id]).first)
            let carolFile = directory.appendingPathComponent("carol.bin")
            let carolDownload = try await Self.download(carol, onShare.id, to: carolFile)
            #expect(try Data(contentsOf: carolFile) == Data(contentsOf: source) && carolDownload.share.depth == 2)

            // The file's name is nowhere in clear on the server (its key goes only as Cryppo strings: the schema's CHECK).
            #expect(try stack.database.plaintextScan(for: [source.lastPathComponent]).isEmpty)

            // Alice replaces the file: the shares' key is the old file's, whose blocks are gone: NOT_FOUND, nothing
            // written. Her sync re-keys every share (the on-share too) with the new file; it downloads byte exact.
            let replacement = try randomFile(bytes: Self.blockSize + 5)
            defer { try? FileManager.default.removeItem(at: replacement) }
            let replaced = try await alice.vault.attachFile(
                session: alice.session, keys: alice.keys, itemID: item.id, slotName: "scan", fileURL: replacement)
            #expect(replaced.slot.attachmentID != attachmentID)
            let stale = directory.appendingPathComponent("stale.bin")
            let gone = await Self.status { try await Self.download(bob, whole.id, to: stale) }
            #expect(gone?.code == .notFound && gone?.details["field"] == "slot_id")
            #expect(!FileManager.default.fileExists(atPath: stale.path))
            let reports = try await alice.shares.syncStaleShares(session: alice.session, keys: alice.keys)
            #expect(reports.flatMap(\.updated).count == 3)
            for (member, share) in [(bob, whole.id), (bob, single.id), (carol, onShare.id)] {
                let file = directory.appendingPathComponent("new-\(share).bin")
                let download = try await Self.download(member, share, to: file)
                #expect(try Data(contentsOf: file) == Data(contentsOf: replacement), "share \(share)")
                #expect(download.slot.attachmentID == replaced.slot.attachmentID && download.metadata.fileName == replacement.lastPathComponent)
            }

            // Alice revokes Bob's share: his files go with it, and Carol's on-share with its files.
            _ = try await alice.shares.revokeShare(session: alice.session, id: whole.id)
            let revoked = await Self.status { try await Self.block(stack, bob, shareID: whole.id, slotID: scan.id) }
            #expect(revoked?.code == .failedPrecondition && revoked?.details["reason"] == "revoked")
            let cascaded = await Self.status { try await Self.block(stack, carol, shareID: onShare.id, slotID: scan.id) }
            #expect(cascaded?.code == .failedPrecondition && cascaded?.details["reason"] == "revoked")
            // The single-slot share lives on.
            _ = try await Self.download(bob, single.id, to: singleFile)
        }

        /// A view-once share's files are read in its one view: the fetch that consumes it opens a 15-minute window for
        /// its files (nothing else), which its sender's revocation or time closes.
        @Test func aViewOnceShareGivesItsFilesInItsOneView() async throws {
            let stack = try await SharesClientTests.stack()
            defer { stack.stop() }
            let alice = try await SharesClientTests.member(stack)
            let bob = try await SharesClientTests.member(stack)
            let (aliceBob, _) = try await SharesClientTests.connect(alice, bob)
            let directory = try Self.directory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let item = try await SharesClientTests.passportItem(alice)
            var sources: [URL] = []
            defer { for source in sources { try? FileManager.default.removeItem(at: source) } }
            for slot in ["scan", "visa"] {
                let source = try randomFile(bytes: Self.blockSize + 100)
                sources.append(source)
                _ = try await alice.vault.attachFile(
                    session: alice.session, keys: alice.keys, itemID: item.id, slotName: slot, fileURL: source)
            }
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id], options: .viewOnce()).first)

            // Two files in one share: a download naming no slot is ambiguous. It cost the one view all the same (the
            // files are known from the content only): the share is consumed, and its window holds for the files.
            let ambiguous = await SharesClientTests.clientError {
                try await Self.download(bob, share.id, slot: nil, to: directory.appendingPathComponent("x"))
            }
            #expect(ambiguous?.code == .ambiguous && ambiguous?.message.contains("scan, visa") == true)
            let spent = try await bob.shares.incomingShares(session: bob.session).first { $0.id == share.id }
            #expect(spent?.state == .consumed)
            // A second view-once share, then, for the one view that keeps both files.
            let second = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id], options: .viewOnce()).first)
            let (viewed, files) = try await bob.shares.incomingShareWithFiles(
                session: bob.session, keys: bob.keys, id: second.id, into: directory, overwrite: false)
            #expect(viewed.share.state == .consumed && viewed.item != nil)
            #expect(files.count == 2)
            for (file, source) in zip(files.sorted { $0.slot.name < $1.slot.name }, sources) {
                #expect(file.path.lastPathComponent == source.lastPathComponent)
                #expect(try Data(contentsOf: file.path) == Data(contentsOf: source))
            }
            // The window: the blocks still come, the content does not.
            let visa = try #require(viewed.item?.slot(named: "visa"))
            let block = try await Self.block(stack, bob, shareID: second.id, slotID: visa.id)
            #expect(block.attachment.blockCount == 2 && !block.encryptedBlock.isEmpty)
            let again = await Self.status { try await Self.download(bob, second.id, to: directory.appendingPathComponent("y")) }
            #expect(again?.code == .failedPrecondition && again?.details["reason"] == "consumed")
            // Past its time the window is shut ...
            let superuser = try stack.database.connect()
            defer { superuser.close() }
            #expect(try superuser.execute(
                "UPDATE sharing.consumed_share_files SET readable_until = now() - interval '1 second' WHERE share_id = $1::uuid",
                second.id) == 2)
            let late = await Self.status { try await Self.block(stack, bob, shareID: second.id, slotID: visa.id) }
            #expect(late?.code == .failedPrecondition && late?.details["reason"] == "consumed")
            // ... and its sender's revocation shuts it at once (the share itself stays consumed).
            #expect(try superuser.execute(
                "UPDATE sharing.consumed_share_files SET readable_until = now() + interval '1 hour' WHERE share_id = $1::uuid",
                second.id) == 2)
            _ = try await Self.block(stack, bob, shareID: second.id, slotID: visa.id)
            let revoke = await Self.status { try await alice.shares.revokeShare(session: alice.session, id: second.id) }
            #expect(revoke?.details["reason"] == "not_live")
            let closed = await Self.status { try await Self.block(stack, bob, shareID: second.id, slotID: visa.id) }
            #expect(closed?.code == .failedPrecondition && closed?.details["reason"] == "consumed")
            #expect(try superuser.query(
                "SELECT count(*)::int FROM sharing.consumed_share_files WHERE share_id = $1::uuid", second.id
            ).first?.decode(Int.self, at: 0) == 0)
        }

        /// What a compromised Vault or Sharing service can do to a shared file (their own roles editing their own
        /// schemas) is refused by the recipient's SDK, and nothing is written under the destination's name.
        @Test func aDishonestServerNeverGetsAnAlteredSharedFileWritten() async throws {
            let stack = try await SharesClientTests.stack()
            defer { stack.stop() }
            let alice = try await SharesClientTests.member(stack)
            let bob = try await SharesClientTests.member(stack)
            let (aliceBob, _) = try await SharesClientTests.connect(alice, bob)
            let directory = try Self.directory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let item = try await SharesClientTests.passportItem(alice)
            var attachments: [String: String] = [:]
            var sources: [String: URL] = [:]
            defer { for source in sources.values { try? FileManager.default.removeItem(at: source) } }
            for slot in ["scan", "visa"] {
                let source = try randomFile(bytes: 3 * Self.blockSize + 4_321)
                sources[slot] = source
                attachments[slot] = try #require(try await alice.vault.attachFile(
                    session: alice.session, keys: alice.keys, itemID: item.id, slotName: slot, fileURL: source).slot.attachmentID)
            }
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id]).first)
            let destination = directory.appendingPathComponent("file.bin")
            func expectRefused(_ slot: String, _ code: SVXClientError.Code, sourceLocation: SourceLocation = #_sourceLocation) async {
                let error = await SharesClientTests.clientError(sourceLocation: sourceLocation) {
                    try await Self.download(bob, share.id, slot: slot, to: destination)
                }
                #expect(error?.code == code, "\(String(describing: error))", sourceLocation: sourceLocation)
                #expect(
                    (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) == [], sourceLocation: sourceLocation)
            }
            let vaultRole = try stack.database.connect(role: TestDatabase.serviceRoles["vault"])
            defer { vaultRole.close() }

            // The Vault serves blocks 0 and 1 swapped (each decrypts under the file's key).
            #expect(try vaultRole.execute("""
                UPDATE vault.attachment_blocks b SET encrypted_block = o.encrypted_block
                FROM vault.attachment_blocks o
                WHERE b.attachment_id = $1::uuid AND o.attachment_id = b.attachment_id AND o.user_id = b.user_id
                  AND b.block_index IN (0, 1) AND o.block_index = 1 - b.block_index
                """, attachments["scan"]!) == 2)
            await expectRefused("scan", .integrityFailed)
            // The Vault announces a shorter file (its first two blocks).
            #expect(try vaultRole.execute(
                "UPDATE vault.attachments SET plaintext_size = $2, block_count = 2 WHERE attachment_id = $1::uuid",
                attachments["visa"]!, Int64(2 * Self.blockSize)) == 1)
            await expectRefused("visa", .integrityFailed)
            #expect(try vaultRole.execute(
                "UPDATE vault.attachments SET plaintext_size = $2, block_count = 4 WHERE attachment_id = $1::uuid",
                attachments["visa"]!, Int64(3 * Self.blockSize + 4_321)) == 1)
            _ = try await Self.download(bob, share.id, slot: "visa", to: destination)
            #expect(try Data(contentsOf: destination) == Data(contentsOf: sources["visa"]!))
            try FileManager.default.removeItem(at: destination)

            // Sharing swaps the two slots' file keys (both under the share's DEK): the visa's key does not open the
            // scan's metadata.
            #expect(try SharesClientTests.asSharingService(stack, """
                UPDATE sharing.share_slots s SET encrypted_attachment_dek = o.encrypted_attachment_dek
                FROM sharing.share_slots o
                WHERE s.share_id = $1::uuid AND o.share_id = s.share_id AND o.slot_id <> s.slot_id
                  AND s.attachment_id IS NOT NULL AND o.attachment_id IS NOT NULL
                """, share.id) == 2)
            await expectRefused("visa", .keyUnwrapFailed)
            // Sharing strips a slot's file key: the share no longer verifies as a whole, and nothing is shown.
            #expect(try SharesClientTests.asSharingService(stack, """
                ALTER TABLE sharing.share_slots DROP CONSTRAINT share_slots_attachment_key
                """) == 0)
            #expect(try SharesClientTests.asSharingService(
                stack, "UPDATE sharing.share_slots SET encrypted_attachment_dek = NULL WHERE share_id = $1::uuid AND name = 'visa'",
                share.id) == 1)
            await expectRefused("visa", .valueVerificationFailed)

            // Sharing renames a slot of another share to a path: the SDK takes no such name, and saves nothing
            // anywhere (inside the directory or out of it).
            let second = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id]).first)
            let inside = directory.appendingPathComponent("inside")
            try FileManager.default.createDirectory(at: inside, withIntermediateDirectories: true)
            #expect(try SharesClientTests.asSharingService(
                stack, "UPDATE sharing.share_slots SET name = '../escaped' WHERE share_id = $1::uuid AND name = 'scan'",
                second.id) == 1)
            let traversal = await SharesClientTests.clientError {
                try await bob.shares.incomingShareWithFiles(session: bob.session, keys: bob.keys, id: second.id, into: inside)
            }
            #expect(traversal?.code == .valueVerificationFailed && traversal?.message.contains("not a slot name") == true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["inside"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: inside.path) == [])
        }

        /// Block reads follow the share's state: refused while its terms wait for acceptance and once it has
        /// expired, as a content fetch is; readable once accepted.
        @Test func aFileIsReadOnlyWhileTheShareLetsItsContentBeRead() async throws {
            let stack = try await SharesClientTests.stack()
            defer { stack.stop() }
            let alice = try await SharesClientTests.member(stack)
            let bob = try await SharesClientTests.member(stack)
            let (aliceBob, _) = try await SharesClientTests.connect(alice, bob)
            let item = try await SharesClientTests.passportItem(alice)
            let source = try randomFile(bytes: 1_000)
            defer { try? FileManager.default.removeItem(at: source) }
            let scan = try await alice.vault.attachFile(
                session: alice.session, keys: alice.keys, itemID: item.id, slotName: "scan", fileURL: source).slot
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id],
                options: ShareOptions(terms: "Only for the visa application")).first)
            // Malformed ids: INVALID_ARGUMENT naming the field, before anything is read.
            let badShare = await Self.status { try await Self.block(stack, bob, shareID: "not an id", slotID: scan.id) }
            #expect(badShare?.code == .invalidArgument && badShare?.details["field"] == "share_id")
            let badSlot = await Self.status { try await Self.block(stack, bob, shareID: share.id, slotID: "../scan") }
            #expect(badSlot?.code == .invalidArgument && badSlot?.details["field"] == "slot_id")
            let pending = await Self.status { try await Self.block(stack, bob, shareID: share.id, slotID: scan.id) }
            #expect(pending?.code == .failedPrecondition && pending?.details["reason"] == "acceptance_pending")
            _ = try await bob.shares.acceptShare(session: bob.session, id: share.id)
            let block = try await Self.block(stack, bob, shareID: share.id, slotID: scan.id)
            #expect(block.attachment.plaintextSize == 1_000 && block.attachment.blockCount == 1)
            // Its time passes (the database's clock decides).
            let superuser = try stack.database.connect()
            defer { superuser.close() }
            #expect(try superuser.execute(
                "UPDATE sharing.shares SET expires_at = created_at + interval '1 millisecond' WHERE share_id = $1::uuid",
                share.id) == 1)
            let expired = await Self.status { try await Self.block(stack, bob, shareID: share.id, slotID: scan.id) }
            #expect(expired?.code == .failedPrecondition && expired?.details["reason"] == "expired")
        }

        /// A share written before files travelled in shares (migration 0007) holds its attachment slot with no value
        /// and no file: it reads, and shares on, as metadata; the owner's next update of the item puts the file in, on
        /// the on-share too.
        @Test func aShareFromBeforeFilesTravelledGetsItsFileAtTheOwnersNextUpdate() async throws {
            let stack = try await SharesClientTests.stack()
            defer { stack.stop() }
            let alice = try await SharesClientTests.member(stack)
            let bob = try await SharesClientTests.member(stack)
            let carol = try await SharesClientTests.member(stack)
            let (aliceBob, _) = try await SharesClientTests.connect(alice, bob)
            let (bobCarol, _) = try await SharesClientTests.connect(bob, carol)
            let directory = try Self.directory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let item = try await SharesClientTests.passportItem(alice)
            let source = try randomFile(bytes: Self.blockSize + 3)
            defer { try? FileManager.default.removeItem(at: source) }
            _ = try await alice.vault.attachFile(
                session: alice.session, keys: alice.keys, itemID: item.id, slotName: "scan", fileURL: source)
            let share = try #require(try await alice.shares.createShare(
                session: alice.session, keys: alice.keys, itemID: item.id, to: [aliceBob.id],
                options: ShareOptions(onwardMode: .anyone)).first)
            // The row as 0003-0006 wrote it: metadata only.
            let superuser = try stack.database.connect()
            defer { superuser.close() }
            #expect(try superuser.execute("""
                UPDATE sharing.share_slots SET encrypted_value = NULL, encrypted_value_verification_key = NULL,
                    value_verification_hash = NULL, attachment_id = NULL, encrypted_attachment_dek = NULL
                WHERE share_id = $1::uuid AND name = 'scan'
                """, share.id) == 1)
            let old = try await bob.shares.incomingShare(session: bob.session, keys: bob.keys, id: share.id)
            let scan = try #require(old.item?.slot(named: "scan"))
            #expect(scan.type == .attachment && scan.value == nil && scan.attachmentID == nil)
            let noKey = await SharesClientTests.clientError {
                try await Self.download(bob, share.id, to: directory.appendingPathComponent("old.bin"))
            }
            #expect(noKey?.code == .invalidInput && noKey?.message.contains("carries no file key") == true)
            // Shared on as it is: metadata.
            let onShare = try #require(try await bob.shares.onShare(
                session: bob.session, keys: bob.keys, parentShareID: share.id, to: [bobCarol.id]).first)
            let carolSees = try await carol.shares.incomingShare(session: carol.session, keys: carol.keys, id: onShare.id)
            #expect(carolSees.item?.slot(named: "scan")?.attachmentID == nil)

            // Alice changes the item; her sync re-encrypts both shares, each with the file.
            let current = try await alice.vault.item(session: alice.session, keys: alice.keys, id: item.id)
            let updated = try await alice.vault.updateItem(
                session: alice.session, keys: alice.keys, item: current, set: [SlotEdit(name: "passport_number", value: "PA7731947")])
            let reports = try await alice.shares.syncShares(session: alice.session, keys: alice.keys, item: updated)
            #expect(reports.updated.count == 2)
            for (member, id) in [(bob, share.id), (carol, onShare.id)] {
                let file = directory.appendingPathComponent("\(id).bin")
                _ = try await Self.download(member, id, to: file)
                #expect(try Data(contentsOf: file) == Data(contentsOf: source), "share \(id)")
            }
        }

        /// The acceptance flow of issue 20's attachments through `svx`: A attaches a file and shares the item with B;
        /// B sees the file named, downloads it byte for byte with `svx shares get-attachment`, and keeps it with
        /// `svx shares get --save-files`.
        @Test func theCommandLineSharesAFileThatTheRecipientDownloadsByteExact() async throws {
            let stack = try await SharesClientTests.stack()
            defer { stack.stop() }
            let directory = try Self.directory()
            defer { try? FileManager.default.removeItem(at: directory) }
            let a = try await CommandLineAccount.signUp(stack, passphrase: "alice's passphrase")
            let b = try await CommandLineAccount.signUp(stack, passphrase: "bob's passphrase")
            let code = try #require(try await a.json(["invitations", "create", "--name", "Bob"])["code"] as? String)
            _ = try await b.run(["connections", "accept", code, "--name", "Alice"])
            let itemID = try #require(try await a.json(["items", "create", "--template", "secure_note", "--label", "Lease"])["item_id"] as? String)
            let source = try randomFile(bytes: Self.blockSize + 12_345)
            defer { try? FileManager.default.removeItem(at: source) }
            _ = try await a.run(["items", "attach-file", itemID, source.path, "--slot", "contract"])
            _ = try await a.run(["shares", "create", itemID, "--to", "Bob"])
            let incoming = try #require(try await b.json(["shares", "list", "--incoming"])["shares"] as? [[String: Any]])
            let shareID = try #require(incoming.first?["share_id"] as? String)

            let shown = try await b.run(["shares", "get", shareID]).stdout
            #expect(shown.contains(source.lastPathComponent) && shown.contains("svx shares get-attachment \(shareID) --slot contract"), "\(shown)")
            let output = directory.appendingPathComponent("lease.pdf").path
            let written = try await b.run(["shares", "get-attachment", shareID, "--slot", "contract", "--output", output]).stdout
            #expect(written.contains("Wrote \(output)"), "\(written)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: source))
            let attributes = try FileManager.default.attributesOfItem(atPath: output)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            // An existing file is kept unless --force.
            let refused = try await b.run(["shares", "get-attachment", shareID, "--output", output], expecting: 1).stderr
            #expect(refused.contains("exists"), "\(refused)")
            let json = try await b.json(["shares", "get-attachment", shareID, "--output", output, "--force"])
            #expect(json["file_name"] as? String == source.lastPathComponent && json["slot"] as? String == "contract")
            #expect(json["sha256"] as? String == Hex.encode(HashFunction.sha256.hash([UInt8](try Data(contentsOf: source)))))
            // --save-files keeps every file of the share under its own name.
            let saved = directory.appendingPathComponent("saved")
            try FileManager.default.createDirectory(at: saved, withIntermediateDirectories: true)
            let kept = try await b.run(["shares", "get", shareID, "--save-files", saved.path]).stdout
            #expect(kept.contains("Wrote \(saved.appendingPathComponent(source.lastPathComponent).path)"), "\(kept)")
            #expect(try Data(contentsOf: saved.appendingPathComponent(source.lastPathComponent)) == Data(contentsOf: source))
        }
    }
}
