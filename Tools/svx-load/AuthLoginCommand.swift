import ArgumentParser
import Cryppo
import Foundation
import SRP
import SVXClient
import SVXRPC
import Synchronization

/// `svx-load auth-login`: SRP-6a logins (BeginLogin + FinishLogin) against svx-auth through the SDK's
/// `AccountClient`, with a raw SRP password so that PBKDF2 does not dominate; beside it, the raw cost of the
/// server's three 2048-bit modexps measured in the same run.
struct AuthLoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth-login",
        abstract: "Drive SRP-6a logins at svx-auth and compare with the raw cost of three 2048-bit modexps.")

    @Option(help: "The svx-auth endpoint, e.g. tcp://127.0.0.1:7101 (loopback only).")
    var endpoint: String

    @OptionGroup var shape: ShapeOptions

    @Option(help: "svx-auth's process id: when given, its CPU time per login is measured from /proc.")
    var serverPid: Int32?

    @Option(help: "Iterations of the modexp baseline.")
    var modexpIterations: Int = 300

    func validate() throws {
        try validateLoopback(endpoint)
        guard (10...100_000).contains(modexpIterations) else { throw ValidationError("--modexp-iterations in 10...100000") }
    }

    func run() throws {
        printFlushed("svx-load auth-login: \(endpoint), \(shape.shape.describe())")
        let user = try AuthLoadUser.register(endpoint: endpoint)
        printFlushed("registered \(user.username); checking one login")
        let check = try LoadTransport.client(endpoint: endpoint)
        try AuthLoadClient.loginOnce(AccountClient(auth: check, timeout: .seconds(5)), user: user)
        check.close()

        let baseline = try ModexpBaseline.measure(iterations: modexpIterations)
        printFlushed(String(format: "modexp baseline (before load): three 2048-bit modexps = %.0f us", baseline))

        let counter = LoginCounter()
        let cpuBefore = serverPid.flatMap(processCPUSeconds)
        let ownBefore = processCPUSeconds(getpid())
        let result = try LoadRunner(
            shape: shape.shape, target: AuthLoginTarget(endpoint: endpoint, user: user, counter: counter), label: "auth-login"
        ).run(progress: true)
        let cpuAfter = serverPid.flatMap(processCPUSeconds)
        let ownAfter = processCPUSeconds(getpid())
        let allLogins = counter.value
        let baselineAfter = try ModexpBaseline.measure(iterations: modexpIterations)

        printFlushed(result.summary(title: "auth-login (BeginLogin + FinishLogin) @ \(endpoint)").replacingOccurrences(of: "req/s", with: "logins/s"))
        let threeModexps = (baseline + baselineAfter) / 2
        printFlushed(String(
            format: "   server share of SRP: three 2048-bit modexps (g^b, v^u, (A·v^u)^b) = %.0f us (%.0f before, %.0f after the load) -> at most %.0f logins/s per core",
            threeModexps, baseline, baselineAfter, 1e6 / threeModexps))
        if let cpuBefore, let cpuAfter, allLogins > 0 {
            // svx-auth's user + system CPU over every login of the run (warm-up included), divided by their number.
            let perLogin = (cpuAfter - cpuBefore) / Double(allLogins) * 1e6
            printFlushed(String(
                format: "   svx-auth CPU per login: %.0f us over %d logins (%.1f s CPU) = %.2f x three modexps", perLogin,
                allLogins, cpuAfter - cpuBefore, perLogin / threeModexps))
        }
        if let ownBefore, let ownAfter, allLogins > 0 {
            printFlushed(String(
                format: "   svx-load (client side, same machine) CPU per login: %.0f us", (ownAfter - ownBefore) / Double(allLogins) * 1e6))
        }
        if result.requests == 0 { throw ExitCode.failure }
    }
}

/// The user every load client logs in as: signed up through the SDK with a fixed raw SRP password (no PBKDF2, which
/// would dominate the client's cost and is not the server's).
struct AuthLoadUser: Sendable {
    let username: String

    static let password = Array("svx-load auth-login password".utf8)

    static func register(endpoint: String) throws -> AuthLoadUser {
        let client = try LoadTransport.client(endpoint: endpoint)
        defer { client.close() }
        let account = AccountClient(auth: client, timeout: .seconds(5))
        let username = try waitFor {
            let username = try await account.reserveUsername()
            _ = try await account.register(username: username, srpPassword: password)
            return username
        }
        return AuthLoadUser(username: username)
    }
}

/// Successful logins of the whole run, warm-up included.
final class LoginCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

struct AuthLoginTarget: LoadTarget {
    let endpoint: String
    let user: AuthLoadUser
    let counter: LoginCounter

    func makeClient(timeout: Duration) throws -> any LoadClient {
        AuthLoadClient(
            client: try LoadTransport.client(endpoint: endpoint, configuration: .init(maxInFlight: 1000, defaultTimeout: timeout)),
            user: user, timeout: timeout, counter: counter)
    }
}

final class AuthLoadClient: LoadClient {
    let client: RPCClient
    let account: AccountClient
    let user: AuthLoadUser
    let counter: LoginCounter

    init(client: RPCClient, user: AuthLoadUser, timeout: Duration, counter: LoginCounter) {
        self.client = client
        self.account = AccountClient(auth: client, timeout: timeout)
        self.user = user
        self.counter = counter
    }

    /// One login as every client makes it: the SDK's `logIn` (BeginLogin, the SRP client's proof, FinishLogin, the
    /// server's M2 checked before the session is taken).
    static func loginOnce(_ account: AccountClient, user: AuthLoadUser) throws {
        _ = try waitFor { try await account.logIn(username: user.username, srpPassword: AuthLoadUser.password) }
    }

    func run(window: Int, stop: StopFlag, recorder: Recorder) {
        runLanes(window: window) { self.lane(stop: stop, recorder: recorder) }
    }

    private func lane(stop: StopFlag, recorder: Recorder) {
        while !stop.isSet {
            let start = ContinuousClock.now
            do {
                try Self.loginOnce(account, user: user)
                counter.add()
                recorder.success(ContinuousClock.now - start)
            } catch {
                recorder.failure(failureName(error))
                if isBackOff(error) { Thread.sleep(forTimeInterval: 0.01) }
            }
        }
    }

    func close() { client.close() }
}

/// The server's share of one SRP-6a login: g^b and (A·v^u)^b with a 256-bit b, v^u with a 256-bit u.
enum ModexpBaseline {
    /// Microseconds for the three, averaged over `iterations`.
    static func measure(iterations: Int) throws -> Double {
        let parameters = SRPParameters.meeco
        let N = parameters.group.N, g = parameters.group.g
        let v = try g.modExp(BigNumber(bytes: try SecureRandom.bytes(count: 32)), N)
        let A = try g.modExp(BigNumber(bytes: try SecureRandom.bytes(count: 32)), N)
        var sink = 0
        let start = ContinuousClock.now
        for _ in 0..<iterations {
            let b = BigNumber(bytes: try SecureRandom.bytes(count: 32))
            let u = BigNumber(bytes: try SecureRandom.bytes(count: 32))
            let gb = try g.modExp(b, N)
            let vu = try v.modExp(u, N)
            let S = try A.modMul(vu, N).modExp(b, N)
            sink &+= gb.byteCount &+ S.byteCount
        }
        let elapsed = ContinuousClock.now - start
        precondition(sink > 0)
        return elapsed.seconds * 1e6 / Double(iterations)
    }
}

/// utime + stime of a process, seconds (Linux /proc).
func processCPUSeconds(_ pid: Int32) -> Double? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // After the command: state is field 3; utime and stime are fields 14 and 15.
    guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
    return (utime + stime) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
