import ArgumentParser
import Foundation
import Logging
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import Synchronization
import VaultSQL

/// What `vault-get` and `vault-create` share: the endpoints, the shape, the raw baseline's database and the
/// servers whose CPU and peak RSS are read from /proc.
struct VaultLoadOptions: ParsableArguments {
    @OptionGroup var endpoints: VaultEndpointOptions
    @OptionGroup var shape: ShapeOptions

    @Option(name: .customLong("server-pid"), help: "A service's process id (repeatable): its CPU per request and its peak RSS during the run are reported.")
    var serverPids: [Int32] = []

    @Option(help: "Alternating rounds per target (the duration is split between them).")
    var rounds: Int = 2

    @Option(help: "Where the raw baseline finds the service role's password when SVX_<SERVICE>_DATABASE_URL is not set (SVX_PG_PASSWORD_<SERVICE>=...).")
    var secretsFile: String = ".svx/stack/secrets.env"

    @Option(help: "PostgreSQL port of the stack (with --secrets-file).")
    var pgPort: Int = 55432

    func validate() throws {
        guard shape.window == 1 else { throw ValidationError("the vault and classification loads are closed loops: --window 1") }
        guard (1...10).contains(rounds), shape.duration >= rounds else {
            throw ValidationError("--rounds must be in 1...10 and at most --duration")
        }
    }

    /// The libpq URI of the service's own role (`svx_vault`, `svx_classification`): $SVX_<SERVICE>_DATABASE_URL, or
    /// built from the stack's secrets file. Loopback only.
    func databaseURL(service: String = "vault") throws -> String {
        let upper = service.uppercased()
        let url: String
        if let fromEnvironment = ProcessInfo.processInfo.environment["SVX_\(upper)_DATABASE_URL"], !fromEnvironment.isEmpty {
            url = fromEnvironment
        } else {
            let key = "SVX_PG_PASSWORD_\(upper)="
            guard let text = try? String(contentsOfFile: secretsFile, encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) })
            else {
                throw ValidationError("set SVX_\(upper)_DATABASE_URL or give --secrets-file with SVX_PG_PASSWORD_\(upper) (the raw baseline needs the database)")
            }
            url = "postgresql://svx_\(service):\(line.dropFirst(key.count))@127.0.0.1:\(pgPort)/svx"
        }
        guard url.contains("@127.0.0.1") || url.contains("@localhost") || url.contains("@[::1]") else {
            throw ValidationError("the raw baseline only targets a loopback PostgreSQL")
        }
        return url
    }

    var perRound: LoadShape {
        var shape = self.shape.shape
        shape.duration = .seconds(self.shape.duration / rounds)
        return shape
    }
}

/// Runs the service target and the raw target in alternating rounds, with the servers' CPU and peak RSS.
struct VaultComparison {
    let options: VaultLoadOptions
    let what: String
    /// What the second target is, in the ratio line.
    var baseline = "raw libpq"

    func run(svx: any LoadTarget, raw: any LoadTarget, svxTitle: String, rawTitle: String, goal: String) throws -> (LoadResult, LoadResult) {
        let servers = options.serverPids.map { ServerProcess(pid: $0) }
        for server in servers { server.resetPeak() }
        var cpu = [Double](repeating: 0, count: servers.count)
        var svxResult = LoadResult()
        var rawResult = LoadResult()
        let perRound = options.perRound
        for round in 1...options.rounds {
            let before = servers.map { processCPUSeconds($0.pid) ?? 0 }
            svxResult.merge(try LoadRunner(shape: perRound, target: svx, label: "\(what) r\(round)").run(progress: true))
            for (index, server) in servers.enumerated() { cpu[index] += (processCPUSeconds(server.pid) ?? 0) - before[index] }
            rawResult.merge(try LoadRunner(shape: perRound, target: raw, label: "raw r\(round)").run(progress: true))
        }
        printFlushed(svxResult.summary(title: svxTitle))
        printFlushed(rawResult.summary(title: rawTitle))
        printFlushed("== ratios (\(what) / \(baseline), same run, same clients)")
        if rawResult.requests > 0, svxResult.requests > 0 {
            printFlushed(String(
                format: "   throughput %.2f  (%@)\n   p50 %.2f  p99 %.2f", svxResult.throughput / rawResult.throughput, goal,
                svxResult.percentile(50) / rawResult.percentile(50), svxResult.percentile(99) / rawResult.percentile(99)))
        }
        // Warm-up requests count too: CPU is measured over each whole round (1 s warm-up + measured seconds).
        let roundSeconds = Double(options.rounds) * (perRound.duration.seconds + perRound.warmup.seconds)
        let requestsIncludingWarmup = svxResult.throughput * roundSeconds
        for (index, server) in servers.enumerated() {
            printFlushed(server.report(cpuSeconds: cpu[index], requests: requestsIncludingWarmup))
        }
        return (svxResult, rawResult)
    }
}

/// A service process read from /proc: name, CPU, peak and current RSS.
struct ServerProcess {
    let pid: Int32

    var name: String {
        ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "pid \(pid)")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes 5 to /proc/PID/clear_refs: VmHWM starts again from the current RSS, so it shows the peak of this run.
    func resetPeak() {
        let reset = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs")
        if let reset {
            try? reset.write(contentsOf: Data("5".utf8))
            try? reset.close()
        } else {
            printFlushed("warning: cannot reset the peak RSS of pid \(pid): VmHWM will be the peak since it started")
        }
    }

    /// VmHWM and VmRSS in KiB.
    func memory() -> (peak: Int, current: Int)? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        guard let peak = field("VmHWM"), let current = field("VmRSS") else { return nil }
        return (peak, current)
    }

    func report(cpuSeconds: Double, requests: Double) -> String {
        guard let memory = memory() else { return "   \(name) (pid \(pid)): not running" }
        return String(
            format: "   %@ (pid %d): peak RSS (VmHWM) during the run %.1f MiB, RSS after %.1f MiB (goal <= 64 MiB); CPU %.0f us/request",
            name, pid, Double(memory.peak) / 1024, Double(memory.current) / 1024,
            requests > 0 ? cpuSeconds * 1e6 / requests : 0)
    }
}

// MARK: vault-get

/// `svx-load vault-get`: GetItem of random items of the seeded user, closed loop per client, beside the raw libpq
/// SELECT of the same rows (the item and its slots, the statement GetItem runs) at the same concurrency.
struct VaultGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault-get",
        abstract: "GetItem load on the seeded vault beside a raw libpq primary-key SELECT of the same rows.")

    @OptionGroup var options: VaultLoadOptions

    @Option(help: "At most this many item ids are listed (ListItems pages) and read at random.")
    var maxIDs: Int = 2_000_000

    func run() throws {
        let databaseURL = try options.databaseURL()
        let user = try VaultBenchUser.openWaiting(options.endpoints)
        let ids = try user.itemIDs(vaultEndpoint: options.endpoints.vaultEndpoint, limit: maxIDs)
        guard !ids.isEmpty, let userID = UUID(uuidString: user.userID) else {
            printFlushed("vault-get: the vault is empty: run vault-seed first")
            throw ExitCode.failure
        }
        printFlushed("svx-load vault-get: \(options.endpoints.vaultEndpoint), \(ids.count) items, \(options.shape.shape.describe()); \(options.rounds) round(s) per target")
        printFlushed("  vault-get = GetItem (RPCClient.callBlocking -> svx-vault -> PostgreSQL), random item")
        printFlushed("  raw       = GetItem's SELECT (item LEFT JOIN slots by primary key, VaultSQL) through SVXStore.PostgresConnection, one connection per client")
        let (svx, _) = try VaultComparison(options: options, what: "vault-get").run(
            svx: VaultGetTarget(endpoint: options.endpoints.vaultEndpoint, token: user.token, ids: ids),
            raw: RawGetTarget(conninfo: databaseURL, userID: userID, ids: ids),
            svxTitle: "vault-get: GetItem, \(ids.count) items stored", rawTitle: "raw libpq SELECT item + slots",
            goal: "goal >= 0.70")
        if svx.requests == 0 { throw ExitCode.failure }
    }
}

struct VaultGetTarget: LoadTarget {
    let endpoint: String
    let token: String
    let ids: [UUID]

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 16, defaultTimeout: timeout))
        return RPCLoadClient(client: client, timeout: timeout) { client, rng in
            var request = Svx_Vault_V1_GetItemRequest()
            request.itemID = ids[Int.random(in: 0..<ids.count, using: &rng)].wire
            let response = try client.callBlocking(VaultRPC.getItem, request, sessionToken: token, timeout: timeout)
            guard response.item.itemID == request.itemID, !response.item.slots.isEmpty else {
                throw RPCStatus(.internal, "GetItem answered another item")
            }
        }
    }
}

struct RawGetTarget: LoadTarget {
    let conninfo: String
    let userID: UUID
    let ids: [UUID]

    func makeClient(timeout: Duration) throws -> any LoadClient {
        PostgresLoadClient(connection: try rawConnection(conninfo)) { db, rng in
            // GetItem's own statement (VaultSQL): one copy for the service and this baseline.
            let rows = try db.query(VaultQueries.loadItem, userID, ids[Int.random(in: 0..<ids.count, using: &rng)])
            guard let first = rows.first else { throw RawFailure("no row") }
            // Decoded like the service does (ids, strings, numbers), so the comparison is about the service.
            _ = try first.decode(UUID.self, at: 0)
            for row in rows {
                _ = try row.decode(String.self, at: 9)
                _ = try row.decode(String?.self, at: 11)
                _ = try row.decode(Int64.self, at: 16)
            }
        }
    }
}

// MARK: vault-create

/// `svx-load vault-create`: CreateItem of a realistic item per call (from a pool made before the run, so the
/// client's encryption is outside the timing on both sides), beside a raw libpq INSERT of an item and its slots
/// in one transaction. The items both create are deleted after the run (the seeded vault keeps its size).
struct VaultCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault-create",
        abstract: "CreateItem load beside a raw libpq INSERT of an item and its slots (same rows, same concurrency).")

    @OptionGroup var options: VaultLoadOptions

    func run() throws {
        let databaseURL = try options.databaseURL()
        let user = try VaultBenchUser.openWaiting(options.endpoints)
        let templates = try SystemTemplates.load(vaultEndpoint: options.endpoints.vaultEndpoint, token: user.token)
        var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        let pool = try (0..<2048).map { _ in try VaultItemFactory.request(dek: user.dek, using: &rng) }
        let rawOwner = UUID()  // the raw rows belong to no user: deleted after the run
        let created = CreatedItems()
        printFlushed("svx-load vault-create: \(options.endpoints.vaultEndpoint), \(options.shape.shape.describe()); \(options.rounds) round(s) per target")
        printFlushed("  vault-create = CreateItem (RPCClient.callBlocking -> svx-vault -> PostgreSQL) of a realistic item (pool of \(pool.count), values Cryppo-encrypted)")
        printFlushed("  raw          = BEGIN; CreateItem's INSERT of the item and of its slots (one jsonb_to_recordset INSERT, VaultSQL); COMMIT through SVXStore.PostgresConnection, one connection per client")
        defer { cleanUp(databaseURL, userID: user.userID, created: created, rawOwner: rawOwner) }
        let (svx, _) = try VaultComparison(options: options, what: "vault-create").run(
            svx: VaultCreateTarget(endpoint: options.endpoints.vaultEndpoint, token: user.token, pool: pool, created: created),
            raw: RawCreateTarget(conninfo: databaseURL, owner: rawOwner, pool: pool, templates: templates),
            svxTitle: "vault-create: CreateItem", rawTitle: "raw libpq INSERT item + slots (transaction)",
            goal: "no goal set; reported beside the raw limit")
        if svx.requests == 0 { throw ExitCode.failure }
    }

    private func cleanUp(_ url: String, userID: String, created: CreatedItems, rawOwner: UUID) {
        do {
            let db = try rawConnection(url)
            defer { db.close() }
            let ids = created.take()
            var removed = 0
            for chunk in stride(from: 0, to: ids.count, by: 5000) {
                let list = ids[chunk..<min(chunk + 5000, ids.count)].joined(separator: ",")
                removed += try db.execute(
                    "DELETE FROM vault.items WHERE user_id = $1::uuid AND item_id = ANY(string_to_array($2, ',')::uuid[])",
                    userID, list)
            }
            let raw = try db.execute("DELETE FROM vault.items WHERE user_id = $1", rawOwner)
            printFlushed("   cleaned up: \(removed) item(s) made by CreateItem, \(raw) raw row(s) (with their slots)")
        } catch {
            printFlushed("warning: clean-up failed: \(error)")
        }
    }
}

/// Item ids CreateItem answered (deleted after the run).
final class CreatedItems: Sendable {
    private let ids = Mutex<[String]>([])
    func add(_ id: String) { ids.withLock { $0.append(id) } }
    func take() -> [String] { ids.withLock { let all = $0; $0 = []; return all } }
}

struct VaultCreateTarget: LoadTarget {
    let endpoint: String
    let token: String
    let pool: [Svx_Vault_V1_CreateItemRequest]
    let created: CreatedItems

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 16, defaultTimeout: timeout))
        return RPCLoadClient(client: client, timeout: timeout) { client, rng in
            let request = pool[Int.random(in: 0..<pool.count, using: &rng)]
            let response = try client.callBlocking(VaultRPC.createItem, request, sessionToken: token, timeout: timeout)
            created.add(response.item.itemID)
        }
    }
}

/// The system templates' ids and slots (what CreateItem clones), for the raw INSERT.
struct SystemTemplates: Sendable {
    struct Template: Sendable {
        let id: UUID
        let name: String
        let slots: [Svx_Vault_V1_TemplateSlot]
    }
    let byName: [String: Template]

    static func load(vaultEndpoint: String, token: String) throws -> SystemTemplates {
        let vault = try LoadTransport.client(endpoint: vaultEndpoint)
        defer { vault.close() }
        let templates = try vault.callBlocking(VaultRPC.listTemplates, .init(), sessionToken: token, timeout: .seconds(10)).templates
        var byName: [String: Template] = [:]
        for template in templates where template.system {
            guard let id = UUID(uuidString: template.templateID) else { continue }
            byName[template.name] = Template(id: id, name: template.name, slots: template.slots)
        }
        for (name, _) in VaultItemFactory.templates where byName[name] == nil {
            throw ValidationError("the Vault has no system template \(name)")
        }
        return SystemTemplates(byName: byName)
    }
}

struct RawCreateTarget: LoadTarget {
    let conninfo: String
    let owner: UUID
    let pool: [Svx_Vault_V1_CreateItemRequest]
    let templates: SystemTemplates

    func makeClient(timeout: Duration) throws -> any LoadClient {
        PostgresLoadClient(connection: try rawConnection(conninfo)) { db, rng in
            let request = pool[Int.random(in: 0..<pool.count, using: &rng)]
            guard let template = templates.byName[request.templateName] else { throw RawFailure("no template") }
            let values = Dictionary(request.slots.map { ($0.name, $0.encryptedValue) }, uniquingKeysWith: { a, _ in a })
            // Every slot of the template, like CreateItem (those without a value have none), through CreateItem's
            // own two statements (VaultSQL): one copy for the service and this baseline.
            let slots = try VaultQueries.slotRecords(template.slots.map { slot in
                VaultQueries.SlotRecord(
                    slotID: UUID(), name: slot.name, label: slot.label, slotType: slot.slotType,
                    encryptedValue: values[slot.name], ordinal: slot.ordinal)
            })
            let itemID = UUID.timeOrdered()
            try db.transaction { db in
                let item = try db.query(VaultQueries.insertItem, owner, itemID, template.id, template.name, request.label)
                _ = try item[0].decode(Int64.self, at: 0)
                _ = try db.execute(VaultQueries.insertSlots, owner, itemID, slots)
            }
        }
    }
}

// MARK: Clients

/// One RPCClient in a closed loop of `call`.
final class RPCLoadClient: LoadClient {
    let client: RPCClient
    let timeout: Duration
    let call: @Sendable (RPCClient, inout SplitMix64) throws -> Void

    init(client: RPCClient, timeout: Duration, call: @escaping @Sendable (RPCClient, inout SplitMix64) throws -> Void) {
        self.client = client
        self.timeout = timeout
        self.call = call
    }

    func run(window: Int, stop: StopFlag, recorder: Recorder) {
        runLanes(window: window) {
            var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
            while !stop.isSet {
                let start = ContinuousClock.now
                do {
                    try self.call(self.client, &rng)
                    recorder.success(ContinuousClock.now - start)
                } catch let status as RPCStatus {
                    recorder.failure(status.code.name)
                    if status.code == .unavailable || status.code == .resourceExhausted { Thread.sleep(forTimeInterval: 0.01) }
                } catch {
                    recorder.failure("ERROR")
                }
            }
        }
    }

    func close() { client.close() }
}

/// One PostgreSQL connection, used by this client's one thread only, in a closed loop.
final class PostgresLoadClient: LoadClient, @unchecked Sendable {
    // @unchecked: the connection is used by the one lane thread of this client (window 1), then closed.
    let connection: PostgresConnection
    let call: @Sendable (PostgresConnection, inout SplitMix64) throws -> Void

    init(connection: PostgresConnection, call: @escaping @Sendable (PostgresConnection, inout SplitMix64) throws -> Void) {
        self.connection = connection
        self.call = call
    }

    func run(window: Int, stop: StopFlag, recorder: Recorder) {
        precondition(window == 1, "one connection, one thread")
        var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
        while !stop.isSet {
            let start = ContinuousClock.now
            do {
                try call(connection, &rng)
                recorder.success(ContinuousClock.now - start)
            } catch let error as DatabaseError {
                recorder.failure("DB_\(error.kind.name)")
                Thread.sleep(forTimeInterval: 0.01)
            } catch {
                recorder.failure("ERROR")
            }
        }
    }

    func close() { connection.close() }
}

struct RawFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func rawConnection(_ conninfo: String) throws -> PostgresConnection {
    var logger = Logger(label: "svx-load.raw")
    logger.logLevel = .warning
    return try PostgresConnection(conninfo: conninfo, logger: logger, applicationName: "svx-load-raw")
}
