import Foundation
import SVXProto
import SVXRPC
import Synchronization

/// `svx.rpc.v1.Test/*`: registered only with `SVX_ENABLE_TEST_METHODS=1`, for the integration tests
/// of deadlines and graceful shutdown. Sleep is bounded to 10 s.
enum TestMethods {
    static let sleep = RPCMethod<Svx_Rpc_V1_SleepRequest, Svx_Rpc_V1_SleepResponse>("svx.rpc.v1.Test/Sleep")
    static let executions = RPCMethod<Svx_Rpc_V1_ExecutionsRequest, Svx_Rpc_V1_ExecutionsResponse>("svx.rpc.v1.Test/Executions")
    static let migrations = RPCMethod<Svx_Rpc_V1_MigrationsRequest, Svx_Rpc_V1_MigrationsResponse>("svx.rpc.v1.Test/Migrations")
    static let whoAmI = RPCMethod<Svx_Rpc_V1_WhoAmIRequest, Svx_Rpc_V1_WhoAmIResponse>("svx.rpc.v1.Test/WhoAmI")
    private static let sleepExecutions = Atomic<UInt64>(0)

    static func register(_ routes: ServiceRoutes, schema: String) {
        routes.register(sleep) { request, _, _ in
            guard request.milliseconds <= 10_000 else {
                throw RPCStatus(.invalidArgument, "milliseconds must be at most 10000", details: ["field": "milliseconds"])
            }
            sleepExecutions.add(1, ordering: .relaxed)
            Thread.sleep(forTimeInterval: Double(request.milliseconds) / 1000)
            var response = Svx_Rpc_V1_SleepResponse()
            response.sleptMs = request.milliseconds
            return response
        }
        routes.register(executions) { _, _, _ in
            var response = Svx_Rpc_V1_ExecutionsResponse()
            response.sleepExecutions = sleepExecutions.load(ordering: .relaxed)
            return response
        }
        routes.registerAuthenticated(whoAmI) { _, _, _, session in
            var response = Svx_Rpc_V1_WhoAmIResponse()
            response.userID = session.userID
            response.sessionID = session.sessionID
            return response
        }
        // `schema` is the service's own name, never caller input.
        let query = "SELECT version FROM \(schema).schema_migrations ORDER BY version"
        routes.register(migrations) { _, _, worker in
            var response = Svx_Rpc_V1_MigrationsResponse()
            response.versions = try worker.database.query(query).map { try Int32($0.decode(Int.self, at: 0)) }
            return response
        }
    }
}
