import ArgumentParser

/// `svx-load`: load generator for svx services and for the RPC runtime itself. Loopback only, bounded in time.
@main
struct SVXLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "svx-load",
        abstract: "Load generator for svx services (loopback only, bounded in time and count).",
        subcommands: [
            HealthLoadCommand.self, BaselineCommand.self, CryptoBenchCommand.self, AuthLoginCommand.self,
            VaultSeedCommand.self, VaultGetCommand.self, VaultCreateCommand.self, ClassificationListCommand.self,
            SharingLoadCommand.self, SharesLoadCommand.self, HostileSweepCommand.self, AuditCostCommand.self,
        ])
}

/// The traffic shape shared by the subcommands.
struct ShapeOptions: ParsableArguments {
    @Option(help: "Concurrent clients; each has its own connection (one DEALER socket). 1...256.")
    var clients: Int = 1

    @Option(help: "Seconds of measured load (after a 1 s warm-up). 1...600.")
    var duration: Int = 10

    @Option(help: "Requests in flight per client (closed loop when 1). 1...64; clients x window <= 512.")
    var window: Int = 1

    @Option(help: "Per-call timeout, milliseconds.")
    var timeoutMs: Int = 5000

    func validate() throws {
        guard (1...256).contains(clients) else { throw ValidationError("--clients must be in 1...256") }
        guard (1...600).contains(duration) else { throw ValidationError("--duration must be in 1...600") }
        guard (1...64).contains(window) else { throw ValidationError("--window must be in 1...64") }
        guard clients * window <= 512 else { throw ValidationError("--clients x --window must be <= 512") }
        guard (1...60_000).contains(timeoutMs) else { throw ValidationError("--timeout-ms must be in 1...60000") }
    }

    var shape: LoadShape {
        LoadShape(
            clients: clients, window: window, duration: .seconds(duration), warmup: .seconds(1),
            timeout: .milliseconds(timeoutMs))
    }
}

/// Refuses anything but loopback endpoints.
func validateLoopback(_ endpoint: String) throws {
    let allowed = ["tcp://127.0.0.1:", "tcp://localhost:", "tcp://[::1]:", "ipc://", "inproc://"]
    guard allowed.contains(where: { endpoint.hasPrefix($0) }) else {
        throw ValidationError("svx-load only targets loopback endpoints (tcp://127.0.0.1:PORT, ipc://...)")
    }
}
