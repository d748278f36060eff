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

/// `svx-load sharing`: AcceptInvitation and GetConnection of the Sharing service beside raw libpq running the same
/// statements (SharingSQL) as the service's own role, at the same concurrency.
///
/// Set-up, not timed: benchmark users signed up through the SDK (raw SRP passwords, keys made by `KeyringClient`,
/// each with a connection keypair: one RSA key of `--keypair-bits` stored by every user under its own KEK), and invitations made through `SharingClient` from inviters to invitees, one
/// per pair (a pair connects once). The AcceptInvitation requests are built before the timed part too (proofs, names
/// and secrets encrypted), so the timing holds the service's work only. Then a fixed number of acceptances, each
/// consuming one invitation: the svx run sends AcceptInvitation; the raw run accepts the other half of the
/// invitations with the service's transaction (user locks, the invitation FOR UPDATE, the counts, both connection
/// rows, the invitation's update, the connection read back). Finally GetConnection of the connections just made,
/// beside the same SELECT, for `--duration` seconds in alternating rounds.
struct SharingLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharing",
        abstract: "AcceptInvitation and GetConnection beside raw libpq (keys and invitations made before the timing).")

    @OptionGroup var options: VaultLoadOptions

    @Option(help: "The svx-keystore endpoint (loopback only).")
    var keystoreEndpoint: String = "tcp://127.0.0.1:7102"

    @Option(help: "The svx-sharing endpoint (loopback only).")
    var sharingEndpoint: String = "tcp://127.0.0.1:7104"

    @Option(help: "Timed acceptances per target (svx and raw each consume this many invitations). 100...20000.")
    var acceptances: Int = 2_000

    @Option(help: "The benchmark users' credentials (made 0600 when missing; test credentials only).")
    var usersFile: String = ".svx/bench/sharing-users.json"

    @Option(help: "RSA bits of the benchmark users' keys (the request carries the public key; 4096 is the product's).")
    var keypairBits: Int = 4096

    static let invitees = 100
    static let warmUpAcceptances = 40

    func validate() throws {
        try validateLoopback(keystoreEndpoint)
        try validateLoopback(sharingEndpoint)
        guard (100...20_000).contains(acceptances) else { throw ValidationError("--acceptances must be in 100...20000") }
        guard [2048, 3072, 4096].contains(keypairBits) else { throw ValidationError("--keypair-bits must be 2048, 3072 or 4096") }
    }

    func run() throws {
        let databaseURL = try options.databaseURL(service: "sharing")
        let clients = options.shape.clients
        let perTarget = acceptances + Self.warmUpAcceptances
        let inviters = (2 * perTarget + Self.invitees - 1) / Self.invitees
        printFlushed("svx-load sharing: \(sharingEndpoint); \(inviters) inviters x \(Self.invitees) invitees, one RSA-\(keypairBits) connection key stored by every user; \(acceptances) timed acceptances per target with \(clients) client(s)")

        let setupStart = ContinuousClock.now
        let endpoints = ServiceEndpoints(
            auth: options.endpoints.authEndpoint, keystore: keystoreEndpoint, vault: options.endpoints.vaultEndpoint,
            sharing: sharingEndpoint, classification: "")
        let bits = keypairBits
        let file = usersFile
        let users = try waitFor {
            try await SharingBenchUser.open(count: inviters + Self.invitees, file: file, endpoints: endpoints, bits: bits)
        }
        printFlushed(String(format: "  set-up: %d users logged in with their keys open, earlier runs' connections ended, in %.1f s", users.count, (ContinuousClock.now - setupStart).seconds))
        let invitees = Array(users.suffix(Self.invitees))
        let inviterUsers = Array(users.prefix(inviters))
        let pairs = Self.pairs(inviters: inviters, invitees: Self.invitees, count: 2 * perTarget)
        let invitationStart = ContinuousClock.now
        let codes = try waitFor {
            try await SharingBenchUser.invite(pairs.map { (inviterUsers[$0.inviter], invitees[$0.invitee].username) })
        }
        printFlushed(String(format: "  set-up: %d invitations made in %.1f s (CreateInvitation through SharingClient)", codes.count, (ContinuousClock.now - invitationStart).seconds))
        let acceptancesWork = try zip(pairs, codes).map { pair, code in
            try AcceptanceWork(code: code, invitee: invitees[pair.invitee], inviter: inviterUsers[pair.inviter])
        }
        let svxWork = Array(acceptancesWork.prefix(perTarget))
        let rawWork = Array(acceptancesWork.suffix(perTarget))

        printFlushed("  accept = AcceptInvitation (RPCClient.callBlocking -> svx-sharing: session, Keystore GetKeypair with the caller's session, one transaction)")
        printFlushed("  raw    = the same transaction through SVXStore.PostgresConnection as svx_sharing (SharingSQL), one connection per client; no Keystore call")
        let servers = options.serverPids.map { ServerProcess(pid: $0) }
        let cpuBefore = servers.map { processCPUSeconds($0.pid) ?? 0 }
        let svxResult = try CountedRun(clients: clients, label: "accept").run(
            svxWork, warmUp: Self.warmUpAcceptances,
            makeLane: { try AcceptInvitationLane(endpoint: sharingEndpoint, timeout: .milliseconds(options.shape.timeoutMs)) })
        let cpuSeconds = zip(servers, cpuBefore).map { (processCPUSeconds($0.pid) ?? 0) - $1 }
        let rawResult = try CountedRun(clients: clients, label: "raw").run(
            rawWork, warmUp: Self.warmUpAcceptances, makeLane: { try RawAcceptanceLane(conninfo: databaseURL) })
        printFlushed(svxResult.summary(title: "accept: AcceptInvitation, \(clients) client(s), \(acceptances) acceptances"))
        printFlushed(rawResult.summary(title: "raw libpq: AcceptInvitation's transaction, \(clients) client(s), \(acceptances) acceptances"))
        if svxResult.requests > 0, rawResult.requests > 0 {
            printFlushed(String(
                format: "== ratios (accept / raw libpq, same run, same clients)\n   throughput %.2f  (no goal set; reported beside the raw limit)\n   p50 %.2f  p99 %.2f",
                svxResult.throughput / rawResult.throughput, svxResult.percentile(50) / rawResult.percentile(50),
                svxResult.percentile(99) / rawResult.percentile(99)))
        }
        // Server CPU over the svx pass, warm-up included.
        for (server, seconds) in zip(servers, cpuSeconds) {
            printFlushed(String(format: "   %@ (pid %d): CPU %.0f us/acceptance", server.name, server.pid, seconds * 1e6 / Double(perTarget)))
        }
        if svxResult.requests == 0 || svxResult.errorCount > 0 || rawResult.errorCount > 0 { throw ExitCode.failure }

        // GetConnection: each client reads one of an invitee's new connections (invitee i of client i).
        let readers = try (0..<clients).map { index -> (user: SharingBenchUser, connectionID: UUID) in
            let work = svxWork[index % svxWork.count]
            guard let id = work.inviteeConnectionID.withLock({ $0 }) else {
                throw ValidationError("acceptance \(index) left no connection to read")
            }
            return (work.invitee, id)
        }
        printFlushed("\n  get-connection = GetConnection of the caller's own side (RPCClient.callBlocking -> svx-sharing -> PostgreSQL)")
        printFlushed("  raw            = GetConnection's own SELECT (SharingSQL) as svx_sharing, one connection per client")
        let (svx, _) = try VaultComparison(options: options, what: "get-connection").run(
            svx: GetConnectionTarget(endpoint: sharingEndpoint, readers: readers.map { ($0.user.session.token, $0.connectionID) }),
            raw: RawGetConnectionTarget(conninfo: databaseURL, readers: readers.map { (UUID(uuidString: $0.user.session.userID)!, $0.connectionID) }),
            svxTitle: "get-connection: GetConnection, \(clients) client(s)",
            rawTitle: "raw libpq: the connection's row", goal: "no goal set; reported beside the raw limit")
        if svx.requests == 0 { throw ExitCode.failure }
    }

    /// `count` distinct (inviter, invitee) pairs, ordered so that consecutive pairs share neither user (pairs taken
    /// at the same time by concurrent clients do not wait on each other's user locks): pair k is inviter k mod I and
    /// invitee (k div I + k mod I) mod V, a bijection of 0..<I*V when I <= V.
    static func pairs(inviters: Int, invitees: Int, count: Int) -> [(inviter: Int, invitee: Int)] {
        (0..<count).map { k in (k % inviters, (k / inviters + k % inviters) % invitees) }
    }
}

/// What the users file keeps of a benchmark user (test credentials only): its raw SRP password and its random
/// passphrase key (PDK), which opens its KEK.
struct SharingBenchCredentials: Codable {
    var username: String
    var srpPasswordHex: String
    var pdkBase64URL: String

    enum CodingKeys: String, CodingKey {
        case username
        case srpPasswordHex = "srp_password_hex"
        case pdkBase64URL = "pdk_base64url"
    }
}

/// A benchmark user: signed up once through the SDK with a random raw SRP password (no PBKDF2) and kept in the
/// users file, its keys made by the SDK (KEK under a random passphrase key, private DEK, account keypair) and a
/// connection keypair. Users are kept because Auth lets one address reserve 20 usernames and then one every 3 s
/// (SVX_AUTH_RESERVE_CALLER_*): the first run waits for that, later runs log in again.
struct SharingBenchUser: Sendable {
    let username: String
    let session: AuthenticatedSession
    let keys: UnlockedKeys
    let connectionKey: StoredKeypair
    let sharing: SharingClient

    /// `count` users from `file` (signing up the ones missing), each logged in, its keys open, its active
    /// connections ended and its pending invitations revoked (what earlier runs left), 8 at a time.
    static func open(count: Int, file: String, endpoints: ServiceEndpoints, bits: Int) async throws -> [SharingBenchUser] {
        let connection = SVXConnection(endpoints: endpoints)
        let account = try connection.account(timeout: .seconds(30))
        // The account keypair plays no part here: 2048 bits keeps the set-up short. Connection keys have `bits`.
        let keyring = try connection.keyring(timeout: .seconds(60), keypairBits: 2048)
        let sharing = try connection.sharing(timeout: .seconds(60), keypairBits: bits)
        var credentials: [SharingBenchCredentials] = []
        if FileManager.default.fileExists(atPath: file) {
            credentials = try JSONDecoder().decode([SharingBenchCredentials].self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        }
        if credentials.count < count {
            printFlushed("  signing up \(count - credentials.count) benchmark users (Auth allows one address 20 reservations, then one every 3 s) ...")
            // One RSA key of `bits`, stored as every new user's connection keypair (each wrapped by its own KEK): the
            // service's work does not depend on whose key it is, and 100+ RSA-4096 keys take minutes here.
            let shared = try await Task.detached { try RSAPrivateKey.generate(bits: bits) }.value
            let sharedPrivatePEM = Array(try shared.pem.utf8)  // a benchmark key: test material only
            let sharedPublicPEM = try shared.publicKeyPEM
            while credentials.count < count {
                let password = try SecureRandom.bytes(count: 32)
                let username = try await retryingThrottle { try await account.reserveUsername() }
                _ = try await account.register(username: username, srpPassword: password)
                let session = try await account.logIn(username: username, srpPassword: password)
                let pdk = try SymmetricKey.random()
                let keys = try await keyring.unlock(session: session, pdk: pdk)
                var create = Svx_Keystore_V1_CreateKeypairRequest()
                create.publicKeyPem = sharedPublicPEM
                create.wrappedPrivateKey = try Cryppo.encrypt(sharedPrivatePEM, key: keys.kek)
                create.externalIdentifiers = [KeyringClient.connectionKeypairIdentifier]
                create.metadata = ["purpose": SharingClient.connectionKeypairPurpose]
                create.kekVersion = keys.kekVersion
                _ = try await keyring.keystore.call(KeystoreRPC.createKeypair, create, sessionToken: session.token)
                credentials.append(SharingBenchCredentials(
                    username: username, srpPasswordHex: Hex.encode(password), pdkBase64URL: pdk.base64URL))
                try writePrivately(credentials, to: file)
            }
        }
        let kept = credentials
        return try await bounded(count, parallel: 8) { index in
            let credential = kept[index]
            let session = try await account.logIn(
                username: credential.username, srpPassword: try Hex.decode(credential.srpPasswordHex))
            let keys = try await keyring.unlock(session: session, pdk: try SymmetricKey(base64URL: credential.pdkBase64URL))
            // The SDK finds the connection keypair (and checks it against its private key).
            let key = try await keyring.connectionKeypair(
                session: session, keys: keys, bits: bits, metadata: ["purpose": SharingClient.connectionKeypairPurpose])
            for pending in try await sharing.invitations(session: session, keys: nil, state: .pending) {
                _ = try await sharing.revokeInvitation(session: session, id: pending.id)
            }
            for active in try await sharing.connections(session: session, keys: keys, state: .active) {
                _ = try? await sharing.deleteConnection(session: session, id: active.id)  // the other side may end it first
            }
            return SharingBenchUser(username: credential.username, session: session, keys: keys, connectionKey: key, sharing: sharing)
        }
    }

    /// `call`, waiting `retry_after_ms` when Auth throttles it (at most 30 minutes in all).
    static func retryingThrottle<T: Sendable>(_ call: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(1800)
        while true {
            do {
                return try await call()
            } catch let error where ServiceError(error)?.code == .resourceExhausted && ContinuousClock.now < deadline {
                let wait = Int(ServiceError(error)?.details["retry_after_ms"] ?? "") ?? 1000
                try await Task.sleep(for: .milliseconds(min(max(wait, 10), 10_000)))
            }
        }
    }

    /// One invitation of each inviter to each named invitee (through the SDK), 8 at a time; the codes in order.
    static func invite(_ pairs: [(SharingBenchUser, String)]) async throws -> [InvitationCode] {
        try await bounded(pairs.count, parallel: 8) { index in
            let (inviter, invitee) = pairs[index]
            return try await inviter.sharing.createInvitation(
                session: inviter.session, keys: inviter.keys, name: "bench \(index)", intendedUsername: invitee).code
        }
    }

    /// `body(0..<count)`, at most `parallel` at once, results in index order.
    static func bounded<T: Sendable>(
        _ count: Int, parallel: Int, _ body: @escaping @Sendable (Int) async throws -> T
    ) async throws -> [T] {
        try await withThrowingTaskGroup(of: (Int, T).self) { group in
            var results = [T?](repeating: nil, count: count)
            var next = 0
            while next < min(parallel, count) {
                let index = next
                group.addTask { (index, try await body(index)) }
                next += 1
            }
            while let (index, value) = try await group.next() {
                results[index] = value
                if next < count {
                    let index = next
                    group.addTask { (index, try await body(index)) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

/// One acceptance, built before the timing: the invitee's request, and what the raw baseline writes instead.
final class AcceptanceWork: Sendable {
    let invitee: SharingBenchUser
    let request: Svx_Sharing_V1_AcceptInvitationRequest
    let inviterID: UUID
    let invitationID: UUID
    let inviteeID: UUID
    let inviteeKeypairID: UUID
    let inviteeKeySHA256: String
    /// The invitee's side once accepted (GetConnection reads it).
    let inviteeConnectionID = Mutex<UUID?>(nil)

    init(code: InvitationCode, invitee: SharingBenchUser, inviter: SharingBenchUser) throws {
        self.invitee = invitee
        var request = Svx_Sharing_V1_AcceptInvitationRequest()
        request.inviterID = code.inviterID
        request.invitationID = code.invitationID
        request.token = code.tokenText
        request.keypairID = invitee.connectionKey.id
        request.publicKeyPem = invitee.connectionKey.publicKeyPEM
        request.encryptedRecipientName = try Cryppo.encrypt(Array(inviter.username.utf8), key: invitee.keys.privateDEK)
        request.encryptedKeySecret = try code.secret.encrypted(under: invitee.keys.privateDEK)
        request.inviteeProof = ConnectionProof.invitee(
            secret: code.secret, inviterKey: inviter.connectionKey.fingerprint, inviteeKey: invitee.connectionKey.fingerprint)
        self.request = request
        guard let inviterID = UUID(uuidString: code.inviterID), let invitationID = UUID(uuidString: code.invitationID),
            let inviteeID = UUID(uuidString: invitee.session.userID),
            let inviteeKeypairID = UUID(uuidString: invitee.connectionKey.id)
        else { throw ValidationError("a benchmark id is not a UUID") }
        self.inviterID = inviterID
        self.invitationID = invitationID
        self.inviteeID = inviteeID
        self.inviteeKeypairID = inviteeKeypairID
        inviteeKeySHA256 = invitee.connectionKey.fingerprint.hex
    }
}

/// A client of a counted run: performs one piece of work at a time (an acceptance, a CreateShare).
protocol WorkLane<Work>: Sendable {
    associatedtype Work: Sendable
    func perform(_ work: Work) throws
    func close()
}

/// A fixed amount of work shared by `clients` threads, each with its own lane (connection); `warmUp` items first,
/// untimed; then the rest, each call timed, the rate over the wall time from the first to the last.
struct CountedRun {
    let clients: Int
    let label: String
    /// What one piece of work is called in the progress line.
    var unit = "acceptances"

    func run<Lane: WorkLane>(_ work: [Lane.Work], warmUp: Int, makeLane: () throws -> Lane) throws -> LoadResult {
        let lanes = try (0..<clients).map { _ in try makeLane() }
        defer { for lane in lanes { lane.close() } }
        let recorder = Recorder()
        func pass(_ items: ArraySlice<Lane.Work>, record: Bool) -> Duration {
            let next = AtomicCounter()
            let items = Array(items)
            let start = ContinuousClock.now
            let group = DispatchGroup()
            for lane in lanes {
                group.enter()
                let thread = Thread {
                    defer { group.leave() }
                    while true {
                        let index = next.next()
                        guard index < items.count else { return }
                        let begun = ContinuousClock.now
                        do {
                            try lane.perform(items[index])
                            if record { recorder.success(ContinuousClock.now - begun) }
                        } catch let status as RPCStatus {
                            recorder.failure(status.code.name)
                        } catch let error as DatabaseError {
                            recorder.failure("DB_\(error.kind.name)")
                        } catch {
                            recorder.failure("ERROR")
                        }
                    }
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
            group.wait()
            return ContinuousClock.now - start
        }
        _ = pass(work.prefix(warmUp), record: false)
        let elapsed = pass(work.dropFirst(warmUp), record: true)
        var result = LoadResult()
        let (histogram, errors) = recorder.totals()
        result.histogram = histogram
        result.errors = errors
        result.elapsed = elapsed
        printFlushed(String(format: "[%@] %d %@ in %.2f s", label, work.count - warmUp, unit, elapsed.seconds))
        return result
    }
}

final class AcceptInvitationLane: WorkLane, Sendable {
    let client: RPCClient
    let timeout: Duration

    init(endpoint: String, timeout: Duration) throws {
        client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 4, defaultTimeout: timeout))
        self.timeout = timeout
    }

    func perform(_ work: AcceptanceWork) throws {
        let response = try client.callBlocking(
            SharingRPC.acceptInvitation, work.request, sessionToken: work.invitee.session.token, timeout: timeout)
        guard response.connection.state == .active, let id = UUID(uuidString: response.connection.connectionID) else {
            throw RPCStatus(.internal, "the acceptance answered no active connection")
        }
        work.inviteeConnectionID.withLock { $0 = id }
    }

    func close() { client.close() }
}

/// AcceptInvitation's transaction, statement for statement (SharingSQL), without the service around it.
final class RawAcceptanceLane: WorkLane, @unchecked Sendable {
    // @unchecked: the connection is used by the one thread of this lane, then closed.
    let connection: PostgresConnection

    init(conninfo: String) throws { connection = try rawConnection(conninfo) }

    func perform(_ work: AcceptanceWork) throws {
        let inviterConnectionID = UUID.timeOrdered()
        let inviteeConnectionID = UUID.timeOrdered()
        let request = work.request
        try connection.transaction { db in
            try rawLockUsers(db, [work.inviteeID, work.inviterID])
            guard let row = try db.query(SharingQueries.invitationForUpdate, work.inviterID, work.invitationID).first,
                try row.decode(Int32.self, at: 10) == 1
            else { throw RawFailure("the invitation is not pending") }
            let counts = try db.query(SharingQueries.acceptanceCounts, work.inviterID, work.inviteeID)[0]
            guard try !counts.decode(Bool.self, at: 2) else { throw RawFailure("already connected") }
            let inviterUsername = try row.decode(String.self, at: 2)
            let inviterKeypairID = try row.decode(UUID.self, at: 3)
            let inviterPEM = try row.decode(String.self, at: 4)
            let inviterKeySHA256 = try row.decode(String.self, at: 5)
            let inviterProof = try row.decode(String.self, at: 6)
            _ = try db.execute(
                SharingQueries.insertConnection, work.inviterID, inviterConnectionID, work.inviteeID,
                work.invitee.username, inviteeConnectionID, work.invitationID, Int32(1), inviterKeypairID, inviterPEM,
                inviterProof, work.inviteeKeypairID, request.publicKeyPem, work.inviteeKeySHA256, request.inviteeProof,
                try row.decode(String.self, at: 7), try row.decode(String.self, at: 8))
            _ = try db.execute(
                SharingQueries.insertConnection, work.inviteeID, inviteeConnectionID, work.inviterID, inviterUsername,
                inviterConnectionID, work.invitationID, Int32(2), work.inviteeKeypairID, request.publicKeyPem,
                request.inviteeProof, inviterKeypairID, inviterPEM, inviterKeySHA256, inviterProof,
                request.encryptedRecipientName, request.encryptedKeySecret)
            _ = try db.execute(
                SharingQueries.markInvitationAccepted, work.inviterID, work.invitationID, Int32(2), work.inviteeID,
                work.invitee.username, inviterConnectionID)
            guard try db.query(SharingQueries.connectionByID, work.inviteeID, inviteeConnectionID).count == 1 else {
                throw RawFailure("the connection was not written")
            }
        }
    }

    func close() { connection.close() }
}

struct GetConnectionTarget: LoadTarget {
    let endpoint: String
    let readers: [(token: String, connectionID: UUID)]
    private let next = AtomicCounter()

    init(endpoint: String, readers: [(token: String, connectionID: UUID)]) {
        self.endpoint = endpoint
        self.readers = readers
    }

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let client = try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 16, defaultTimeout: timeout))
        let reader = readers[next.next() % readers.count]
        var request = Svx_Sharing_V1_GetConnectionRequest()
        request.connectionID = reader.connectionID.wire
        return RPCLoadClient(client: client, timeout: timeout) { [request] client, _ in
            let response = try client.callBlocking(SharingRPC.getConnection, request, sessionToken: reader.token, timeout: timeout)
            guard response.connection.connectionID == request.connectionID else { throw RPCStatus(.internal, "another connection") }
        }
    }
}

struct RawGetConnectionTarget: LoadTarget {
    let conninfo: String
    let readers: [(userID: UUID, connectionID: UUID)]
    private let next = AtomicCounter()

    init(conninfo: String, readers: [(userID: UUID, connectionID: UUID)]) {
        self.conninfo = conninfo
        self.readers = readers
    }

    func makeClient(timeout: Duration) throws -> any LoadClient {
        let reader = readers[next.next() % readers.count]
        return PostgresLoadClient(connection: try rawConnection(conninfo)) { db, _ in
            let rows = try db.query(SharingQueries.connectionByID, reader.userID, reader.connectionID)
            guard let row = rows.first else { throw RawFailure("no connection") }
            for column in [0, 1, 3, 13] { _ = try row.decode(UUID.self, at: column) }
            for column in [2, 4, 5, 6, 7, 8, 9, 10] { _ = try row.decode(String.self, at: column) }
            _ = try row.decode(Int32.self, at: 11)
            _ = try row.decode(Int32.self, at: 12)
            _ = try row.decode(Int64.self, at: 14)
            _ = try row.decode(Int64?.self, at: 15)
        }
    }
}
