import ArgumentParser
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import Synchronization

/// `svx-load vault-seed`: fills the benchmark user's vault up to `--items` realistic items (the ones already there
/// count), through CreateItem, pipelined: `--clients` connections, each with `--window` calls in flight.
struct VaultSeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault-seed",
        abstract: "Fill the benchmark user's vault up to N realistic items (pipelined CreateItem calls).")

    @OptionGroup var endpoints: VaultEndpointOptions

    @Option(help: "Items the vault should hold at the end (those already there count). 1...5000000.")
    var items: Int

    @Option(help: "Connections (one RPCClient each). 1...32.")
    var clients: Int = 2

    @Option(help: "CreateItem calls in flight per connection. 1...256.")
    var window: Int = 32

    @Option(help: "Stop after this many seconds even if not done (rerun to continue). 1...7200.")
    var maxSeconds: Int = 3600

    func validate() throws {
        guard (1...5_000_000).contains(items) else { throw ValidationError("--items must be in 1...5000000") }
        guard (1...32).contains(clients) else { throw ValidationError("--clients must be in 1...32") }
        guard (1...256).contains(window) else { throw ValidationError("--window must be in 1...256") }
        guard (1...7200).contains(maxSeconds) else { throw ValidationError("--max-seconds must be in 1...7200") }
    }

    func run() async throws {
        let deadline = ContinuousClock.now + .seconds(maxSeconds)
        // A session that ends mid-run (UNAUTHENTICATED) is renewed by opening the user again, at most 3 times.
        for attempt in 1...4 {
            let user = try await VaultBenchUser.open(endpoints)
            let existing = try user.itemIDs(vaultEndpoint: endpoints.vaultEndpoint, limit: items).count
            guard existing < items else {
                printFlushed("vault-seed: \(user.username) already has \(existing) item(s) (>= \(items)): nothing to do")
                return
            }
            printFlushed(
                "vault-seed: \(existing) item(s) there, creating \(items - existing) with \(clients) client(s) x window \(window)")
            let outcome = try await seed(user: user, count: items - existing, deadline: deadline)
            switch outcome {
            case .done: return
            case .timedOut:
                printFlushed("vault-seed: stopped after --max-seconds \(maxSeconds); rerun to continue")
                throw ExitCode.failure
            case .sessionEnded where attempt < 4:
                printFlushed("vault-seed: the session ended; logging in again")
            case .sessionEnded, .failed:
                throw ExitCode.failure
            }
        }
    }

    enum Outcome { case done, timedOut, sessionEnded, failed }

    private func seed(user: VaultBenchUser, count: Int, deadline: ContinuousClock.Instant) async throws -> Outcome {
        let state = SeedState()
        let rpcClients = try (0..<clients).map { _ in
            try LoadTransport.client(
                endpoint: endpoints.vaultEndpoint,
                configuration: .init(maxInFlight: window, defaultTimeout: .seconds(60)))
        }
        defer { rpcClients.forEach { $0.close() } }
        let start = ContinuousClock.now
        let progress = Task {
            var last = 0
            var tick = 1
            while !Task.isCancelled {
                try? await Task.sleep(until: start + .seconds(tick), clock: .continuous)
                if Task.isCancelled { break }
                let now = state.created.load(ordering: .relaxed)
                let elapsed = (ContinuousClock.now - start).seconds
                let rate = Double(now) / max(elapsed, 0.001)
                printFlushed(String(
                    format: "[vault-seed] %6.0f s  created %9d / %d  items/s %6d (average %6.0f)  errors %d  eta %.0f s",
                    elapsed, now, count, now - last, rate, state.errors.load(ordering: .relaxed),
                    rate > 0 ? Double(count - now) / rate : 0))
                last = now
                tick += 1
                if ContinuousClock.now >= deadline { state.stop.store(3, ordering: .relaxed) }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for client in rpcClients {
                for _ in 0..<window {
                    group.addTask {
                        var rng = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
                        while state.stop.load(ordering: .relaxed) == 0, state.tickets.add(1, ordering: .relaxed).oldValue < count {
                            do {
                                let request = try VaultItemFactory.request(dek: user.dek, using: &rng)
                                _ = try await client.call(VaultRPC.createItem, request, sessionToken: user.token)
                                state.created.add(1, ordering: .relaxed)
                            } catch {
                                state.tickets.subtract(1, ordering: .relaxed)  // not created: someone makes it again
                                let code = (error as? RPCStatus)?.code
                                state.lastError.withLock { $0 = "\(error)" }
                                if code == .unauthenticated {
                                    state.stop.store(1, ordering: .relaxed)
                                } else if state.errors.add(1, ordering: .relaxed).newValue >= 1000 {
                                    state.stop.store(2, ordering: .relaxed)
                                } else if code == .unavailable || code == .resourceExhausted || code == .deadlineExceeded {
                                    try? await Task.sleep(for: .milliseconds(50))
                                }
                            }
                        }
                    }
                }
            }
        }
        progress.cancel()
        _ = await progress.result
        let elapsed = (ContinuousClock.now - start).seconds
        let done = state.created.load(ordering: .relaxed)
        printFlushed(String(
            format: "== vault-seed: %d item(s) created in %.1f s: %.0f items/s, %d error(s)", done, elapsed,
            Double(done) / max(elapsed, 0.001), state.errors.load(ordering: .relaxed)))
        let message = state.lastError.withLock { $0 }
        if !message.isEmpty { printFlushed("   last error: \(message)") }
        switch state.stop.load(ordering: .relaxed) {
        case 1: return .sessionEnded
        case 2:
            printFlushed("vault-seed: 1000 errors: giving up")
            return .failed
        case 3: return done >= count ? .done : .timedOut
        default: return .done
        }
    }
}

/// What the seeding tasks share.
final class SeedState: Sendable {
    let tickets = Atomic<Int>(0)
    let created = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    let stop = Atomic<Int>(0)  // 0 running, 1 session ended, 2 too many errors, 3 deadline
    let lastError = Mutex<String>("")
}
