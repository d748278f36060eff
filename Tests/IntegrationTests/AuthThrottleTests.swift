import Cryppo
import Foundation
import SRP
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// svx-auth's limits per caller address, through a real process and a real PostgreSQL: ReserveUsername's rate and
/// live-reservation cap, BeginLogin's rate, and failed-login buckets that one caller cannot use to lock others out
/// (security review M3, L7; docs/ADR-002-auth.md).
@Suite(.serialized) struct AuthThrottleTests {
    func count(_ database: TestDatabase, _ sql: String, _ parameters: String...) throws -> Int {
        let db = try database.connect()
        defer { db.close() }
        return try db.query(sql, parameters: parameters.map { $0 as (any PostgresEncodable)? })[0].decode(Int.self, at: 0)
    }

    @Test func reserveUsernameIsThrottledPerCaller() async throws {
        // A refill slow enough that no token comes back during the test.
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_RESERVE_CALLER_BURST": "5", "SVX_AUTH_RESERVE_CALLER_REFILL_MS": "600000",
        ]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        // The review's case: 30 calls in a row. The burst goes through, the rest is refused before any write.
        var reserved: [String] = []
        var refusals: [RPCStatus] = []
        for _ in 0..<30 {
            if let refusal = await status({ reserved.append(try await auth.reserve()) }) { refusals.append(refusal) }
        }
        #expect(reserved.count == 5)
        #expect(refusals.count == 25)
        for refusal in refusals {
            #expect(refusal.code == .resourceExhausted)
            let retryAfter = Int(refusal.details["retry_after_ms"] ?? "") ?? -1
            #expect(retryAfter > 0 && retryAfter <= 600_000)
        }
        #expect(try count(database, "SELECT count(*) FROM auth.username_reservations") == 5)
        // The reservations made are good for a sign-up.
        _ = try await auth.register(username: reserved[0], password: password("pw"))
    }

    @Test func theLiveReservationCapHoldsUnderConcurrentCalls() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_RESERVATIONS_PER_CALLER": "5", "SVX_AUTH_RESERVE_CALLER_BURST": "1000", "SVX_WORKERS": "4",
        ]])
        defer { stack.stop() }
        let database = stack.database
        // Four connections from one address, ten calls each, all at once.
        let clients = try (0..<4).map { _ in try AuthTestClient(stack, sourceAddress: "127.0.0.1") }
        defer { for client in clients { client.close() } }
        let outcomes = await withTaskGroup(of: Result<String, RPCStatus>.self) { group in
            for index in 0..<40 {
                let client = clients[index % clients.count]
                group.addTask {
                    do { return .success(try await client.reserve()) } catch let status as RPCStatus {
                        return .failure(status)
                    } catch { return .failure(RPCStatus(.unknown, "\(error)")) }
                }
            }
            var all: [Result<String, RPCStatus>] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        let reserved = outcomes.compactMap { try? $0.get() }
        let refusals = outcomes.compactMap { outcome -> RPCStatus? in
            if case .failure(let status) = outcome { return status } else { return nil }
        }
        #expect(reserved.count == 5)
        #expect(refusals.count == 35)
        for refusal in refusals {
            #expect(refusal.code == .resourceExhausted)
            #expect(refusal.details["limit"] == "5")
            #expect(refusal.message.contains("limit 5"))
            let retryAfter = Int(refusal.details["retry_after_ms"] ?? "") ?? -1
            #expect(retryAfter > 0 && retryAfter <= 600_000)  // until the oldest expires (default TTL 10 min)
        }
        #expect(try count(database, "SELECT count(*) FROM auth.username_reservations") == 5)
        #expect(try count(
            database, "SELECT count(*) FROM auth.username_reservations WHERE caller = $1", "127.0.0.1") == 5)

        // A registered reservation no longer counts: room for exactly one more.
        let auth = clients[0]
        _ = try await auth.register(username: reserved[0], password: password("pw"))
        _ = try await auth.reserve()
        let full = await status { _ = try await auth.reserve() }
        #expect(full?.code == .resourceExhausted)
        #expect(full?.details["limit"] == "5")

        // Another address has a cap of its own.
        let neighbour = try AuthTestClient(stack, sourceAddress: "127.0.0.2")
        defer { neighbour.close() }
        _ = try await neighbour.reserve()
        #expect(try count(
            database, "SELECT count(*) FROM auth.username_reservations WHERE caller = $1", "127.0.0.2") == 1)
    }

    @Test func expiredReservationsDoNotCountAndAreDeleted() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: ["SVX_AUTH_RESERVATIONS_PER_CALLER": "2"]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let first = try await auth.reserve()
        let second = try await auth.reserve()
        let full = await status { _ = try await auth.reserve() }
        #expect(full?.code == .resourceExhausted)
        let retryAfter = Int(full?.details["retry_after_ms"] ?? "") ?? -1
        #expect(retryAfter > 0 && retryAfter <= 600_000)
        // The first reservation expires (its time moved back, rather than a wait on a loaded machine): the caller
        // has room for one more, and the expired row is gone.
        let db = try database.connect()
        defer { db.close() }
        _ = try db.execute(
            "UPDATE auth.username_reservations SET reserved_until = now() - interval '1 second' WHERE username = $1", first)
        let third = try await auth.reserve()
        let left = try db.query("SELECT username FROM auth.username_reservations ORDER BY username")
            .map { try $0.decode(String.self, at: 0) }
        #expect(left == [second, third].sorted())
        let stillFull = await status { _ = try await auth.reserve() }
        #expect(stillFull?.code == .resourceExhausted)
        // The expired name cannot be registered; the live ones can.
        let expired = await status { _ = try await auth.register(username: first, password: password("pw")) }
        #expect(expired?.code == .failedPrecondition)
        _ = try await auth.register(username: third, password: password("pw"))
    }

    /// The exploit of security review M3, from one address (as every client behind compose's port publishing):
    /// unknown login ids, then failed logins spread over many usernames. A user at the same address still logs in.
    @Test func oneCallerCannotLockEveryUserOut() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            // A small strict bucket: under the old per-caller keying, the third failure locked the address out.
            "SVX_AUTH_THROTTLE_CALLER_BURST": "3", "SVX_AUTH_THROTTLE_CALLER_REFILL_MS": "600000",
        ]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let user = try await auth.signUp(password: password("right"))

        // 60 FinishLogins with random login ids: each the one login failure, none throttled, nothing charged.
        for _ in 0..<60 {
            let failure = await status {
                _ = try await auth.finish(loginID: UUID().uuidString.lowercased(), m1Hex: Hex.encode(try SecureRandom.bytes(count: 32)))
            }
            #expect(failure?.code == .unauthenticated)
            #expect(failure?.message == loginFailedMessage)
        }
        #expect(try count(database, "SELECT count(*) FROM auth.throttle_buckets") == 0)
        _ = try await auth.login(username: user.username, password: password("right"))

        // Wrong proofs for five other usernames, until each is throttled: only those usernames are.
        for index in 0..<5 {
            for _ in 0..<3 {
                let failure = await status { _ = try await auth.login(username: "victim\(index)", password: password("guess")) }
                #expect(failure?.code == .unauthenticated)
            }
            let throttled = await status { _ = try await auth.login(username: "victim\(index)", password: password("guess")) }
            #expect(throttled?.code == .resourceExhausted)
        }
        _ = try await auth.login(username: user.username, password: password("right"))
    }

    @Test func failedLoginsAreThrottledPerUsernameAndCaller() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            // The per-username bucket out of the way: the (username, caller) bucket alone decides here.
            "SVX_AUTH_THROTTLE_BURST": "1000",
            "SVX_AUTH_THROTTLE_CALLER_BURST": "2", "SVX_AUTH_THROTTLE_CALLER_REFILL_MS": "600000",
        ]])
        defer { stack.stop() }
        let auth = stack.auth
        let alice = try await auth.signUp(password: password("alice"))
        let bob = try await auth.signUp(password: password("bob"))

        for _ in 0..<2 {
            let failure = await status { _ = try await auth.login(username: alice.username, password: password("guess")) }
            #expect(failure?.code == .unauthenticated)
        }
        // Throttled at BeginLogin, the right passphrase too, with the wait.
        let throttled = await status { _ = try await auth.login(username: alice.username, password: password("alice")) }
        #expect(throttled?.code == .resourceExhausted)
        let retryAfter = Int(throttled?.details["retry_after_ms"] ?? "") ?? -1
        #expect(retryAfter > 0 && retryAfter <= 600_000)
        // Another username from the same address is not.
        _ = try await auth.login(username: bob.username, password: password("bob"))
        // The same username from another address is not either (with the per-username bucket this loose).
        let elsewhere = try AuthTestClient(stack, sourceAddress: "127.0.0.2")
        defer { elsewhere.close() }
        _ = try await elsewhere.login(username: alice.username, password: password("alice"))
    }

    @Test func aFloodOfBeginLoginIsRefusedPerCaller() async throws {
        let stack = try await TestStack.start([.auth], environment: [.auth: [
            "SVX_AUTH_BEGIN_LOGIN_CALLER_BURST": "10", "SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS": "600000",
        ]])
        defer { stack.stop() }
        let database = stack.database
        let auth = stack.auth
        let a = Hex.encode(try SRPClient(username: "flood", password: [1]).publicKey)
        let outcomes = await withTaskGroup(of: RPCStatus?.self) { group in
            for index in 0..<40 {
                group.addTask { await status { _ = try await auth.begin(username: "flood\(index % 4)", aHex: a) } }
            }
            var all: [RPCStatus?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0 == nil }.count == 10)
        let refusals = outcomes.compactMap { $0 }
        #expect(refusals.count == 30)
        for refusal in refusals {
            #expect(refusal.code == .resourceExhausted)
            let retryAfter = Int(refusal.details["retry_after_ms"] ?? "") ?? -1
            #expect(retryAfter > 0 && retryAfter <= 600_000)
        }
        // A refused BeginLogin did no work: one challenge per allowed call.
        #expect(try count(database, "SELECT count(*) FROM auth.login_challenges") == 10)

        // Another address has its own bucket.
        let elsewhere = try AuthTestClient(stack, sourceAddress: "127.0.0.2")
        defer { elsewhere.close() }
        _ = try await elsewhere.begin(username: "flood0", aHex: a)
    }

    /// ipc:// callers are limited too: by local user (libzmq's Peer-Address carries the peer's uid).
    @Test func ipcCallersAreLimitedPerLocalUser() async throws {
        let database = try await TestPostgres.shared().createDatabase(prefix: "it")
        let socket = "/tmp/svx-it-\(UUID().uuidString.prefix(8)).sock"
        defer { unlink(socket) }
        var environment = ProcessInfo.processInfo.environment
        environment["SVX_AUTH_ENDPOINT"] = "ipc://\(socket)"
        environment["SVX_AUTH_DATABASE_URL"] = database.conninfo(role: "svx_auth")
        environment["SVX_AUTH_RESERVE_CALLER_BURST"] = "2"
        environment["SVX_AUTH_RESERVE_CALLER_REFILL_MS"] = "600000"
        environment.merge(TestTransport.environment) { _, new in new }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("svx-auth-ipc-\(UUID().uuidString.prefix(8)).log")
        let process = try ChildProcess(
            executable: try ServiceProcess.binaryDirectory().appendingPathComponent("svx-auth").path,
            environment: environment, outputFile: log)
        defer {
            process.signal(SIGTERM)
            if process.waitForExit(timeout: .seconds(10)) == nil { process.kill() }
        }
        let first = try TestTransport.client("auth", endpoint: "ipc://\(socket)")
        defer { first.close() }
        var serving = false
        for _ in 0..<300 where !serving && process.isRunning {  // bounded: about 30 s
            serving = (try? await first.call(HealthRPC.check, .init(), timeout: .milliseconds(500)))?.status == .serving
            if !serving { try await Task.sleep(for: .milliseconds(100)) }
        }
        try #require(serving, "svx-auth on ipc:// did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")

        _ = try await first.call(AuthRPC.reserveUsername, .init(), timeout: .seconds(5))
        // A second connection over ipc:// by the same user is the same caller.
        let second = try TestTransport.client("auth", endpoint: "ipc://\(socket)")
        defer { second.close() }
        _ = try await second.call(AuthRPC.reserveUsername, .init(), timeout: .seconds(5))
        let refused = await status { _ = try await second.call(AuthRPC.reserveUsername, .init(), timeout: .seconds(5)) }
        #expect(refused?.code == .resourceExhausted)
        #expect(Int(refused?.details["retry_after_ms"] ?? "") ?? 0 > 0)
        // libzmq's Peer-Address of an ipc:// peer is localhost:uid:gid:pid; the key is the local user.
        #expect(try count(
            database, "SELECT count(*) FROM auth.username_reservations WHERE caller = $1", "localhost:\(getuid())") == 2)
    }

    @Test(arguments: [
        ("SVX_AUTH_RESERVE_CALLER_BURST", "0"), ("SVX_AUTH_RESERVE_CALLER_REFILL_MS", "soon"),
        ("SVX_AUTH_RESERVATIONS_PER_CALLER", "-1"), ("SVX_AUTH_BEGIN_LOGIN_CALLER_BURST", "many"),
        ("SVX_AUTH_BEGIN_LOGIN_CALLER_REFILL_MS", "0"), ("SVX_AUTH_THROTTLE_CALLER_BURST", "0"),
    ])
    func aBadLimitStopsSvxAuthNamingTheVariable(variable: String, value: String) async throws {
        var environment = ProcessInfo.processInfo.environment
        environment[variable] = value
        let run = try await ChildProcess.run(
            try ServiceProcess.binaryDirectory().appendingPathComponent("svx-auth").path, [], environment: environment,
            timeout: .seconds(30))
        #expect(run.status == 2)
        #expect(run.output.contains(variable), "\(run.output)")
    }
}
