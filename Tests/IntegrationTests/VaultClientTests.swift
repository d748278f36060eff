import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Random bytes in a new temporary file, written a block at a time.
func randomFile(bytes: Int) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("svx-attachment-\(UUID().uuidString).bin")
    FileManager.default.createFile(atPath: url.path, contents: nil)
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    var left = bytes
    while left > 0 {
        let chunk = min(left, 1 << 20)
        try handle.write(contentsOf: Data(try SecureRandom.bytes(count: chunk)))
        left -= chunk
    }
    return url
}

/// Items and attachments through the SDK, and the `svx items`/`svx templates` commands, against real svx-auth,
/// svx-keystore, svx-vault and PostgreSQL.
@Suite(.serialized) struct VaultClientTests {
    static let systemTemplates = [
        "passport", "drivers_licence", "bank_account", "payment_card", "address", "contact", "vehicle",
        "health_insurance", "login", "secure_note",
    ]

    @Test func itemLifecycleWithEncryptedValues() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (_, session, keys) = try await stack.signUp("vault passphrase")
        // A second call finds the record and changes nothing.
        try await stack.vault.ensureVaultUser(session: session, keys: keys)

        let templates = try await stack.vault.templates(session: session)
        #expect(Set(Self.systemTemplates).isSubset(of: Set(templates.map(\.name))), "\(templates.map(\.name))")
        let passport = try await stack.vault.template(session: session, name: "passport")
        #expect(passport.isSystem && !passport.slots.isEmpty)
        #expect(try await stack.vault.template(session: session, id: passport.id) == passport)

        let created = try await stack.vault.createItem(
            session: session, keys: keys, templateName: "passport", label: "My passport",
            values: [("full_name", "Ada Lovelace"), ("passport_number", "P1234567")],
            extraSlots: [SlotEdit(label: "Issuing office", value: "London"), SlotEdit(label: "Remarks", value: "")])
        #expect(created.label == "My passport" && created.templateName == "passport")
        #expect(created.slot(named: "full_name")?.value == "Ada Lovelace")
        #expect(created.slot(named: "passport_number")?.value == "P1234567")
        #expect(created.slot(named: "issuing_office")?.value == "London")
        #expect(created.slot(named: "issuing_office")?.type == .keyValue)
        #expect(created.slot(named: "remarks") != nil && created.slot(named: "remarks")?.value == nil)
        // Every template slot was cloned; the ones not named are empty.
        for slot in passport.slots {
            let cloned = try #require(created.slot(named: slot.name))
            #expect(cloned.label == slot.label && cloned.type == slot.type)
            if !["full_name", "passport_number"].contains(slot.name) { #expect(cloned.value == nil) }
        }

        let read = try await stack.vault.item(session: session, keys: keys, id: created.id)
        #expect(read == created)

        // The Vault holds ciphertext only, and an empty value is no ciphertext at all.
        let dump = try stack.database.dump(schema: "vault")
        #expect(dump.contains(created.id))
        for plain in ["Ada Lovelace", "P1234567", "London"] { #expect(!dump.contains(plain)) }
        #expect(!dump.contains(keys.privateDEK.base64URL))
        #expect(dump.contains("Aes256Gcm."))

        // An update against the version read: values replaced keep their slot's label and type.
        let fullNameLabel = try #require(created.slot(named: "full_name")).label
        let updated = try await stack.vault.updateItem(
            session: session, keys: keys, item: read, label: "Passport (renewed)",
            set: [SlotEdit(name: "full_name", value: "Augusta Ada King"), SlotEdit(label: "Note", value: "renewed 2024", type: .noteText)],
            remove: ["issuing_office"])
        #expect(updated.version == read.version + 1)
        #expect(updated.label == "Passport (renewed)")
        #expect(updated.slot(named: "full_name")?.value == "Augusta Ada King")
        #expect(updated.slot(named: "full_name")?.label == fullNameLabel)
        #expect(updated.slot(named: "passport_number")?.value == "P1234567")
        #expect(updated.slot(named: "note")?.type == .noteText && updated.slot(named: "note")?.value == "renewed 2024")
        #expect(updated.slot(named: "issuing_office") == nil)

        // A stale version (a concurrent update won) writes nothing.
        do {
            _ = try await stack.vault.updateItem(
                session: session, keys: keys, id: created.id, expectedVersion: read.version,
                set: [SlotEdit(name: "full_name", value: "stale")])
            Issue.record("a stale version was accepted")
        } catch let status as RPCStatus {
            #expect(status.code == .aborted, "\(status)")
        }
        #expect(try await stack.vault.item(session: session, keys: keys, id: created.id) == updated)
        // Emptying a value stores none.
        let emptied = try await stack.vault.updateItem(
            session: session, keys: keys, item: updated, set: [SlotEdit(name: "passport_number", value: "")])
        #expect(emptied.slot(named: "passport_number")?.value == nil)

        // Listing: filters combine; pages end.
        let address = try await stack.vault.createItem(
            session: session, keys: keys, templateName: "address", label: "Home", values: [])
        let note = try await stack.vault.createItem(
            session: session, keys: keys, templateName: "secure_note", label: "Wifi at home", values: [])
        let passports = try await stack.vault.allItems(session: session, keys: keys, filter: ItemFilter(templateName: "passport"))
        #expect(passports.map(\.id) == [created.id])
        #expect(passports.first?.slots.isEmpty == true)  // listed without slots by default
        let homes = try await stack.vault.allItems(session: session, keys: keys, filter: ItemFilter(labelContains: "HOME"))
        #expect(homes.map(\.id) == [address.id, note.id])
        let both = try await stack.vault.allItems(
            session: session, keys: keys, filter: ItemFilter(templateName: "address", labelContains: "home"))
        #expect(both.map(\.id) == [address.id])
        let first = try await stack.vault.items(session: session, keys: keys, pageSize: 2, includeSlots: true)
        #expect(first.items.map(\.id) == [created.id, address.id])
        #expect(first.items.first?.slot(named: "full_name")?.value == "Augusta Ada King")
        let token = try #require(first.nextPageToken)
        let second = try await stack.vault.items(session: session, keys: keys, pageSize: 2, pageToken: token)
        #expect(second.items.map(\.id) == [note.id] && second.nextPageToken == nil)

        // Another user reaches none of it.
        let (_, other, otherKeys) = try await stack.signUp("someone else")
        do {
            _ = try await stack.vault.item(session: other, keys: otherKeys, id: created.id)
            Issue.record("another user read the item")
        } catch let status as RPCStatus {
            #expect(status.code == .notFound)
        }
        #expect(try await stack.vault.allItems(session: other, keys: otherKeys).isEmpty)

        try await stack.vault.deleteItem(session: session, id: created.id)
        do {
            _ = try await stack.vault.item(session: session, keys: keys, id: created.id)
            Issue.record("a deleted item was read")
        } catch let status as RPCStatus {
            #expect(status.code == .notFound)
        }
        #expect(try await stack.vault.allItems(session: session, keys: keys).map(\.id) == [address.id, note.id])
    }

    @Test func attachmentRoundTripIsByteExact() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let (_, session, keys) = try await stack.signUp("attachment passphrase")
        let item = try await stack.vault.createItem(session: session, keys: keys, templateName: "secure_note", label: "Scans")

        let source = try randomFile(bytes: 20 << 20)
        defer { try? FileManager.default.removeItem(at: source) }
        let uploads = TransferRecorder()
        let attached = try await stack.vault.attachFile(
            session: session, keys: keys, itemID: item.id, slotName: "scan", slotLabel: "Passport scan", fileURL: source,
            progress: uploads.record)
        #expect(attached.item.version == item.version + 1)
        let slot = attached.slot
        #expect(attached.item.slot(named: "scan") == slot)
        #expect(slot.type == .attachment && slot.label == "Passport scan" && slot.value == source.lastPathComponent)
        let attachmentID = try #require(slot.attachmentID)
        #expect(uploads.last == [20 << 20, 20 << 20])
        var get = Svx_Vault_V1_GetAttachmentRequest()
        get.attachmentID = attachmentID
        let stored = try await stack.vault.vault.call(VaultRPC.getAttachment, get, sessionToken: session.token).attachment
        #expect(stored.complete && stored.blockCount == 20 && stored.blockSize == 1_048_576 && stored.plaintextSize == 20 << 20)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("svx-download-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let destination = directory.appendingPathComponent("scan.bin")
        let downloads = TransferRecorder()
        let metadata = try await stack.vault.downloadAttachment(
            session: session, keys: keys, itemID: item.id, slotName: "scan", to: destination, progress: downloads.record)
        let sourceDigest = Hex.encode(HashFunction.sha256.hash([UInt8](try Data(contentsOf: source))))
        #expect(metadata == AttachmentMetadata(
            fileName: source.lastPathComponent, size: 20 << 20, mediaType: "application/octet-stream", sha256: sourceDigest))
        #expect(try Data(contentsOf: destination) == Data(contentsOf: source))
        #expect(downloads.last == [20 << 20, 20 << 20])
        let mode = try FileManager.default.attributesOfItem(atPath: destination.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        // Only the file is left in the directory (no temporary file).
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["scan.bin"])

        // An existing file is not replaced unless asked.
        do {
            try await stack.vault.downloadAttachment(session: session, keys: keys, itemID: item.id, slotName: "scan", to: destination)
            Issue.record("an existing file was overwritten")
        } catch let error as SVXClientError {
            #expect(error.code == .invalidInput && error.message.contains("exists"))
        }

        // A size that is not a multiple of the block size, into the same slot (the file is replaced), overwriting.
        let odd = try randomFile(bytes: (2 << 20) + 12_345)
        defer { try? FileManager.default.removeItem(at: odd) }
        let replaced = try await stack.vault.attachFile(
            session: session, keys: keys, itemID: item.id, slotName: "scan", fileURL: odd)
        #expect(replaced.slot.name == "scan" && replaced.slot.label == "Passport scan")
        #expect(replaced.slot.attachmentID != attachmentID)
        try await stack.vault.downloadAttachment(
            session: session, keys: keys, itemID: item.id, slotName: "scan", to: destination, overwrite: true)
        #expect(try Data(contentsOf: destination) == Data(contentsOf: odd))

        // Without a slot name a file goes to a new slot, never over another file; its name is no label.
        let small = try randomFile(bytes: 10)
        defer { try? FileManager.default.removeItem(at: small) }
        let first = try await stack.vault.attachFile(session: session, keys: keys, itemID: item.id, fileURL: small)
        #expect(first.slot.name == "attachment" && first.slot.label == "Attachment" && first.slot.value == small.lastPathComponent)
        let second = try await stack.vault.attachFile(session: session, keys: keys, itemID: item.id, fileURL: small)
        #expect(second.slot.name == "attachment_2" && second.slot.label == "Attachment 2")
        #expect(second.item.slot(named: "attachment")?.attachmentID == first.slot.attachmentID)

        // The Vault holds neither the file nor its name in the clear.
        let dump = try stack.database.dump(schema: "vault")
        for name in [source, odd, small].map(\.lastPathComponent) { #expect(!dump.contains(name)) }

        // A slot of another type is never replaced by a file.
        let withValue = try await stack.vault.updateItem(
            session: session, keys: keys, item: second.item, set: [SlotEdit(label: "Title", value: "kept")])
        do {
            _ = try await stack.vault.attachFile(session: session, keys: keys, itemID: item.id, slotName: "title", fileURL: odd)
            Issue.record("a key_value slot was replaced by a file")
        } catch let error as SVXClientError {
            #expect(error.code == .invalidInput)
        }
        #expect(try await stack.vault.item(session: session, keys: keys, id: item.id) == withValue)
        // Nor is an empty file sent (the Vault takes 1 byte to 256 MiB).
        let empty = try randomFile(bytes: 0)
        defer { try? FileManager.default.removeItem(at: empty) }
        do {
            _ = try await stack.vault.attachFile(session: session, keys: keys, itemID: item.id, fileURL: empty)
            Issue.record("an empty file was attached")
        } catch let error as SVXClientError {
            #expect(error.code == .invalidInput && error.message.contains("empty"))
        }

        // Deleting the item deletes its attachments.
        try await stack.vault.deleteItem(session: session, id: item.id)
        do {
            _ = try await stack.vault.vault.call(VaultRPC.getAttachment, get, sessionToken: session.token)
            Issue.record("the attachment of a deleted item is still there")
        } catch let status as RPCStatus {
            #expect(status.code == .notFound)
        }
    }

    /// The acceptance check of the Vault issue, through the `svx` binary.
    @Test func commandLineItemsAndTemplates() async throws {
        let stack = try await TestStack.start([.auth, .keystore, .vault])
        defer { stack.stop() }
        let cli = try stack.commandLine()
        let svx = cli.svx
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = "command line passphrase"

        let signUp = try await ChildProcess.runSeparately(svx, ["signup", "--json"], environment: environment, timeout: .seconds(120))
        #expect(signUp.status == 0, "\(signUp.stdout)\(signUp.stderr)")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(signUp.stdout.utf8)) as? [String: Any])
        environment["SVX_SECRET_KEY"] = try #require(fields["secret_key"] as? String)

        func json(_ arguments: [String]) async throws -> [String: Any] {
            let run = try await ChildProcess.runSeparately(svx, arguments + ["--json"], environment: environment, timeout: .seconds(60))
            #expect(run.status == 0, "\(arguments): \(run.stdout)\(run.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], "\(run.stdout)")
        }
        func values(_ item: [String: Any]) -> [String: String] {
            var values: [String: String] = [:]
            for slot in item["slots"] as? [[String: Any]] ?? [] {
                if let name = slot["name"] as? String, let value = slot["value"] as? String { values[name] = value }
            }
            return values
        }

        // Templates need the session only.
        let templates = try await json(["templates", "list"])
        let names = (templates["templates"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(Set(Self.systemTemplates).isSubset(of: Set(names)), "\(names)")
        let humanTemplates = try await ChildProcess.run(svx, ["templates", "list"], environment: environment)
        #expect(humanTemplates.status == 0 && humanTemplates.output.contains("drivers_licence"), "\(humanTemplates.output)")
        let info = try await json(["templates", "info", "passport"])
        #expect((info["slots"] as? [[String: Any]])?.isEmpty == false)

        let created = try await json([
            "items", "create", "--template", "passport", "--set", "full_name=Grace Hopper", "--set", "passport_number=X7654321",
            "--set", "Lucky number=42",
        ])
        let id = try #require(created["item_id"] as? String)
        let got = try await json(["items", "get", id])
        #expect(values(got)["full_name"] == "Grace Hopper")
        #expect(values(got)["passport_number"] == "X7654321")
        #expect(values(got)["lucky_number"] == "42")
        let lucky = (got["slots"] as? [[String: Any]])?.first { $0["name"] as? String == "lucky_number" }
        #expect(lucky?["label"] as? String == "Lucky number" && lucky?["type"] as? String == "key_value")

        let table = try await ChildProcess.run(svx, ["items", "get", id], environment: environment)
        #expect(table.status == 0 && table.output.contains("Grace Hopper") && table.output.contains("X7654321"), "\(table.output)")

        let updated = try await json(["items", "update", id, "--label", "Grace's passport", "--set", "full_name=Rear Admiral Hopper"])
        #expect(updated["label"] as? String == "Grace's passport" && values(updated)["full_name"] == "Rear Admiral Hopper")
        #expect(updated["version"] as? Int == (got["version"] as? Int ?? 0) + 1)

        let listed = try await json(["items", "list", "--template", "passport"])
        #expect((listed["items"] as? [[String: Any]])?.compactMap { $0["item_id"] as? String } == [id])
        let humanList = try await ChildProcess.run(svx, ["items", "list"], environment: environment)
        #expect(humanList.status == 0 && humanList.output.contains(id) && humanList.output.contains("Grace's passport"), "\(humanList.output)")

        // A file in and out.
        let file = try randomFile(bytes: 3 << 20)
        defer { try? FileManager.default.removeItem(at: file) }
        let attach = try await ChildProcess.runSeparately(
            svx, ["items", "attach-file", id, file.path, "--slot", "scan"], environment: environment, timeout: .seconds(60))
        #expect(attach.status == 0 && attach.stdout.contains("Attached"), "\(attach.stdout)\(attach.stderr)")
        let output = cli.home.appendingPathComponent("downloaded.bin")
        let download = try await ChildProcess.run(
            svx, ["items", "get-attachment", id, "scan", "--output", output.path], environment: environment, timeout: .seconds(60))
        #expect(download.status == 0, "\(download.output)")
        #expect(try Data(contentsOf: output) == Data(contentsOf: file))
        let again = try await ChildProcess.run(svx, ["items", "get-attachment", id, "scan", "--output", output.path], environment: environment)
        #expect(again.status != 0 && again.output.contains("exists"), "\(again.output)")

        let removed = try await json(["items", "remove-slot", id, "lucky_number"])
        #expect(values(removed)["lucky_number"] == nil)

        // The wrong passphrase opens nothing.
        var wrong = environment
        wrong["SVX_PASSPHRASE"] = "not the passphrase"
        let refused = try await ChildProcess.run(svx, ["items", "get", id], environment: wrong, timeout: .seconds(60))
        #expect(refused.status != 0 && !refused.output.contains("Rear Admiral Hopper"), "\(refused.output)")

        let deleted = try await ChildProcess.run(svx, ["items", "delete", id], environment: environment, timeout: .seconds(60))
        #expect(deleted.status == 0, "\(deleted.output)")
        let gone = try await ChildProcess.run(svx, ["items", "get", id], environment: environment, timeout: .seconds(60))
        #expect(gone.status != 0 && gone.output.contains("NOT_FOUND"), "\(gone.output)")
    }
}

/// The last progress report of a transfer.
final class TransferRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var reports: [(UInt64, UInt64)] = []

    var record: TransferProgress {
        { [self] done, total in lock.withLock { reports.append((done, total)) } }
    }

    /// `[done, total]` of the last report.
    var last: [UInt64] { lock.withLock { reports.last.map { [$0.0, $0.1] } ?? [] } }
}
