import SVXProto
import SwiftProtobuf

/// A typed method name: `svx.<context>.v1.<Service>/<Method>` with its request and response messages.
public struct RPCMethod<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>: Sendable {
    public let name: String
    public init(_ name: String) { self.name = name }
}

/// `svx.rpc.v1.Health/Check`, answered by every service.
public enum HealthRPC {
    public static let check = RPCMethod<Svx_Rpc_V1_HealthCheckRequest, Svx_Rpc_V1_HealthCheckResponse>(
        "svx.rpc.v1.Health/Check")
}

/// `svx.rpc.v1.Metrics/Scrape`: Prometheus text of the service's metrics.
public enum MetricsRPC {
    public static let scrape = RPCMethod<Svx_Rpc_V1_MetricsScrapeRequest, Svx_Rpc_V1_MetricsScrapeResponse>(
        "svx.rpc.v1.Metrics/Scrape")
}
