import ArgumentParser
import Foundation
import Logging
import SVXProto
import SVXRPC

/// `svx-load baseline`: the overhead of SVXRPC as a ratio measured in one process run.
///
/// Starts, in this process, (a) an SVXRPC server answering Health and (b) a raw libzmq+protobuf echo server, and
/// drives each with the same traffic shape: `--clients` connections (one DEALER each, each with its own libzmq
/// context), `--window` requests in flight per connection, the same Health request bytes. SVXRPC is driven through
/// RPCClient (callBlocking from one thread per in-flight slot), the raw server through a raw DEALER loop. The two
/// alternate in `--rounds` rounds of duration/rounds seconds each so drift of a noisy machine hits both alike.
struct BaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "baseline",
        abstract: "Compare SVXRPC (client + server) with raw libzmq+protobuf on the same traffic shape.")

    @OptionGroup var shape: ShapeOptions

    @Option(help: "SVXRPC server worker threads.")
    var workers: Int = 2

    @Option(help: "Alternating rounds per target (duration is split between them).")
    var rounds: Int = 2

    @Flag(help: "Also measure a raw client against the SVXRPC server (server-side overhead alone).")
    var serverOnly = false

    @Flag(help: "Also measure the same request answered by the server's worker pool instead of inline.")
    var pooled = false

    @Option(help: "Microseconds the pooled handler sleeps, like a database call (0...100000).")
    var pooledDelayUs: Int = 0

    @Flag(help: "Both servers over CURVE (a new keypair each run) and every client pinning its key, as services run by default.")
    var curve = false

    func validate() throws {
        guard (1...64).contains(workers) else { throw ValidationError("--workers must be in 1...64") }
        guard (0...100_000).contains(pooledDelayUs) else {
            throw ValidationError("--pooled-delay-us must be in 0...100000")
        }
        guard (1...10).contains(rounds), shape.duration >= rounds else {
            throw ValidationError("--rounds must be in 1...10 and at most --duration")
        }
    }

    func run() throws {
        var logger = Logger(label: "svx-load")
        logger.logLevel = .warning

        let serverKeys = curve ? try CurveKeyPair.generate() : nil
        let clientSecurity = serverKeys.map { CurveClientSecurity(serverPublicKey: $0.publicKey) }
        let raw = try RawEchoServer(curve: serverKeys)
        raw.start()
        defer { raw.shutdown() }

        let router = RPCRouter<Void>()
        // Inline, as every svx service serves Health; the pooled copy measures the worker-pool path.
        router.registerInline(HealthRPC.check) { request, _ in LoadPayload.answer(request) }
        let delay = UInt32(pooledDelayUs)
        router.register(LoadPayload.pooledCheck) { request, _, _ in
            if delay > 0 { usleep(delay) }
            return LoadPayload.answer(request)
        }
        let server = RPCServer(
            configuration: RPCServerConfiguration(
                endpoint: "tcp://127.0.0.1:*", workerCount: workers, queueCapacity: 4096,
                curve: serverKeys.map { CurveServerSecurity(keyPair: $0) }),
            router: router, logger: logger
        ) { _ in () }
        try server.start()
        defer { server.shutdown() }
        let svxEndpoint = server.boundEndpoint!

        var perRound = shape.shape
        perRound.duration = .seconds(shape.duration / rounds)
        printFlushed(
            "svx-load baseline: \(shape.shape.describe()); \(rounds) round(s) of \(shape.duration / rounds) s per target; "
                + (curve ? "every socket over CURVE" : "plain TCP"))
        printFlushed("  raw    = raw DEALER loop -> raw ROUTER echo thread (\(raw.endpoint))")
        printFlushed("  svxrpc = RPCClient.callBlocking -> RPCServer, \(workers) worker(s) (\(svxEndpoint))")
        if serverOnly { printFlushed("  mixed  = raw DEALER loop -> RPCServer") }
        if pooled {
            printFlushed(
                "  pooled = RPCClient.callBlocking -> RPCServer worker pool (\(LoadPayload.pooledCheck.name)"
                    + (pooledDelayUs > 0 ? ", handler sleeps \(pooledDelayUs) us" : "") + ")")
        }
        printFlushed("  machine: \(ProcessInfo.processInfo.activeProcessorCount) CPU(s)")

        var rawResult = LoadResult()
        var svxResult = LoadResult()
        var mixedResult = LoadResult()
        var pooledResult = LoadResult()
        for round in 1...rounds {
            rawResult.merge(
                try LoadRunner(shape: perRound, target: RawTarget(endpoint: raw.endpoint, curve: clientSecurity), label: "raw r\(round)")
                    .run(progress: true))
            svxResult.merge(
                try LoadRunner(shape: perRound, target: SVXRPCTarget(endpoint: svxEndpoint, security: .inProcess(clientSecurity)), label: "svxrpc r\(round)")
                    .run(progress: true))
            if serverOnly {
                mixedResult.merge(
                    try LoadRunner(shape: perRound, target: RawTarget(endpoint: svxEndpoint, curve: clientSecurity), label: "mixed r\(round)")
                        .run(progress: true))
            }
            if pooled {
                pooledResult.merge(
                    try LoadRunner(
                        shape: perRound, target: SVXRPCTarget(endpoint: svxEndpoint, method: LoadPayload.pooledCheck, security: .inProcess(clientSecurity)),
                        label: "pooled r\(round)"
                    ).run(progress: true))
            }
        }

        printFlushed(rawResult.summary(title: "raw libzmq + protobuf"))
        printFlushed(svxResult.summary(title: "SVXRPC"))
        if serverOnly { printFlushed(mixedResult.summary(title: "raw client -> SVXRPC server")) }
        if pooled { printFlushed(pooledResult.summary(title: "SVXRPC, handler on the worker pool")) }
        let throughputRatio = rawResult.throughput > 0 ? svxResult.throughput / rawResult.throughput : 0
        let p50Ratio = rawResult.requests > 0 && svxResult.requests > 0 ? svxResult.percentile(50) / rawResult.percentile(50) : 0
        printFlushed("== ratios (SVXRPC / raw)")
        printFlushed(String(format: "   throughput %.2f  (target >= 0.80 with 8 clients)", throughputRatio))
        printFlushed(String(format: "   p50        %.2f  (target <= 1.20 with 1 client)", p50Ratio))
        if serverOnly && rawResult.throughput > 0 && mixedResult.requests > 0 {
            printFlushed(
                String(
                    format: "   server only: throughput %.2f  p50 %.2f", mixedResult.throughput / rawResult.throughput,
                    mixedResult.percentile(50) / rawResult.percentile(50)))
        }
        if pooled && pooledDelayUs > 0 {
            let limit = Double(workers) * 1_000_000 / Double(pooledDelayUs)
            printFlushed(
                String(
                    format: "   worker pool with a %d us handler: %.0f req/s of at most %.0f (workers / delay): %.2f",
                    pooledDelayUs, pooledResult.throughput, limit, pooledResult.throughput / limit))
        }
        if pooled && rawResult.throughput > 0 && pooledResult.requests > 0 {
            printFlushed(
                String(
                    format: "   worker pool: throughput %.2f  p50 %.2f", pooledResult.throughput / rawResult.throughput,
                    pooledResult.percentile(50) / rawResult.percentile(50)))
        }
    }
}
