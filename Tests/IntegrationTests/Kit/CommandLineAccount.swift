import Foundation
import SVXTestHarness
import Testing

/// A user of the `svx` command line against a ``TestStack``: signed up (`svx signup --json`) with a home of its own,
/// its passphrase and Secret Key in its environment, so every later command runs without a prompt.
struct CommandLineAccount {
    let svx: String
    var environment: [String: String]
    var username = ""
    var userID = ""

    /// A new account on `stack`.
    static func signUp(_ stack: TestStack, passphrase: String) async throws -> CommandLineAccount {
        let cli = try stack.commandLine()
        var environment = cli.environment
        environment["SVX_PASSPHRASE"] = passphrase
        var account = CommandLineAccount(svx: cli.svx, environment: environment)
        let signUp = try await account.json(["signup"])
        account.environment["SVX_SECRET_KEY"] = try #require(signUp["secret_key"] as? String)
        account.username = try #require(signUp["username"] as? String)
        account.userID = try #require(signUp["user_id"] as? String)
        return account
    }

    /// Runs `svx arguments`, expecting exit status `expected` (an issue otherwise, with both outputs).
    @discardableResult
    func run(
        _ arguments: [String], expecting expected: Int32 = 0, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (stdout: String, stderr: String) {
        let run = try await ChildProcess.runSeparately(svx, arguments, environment: environment, timeout: .seconds(240))
        #expect(run.status == expected, "\(arguments): \(run.stdout)\(run.stderr)", sourceLocation: sourceLocation)
        return (run.stdout, run.stderr)
    }

    /// `svx arguments --json`, its standard output read as a JSON object.
    func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> [String: Any] {
        let output = try await run(arguments + ["--json"], sourceLocation: sourceLocation).stdout
        return try #require(
            try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "\(output)", sourceLocation: sourceLocation)
    }
}
