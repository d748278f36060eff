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
        let stack = try await TestStack.start([.auth])
        defer { stack.stop() }
        let auth = stack[.auth]
        let account = AccountClient(auth: try auth.client())
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
        let ended = await status { try await account.whoAmI(signUp.session) }
        #expect(ended?.code == .unauthenticated)
        #expect(try await account.whoAmI(again).userID == again.userID)
    }

    @Test func commandLineSignUpLoginWhoAmIAndLogout() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let cli = try stack.commandLine()
        let (home, svx) = (cli.home, cli.svx)
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = "a long passphrase for the cli"

        let signUp = try await ChildProcess.runSeparately(svx, ["signup", "--json"], environment: environment, timeout: .seconds(120))
        #expect(signUp.status == 0, "\(signUp.stdout)\(signUp.stderr)")
        // The RSA-4096 keypair takes seconds: progress is shown on stderr, stdout stays JSON.
        #expect(signUp.stderr.contains("Generating your RSA-4096 keypair") && signUp.stderr.contains("done ("), "\(signUp.stderr)")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(signUp.stdout.utf8)) as? [String: Any])
        #expect(fields["keys_ready"] as? Bool == true)
        let secretKey = try #require(fields["secret_key"] as? String)
        #expect(try SecretKey(parsing: secretKey).username == fields["username"] as? String)

        // The session file holds a bearer token: owner-only, in an owner-only directory. No Secret Key kept.
        let sessionFile = home.appendingPathComponent("session.json").path
        #expect(try FileManager.default.attributesOfItem(atPath: sessionFile)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: home.path)[.posixPermissions] as? Int == 0o700)
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("secret-key").path))
        #expect(!(try String(contentsOfFile: sessionFile, encoding: .utf8)).contains(secretKey))

        let whoami = try await ChildProcess.run(svx, ["whoami"], environment: environment)
        #expect(whoami.status == 0 && whoami.output.contains(fields["username"] as! String), "\(whoami.output)")

        let logout = try await ChildProcess.run(svx, ["logout"], environment: environment)
        #expect(logout.status == 0, "\(logout.output)")
        let afterLogout = try await ChildProcess.run(svx, ["whoami"], environment: environment)
        #expect(afterLogout.status != 0 && afterLogout.output.contains("not logged in"), "\(afterLogout.output)")

        var loginEnvironment = environment
        loginEnvironment["SVX_SECRET_KEY"] = secretKey
        let login = try await ChildProcess.run(svx, ["login"], environment: loginEnvironment, timeout: .seconds(60))
        #expect(login.status == 0, "\(login.output)")
        let sessions = try await ChildProcess.run(svx, ["sessions", "list", "--json"], environment: environment)
        #expect(sessions.status == 0 && sessions.output.contains("\"current\" : true"), "\(sessions.output)")

        loginEnvironment["SVX_PASSPHRASE"] = "not the passphrase"
        let wrong = try await ChildProcess.run(svx, ["login"], environment: loginEnvironment, timeout: .seconds(60))
        #expect(wrong.status != 0, "\(wrong.output)")
        #expect(!wrong.output.contains(secretKey))
    }

    /// The acceptance check of the Keystore issue, through the `svx` binary: keys after sign-up, a passphrase
    /// change after which only the new passphrase logs in, a rotation.
    @Test func commandLineKeysPassphraseChangeAndRotation() async throws {
        let stack = try await TestStack.start([.auth, .keystore])
        defer { stack.stop() }
        let cli = try stack.commandLine()
        let svx = cli.svx
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = "the old passphrase"

        let signUp = try await ChildProcess.runSeparately(svx, ["signup", "--json"], environment: environment, timeout: .seconds(120))
        #expect(signUp.status == 0, "\(signUp.stdout)\(signUp.stderr)")
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(signUp.stdout.utf8)) as? [String: Any])
        environment["SVX_SECRET_KEY"] = try #require(fields["secret_key"] as? String)

        func keys() async throws -> [String: Any] {
            let list = try await ChildProcess.runSeparately(svx, ["keys", "list", "--json"], environment: environment)
            #expect(list.status == 0, "\(list.stdout)\(list.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        }
        var listed = try await keys()
        #expect((listed["kek"] as? [String: Any])?["kek_version"] as? Int == 1)
        #expect((listed["deks"] as? [[String: Any]])?.map { $0["external_id"] as? String } == ["private"])
        let keypairs = try #require(listed["keypairs"] as? [[String: Any]])
        #expect(keypairs.count == 1 && keypairs[0]["bits"] as? Int == 4096)
        #expect(keypairs[0]["external_identifiers"] as? [String] == ["auth"])
        let human = try await ChildProcess.run(svx, ["keys", "list"], environment: environment)
        #expect(human.status == 0 && human.output.contains("KEK        version 1") && human.output.contains("RSA-4096"), "\(human.output)")

        var change = environment
        change["SVX_NEW_PASSPHRASE"] = "the new passphrase"
        let changed = try await ChildProcess.run(svx, ["passphrase", "change"], environment: change, timeout: .seconds(60))
        #expect(changed.status == 0 && changed.output.contains("Passphrase changed"), "\(changed.output)")
        // The session the change kept is still good.
        #expect(try await ChildProcess.run(svx, ["whoami"], environment: environment).status == 0)

        let old = try await ChildProcess.run(svx, ["login"], environment: environment, timeout: .seconds(60))
        #expect(old.status != 0 && old.output.contains("invalid username or passphrase"), "\(old.output)")
        environment["SVX_PASSPHRASE"] = "the new passphrase"
        let new = try await ChildProcess.run(svx, ["login"], environment: environment, timeout: .seconds(60))
        #expect(new.status == 0, "\(new.output)")
        listed = try await keys()
        #expect((listed["kek"] as? [String: Any])?["credential_generation"] as? Int == 2)

        let rotate = try await ChildProcess.run(svx, ["keys", "rotate"], environment: environment, timeout: .seconds(60))
        #expect(rotate.status == 0 && rotate.output.contains("KEK version 2"), "\(rotate.output)")
        listed = try await keys()
        #expect((listed["kek"] as? [String: Any])?["kek_version"] as? Int == 2)
        #expect((listed["deks"] as? [[String: Any]])?.allSatisfy { $0["kek_version"] as? Int == 2 } == true)
        // After the rotation the new passphrase still logs in and opens everything.
        let again = try await ChildProcess.run(svx, ["login"], environment: environment, timeout: .seconds(60))
        #expect(again.status == 0, "\(again.output)")
    }
}
