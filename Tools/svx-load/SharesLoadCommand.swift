import ArgumentParser
import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SharingSQL
import Synchronization

/// `svx-load shares`: the reads and the bulk write of shares (issue 16's numbers), each beside raw libpq running the
/// same statements (SharingSQL) as the service's own role, at the same concurrency.
///
/// Set-up, not timed: the benchmark users of `svx-load sharing` (same users file; their earlier connections ended,
/// which revokes every share over them). A sender connected to 50 recipients; a second sender connected to a "big"
/// recipient and a "small" one. The second sender shares its items (at most 400 shares an item, under the cap of
/// 500) through `SharesClient.createShare` until the big recipient has `--incoming` live incoming shares and the small
/// one 10. The CreateShare requests of the timed part are made by `SharesClient.prepareShare` (items read and
/// decrypted, every connection's keys checked, a fresh DEK per recipient wrapped with RSA-OAEP), so the timing holds
/// the service's work only.
///
/// Timed:
/// 1. GetIncomingShare with content of the big recipient's shares (each request a random one of them) beside the
///    SELECT that reads the same rows (the share's row joined with its slots, the service's statement), in
///    alternating rounds.
/// 2. The same GetIncomingShare of the big recipient's shares beside the small recipient's: p99 with 10 000 incoming
///    shares vs 10.
/// 3. CreateShare of one item to 50 recipients, `--create-calls` calls, beside the same transaction run raw (locks,
///    counts, the 50 connections read, 50 share rows and their slots inserted and read back).
/// 4. UpdateShares of an item shared to 50 recipients (its label changed once, so every share is behind), the
///    requests made ahead by `SharesClient.prepareShareUpdates` (a fresh DEK and verification keys per share),
///    `--create-calls` calls re-keying the same 50 shares, beside the same transaction run raw.
struct SharesLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shares",
        abstract: "GetIncomingShare, CreateShare (to 50) and UpdateShares (50) beside raw libpq; GetIncomingShare with 10 000 incoming shares vs 10.")

    @OptionGroup var options: VaultLoadOptions

    @Option(help: "The svx-keystore endpoint (loopback only).")
    var keystoreEndpoint: String = "tcp://127.0.0.1:7102"

    @Option(help: "The svx-sharing endpoint (loopback only).")
    var sharingEndpoint: String = "tcp://127.0.0.1:7104"

    @Option(help: "Live incoming shares of the big recipient. 100...50000.")
    var incoming: Int = 10_000

    @Option(help: "Timed CreateShare calls (to 50 recipients each), and UpdateShares calls (50 shares each), per target. 10...1000.")
    var createCalls: Int = 100

    @Option(help: "The benchmark users' credentials (shared with `svx-load sharing`; test credentials only).")
    var usersFile: String = ".svx/bench/sharing-users.json"

    @Option(help: "RSA bits of the benchmark users' connection keys (4096 is the product's).")
    var keypairBits: Int = 4096

    static let recipients = 50
    static let smallIncoming = 10
    static let sharesPerItem = 400
    /// The live shares of one item the service allows by default (`SVX_SHARING_MAX_SHARES_PER_ITEM`).
    static let itemCap = 500
    static let warmUpCalls = 4

    func validate() throws {
        try validateLoopback(keystoreEndpoint)
        try validateLoopback(sharingEndpoint)
        guard (100...50_000).contains(incoming) else { throw ValidationError("--incoming must be in 100...50000") }
        guard (10...1_000).contains(createCalls) else { throw ValidationError("--create-calls must be in 10...1000") }
        guard [2048, 3072, 4096].contains(keypairBits) else { throw ValidationError("--keypair-bits must be 2048, 3072 or 4096") }
    }

    func run() throws {
        let databaseURL = try options.databaseURL(service: "sharing")
        let clients = options.shape.clients
        printFlushed("svx-load shares: \(sharingEndpoint); \(incoming) incoming shares vs \(Self.smallIncoming); CreateShare to \(Self.recipients) recipients, \(createCalls) timed calls per target, \(clients) client(s)")
        let endpoints = ServiceEndpoints(
            auth: options.endpoints.authEndpoint, keystore: keystoreEndpoint, vault: options.endpoints.vaultEndpoint,
            sharing: sharingEndpoint, classification: "")
        let setupStart = ContinuousClock.now
        let bits = keypairBits
        let file = usersFile
        let users = try waitFor {
            try await SharingBenchUser.open(count: Self.recipients + 4, file: file, endpoints: endpoints, bits: bits)
        }
        printFlushed(String(format: "  set-up: %d users logged in, earlier connections ended (their shares revoked), in %.1f s", users.count, (ContinuousClock.now - setupStart).seconds))
        let sender = users[0]
        let recipients = Array(users[1...Self.recipients])
        let (holder, big, small) = (users[Self.recipients + 1], users[Self.recipients + 2], users[Self.recipients + 3])
        let world = try waitFor {
            try await ShareBenchWorld.make(
                endpoints: endpoints, sender: sender, recipients: recipients, holder: holder, big: big, small: small,
                incoming: incoming, createCalls: createCalls + Self.warmUpCalls, bits: bits)
        }
        printFlushed(String(format: "  set-up done in %.1f s", (ContinuousClock.now - setupStart).seconds))

        // 1. GetIncomingShare beside the raw SELECTs of the same rows.
        printFlushed("\n  get-share = GetIncomingShare with content (RPCClient.callBlocking -> svx-sharing: session, the share and its slots in one statement, the fetch counted)")
        printFlushed("  raw       = the same statement (SharingSQL.incomingShareWithSlots) as svx_sharing, one connection per client")
        let bigReader = IncomingShareReader(token: big.session.token, userID: try uuid(big.session.userID), shareIDs: world.bigShares)
        let (bigResult, _) = try VaultComparison(options: options, what: "get-share").run(
            svx: GetIncomingShareTarget(endpoint: sharingEndpoint, reader: bigReader),
            raw: RawIncomingShareTarget(conninfo: databaseURL, reader: bigReader),
            svxTitle: "get-share: GetIncomingShare with content, \(world.bigShares.count) incoming shares, \(clients) client(s)",
            rawTitle: "raw libpq: the share's row and its slots, one statement", goal: "goal >= 0.70")
        if bigResult.requests == 0 || bigResult.errorCount > 0 { throw ExitCode.failure }

        // 2. The same read, 10 000 incoming shares vs 10.
        printFlushed("\n  get-share-\(world.bigShares.count) = GetIncomingShare with content, a recipient with \(world.bigShares.count) incoming shares")
        printFlushed("  get-share-\(world.smallShares.count)    = the same, a recipient with \(world.smallShares.count)")
        let smallReader = IncomingShareReader(token: small.session.token, userID: try uuid(small.session.userID), shareIDs: world.smallShares)
        var sizes = VaultComparison(options: options, what: "get-share-\(world.bigShares.count)")
        sizes.baseline = "get-share-\(world.smallShares.count)"
        let (many, few) = try sizes.run(
            svx: GetIncomingShareTarget(endpoint: sharingEndpoint, reader: bigReader),
            raw: GetIncomingShareTarget(endpoint: sharingEndpoint, reader: smallReader),
            svxTitle: "get-share-\(world.bigShares.count): \(world.bigShares.count) incoming shares, \(clients) client(s)",
            rawTitle: "get-share-\(world.smallShares.count): \(world.smallShares.count) incoming shares, \(clients) client(s)",
            goal: "no goal on throughput")
        if many.requests > 0, few.requests > 0 {
            printFlushed(String(
                format: "   p99 with %d incoming shares / p99 with %d: %.2f  (goal <= 1.50)", world.bigShares.count,
                world.smallShares.count, many.percentile(99) / few.percentile(99)))
        }
        if many.errorCount > 0 || few.errorCount > 0 { throw ExitCode.failure }

        // 3. CreateShare to 50 recipients.
        printFlushed("\n  create-share = CreateShare of one item to \(Self.recipients) recipients (prepared ahead: RSA and AES outside the timing; svx-sharing asks the Vault for the outline, one transaction)")
        printFlushed("  raw          = the same transaction as svx_sharing (SharingSQL): the users' locks, the counts, \(Self.recipients) connections FOR SHARE, \(Self.recipients) share rows and their slots inserted and read back")
        try compare(
            world.prepared, what: "create-share", method: "CreateShare to \(Self.recipients)", written: "shares written",
            svxLane: { try CreateShareLane(endpoint: sharingEndpoint, token: sender.session.token, timeout: .seconds(60)) },
            rawLane: { try RawCreateShareLane(conninfo: databaseURL, world: world) })

        // 4. UpdateShares of an item shared to 50 recipients.
        printFlushed("\n  update-shares = UpdateShares of \(Self.recipients) shares of one item (prepared ahead: RSA and AES outside the timing; svx-sharing asks the Vault for the outline, one transaction)")
        printFlushed("  raw           = the same transaction as svx_sharing (SharingSQL): the owner's lock, the tombstone check, the \(Self.recipients) shares FOR UPDATE, each re-keyed, its slots replaced and read back")
        try compare(
            world.updates, what: "update-shares", method: "UpdateShares of \(Self.recipients)", written: "shares re-keyed",
            svxLane: { try UpdateSharesLane(endpoint: sharingEndpoint, token: sender.session.token, timeout: .seconds(60)) },
            rawLane: { try RawUpdateSharesLane(conninfo: databaseURL, world: world) })
    }

    /// `work` sent by the service's lanes, then run raw, by the same number of clients (each call writes
    /// ``recipients`` shares): both summaries, the ratios and the servers' CPU a call over the service's pass.
    /// Any failed call fails the command.
    func compare<SVXLane: WorkLane, RawLane: WorkLane>(
        _ work: [SVXLane.Work], what: String, method: String, written: String, svxLane: () throws -> SVXLane,
        rawLane: () throws -> RawLane
    ) throws where RawLane.Work == SVXLane.Work {
        let clients = options.shape.clients
        let servers = options.serverPids.map { ServerProcess(pid: $0) }
        let cpuBefore = servers.map { processCPUSeconds($0.pid) ?? 0 }
        let svx = try CountedRun(clients: clients, label: what, unit: "calls").run(work, warmUp: Self.warmUpCalls, makeLane: svxLane)
        let cpuSeconds = zip(servers, cpuBefore).map { (processCPUSeconds($0.pid) ?? 0) - $1 }
        let raw = try CountedRun(clients: clients, label: "raw", unit: "calls").run(work, warmUp: Self.warmUpCalls, makeLane: rawLane)
        let calls = work.count - Self.warmUpCalls
        printFlushed(svx.summary(title: "\(what): \(method), \(clients) client(s), \(calls) calls"))
        printFlushed(raw.summary(title: "raw libpq: the same transaction, \(clients) client(s), \(calls) calls"))
        if svx.requests > 0, raw.requests > 0 {
            printFlushed(String(
                format: "== ratios (%@ / raw libpq, same run, same clients)\n   throughput %.2f  (no goal set; reported beside the raw limit)\n   p50 %.2f  p99 %.2f\n   %@: svx %.0f/s, raw %.0f/s",
                what, svx.throughput / raw.throughput, svx.percentile(50) / raw.percentile(50),
                svx.percentile(99) / raw.percentile(99), written, svx.throughput * Double(Self.recipients),
                raw.throughput * Double(Self.recipients)))
        }
        for (server, seconds) in zip(servers, cpuSeconds) {
            printFlushed(String(
                format: "   %@ (pid %d): CPU %.2f ms/call", server.name, server.pid, seconds * 1e3 / Double(work.count)))
        }
        if svx.requests == 0 || svx.errorCount > 0 || raw.errorCount > 0 { throw ExitCode.failure }
    }
}

private func uuid(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw ValidationError("\(text) is not a UUID") }
    return id
}

/// What the set-up made: the big and small recipients' share ids, the prepared CreateShare calls, and what the raw
/// CreateShare writes in their place (the items' outlines and the 50 connections as the sender sees them).
struct ShareBenchWorld: Sendable {
    /// An item as the Vault outlines it (what Sharing copies into a share).
    struct Outline: Sendable {
        let itemID: UUID
        let version: Int64
        let label: String
        let templateName: String
        let slots: [(id: String, name: String, label: String, type: String, ordinal: Int32)]
    }

    let bigShares: [UUID]
    let smallShares: [UUID]
    let prepared: [CreateShareWork]
    /// UpdateShares calls of one item's 50 shares, and that item as the Vault outlines it after its update.
    let updates: [UpdateSharesWork]
    let updatedItem: Outline
    let outlines: [UUID: Outline]
    let senderID: UUID
    let senderUsername: String

    static func make(
        endpoints: ServiceEndpoints, sender: SharingBenchUser, recipients: [SharingBenchUser], holder: SharingBenchUser,
        big: SharingBenchUser, small: SharingBenchUser, incoming: Int, createCalls: Int, bits: Int
    ) async throws -> ShareBenchWorld {
        let connection = SVXConnection(endpoints: endpoints)
        let shares = try connection.shares(timeout: .seconds(60), keypairBits: bits)
        let vault = try connection.vault(timeout: .seconds(30))

        let start = ContinuousClock.now
        let senderConnections = try await connect(sender, to: recipients)
        let holderConnections = try await connect(holder, to: [big, small])
        printFlushed(String(format: "  set-up: %d connections made in %.1f s", senderConnections.count + 2, (ContinuousClock.now - start).seconds))

        // The holder's items, shared to the big recipient (at most 400 shares an item) and 10 times to the small one.
        let itemStart = ContinuousClock.now
        let holderItems = try await SharingBenchUser.bounded((incoming + sharesPerItem - 1) / sharesPerItem, parallel: 4) { index in
            try await passport(vault, holder, index: index).id
        }
        let bigShares = try await SharingBenchUser.bounded(incoming, parallel: 8) { index in
            let shared = try await shares.createShare(
                session: holder.session, keys: holder.keys, itemID: holderItems[index / sharesPerItem], to: [holderConnections[0]])
            return try uuid(shared[0].id)
        }
        let smallShares = try await SharingBenchUser.bounded(SharesLoadCommand.smallIncoming, parallel: 8) { index in
            let shared = try await shares.createShare(
                session: holder.session, keys: holder.keys, itemID: holderItems[0], to: [holderConnections[1]])
            return try uuid(shared[0].id)
        }
        printFlushed(String(format: "  set-up: %d + %d incoming shares made through SharesClient.createShare in %.1f s", bigShares.count, smallShares.count, (ContinuousClock.now - itemStart).seconds))

        // The sender's items: 10 calls to 50 recipients an item fill the cap of 500 live shares an item.
        let prepareStart = ContinuousClock.now
        let callsPerItem = SharesLoadCommand.itemCap / SharesLoadCommand.recipients
        let senderItems = try await SharingBenchUser.bounded((createCalls + callsPerItem - 1) / callsPerItem, parallel: 4) { index in
            try await passport(vault, sender, index: index)
        }
        var outlines: [UUID: Outline] = [:]
        for item in senderItems {
            outlines[try uuid(item.id)] = Outline(
                itemID: try uuid(item.id), version: Int64(item.version), label: item.label, templateName: item.templateName,
                slots: item.slots.map { ($0.id, $0.name, $0.label, $0.type.rawValue, $0.ordinal) })
        }
        let prepared = try await SharingBenchUser.bounded(createCalls, parallel: 4) { index in
            let item = senderItems[index / callsPerItem]
            let share = try await shares.prepareShare(
                session: sender.session, keys: sender.keys, itemID: item.id, to: senderConnections)
            return CreateShareWork(share: share)
        }
        printFlushed(String(format: "  set-up: %d CreateShare calls to %d prepared through SharesClient.prepareShare in %.1f s", prepared.count, SharesLoadCommand.recipients, (ContinuousClock.now - prepareStart).seconds))

        // An item shared to the 50 recipients, then changed (its label): every share is behind, and each prepared
        // UpdateShares re-keys all 50 for the new version (a later call at the same version re-keys them again).
        let updateStart = ContinuousClock.now
        let original = try await passport(vault, sender, index: 1_000)
        _ = try await shares.createShare(session: sender.session, keys: sender.keys, itemID: original.id, to: senderConnections)
        let changed = try await vault.updateItem(
            session: sender.session, keys: sender.keys, item: original, label: "bench passport updated")
        let updates = try await SharingBenchUser.bounded(createCalls, parallel: 4) { _ in
            let batches = try await shares.prepareShareUpdates(session: sender.session, keys: sender.keys, item: changed).batches
            guard batches.count == 1, batches[0].shareCount == SharesLoadCommand.recipients else {
                throw ValidationError("the item's update was prepared as \(batches.map(\.shareCount)) shares, not one batch of \(SharesLoadCommand.recipients)")
            }
            return UpdateSharesWork(update: batches[0])
        }
        printFlushed(String(format: "  set-up: %d UpdateShares calls of %d shares prepared through SharesClient.prepareShareUpdates in %.1f s", updates.count, SharesLoadCommand.recipients, (ContinuousClock.now - updateStart).seconds))
        return ShareBenchWorld(
            bigShares: bigShares, smallShares: smallShares, prepared: prepared, updates: updates,
            updatedItem: Outline(
                itemID: try uuid(changed.id), version: Int64(changed.version), label: changed.label,
                templateName: changed.templateName,
                slots: changed.slots.map { ($0.id, $0.name, $0.label, $0.type.rawValue, $0.ordinal) }),
            outlines: outlines, senderID: try uuid(sender.session.userID), senderUsername: sender.username)
    }

    static let sharesPerItem = SharesLoadCommand.sharesPerItem

    /// `from` invites each of `others` and each accepts (through the SDK); `from`'s connection ids, in order.
    static func connect(_ from: SharingBenchUser, to others: [SharingBenchUser]) async throws -> [String] {
        let codes = try await SharingBenchUser.invite(others.map { (from, $0.username) })
        _ = try await SharingBenchUser.bounded(others.count, parallel: 8) { index in
            let other = others[index]
            return try await other.sharing.acceptInvitation(
                session: other.session, keys: other.keys, code: codes[index], name: "bench \(from.username)").id
        }
        let mine = try await from.sharing.connections(session: from.session, keys: from.keys, state: .active)
        return try others.map { other in
            guard let side = mine.first(where: { $0.otherUserID == other.session.userID }) else {
                throw ValidationError("\(other.username) accepted, but \(from.username) has no connection with them")
            }
            return side.id
        }
    }

    /// A passport-like item of `owner`: five valued slots.
    static func passport(_ vault: VaultClient, _ owner: SharingBenchUser, index: Int) async throws -> DecryptedItem {
        try await vault.createItem(
            session: owner.session, keys: owner.keys, templateName: "passport", label: "bench passport \(index)",
            values: [
                ("full_name", "Bench User \(index)"), ("passport_number", "PA\(100_000 + index)"),
                ("nationality", "NZL"), ("date_of_birth", "1980-01-01"), ("expiry_date", "2031-12-31"),
            ])
    }
}

/// A recipient whose shares are read: its session, its id and the ids of its shares.
struct IncomingShareReader: Sendable {
    let token: String
    let userID: UUID
    let shareIDs: [UUID]
}

struct GetIncomingShareTarget: LoadTarget {
    let endpoint: String
    let reader: IncomingShareReader

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 16, defaultTimeout: timeout))
        let reader = reader
        return RPCLoadClient(client: client, timeout: timeout) { client, random in
            var request = Svx_Sharing_V1_GetIncomingShareRequest()
            request.shareID = reader.shareIDs[Int(random.next() % UInt64(reader.shareIDs.count))].wire
            request.includeContent = true
            let response = try client.callBlocking(SharingRPC.getIncomingShare, request, sessionToken: reader.token, timeout: timeout)
            guard response.share.shareID == request.shareID, response.share.state == .active, !response.item.slots.isEmpty else {
                throw RPCStatus(.internal, "the share answered no content")
            }
        }
    }
}

/// The rows GetIncomingShare reads, read raw with its statement (the share's row and its slots, one snapshot).
struct RawIncomingShareTarget: LoadTarget {
    let conninfo: String
    let reader: IncomingShareReader

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let reader = reader
        return PostgresLoadClient(connection: try rawConnection(conninfo)) { db, random in
            let shareID = reader.shareIDs[Int(random.next() % UInt64(reader.shareIDs.count))]
            let rows = try db.query(SharingQueries.incomingShareWithSlots, reader.userID, shareID)
            guard let row = rows.first else { throw RawFailure("no share") }
            for column in [0, 1, 2, 4, 6, 8, 9, 28] { _ = try row.decode(UUID.self, at: column) }
            for column in [5, 7, 12, 13, 29, 33] { _ = try row.decode(String.self, at: column) }
            for column in [30, 31, 32] { _ = try row.decode(String?.self, at: column) }
            for column in [11, 15, 17, 20, 21, 34] { _ = try row.decode(Int32.self, at: column) }
            for column in [14, 24, 26, 37] { _ = try row.decode(Int64.self, at: column) }
            for column in [19, 22, 23, 25, 27] { _ = try row.decode(Int64?.self, at: column) }
            for column in [16, 35, 36] { _ = try row.decode(Bool.self, at: column) }
            let slot = SharingQueries.shareColumnCount
            for slotRow in rows {
                guard try slotRow.decode(UUID?.self, at: slot) != nil else { throw RawFailure("no slots") }
                for column in [1, 2, 3, 5, 6, 7] { _ = try slotRow.decode(String.self, at: slot + column) }
                _ = try slotRow.decode(Int32.self, at: slot + 4)
            }
        }
    }
}

/// One CreateShare, prepared before the timing.
struct CreateShareWork: Sendable {
    let share: PreparedShare
}

final class CreateShareLane: WorkLane, Sendable {
    let client: RPCClient
    let token: String
    let timeout: Duration

    init(endpoint: String, token: String, timeout: Duration) throws {
        client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 4, defaultTimeout: timeout))
        self.token = token
        self.timeout = timeout
    }

    func perform(_ work: CreateShareWork) throws {
        let response = try client.callBlocking(SharingRPC.createShare, work.share.request, sessionToken: token, timeout: timeout)
        guard response.shares.count == work.share.recipientCount else {
            throw RPCStatus(.internal, "CreateShare answered \(response.shares.count) shares")
        }
    }

    func close() { client.close() }
}

/// CreateShare's transaction, statement for statement (SharingSQL), without the service around it (no Vault call,
/// no RSA key parsed): the same rows written.
final class RawCreateShareLane: WorkLane, @unchecked Sendable {
    // @unchecked: the connection is used by the one thread of this lane, then closed.
    let connection: PostgresConnection
    let world: ShareBenchWorld

    init(conninfo: String, world: ShareBenchWorld) throws {
        connection = try rawConnection(conninfo)
        self.world = world
    }

    func perform(_ work: CreateShareWork) throws {
        let request = work.share.request
        guard let itemID = UUID(uuidString: request.itemID), let item = world.outlines[itemID] else {
            throw RawFailure("an item the set-up did not make")
        }
        let senderID = world.senderID
        let connectionIDs = try request.recipients.map { recipient -> UUID in
            guard let id = UUID(uuidString: recipient.connectionID) else { throw RawFailure("a connection id is not a UUID") }
            return id
        }
        try connection.transaction { db in
            let others = try db.query(SharingQueries.connectionsOtherUsers, senderID, uuidArrayLiteral(connectionIDs))
                .map { try $0.decode(UUID.self, at: 0) }
            try rawLockUsers(db, [senderID] + others)
            _ = try db.query(SharingQueries.recentlyForgotten, senderID, uuidArrayLiteral([itemID] + item.slots.compactMap { UUID(uuidString: $0.id) }))
            _ = try db.query(SharingQueries.liveOutgoingShares, senderID)[0].decode(Int.self, at: 0)
            _ = try db.query(SharingQueries.liveItemShares, senderID, itemID)[0].decode(Int.self, at: 0)
            let connections = try connectionIDs.map { id -> PostgresRow in
                guard let row = try db.query(SharingQueries.recipientConnection, senderID, id).first else {
                    throw RawFailure("no connection")
                }
                return row
            }
            _ = try db.query(SharingQueries.liveIncomingShares, uuidArrayLiteral(try connections.map { try $0.decode(UUID.self, at: 0) }))
            for (recipient, (connectionID, row)) in zip(request.recipients, zip(connectionIDs, connections)) {
                let shareID = UUID.timeOrdered()
                _ = try db.execute(
                    SharingQueries.insertShare, senderID, shareID, itemID, UUID?.none, senderID,
                    world.senderUsername, try row.decode(UUID.self, at: 0), try row.decode(String.self, at: 1), connectionID,
                    try row.decode(UUID.self, at: 2), UUID?.none, Int32(1), try row.decode(UUID.self, at: 3),
                    try row.decode(String.self, at: 4), try row.decode(String.self, at: 5), recipient.encryptedDek,
                    item.version, item.label, item.templateName, Int32(request.sharingMode.rawValue),
                    false, Int32(2), String?.none, String?.none, Int64?.none, Int32(0))
                try item.insertSlots(db, ownerID: senderID, shareID: shareID, values: recipient.slots)
            }
        }
    }

    func close() { connection.close() }
}

/// One UpdateShares, prepared before the timing.
struct UpdateSharesWork: Sendable {
    let update: PreparedShareUpdate
}

final class UpdateSharesLane: WorkLane, Sendable {
    let client: RPCClient
    let token: String
    let timeout: Duration

    init(endpoint: String, token: String, timeout: Duration) throws {
        client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 4, defaultTimeout: timeout))
        self.token = token
        self.timeout = timeout
    }

    func perform(_ work: UpdateSharesWork) throws {
        let response = try client.callBlocking(SharingRPC.updateShares, work.update.request, sessionToken: token, timeout: timeout)
        guard response.updated.count == work.update.shareCount, response.skipped.isEmpty else {
            throw RPCStatus(.internal, "UpdateShares updated \(response.updated.count), skipped \(response.skipped.count)")
        }
    }

    func close() { client.close() }
}

/// UpdateShares' transaction, statement for statement (SharingSQL), without the service around it (no Vault call,
/// no RSA key parsed): the same rows written.
final class RawUpdateSharesLane: WorkLane, @unchecked Sendable {
    // @unchecked: the connection is used by the one thread of this lane, then closed.
    let connection: PostgresConnection
    let world: ShareBenchWorld

    init(conninfo: String, world: ShareBenchWorld) throws {
        connection = try rawConnection(conninfo)
        self.world = world
    }

    func perform(_ work: UpdateSharesWork) throws {
        let request = work.update.request
        let item = world.updatedItem
        let ownerID = world.senderID
        let shareIDs = try request.shares.map { input -> UUID in
            guard let id = UUID(uuidString: input.shareID) else { throw RawFailure("a share id is not a UUID") }
            return id
        }
        try connection.transaction { db in
            try rawLockUsers(db, [ownerID])
            let slotIDs = item.slots.compactMap { UUID(uuidString: $0.id) }
            guard try db.query(SharingQueries.recentlyForgotten, ownerID, uuidArrayLiteral([item.itemID] + slotIDs)).isEmpty
            else { throw RawFailure("the item was forgotten") }
            let locked = try db.query(SharingQueries.itemSharesForUpdate, ownerID, item.itemID, uuidArrayLiteral(shareIDs))
            guard locked.count == shareIDs.count else { throw RawFailure("\(locked.count) of \(shareIDs.count) shares found") }
            _ = try db.query(SharingQueries.statementClock)[0].decode(Int64.self, at: 0)
            for (input, shareID) in zip(request.shares, shareIDs) {
                _ = try db.execute(
                    SharingQueries.rekeyShare, ownerID, shareID, input.encryptedDek, item.version, item.label, item.templateName)
                _ = try db.execute(SharingQueries.deleteShareSlots, ownerID, shareID)
                try item.insertSlots(db, ownerID: ownerID, shareID: shareID, values: input.slots)
            }
        }
    }

    func close() { connection.close() }
}

extension ShareBenchWorld.Outline {
    /// What CreateShare and UpdateShares write for one share's slots, run raw: every slot of the item with the value
    /// fields `values` carries for it (SharingQueries.insertShareSlots), then the share read back.
    func insertSlots(_ db: PostgresConnection, ownerID: UUID, shareID: UUID, values: [Svx_Sharing_V1_ShareSlot]) throws {
        let byID = Dictionary(uniqueKeysWithValues: values.map { ($0.slotID, $0) })
        let records = slots.map { slot in
            let value = byID[slot.id]
            return SharingQueries.ShareSlotRecord(
                slotID: slot.id, name: slot.name, label: slot.label, slotType: slot.type, ordinal: slot.ordinal,
                encryptedValue: value?.encryptedValue, verificationKey: value?.encryptedValueVerificationKey,
                verificationHash: value?.valueVerificationHash)
        }
        _ = try db.execute(
            SharingQueries.insertShareSlots, ownerID, shareID, String(decoding: try JSONEncoder().encode(records), as: UTF8.self))
        guard try db.query(SharingQueries.shareByOwner, ownerID, shareID).count == 1 else {
            throw RawFailure("the share was not written")
        }
    }
}

/// The advisory locks of `userIDs`, taken raw the way Sharing takes them (SharingQueries.userLockKeys, in key order).
func rawLockUsers(_ db: PostgresConnection, _ userIDs: [UUID]) throws {
    for key in try db.query(SharingQueries.userLockKeys, uuidArrayLiteral(userIDs)) {
        _ = try db.query(SharingQueries.userLock, try key.decode(Int64.self, at: 0))
    }
}
