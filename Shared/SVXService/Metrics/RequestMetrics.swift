import Prometheus
import SVXRPC
import Synchronization

/// Per-method request counts and latency histograms, kept in a Prometheus registry and served as
/// Prometheus text by `svx.rpc.v1.Metrics/Scrape`.
///
/// - `svx_rpc_requests_total{method, code}`: requests answered, by status code name.
/// - `svx_rpc_request_duration_seconds{method}`: time from the request's arrival to its reply.
public final class RequestMetrics: RPCServerObserver {
    public let registry: PrometheusCollectorRegistry
    private let service: String
    /// Metric handles are cached: the registry would find them again, but only under its own lock.
    private let counters = Mutex<[String: Counter]>([:])
    private let histograms = Mutex<[String: DurationHistogram]>([:])

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

    public func requestCompleted(method: String, code: RPCStatus.Code, duration: Duration) {
        let counterKey = method + "|" + code.name
        let counter = counters.withLock { cache in
            if let counter = cache[counterKey] { return counter }
            let counter = registry.makeCounter(
                descriptor: Self.requests,
                labels: [("service", service), ("method", method), ("code", code.name)])
            cache[counterKey] = counter
            return counter
        }
        counter.increment()
        let histogram = histograms.withLock { cache in
            if let histogram = cache[method] { return histogram }
            let histogram = registry.makeDurationHistogram(
                descriptor: Self.duration,
                labels: [("service", service), ("method", method)], buckets: Self.buckets)
            cache[method] = histogram
            return histogram
        }
        histogram.record(duration)
    }

    /// The registry in Prometheus text exposition format 0.0.4.
    public func render() -> String { registry.emitToString() }
}
