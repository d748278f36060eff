import ArgumentParser
import Foundation
import SVXClient
import SVXRPC

/// Options every command that talks to the services takes.
struct ClientOptions: ParsableArguments {
    @Option(name: .customLong("auth-endpoint"), help: "Auth's endpoint (default: $SVX_AUTH_ENDPOINT or tcp://127.0.0.1:7101).")
    var authEndpoint: String?

    @Flag(help: "Print machine-readable JSON on stdout.")
    var json = false

    var endpoints: ServiceEndpoints {
        var endpoints = ServiceEndpoints.fromEnvironment()
        if let authEndpoint { endpoints.auth = authEndpoint }
        return endpoints
    }

    func accountClient() throws -> AccountClient {
        AccountClient(auth: try RPCClient(endpoint: endpoints.auth))
    }
}

/// The passphrase for scripts and people: `$SVX_PASSPHRASE`, else a no-echo prompt on a terminal,
/// else the first line of stdin.
func readPassphrase(prompt: String, confirm: Bool = false) throws -> String {
    if let value = ProcessInfo.processInfo.environment["SVX_PASSPHRASE"], !value.isEmpty { return value }
    let passphrase = try Terminal.passphrase(prompt: prompt)
    guard !passphrase.isEmpty else { throw CLIError("the passphrase is empty") }
    if confirm && isatty(STDIN_FILENO) == 1 {
        guard try Terminal.passphrase(prompt: "Repeat the passphrase: ") == passphrase else {
            throw CLIError("the passphrases differ")
        }
    }
    return passphrase
}

/// Prints a value as JSON (sorted keys) on stdout.
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
    Terminal.printLine(String(decoding: data, as: UTF8.self))
}

/// Runs a client flow, turning the server's statuses into one clear line.
func clientFlow<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let status as RPCStatus {
        switch status.code {
        case .unavailable, .deadlineExceeded:
            throw CLIError("cannot reach svx (\(status.code.name)): \(status.message). Is the stack up (`make up`)?")
        case .unauthenticated:
            throw CLIError(status.message.isEmpty ? "not authenticated" : status.message)
        case .resourceExhausted:
            let wait = status.details["retry_after_ms"].flatMap(Int.init).map { " Try again in \(($0 + 999) / 1000) s." } ?? ""
            throw CLIError("\(status.message).\(wait)")
        default:
            throw CLIError("\(status.code.name): \(status.message)")
        }
    } catch let error as SVXClientError {
        throw CLIError(error.message)
    }
}

extension Date {
    var iso8601: String { ISO8601DateFormatter().string(from: self) }
}
