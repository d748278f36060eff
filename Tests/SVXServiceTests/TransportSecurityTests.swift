import Foundation
import SVXContracts
import SVXRPC
import SVXService
import Testing

/// What the services and clients read about CURVE (`SVX_TRANSPORT`, `SVX_KEYS_DIR`, `SVX_<SERVICE>_PUBLIC_KEY`,
/// `SVX_<SERVICE>_SECRET_KEY_FILE`): pure functions of the environment and the key files.
@Suite struct TransportSecurityTests {
    /// A directory with every service's keypair, as `make up` makes it; removed by the caller.
    static func keysDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("svx-keys-\(UUID().uuidString)").path
        for service in TransportSecurity.services {
            #expect(try TransportSecurity.generateKeyPair(service: service, in: directory))
        }
        return directory
    }

    @Test func curveIsTheDefaultAndPlaintextOnlyWhenAskedFor() throws {
        #expect(try TransportSecurity.fromEnvironment([:]).mode == .curve)
        #expect(try TransportSecurity.fromEnvironment(["SVX_TRANSPORT": "plaintext"]).mode == .plaintext)
        #expect(try TransportSecurity.fromEnvironment(["SVX_TRANSPORT": "plaintext"]).client(of: "vault") == nil)
        #expect(throws: TransportConfigurationError(variable: "SVX_TRANSPORT", message: "expected curve or plaintext, got \"none\"")) {
            try TransportSecurity.fromEnvironment(["SVX_TRANSPORT": "none"])
        }
        // CURVE with no key configured: a client and a service are refused, naming what to set.
        let bare = try TransportSecurity.fromEnvironment([:])
        #expect { _ = try bare.client(of: "vault") } throws: { error in
            (error as? TransportConfigurationError)?.variable == "SVX_VAULT_PUBLIC_KEY"
        }
        #expect { _ = try bare.server(of: "vault") } throws: { error in
            (error as? TransportConfigurationError)?.variable == "SVX_VAULT_SECRET_KEY_FILE"
        }
        // A service's configuration carries it, and lists every variable it reads.
        #expect(try ServiceConfiguration.fromEnvironment(service: "vault", [:]).transport.mode == .curve)
        let variables = ServiceConfiguration.variables(service: "vault")
        for variable in ["SVX_TRANSPORT", "SVX_KEYS_DIR", "SVX_AUTH_PUBLIC_KEY", "SVX_VAULT_SECRET_KEY_FILE"] {
            #expect(variables.contains(variable))
        }
        #expect(!variables.contains("SVX_AUTH_SECRET_KEY_FILE"))
    }

    @Test func keysComeFromTheDirectoryAndTheVariablesWin() throws {
        let directory = try Self.keysDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Generating again keeps the long-term key.
        let before = try String(contentsOfFile: "\(directory)/vault.pub", encoding: .utf8)
        #expect(try !TransportSecurity.generateKeyPair(service: "vault", in: directory))
        #expect(try String(contentsOfFile: "\(directory)/vault.pub", encoding: .utf8) == before)
        // A public key file gone missing is written again from the kept secret key.
        try FileManager.default.removeItem(atPath: "\(directory)/vault.pub")
        #expect(try !TransportSecurity.generateKeyPair(service: "vault", in: directory))
        #expect(try String(contentsOfFile: "\(directory)/vault.pub", encoding: .utf8) == before)
        let secretMode = try FileManager.default.attributesOfItem(atPath: "\(directory)/vault.key")[.posixPermissions] as? Int
        #expect(secretMode == 0o600)

        let transport = try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": directory])
        let vault = try transport.keyPair(of: "vault")
        #expect(try transport.publicKey(of: "vault") == vault.publicKey)
        #expect(try transport.client(of: "vault")?.serverPublicKey == vault.publicKey)
        let server = try #require(try transport.server(of: "vault"))
        #expect(server.keyPair == vault)
        #expect(Set(server.peers.keys) == ["auth", "keystore", "sharing", "classification"])
        #expect(server.peers["sharing"] == (try transport.keyPair(of: "sharing")).publicKey)

        // SVX_<SERVICE>_PUBLIC_KEY wins over the directory; a malformed one is refused at once, naming it.
        let other = try CurveKeyPair.generate()
        let pinned = try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": directory, "SVX_AUTH_PUBLIC_KEY": other.z85PublicKey])
        #expect(try pinned.publicKey(of: "auth") == other.publicKey)
        #expect { try TransportSecurity.fromEnvironment(["SVX_AUTH_PUBLIC_KEY": "not a key"]) } throws: { error in
            (error as? TransportConfigurationError)?.variable == "SVX_AUTH_PUBLIC_KEY"
        }
        // A published public key that is not the service's own: the service refuses to start with it.
        let mismatched = try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": directory, "SVX_VAULT_PUBLIC_KEY": other.z85PublicKey])
        #expect { _ = try mismatched.server(of: "vault") } throws: { error in
            (error as? TransportConfigurationError)?.variable == "SVX_VAULT_PUBLIC_KEY"
        }
        // SVX_<SERVICE>_SECRET_KEY_FILE wins over the directory's file.
        let elsewhere = try Self.keysDirectory()
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        let fromFile = try TransportSecurity.fromEnvironment([
            "SVX_KEYS_DIR": directory, "SVX_VAULT_SECRET_KEY_FILE": "\(elsewhere)/vault.key",
        ])
        #expect(try fromFile.keyPair(of: "vault") == (try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": elsewhere]).keyPair(of: "vault")))
    }

    @Test func aSecretKeyOthersCanReadOrThatIsNotAKeyIsRefused() throws {
        let directory = try Self.keysDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let transport = try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": directory])
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: "\(directory)/vault.key")
        #expect { _ = try transport.keyPair(of: "vault") } throws: { error in
            let error = error as? TransportConfigurationError
            return error?.variable == "SVX_VAULT_SECRET_KEY_FILE" && error?.message.contains("readable by others") == true
        }
        try Data("short\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/vault.key"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: "\(directory)/vault.key")
        #expect { _ = try transport.keyPair(of: "vault") } throws: { error in
            (error as? TransportConfigurationError)?.message.contains("not a CURVE secret key") == true
        }
        #expect { _ = try transport.keyPair(of: "missing") } throws: { error in
            (error as? TransportConfigurationError)?.message.contains("cannot read") == true
        }
        // A public key file that is not one: refused when the directory is read.
        try Data("nonsense".utf8).write(to: URL(fileURLWithPath: "\(directory)/auth.pub"))
        #expect { try TransportSecurity.fromEnvironment(["SVX_KEYS_DIR": directory]) } throws: { error in
            (error as? TransportConfigurationError)?.variable == "SVX_KEYS_DIR"
        }
    }
}
