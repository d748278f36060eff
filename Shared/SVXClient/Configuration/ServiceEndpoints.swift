import Foundation

/// Where the client finds each service. Same variables and defaults as the services themselves
/// (README.md, "Configuration").
public struct ServiceEndpoints: Sendable, Codable, Equatable {
    public var auth: String
    public var keystore: String
    public var vault: String
    public var sharing: String
    public var classification: String

    public init(auth: String, keystore: String, vault: String, sharing: String, classification: String) {
        self.auth = auth
        self.keystore = keystore
        self.vault = vault
        self.sharing = sharing
        self.classification = classification
    }

    /// `SVX_<SERVICE>_ENDPOINT`, else `tcp://127.0.0.1:7101` ... `7105`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> ServiceEndpoints {
        func endpoint(_ name: String, _ port: Int) -> String {
            environment["SVX_\(name)_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "tcp://127.0.0.1:\(port)"
        }
        return ServiceEndpoints(
            auth: endpoint("AUTH", 7101), keystore: endpoint("KEYSTORE", 7102), vault: endpoint("VAULT", 7103),
            sharing: endpoint("SHARING", 7104), classification: endpoint("CLASSIFICATION", 7105))
    }
}
