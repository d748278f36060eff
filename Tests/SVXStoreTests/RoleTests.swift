import Foundation
import SVXStore
import SVXTestHarness
import Testing

@Suite("Roles and schemas from bootstrap.sql")
struct RoleTests {
    let database: TestDatabase
    init() throws { database = try sharedDatabase("roles") }

    func error(_ body: () throws -> Void) -> DatabaseError? {
        do {
            try body()
            return nil
        } catch {
            return error as? DatabaseError
        }
    }

    @Test func aServiceCannotReadAnotherServicesSchema() throws {
        let keystore = try database.connect(role: "svx_keystore")
        try keystore.execute("CREATE TABLE keystore.secrets (id int4, wrapped text)")
        try keystore.execute("INSERT INTO keystore.secrets VALUES (1, $1)", "Aes256Gcm.abc.def")

        let auth = try database.connect(role: "svx_auth")
        let denied = try #require(error { try auth.query("SELECT * FROM keystore.secrets") })
        #expect(denied.kind == .insufficientPrivilege)
        #expect(denied.sqlState == "42501")
        #expect(error { try auth.execute("INSERT INTO keystore.secrets VALUES (2, 'x')") }?.kind == .insufficientPrivilege)
        #expect(error { try auth.execute("GRANT USAGE ON SCHEMA keystore TO svx_auth") }?.kind == .insufficientPrivilege)
        #expect(error { try auth.execute("SET ROLE svx_keystore") }?.kind == .insufficientPrivilege)
    }

    @Test func aServiceCannotCreateInPublicOrNewSchemas() throws {
        let auth = try database.connect(role: "svx_auth")
        #expect(error { try auth.execute("CREATE TABLE public.leak (a int4)") }?.kind == .insufficientPrivilege)
        #expect(error { try auth.execute("CREATE SCHEMA mine") }?.kind == .insufficientPrivilege)
        #expect(error { try auth.execute("CREATE TEMP TABLE scratch (a int4)") }?.kind == .insufficientPrivilege)
    }

    @Test func unqualifiedNamesResolveInTheOwnSchema() throws {
        let auth = try database.connect(role: "svx_auth")
        try auth.execute("CREATE TABLE own_table (a int4)")
        let admin = try database.connect()
        #expect(try admin.query("SELECT to_regclass('auth.own_table')::text").first?.decode(String?.self, at: 0)
            == "auth.own_table")
        #expect(try auth.query("SELECT current_schema()").first?.decode(String.self, at: 0) == "auth")
    }

    @Test func bootstrapIsIdempotent() throws {
        let admin = try database.connect()
        let sql = try String(contentsOf: TestPostgres.bootstrapFile(), encoding: .utf8)
        try admin.executeScript(sql)
        try admin.executeScript(sql)
        let owners = try admin.query(
            "SELECT nspname::text, pg_get_userbyid(nspowner)::text FROM pg_namespace "
                + "WHERE nspname IN ('auth','keystore','vault','sharing','classification') ORDER BY 1")
        #expect(try owners.map { try $0.decode(String.self, at: 1) }
            == ["svx_auth", "svx_classification", "svx_keystore", "svx_sharing", "svx_vault"])
        let roles = try admin.query(
            "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'svx\\_%' AND rolcanlogin AND NOT rolsuper")
        #expect(try roles.first?.decode(Int.self, at: 0) == 5)
    }
}
