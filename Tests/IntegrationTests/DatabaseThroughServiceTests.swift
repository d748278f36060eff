import Foundation
import Logging
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// Services, their schemas and PostgreSQL, through real processes.
@Suite(.serialized) struct DatabaseThroughServiceTests {
    @Test func migrationsRunTwiceAreANoOp() async throws {
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let database = stack.database
        #expect(stack[.auth].stop() == 0)
        let admin = try PostgresConnection(conninfo: database.superuserConninfo, logger: Logger(label: "test"))
        let query = "SELECT version, name, checksum, applied_at::text FROM auth.schema_migrations ORDER BY version"
        func rows() throws -> [String] {
            try admin.query(query).map {
                "\(try $0.decode(Int.self, at: 0)) \(try $0.decode(String.self, at: 1)) \(try $0.decode(String.self, at: 2)) \(try $0.decode(String.self, at: 3))"
            }
        }
        let before = try rows()
        #expect(!before.isEmpty)
        try await stack.restart(.auth)
        #expect(try rows() == before, "the second start applied or rewrote migrations")
        let versions = try await stack.client(.auth).call(TestRPC.migrations, .init(), timeout: .seconds(2)).versions
        #expect(versions.count == before.count)
    }

    @Test func eachServiceRoleReachesOnlyItsOwnSchema() async throws {
        let stack = try await TestStack.start(Set(TestService.allCases))  // every schema migrated by its own service
        defer { stack.stop() }
        let database = stack.database
        let allServices = TestService.allCases.map(\.rawValue)
        for owner in allServices {
            let connection = try PostgresConnection(conninfo: database.conninfo(role: "svx_\(owner)"), logger: Logger(label: "test"))
            #expect(try connection.query("SELECT count(*) FROM \(owner).schema_migrations").count == 1)
            for other in allServices where other != owner {
                #expect {
                    _ = try connection.query("SELECT count(*) FROM \(other).schema_migrations")
                } throws: { error in
                    (error as? DatabaseError)?.kind == .insufficientPrivilege
                }
            }
            #expect(throws: DatabaseError.self) {
                _ = try connection.execute("CREATE TABLE public.svx_intruder (id int)")
            }
        }
    }

    @Test func serviceRecoversFromAPostgreSQLRestartWithoutRestarting() async throws {
        // A cluster of its own: restarting the shared one would disturb tests running beside this one.
        let postgres = try TestPostgres.start()
        defer { postgres.stop() }
        let database = try await postgres.createDatabase(prefix: "restart")
        let stack = try await TestStack.start([.auth], environment: [.auth: ["SVX_WORKERS": "2"]], database: database)
        defer { stack.stop() }
        let (service, client) = (stack[.auth], stack.client(.auth))
        let versions = try await client.call(TestRPC.migrations, .init(), timeout: .seconds(2)).versions
        #expect(versions.first == 1 && versions == Array(1...Int32(versions.count)))

        try postgres.restart()

        // Bounded: every worker connection answers again and Health is SERVING, same process.
        var recovered = 0
        for _ in 0..<100 where recovered < 6 {
            if let again = try? await client.call(TestRPC.migrations, .init(), timeout: .seconds(2)).versions, again == versions {
                recovered += 1
            } else {
                recovered = 0
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(recovered >= 6, "the workers' connections did not recover; log:\n\(service.log())")
        var serving = false
        for _ in 0..<50 where !serving {
            serving = (try? await client.call(HealthRPC.check, .init(), timeout: .seconds(1)).status) == .serving
            if !serving { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(serving)
        #expect(service.isRunning)
    }

    @Test func aServiceWithoutItsDatabaseExitsWithAClearError() async throws {
        let port = try freeLoopbackPort()
        do {
            let service = try await ServiceProcess.start(
                "vault", databaseURL: "postgresql://svx_vault@127.0.0.1:\(port)/svx",
                environment: ["SVX_DATABASE_CONNECT_TIMEOUT_MS": "500", "SVX_CLASSIFICATION_ENDPOINT": "none"],
                healthyWithin: .seconds(10))
            service.stop()
            Issue.record("svx-vault became healthy without a database")
        } catch {
            #expect("\(error)".contains("exited with 1"), "\(error)")
        }
    }

    @Test func aMalformedConfigurationExitsTwoNamingTheVariable() async throws {
        let database = try await TestPostgres.shared().createDatabase(prefix: "config")
        do {
            let service = try await ServiceProcess.start(
                "vault", databaseURL: database.conninfo(role: "svx_vault"),
                environment: ["SVX_WORKERS": "many", "SVX_CLASSIFICATION_ENDPOINT": "none"], healthyWithin: .seconds(10))
            service.stop()
            Issue.record("svx-vault started with SVX_WORKERS=many")
        } catch {
            #expect("\(error)".contains("exited with 2"), "\(error)")
            #expect("\(error)".contains("SVX_WORKERS"), "\(error)")
        }
    }
}
