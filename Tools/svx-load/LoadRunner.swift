import Foundation
import Histogram
import SVXProto
import SVXRPC
import Synchronization

/// The traffic shape: `clients` connections, each keeping `window` requests in flight (closed loop).
struct LoadShape: Sendable {
    var clients: Int
    var window: Int
    var duration: Duration
    var warmup: Duration
    var timeout: Duration

    func describe() -> String {
        "\(clients) client(s) x window \(window), \(Int(duration.seconds)) s measured after \(Int(warmup.seconds)) s warm-up"
    }
}

/// Something to drive: makes one client connection at a time.
protocol LoadTarget: Sendable {
    func makeClient(timeout: Duration) throws -> any LoadClient
}

/// One client connection. `run` blocks, keeping `window` requests in flight until `stop` is set.
protocol LoadClient: Sendable {
    func run(window: Int, stop: StopFlag, recorder: Recorder)
    func close()
}

/// Runs `lane` on `window` threads (this one included) and returns when every lane has returned:
/// a client with a window of W keeps W blocking calls in flight.
func runLanes(window: Int, _ lane: @escaping @Sendable () -> Void) {
    let group = DispatchGroup()
    for _ in 1..<max(window, 1) {
        group.enter()
        Thread {
            lane()
            group.leave()
        }.start()
    }
    lane()
    group.wait()
}

final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .releasing) }
    var isSet: Bool { flag.load(ordering: .acquiring) }
}

/// The Health request every load client sends (same bytes for every target).
enum LoadPayload {
    /// `Health/Check`'s messages under a method the baseline's server runs on its worker pool (Health runs inline).
    static let pooledCheck = RPCMethod<Svx_Rpc_V1_HealthCheckRequest, Svx_Rpc_V1_HealthCheckResponse>(
        "svx.load.v1.Pooled/Check")

    static let request: Svx_Rpc_V1_HealthCheckRequest = {
        var request = Svx_Rpc_V1_HealthCheckRequest()
        request.service = "svx-load"
        return request
    }()

    /// The answer both servers give.
    static func answer(_ request: Svx_Rpc_V1_HealthCheckRequest) -> Svx_Rpc_V1_HealthCheckResponse {
        var response = Svx_Rpc_V1_HealthCheckResponse()
        response.status = .serving
        response.service = request.service
        response.version = "svx-load"
        return response
    }
}

/// Latencies (ns) and errors of one client, read by the reporter every second.
final class Recorder: Sendable {
    struct Counts {
        var interval = Recorder.makeHistogram()
        var total = Recorder.makeHistogram()
        var errors: [String: Int] = [:]
        var intervalErrors = 0
    }

    private let state = Mutex(Counts())

    static func makeHistogram() -> Histogram<UInt64> {
        // 1 us .. 60 s, 3 significant digits.
        Histogram<UInt64>(lowestDiscernibleValue: 1_000, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    }

    func success(_ latency: Duration) {
        let ns = UInt64(clamping: latency.nanoseconds)
        state.withLock {
            _ = $0.interval.record(ns)
            _ = $0.total.record(ns)
        }
    }

    func failure(_ code: String) {
        state.withLock {
            $0.errors[code, default: 0] += 1
            $0.intervalErrors += 1
        }
    }

    /// Takes the interval histogram (and resets it).
    func takeInterval() -> (Histogram<UInt64>, Int) {
        state.withLock {
            let taken = ($0.interval, $0.intervalErrors)
            $0.interval = Recorder.makeHistogram()
            $0.intervalErrors = 0
            return taken
        }
    }

    func reset() {
        state.withLock { $0 = Counts() }
    }

    func totals() -> (Histogram<UInt64>, [String: Int]) {
        state.withLock { ($0.total, $0.errors) }
    }
}

/// What a run measured.
struct LoadResult {
    var histogram = Recorder.makeHistogram()
    var errors: [String: Int] = [:]
    var elapsed: Duration = .zero
    /// Process CPU time and context switches during the measured window (clients and in-process servers).
    var usage = ProcessUsage()

    var requests: UInt64 { histogram.totalCount }
    var errorCount: Int { errors.values.reduce(0, +) }
    var throughput: Double { elapsed > .zero ? Double(requests) / elapsed.seconds : 0 }

    mutating func merge(_ other: LoadResult) {
        histogram.add(other.histogram)
        for (code, count) in other.errors { errors[code, default: 0] += count }
        elapsed += other.elapsed
        usage.cpuSeconds += other.usage.cpuSeconds
        usage.contextSwitches += other.usage.contextSwitches
    }

    func percentile(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1000 }  // us

    func summary(title: String) -> String {
        var lines = ["== \(title)"]
        lines.append(
            String(
                format: "   requests %llu ok, %d errors in %.1f s: %.0f req/s", requests, errorCount, elapsed.seconds,
                throughput))
        if requests > 0 {
            lines.append(
                String(
                    format: "   latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f",
                    percentile(50), percentile(90), percentile(99), percentile(99.9),
                    Double(histogram.max) / 1000))
        }
        if requests > 0 {
            lines.append(
                String(
                    format: "   process CPU %.0f us/request, %.1f context switches/request",
                    usage.cpuSeconds * 1e6 / Double(requests), Double(usage.contextSwitches) / Double(requests)))
        }
        if !errors.isEmpty {
            lines.append(
                "   errors: " + errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }
}

/// Runs one target with one shape: starts the clients' threads, warms up, measures, prints progress each second.
struct LoadRunner {
    let shape: LoadShape
    let target: any LoadTarget
    let label: String

    func run(progress: Bool) throws -> LoadResult {
        let clients = try (0..<shape.clients).map { _ in try target.makeClient(timeout: shape.timeout) }
        let recorders = clients.map { _ in Recorder() }
        let stop = StopFlag()
        let group = DispatchGroup()
        for (client, recorder) in zip(clients, recorders) {
            group.enter()
            let window = shape.window
            let thread = Thread {
                client.run(window: window, stop: stop, recorder: recorder)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }

        Thread.sleep(forTimeInterval: shape.warmup.seconds)
        for recorder in recorders { recorder.reset() }
        let usageStart = ProcessUsage.now()
        let start = ContinuousClock.now
        var cumulative: UInt64 = 0
        var tick = 1
        while true {
            let next = start + .seconds(tick)
            let end = start + shape.duration
            let wake = min(next, end)
            let remaining = wake - ContinuousClock.now
            if remaining > .zero { Thread.sleep(forTimeInterval: remaining.seconds) }
            if progress {
                var interval = Recorder.makeHistogram()
                var errors = 0
                for recorder in recorders {
                    let (histogram, intervalErrors) = recorder.takeInterval()
                    interval.add(histogram)
                    errors += intervalErrors
                }
                cumulative += interval.totalCount
                let elapsed = ContinuousClock.now - start
                let sinceLast = elapsed - .seconds(tick - 1)
                printFlushed(
                    String(
                        format: "[%@] %5.1f s  requests %9llu  rps %8.0f  p50 %6.0f us  p99 %7.0f us  errors %d",
                        label, elapsed.seconds, cumulative,
                        Double(interval.totalCount) / max(sinceLast.seconds, 0.001),
                        Double(interval.valueAtPercentile(50)) / 1000, Double(interval.valueAtPercentile(99)) / 1000,
                        errors))
            }
            if wake >= end { break }
            tick += 1
        }
        let elapsed = ContinuousClock.now - start
        var result = LoadResult()
        result.elapsed = elapsed
        result.usage = ProcessUsage.now() - usageStart
        for recorder in recorders {
            let (histogram, errors) = recorder.totals()
            result.histogram.add(histogram)
            for (code, count) in errors { result.errors[code, default: 0] += count }
        }
        stop.set()
        // Lanes finish their current call (bounded by the per-call timeout) and exit.
        if group.wait(timeout: .now() + shape.timeout.seconds + 2) == .timedOut {
            printFlushed("warning: some client threads did not stop in time")
        }
        for client in clients { client.close() }
        return result
    }
}

/// getrusage(RUSAGE_SELF): CPU seconds (user + system) and context switches (voluntary + involuntary).
struct ProcessUsage {
    var cpuSeconds: Double = 0
    var contextSwitches: Int = 0

    static func now() -> ProcessUsage {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return ProcessUsage(cpuSeconds: cpu, contextSwitches: usage.ru_nvcsw + usage.ru_nivcsw)
    }

    static func - (lhs: ProcessUsage, rhs: ProcessUsage) -> ProcessUsage {
        ProcessUsage(cpuSeconds: lhs.cpuSeconds - rhs.cpuSeconds, contextSwitches: lhs.contextSwitches - rhs.contextSwitches)
    }
}

func printFlushed(_ line: String) {
    // Unbuffered write of the whole line, so progress shows when stdout is a pipe.
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

extension Duration {
    var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) / 1e18
    }

    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
