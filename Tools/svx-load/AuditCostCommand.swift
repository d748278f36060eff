import ArgumentParser
import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXProto
import SVXRPC
import Synchronization

/// `svx-load audit-cost`: the two write paths issue #19 measures the audit trail on, login (BeginLogin + FinishLogin,
/// one `login.succeeded` event) and DeleteItem (one `item.deleted` event), each driven by `--clients` closed-loop
/// clients, **one user each** (as people log in: a user's events queue on its own chain head, not on others'). Run it
/// once against a stack with the trail on and once with `SVX_AUDIT_OFF_FOR_BENCHMARK=1` (scripts/bench-audit.sh runs
/// them alternately and compares); `--label` names the run in the output.
struct AuditCostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-cost",
        abstract: "Login and DeleteItem rates, one user per client (to compare the audit trail on and off).")

    @OptionGroup var endpoints: VaultEndpointOptions

    @Option(help: "What this run is (printed): e.g. audit-on, audit-off.")
    var label: String = "run"

    @Option(help: "Closed-loop clients, one user and one connection each. 1...64.")
    var clients: Int = 8

    @Option(help: "Logins per client in the measured phase (after 5 unmeasured). 1...100000.")
    var loginsPerClient: Int = 150

    @Option(help: "Items each client creates (unmeasured) and then deletes (measured). 1...100000.")
    var deletesPerClient: Int = 600

    func validate() throws {
        guard (1...64).contains(clients) else { throw ValidationError("--clients must be in 1...64") }
        guard (1...100_000).contains(loginsPerClient) else { throw ValidationError("--logins-per-client in 1...100000") }
        guard (1...100_000).contains(deletesPerClient) else { throw ValidationError("--deletes-per-client in 1...100000") }
    }

    struct User: Sendable {
        let username: String
        let password: [UInt8]
        let token: String
        let dek: SymmetricKey
    }

    func run() async throws {
        let timeout = Duration.seconds(30)
        let auth = try (0..<clients).map { _ in try LoadTransport.client(endpoint: endpoints.authEndpoint) }
        let vault = try (0..<clients).map { _ in
            try LoadTransport.client(endpoint: endpoints.vaultEndpoint, configuration: .init(maxInFlight: 64, defaultTimeout: timeout))
        }
        defer { (auth + vault).forEach { $0.close() } }

        // One user per client, signed up with a raw SRP password (no PBKDF2: the server's cost is what is measured).
        let users = try await withThrowingTaskGroup(of: (Int, User).self) { group in
            for index in 0..<clients {
                group.addTask {
                    let account = AccountClient(auth: auth[index], timeout: timeout)
                    let password = try SecureRandom.bytes(count: 32)
                    let username = try await account.reserveUsername()
                    _ = try await account.register(username: username, srpPassword: password)
                    let session = try await account.logIn(username: username, srpPassword: password)
                    var put = Svx_Vault_V1_PutVaultUserRequest()
                    put.privateDekExternalID = "svx-load-audit-dek-\(session.userID)"
                    _ = try await vault[index].call(VaultRPC.putVaultUser, put, sessionToken: session.token, timeout: timeout)
                    return (index, User(username: username, password: password, token: session.token, dek: try SymmetricKey.random()))
                }
            }
            var users = [User?](repeating: nil, count: clients)
            for try await (index, user) in group { users[index] = user }
            return users.map { $0! }
        }
        printFlushed("audit-cost [\(label)]: \(clients) users signed up")

        // Logins: 5 unmeasured, then the measured ones.
        func logins(_ count: Int) async throws -> Double {
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<clients {
                    group.addTask {
                        let account = AccountClient(auth: auth[index], timeout: timeout)
                        for _ in 0..<count {
                            _ = try await account.logIn(username: users[index].username, srpPassword: users[index].password)
                        }
                    }
                }
                try await group.waitForAll()
            }
            return (ContinuousClock.now - start).seconds
        }
        _ = try await logins(5)
        let loginSeconds = try await logins(loginsPerClient)
        let loginCount = clients * loginsPerClient

        // DeleteItem: each client's items made first (pipelined, unmeasured), then deleted one at a time.
        let items = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
            for index in 0..<clients {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
                    var ids: [String] = []
                    ids.reserveCapacity(deletesPerClient)
                    var remaining = deletesPerClient
                    while remaining > 0 {
                        let batch = min(remaining, 32)
                        let requests = try (0..<batch).map { _ in try VaultItemFactory.request(dek: users[index].dek, using: &rng) }
                        try await withThrowingTaskGroup(of: String.self) { inner in
                            for request in requests {
                                inner.addTask {
                                    try await vault[index].call(
                                        VaultRPC.createItem, request, sessionToken: users[index].token, timeout: timeout
                                    ).item.itemID
                                }
                            }
                            for try await id in inner { ids.append(id) }
                        }
                        remaining -= batch
                    }
                    return (index, ids)
                }
            }
            var items = [[String]](repeating: [], count: clients)
            for try await (index, ids) in group { items[index] = ids }
            return items
        }
        let deleteStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<clients {
                group.addTask {
                    for id in items[index] {
                        var request = Svx_Vault_V1_DeleteItemRequest()
                        request.itemID = id
                        _ = try await vault[index].call(VaultRPC.deleteItem, request, sessionToken: users[index].token, timeout: timeout)
                    }
                }
            }
            try await group.waitForAll()
        }
        let deleteSeconds = (ContinuousClock.now - deleteStart).seconds
        // What the trail holds for the first user, so a run says whether the trail really was on or off.
        for (name, client) in [("auth", auth[0]), ("vault", vault[0])] {
            do {
                var list = Svx_Audit_V1_ListEventsRequest()
                list.pageSize = 1
                let head = try await client.call(AuditRPC.listEvents, list, sessionToken: users[0].token, timeout: timeout)
                printFlushed("   \(name) audit events of user 1: \(head.headSeq)")
            } catch {
                printFlushed("   \(name) audit events of user 1: not answered (\(error))")
            }
        }
        let deleteCount = clients * deletesPerClient
        printFlushed(String(
            format: "== audit-cost [%@]: login %.1f logins/s (%d in %.2f s), DeleteItem %.1f deletes/s (%d in %.2f s), %d clients",
            label, Double(loginCount) / loginSeconds, loginCount, loginSeconds, Double(deleteCount) / deleteSeconds,
            deleteCount, deleteSeconds, clients))
    }
}
