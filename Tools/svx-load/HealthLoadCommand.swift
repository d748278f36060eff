import ArgumentParser
import SVXProto
import SVXRPC

/// `svx-load health`: Health/Check load against a running service.
struct HealthLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Drive svx.rpc.v1.Health/Check at a service and report throughput and latency.")

    @Option(help: "The service endpoint, e.g. tcp://127.0.0.1:7101 (loopback only).")
    var endpoint: String

    @OptionGroup var shape: ShapeOptions

    func validate() throws {
        try validateLoopback(endpoint)
    }

    func run() throws {
        printFlushed("svx-load health: \(endpoint), \(shape.shape.describe()), transport \(try LoadTransport.security().mode)")
        let target = SVXRPCTarget(endpoint: endpoint)
        let result = try LoadRunner(shape: shape.shape, target: target, label: "health").run(progress: true)
        printFlushed(result.summary(title: "Health/Check @ \(endpoint)"))
        if result.requests == 0 { throw ExitCode.failure }
    }
}
