import Prometheus
import SVXRPC
import Synchronization

/// Per-method request counts and latency histograms, kept in a Prometheus registry and served as
/// Prometheus text by `svx.rpc.v1.Metrics/Scrape`.
///
/// - `svx_rpc_requests_total{method, code}`: requests answered, by status code name.
/// - `svx_rpc_request_duration_seconds{method}`: time from the request's arrival to its reply.
///
/// The `method` label takes only the names the service registered (``recognize(methods:)``); every other name a
/// caller sends (unknown, empty or oversized, answered UNIMPLEMENTED or INVALID_ARGUMENT) counts under
/// ``unknownMethodLabel``. So the number of series is bounded by the service's own methods times the status codes,
/// whatever callers send.
public final class RequestMetrics: RPCServerObserver {
    public let registry: PrometheusCollectorRegistry
    private let service: String
    /// The `method` label of every request whose method the service did not register.
    public static let unknownMethodLabel = "unknown"
    /// The metric handles, cached (the registry would find them again, but only under its own lock), and the methods
    /// that get a label of their own (set once, before the server starts): one lock per answered request.
    private struct Series {
        var knownMethods: Set<String> = []
        var counters: [String: Counter] = [:]
        var histograms: [String: DurationHistogram] = [:]
    }
    private let series = Mutex(Series())

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "svx", subsystem: "rpc", metricName: "requests", unitName: "total",
            helpText: "RPC requests answered, by method and status code.")
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "svx", subsystem: "rpc", metricName: "request_duration", unitName: "seconds",
            helpText: "Time from a request's arrival to its reply.")
    }

    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    public init(service: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.service = service
        self.registry = registry
    }

    /// The methods the service registered: each gets its own `method` label, every other name
    /// ``unknownMethodLabel``. Call it once the routes are registered, before the server starts.
    public func recognize(methods: some Sequence<String>) {
        series.withLock { $0.knownMethods = Set(methods) }
    }

    public func requestCompleted(method: String, code: RPCStatus.Code, duration: Duration) {
        let (counter, histogram) = series.withLock { series -> (Counter, DurationHistogram) in
            // A cached handle means a known method (unknown names are cached under the bounded label only).
            if let counter = series.counters[method + "|" + code.name], let histogram = series.histograms[method] {
                return (counter, histogram)
            }
            let label = series.knownMethods.contains(method) ? method : Self.unknownMethodLabel
            let counterKey = label + "|" + code.name
            let counter = series.counters[counterKey] ?? registry.makeCounter(
                descriptor: Self.requests, labels: [("service", service), ("method", label), ("code", code.name)])
            series.counters[counterKey] = counter
            let histogram = series.histograms[label] ?? registry.makeDurationHistogram(
                descriptor: Self.duration, labels: [("service", service), ("method", label)], buckets: Self.buckets)
            series.histograms[label] = histogram
            return (counter, histogram)
        }
        counter.increment()
        histogram.record(duration)
    }

    /// The registry in Prometheus text exposition format 0.0.4.
    public func render() -> String { registry.emitToString() }
}
