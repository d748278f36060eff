import Cryppo
import Foundation
import SVXClient
import SVXContracts
import SVXRPC
import SVXTestHarness
import Testing

/// Sign-up and login as a user does them: through the client SDK and through the `svx` command
/// line, against a real svx-auth and PostgreSQL.
@Suite(.serialized) struct AccountFlowTests {
    @Test func sdkSignUpLoginWhoAmIAndLogout() async throws {
        let (auth, _) = try await startService("auth")
        defer { auth.stop() }
        let account = AccountClient(auth: try RPCClient(endpoint: auth.endpoint))
        let signUp = try await account.signUp(passphrase: "correct horse battery staple")
        #expect(signUp.secretKey.username == signUp.session.username)
        #expect(try await account.whoAmI(signUp.session).userID == signUp.session.userID)

        let again = try await account.logIn(secretKey: signUp.secretKey, passphrase: "correct horse battery staple")
        #expect(again.userID == signUp.session.userID)
        #expect(again.token != signUp.session.token)
        #expect(try await account.sessions(again).count == 2)

        await #expect(throws: RPCStatus.self) {
            _ = try await account.logIn(secretKey: signUp.secretKey, passphrase: "wrong horse")
        }
        try await account.logOut(signUp.session)
        let ended = await statusOf { try await account.whoAmI(signUp.session) }
        #expect(ended?.code == .unauthenticated)
        #expect(try await account.whoAmI(again).userID == again.userID)
    }

    @Test func commandLineSignUpLoginWhoAmIAndLogout() async throws {
        let (auth, _) = try await startService("auth")
        defer { auth.stop() }
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("svx-home-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let svx = try ServiceProcess.binaryDirectory().appendingPathComponent("svx").path
        var environment = ProcessInfo.processInfo.environment
        environment["SVX_HOME"] = home.path
        environment["SVX_AUTH_ENDPOINT"] = auth.endpoint
        environment["SVX_PASSPHRASE"] = "a long passphrase for the cli"

        let signUp = try ChildProcess.run(svx, ["signup", "--json"], environment: environment, timeout: .seconds(60))
        #expect(signUp.status == 0, "\(signUp.output)")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(signUp.output.utf8)) as? [String: Any])
        let secretKey = try #require(fields["secret_key"] as? String)
        #expect(try SecretKey(parsing: secretKey).username == fields["username"] as? String)

        // The session file holds a bearer token: owner-only, in an owner-only directory. No Secret Key kept.
        let sessionFile = home.appendingPathComponent("session.json").path
        #expect(try FileManager.default.attributesOfItem(atPath: sessionFile)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: home.path)[.posixPermissions] as? Int == 0o700)
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("secret-key").path))
        #expect(!(try String(contentsOfFile: sessionFile, encoding: .utf8)).contains(secretKey))

        let whoami = try ChildProcess.run(svx, ["whoami"], environment: environment)
        #expect(whoami.status == 0 && whoami.output.contains(fields["username"] as! String), "\(whoami.output)")

        let logout = try ChildProcess.run(svx, ["logout"], environment: environment)
        #expect(logout.status == 0, "\(logout.output)")
        let afterLogout = try ChildProcess.run(svx, ["whoami"], environment: environment)
        #expect(afterLogout.status != 0 && afterLogout.output.contains("not logged in"), "\(afterLogout.output)")

        var loginEnvironment = environment
        loginEnvironment["SVX_SECRET_KEY"] = secretKey
        let login = try ChildProcess.run(svx, ["login"], environment: loginEnvironment, timeout: .seconds(60))
        #expect(login.status == 0, "\(login.output)")
        let sessions = try ChildProcess.run(svx, ["sessions", "list", "--json"], environment: environment)
        #expect(sessions.status == 0 && sessions.output.contains("\"current\" : true"), "\(sessions.output)")

        loginEnvironment["SVX_PASSPHRASE"] = "not the passphrase"
        let wrong = try ChildProcess.run(svx, ["login"], environment: loginEnvironment, timeout: .seconds(60))
        #expect(wrong.status != 0, "\(wrong.output)")
        #expect(!wrong.output.contains(secretKey))
    }
}
