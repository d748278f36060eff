import Foundation
import SVXProto
import SVXRPC

/// Load through SVXRPC's client: one RPCClient (one DEALER, one I/O thread) per client; `window` threads per client
/// each in a closed loop of `callBlocking`.
struct SVXRPCTarget: LoadTarget {
    let endpoint: String
    /// The method called: `Health/Check` by default; the baseline also calls a pooled copy of it.
    var method = HealthRPC.check
    /// How the clients connect: as the environment configures a service's clients (``LoadTransport``), or, for the
    /// baseline's in-process server, with the CURVE settings given (nil: plain TCP).
    var security = Security.configured

    enum Security {
        case configured
        case inProcess(CurveClientSecurity?)
    }

    func makeClient(timeout: Duration) throws -> any LoadClient {
        var configuration = RPCClientConfiguration(maxInFlight: 1000, defaultTimeout: timeout)
        let client: RPCClient
        switch security {
        case .configured:
            client = try LoadTransport.client(endpoint: endpoint, configuration: configuration)
        case .inProcess(let curve):
            configuration.curve = curve
            client = try RPCClient(endpoint: endpoint, configuration: configuration)
        }
        return SVXRPCLoadClient(client: client, method: method, timeout: timeout)
    }
}

final class SVXRPCLoadClient: LoadClient {
    let client: RPCClient
    let method: RPCMethod<Svx_Rpc_V1_HealthCheckRequest, Svx_Rpc_V1_HealthCheckResponse>
    let timeout: Duration

    init(
        client: RPCClient, method: RPCMethod<Svx_Rpc_V1_HealthCheckRequest, Svx_Rpc_V1_HealthCheckResponse> = HealthRPC.check,
        timeout: Duration
    ) {
        self.client = client
        self.method = method
        self.timeout = timeout
    }

    func run(window: Int, stop: StopFlag, recorder: Recorder) {
        runLanes(window: window) { self.lane(stop: stop, recorder: recorder) }
    }

    private func lane(stop: StopFlag, recorder: Recorder) {
        let request = LoadPayload.request
        while !stop.isSet {
            let start = ContinuousClock.now
            do {
                let response = try client.callBlocking(method, request, timeout: timeout)
                if response.status == .serving {
                    recorder.success(ContinuousClock.now - start)
                } else {
                    recorder.failure("NOT_SERVING")
                }
            } catch let status as RPCStatus {
                recorder.failure(status.code.name)
                if status.code == .unavailable { Thread.sleep(forTimeInterval: 0.01) }
            } catch {
                recorder.failure("ERROR")
            }
        }
    }

    func close() {
        client.close()
    }
}
