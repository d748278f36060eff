import Cryppo
import Foundation
import SVXContracts
import SVXModels
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// svx-auth and svx-vault on one database (the Vault checks every session with this Auth), with a client for
/// each. `stop()` ends both processes. Classification is switched off (`none`) unless `classification` names an
/// endpoint.
struct VaultStack {
    let auth: ServiceProcess
    let vault: ServiceProcess
    let database: TestDatabase
    let authClient: AuthTestClient
    let vaultClient: RPCClient

    static func start(classification: String = "none", environment: [String: String] = [:]) async throws -> VaultStack {
        let (auth, database) = try await startService("auth")
        do {
            let (vault, _) = try await startService("vault", in: database, environment: environment.merging([
                "SVX_AUTH_ENDPOINT": auth.endpoint, "SVX_CLASSIFICATION_ENDPOINT": classification,
            ]) { _, fixed in fixed })
            do {
                return VaultStack(
                    auth: auth, vault: vault, database: database, authClient: try AuthTestClient(auth),
                    vaultClient: try RPCClient(endpoint: vault.endpoint))
            } catch {
                vault.stop()
                throw error
            }
        } catch {
            auth.stop()
            throw error
        }
    }

    func stop() {
        vaultClient.close()
        authClient.close()
        vault.stop()
        auth.stop()
    }

    /// Sign-up and login; with `vaultUser`, PutVaultUser too. The user's private DEK is a random key made here
    /// (the Vault never sees it).
    func newUser(passphrase: String = "pw", vaultUser: Bool = true) async throws -> VaultUser {
        let account = try await authClient.signUp(password: password(passphrase))
        let login = try await authClient.login(username: account.username, password: password(passphrase))
        let user = VaultUser(
            userID: account.userID, sessionToken: login.sessionToken, dek: try SymmetricKey.random(), vault: vaultClient)
        if vaultUser { _ = try await user.call(VaultRPC.putVaultUser, .init(privateDekExternalID: "private")) }
        return user
    }

    /// A call without any session.
    func anonymous<Request, Response>(_ method: RPCMethod<Request, Response>, _ request: Request, token: String = "")
        async -> RPCStatus?
    {
        await status { _ = try await vaultClient.call(method, request, sessionToken: token, timeout: .seconds(10)) }
    }
}

/// A logged-in user calling the Vault with its session, holding its private DEK.
struct VaultUser {
    let userID: String
    let sessionToken: String
    let dek: SymmetricKey
    let vault: RPCClient

    func call<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, timeout: Duration = .seconds(30)
    ) async throws -> Response {
        try await vault.call(method, request, sessionToken: sessionToken, timeout: timeout)
    }

    /// The status the call fails with (nil if it succeeded).
    func failure<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, timeout: Duration = .seconds(30)
    ) async -> RPCStatus? {
        await status { _ = try await call(method, request, timeout: timeout) }
    }

    /// Cryppo(private DEK, UTF-8 value), as a client writes a slot value.
    func encrypt(_ value: String) throws -> String { try Cryppo.encrypt(Array(value.utf8), key: dek) }

    func decrypt(_ encrypted: String) throws -> String { String(decoding: try Cryppo.decrypt(encrypted, key: dek), as: UTF8.self) }

    func createItem(template: String, label: String = "", slots: [Svx_Vault_V1_SlotInput] = []) async throws -> Svx_Vault_V1_Item {
        try await call(VaultRPC.createItem, .init(templateName: template, label: label, slots: slots)).item
    }

    func getItem(_ id: String) async throws -> Svx_Vault_V1_Item {
        try await call(VaultRPC.getItem, .init(itemID: id)).item
    }

    func update(_ item: Svx_Vault_V1_Item, label: String = "", upsert: [Svx_Vault_V1_SlotInput] = [], remove: [String] = [])
        async throws -> Svx_Vault_V1_Item
    {
        try await call(VaultRPC.updateItem, .init(
            itemID: item.itemID, expectedVersion: item.version, label: label, upsert: upsert, remove: remove)).item
    }

    func template(_ name: String) async throws -> Svx_Vault_V1_ItemTemplate {
        try await call(VaultRPC.getTemplate, .init(name: name)).template
    }

    /// Every item matching `request`'s filters, page by page, and the number of pages.
    func allItems(_ request: Svx_Vault_V1_ListItemsRequest = .init()) async throws -> (items: [Svx_Vault_V1_Item], pages: Int) {
        var items: [Svx_Vault_V1_Item] = []
        var request = request
        for page in 1...1000 {
            let response = try await call(VaultRPC.listItems, request)
            items += response.items
            if response.nextPageToken.isEmpty { return (items, page) }
            request.pageToken = response.nextPageToken
        }
        Issue.record("ListItems did not reach its last page")
        return (items, 1000)
    }

    /// `content` as an attachment: a random attachment DEK wrapped by the private DEK, the file in 1 MiB
    /// blocks each encrypted under the attachment DEK. Uploaded and, with `finish`, finished.
    func uploadAttachment(_ content: [UInt8], finish: Bool = true, metadata: String = #"{"file_name":"file.bin"}"#)
        async throws -> (attachment: Svx_Vault_V1_Attachment, key: SymmetricKey, blocks: [String])
    {
        let key = try SymmetricKey.random()
        let request = try Svx_Vault_V1_CreateAttachmentRequest(size: content.count, dek: dek, attachmentKey: key, metadata: metadata)
        let created = try await call(VaultRPC.createAttachment, request).attachment
        let blocks = try encryptBlocks(content, key: key)
        for (index, block) in blocks.enumerated() {
            _ = try await call(VaultRPC.uploadAttachmentBlock, .init(id: created.attachmentID, index: index, block: block))
        }
        guard finish else { return (created, key, blocks) }
        return (try await call(VaultRPC.finishAttachment, .init(id: created.attachmentID)).attachment, key, blocks)
    }

    /// Downloads every block of an attachment and decrypts it with the attachment DEK unwrapped by the private DEK.
    func downloadAttachment(_ id: String) async throws -> [UInt8] {
        let attachment = try await call(VaultRPC.getAttachment, .init(id: id)).attachment
        let key = SymmetricKey(bytes: try Cryppo.decrypt(attachment.wrappedDek, key: dek))
        var content: [UInt8] = []
        content.reserveCapacity(Int(attachment.plaintextSize))
        for index in 0..<Int(attachment.blockCount) {
            let block = try await call(VaultRPC.getAttachmentBlock, .init(id: id, index: index)).encryptedBlock
            content += try Cryppo.decrypt(block, key: key)
        }
        return content
    }
}

let attachmentBlockSize = 1_048_576

/// `content` cut in blocks of 1 MiB (at least one), each a Cryppo string under `key`.
func encryptBlocks(_ content: [UInt8], key: SymmetricKey) throws -> [String] {
    if content.isEmpty { return [try Cryppo.encrypt([], key: key)] }
    return try stride(from: 0, to: content.count, by: attachmentBlockSize).map { start in
        try Cryppo.encrypt(Array(content[start..<min(start + attachmentBlockSize, content.count)]), key: key)
    }
}

/// Checks that `body` fails with INVALID_ARGUMENT naming one of `fields` in `details["field"]` (an index in the
/// field, as in `slots[3].name`, is ignored); `what` names the case.
func expectInvalidField(
    _ fields: String..., what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    await expectInvalidField(anyOf: fields, what: what, sourceLocation: sourceLocation, body)
}

func expectInvalidField(
    anyOf fields: [String], what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    let failure = await status(body)
    let field = failure?.details["field"].map(withoutIndices)
    #expect(failure?.code == .invalidArgument, "\(what): \(failure.map { "\($0)" } ?? "succeeded")", sourceLocation: sourceLocation)
    #expect(field.map(fields.contains) == true, "\(what): want field \(fields), details \(failure?.details ?? [:])",
            sourceLocation: sourceLocation)
}

/// `slots[3].name` → `slots.name`.
func withoutIndices(_ field: String) -> String {
    field.replacingOccurrences(of: #"\[[0-9]+\]"#, with: "", options: .regularExpression)
}

/// A status with `id` replaced by a placeholder (to compare the answer about a stranger's id with the one about
/// an unknown id).
func anonymized(_ status: RPCStatus?, _ id: String) -> RPCStatus? {
    status.map {
        RPCStatus($0.code, $0.message.replacingOccurrences(of: id, with: "<id>"),
                  details: $0.details.mapValues { $0.replacingOccurrences(of: id, with: "<id>") })
    }
}

/// The tables of the vault schema.
func vaultTables(_ database: TestDatabase) throws -> [String] {
    let connection = try database.connect()
    defer { connection.close() }
    return try connection.query("""
        SELECT table_name::text FROM information_schema.tables
        WHERE table_schema = 'vault' AND table_type = 'BASE TABLE' ORDER BY table_name
        """).map { try $0.decode(String.self, at: 0) }
}

/// Every row of every vault table as JSON text, in a stable order (for "nothing changed" and "no plaintext").
func dumpVaultSchema(_ database: TestDatabase) throws -> String {
    let tables = try vaultTables(database)
    let connection = try database.connect()
    defer { connection.close() }
    var text = ""
    for table in tables {
        text += "-- \(table)\n"
        for row in try connection.query("SELECT row_to_json(t)::text AS j FROM vault.\"\(table)\" t ORDER BY j") {
            text += try row.decode(String.self, at: 0) + "\n"
        }
    }
    return text
}

/// Lines of `b` not in `a` and the reverse, for a readable failure.
func dumpDifference(_ a: String, _ b: String) -> String {
    let left = Set(a.split(separator: "\n")), right = Set(b.split(separator: "\n"))
    let removed = left.subtracting(right).prefix(5).map { "- \($0.prefix(300))" }
    let added = right.subtracting(left).prefix(5).map { "+ \($0.prefix(300))" }
    return (removed + added).joined(separator: "\n")
}

/// `count` copies of `character`: as many UTF-8 bytes for ASCII, twice as many for `é`.
func filler(_ count: Int, _ character: Character = "x") -> String { String(repeating: character, count: count) }

// MARK: Requests

extension Svx_Vault_V1_PutVaultUserRequest {
    init(privateDekExternalID: String) {
        self.init()
        self.privateDekExternalID = privateDekExternalID
    }
}

extension Svx_Vault_V1_ListTemplatesRequest {
    init(nameContains: String = "", onlyOwn: Bool = false) {
        self.init()
        self.nameContains = nameContains
        self.onlyOwn = onlyOwn
    }
}

extension Svx_Vault_V1_GetTemplateRequest {
    init(id: String = "", name: String = "") {
        self.init()
        templateID = id
        self.name = name
    }
}

extension Svx_Vault_V1_TemplateSlot {
    init(_ name: String, _ label: String, _ type: String = "", ordinal: Int32 = 0) {
        self.init()
        self.name = name
        self.label = label
        slotType = type
        self.ordinal = ordinal
    }
}

extension Svx_Vault_V1_CreateTemplateRequest {
    init(name: String, label: String, description: String = "", slots: [Svx_Vault_V1_TemplateSlot]) {
        self.init()
        self.name = name
        self.label = label
        self.description_p = description
        self.slots = slots
    }
}

extension Svx_Vault_V1_DeleteTemplateRequest {
    init(id: String) {
        self.init()
        templateID = id
    }
}

extension Svx_Vault_V1_SlotInput {
    init(name: String = "", label: String = "", type: String = "", value: String = "", ordinal: Int32 = 0,
         attachmentID: String = "", verificationKey: String = "", verificationHash: String = "") {
        self.init()
        self.name = name
        self.label = label
        slotType = type
        encryptedValue = value
        self.ordinal = ordinal
        self.attachmentID = attachmentID
        encryptedValueVerificationKey = verificationKey
        valueVerificationHash = verificationHash
    }
}

extension Svx_Vault_V1_CreateItemRequest {
    init(templateID: String = "", templateName: String = "", label: String = "", slots: [Svx_Vault_V1_SlotInput] = []) {
        self.init()
        self.templateID = templateID
        self.templateName = templateName
        self.label = label
        self.slots = slots
    }
}

extension Svx_Vault_V1_GetItemRequest {
    init(itemID: String) {
        self.init()
        self.itemID = itemID
    }
}

extension Svx_Vault_V1_DeleteItemRequest {
    init(itemID: String) {
        self.init()
        self.itemID = itemID
    }
}

extension Svx_Vault_V1_ListItemsRequest {
    init(pageSize: UInt32 = 0, pageToken: String = "", templateID: String = "", templateName: String = "",
         labelContains: String = "", includeSlots: Bool = true, classificationNode: String = "") {
        self.init()
        self.classificationNode = classificationNode
        self.pageSize = pageSize
        self.pageToken = pageToken
        self.templateID = templateID
        self.templateName = templateName
        self.labelContains = labelContains
        self.includeSlots = includeSlots
    }
}

extension Svx_Vault_V1_UpdateItemRequest {
    init(itemID: String, expectedVersion: UInt64, label: String = "", upsert: [Svx_Vault_V1_SlotInput] = [],
         remove: [String] = []) {
        self.init()
        self.itemID = itemID
        self.expectedVersion = expectedVersion
        self.label = label
        upsertSlots = upsert
        removeSlots = remove
    }
}

extension Svx_Vault_V1_CreateAttachmentRequest {
    init(metadata: String, wrappedDEK: String, plaintextSize: UInt64, blockCount: UInt32, blockSize: UInt32 = 1_048_576) {
        self.init()
        encryptedMetadata = metadata
        wrappedDek = wrappedDEK
        self.plaintextSize = plaintextSize
        self.blockCount = blockCount
        self.blockSize = blockSize
    }

    /// A well-formed announcement of `size` bytes: metadata and the attachment key wrapped by `dek`.
    init(size: Int, dek: SymmetricKey, attachmentKey: SymmetricKey, metadata: String = #"{"file_name":"file.bin"}"#) throws {
        self.init(
            metadata: try Cryppo.encrypt(Array(metadata.utf8), key: dek), wrappedDEK: try Cryppo.encrypt(attachmentKey.bytes, key: dek),
            plaintextSize: UInt64(size), blockCount: UInt32(max(1, (size + attachmentBlockSize - 1) / attachmentBlockSize)))
    }
}

extension Svx_Vault_V1_UploadAttachmentBlockRequest {
    init(id: String, index: Int, block: String) {
        self.init()
        attachmentID = id
        self.index = UInt32(index)
        encryptedBlock = block
    }
}

extension Svx_Vault_V1_FinishAttachmentRequest {
    init(id: String) {
        self.init()
        attachmentID = id
    }
}

extension Svx_Vault_V1_GetAttachmentRequest {
    init(id: String) {
        self.init()
        attachmentID = id
    }
}

extension Svx_Vault_V1_GetAttachmentBlockRequest {
    init(id: String, index: Int) {
        self.init()
        attachmentID = id
        self.index = UInt32(index)
    }
}

extension Svx_Vault_V1_EntityReference {
    init(_ kind: Svx_Vault_V1_EntityKind, _ id: String) {
        self.init()
        self.kind = kind
        self.id = id
    }
}

extension Svx_Vault_V1_CheckEntitiesRequest {
    init(_ entities: [Svx_Vault_V1_EntityReference]) {
        self.init()
        self.entities = entities
    }
}
