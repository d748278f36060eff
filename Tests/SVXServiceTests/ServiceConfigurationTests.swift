import Foundation
import Logging
import SVXService
import Testing

@Suite struct ServiceConfigurationTests {
    @Test func defaultsWhenNothingIsSet() throws {
        let configuration = try ServiceConfiguration.fromEnvironment(service: "vault", [:])
        #expect(configuration.endpoint == "tcp://127.0.0.1:7103")
        #expect(configuration.databaseURL == "postgresql://svx_vault@127.0.0.1:55432/svx")
        #expect(configuration.workers == 4)
        #expect(configuration.maxMessageBytes == 4 << 20)
        #expect(configuration.queueBytes == 32 << 20)
        #expect(configuration.defaultTimeout == .seconds(30))
        #expect(configuration.logLevel == .info)
        #expect(configuration.logFormat == .text)
        #expect(configuration.enableTestMethods == false)
    }

    @Test func eachServiceHasAMessageLimitThatFitsItsLargestRequest() throws {
        let limits = try ["auth", "keystore", "vault", "sharing", "classification"].map {
            try ServiceConfiguration.fromEnvironment(service: $0, [:]).maxMessageBytes
        }
        #expect(limits == [64 << 10, 4 << 20, 4 << 20, 4 << 20, 1 << 20])
        // SVX_MAX_MESSAGE_BYTES sets every service's; SVX_<SERVICE>_MAX_MESSAGE_BYTES one service's, first.
        #expect(try ServiceConfiguration.fromEnvironment(service: "auth", ["SVX_MAX_MESSAGE_BYTES": "2048"]).maxMessageBytes == 2048)
        let both = ["SVX_MAX_MESSAGE_BYTES": "2048", "SVX_AUTH_MAX_MESSAGE_BYTES": "4096"]
        #expect(try ServiceConfiguration.fromEnvironment(service: "auth", both).maxMessageBytes == 4096)
        #expect(try ServiceConfiguration.fromEnvironment(service: "vault", both).maxMessageBytes == 2048)
        #expect(ServiceConfiguration.variables(service: "auth").contains("SVX_AUTH_MAX_MESSAGE_BYTES"))
    }

    @Test func vaultQuotasHaveDefaultsAndRefuseBadValuesNamingTheVariable() throws {
        #expect(try VaultConfiguration.fromEnvironment([:]) == VaultConfiguration(
            maxItems: 1_000_000, maxAttachmentBytes: 10 << 30, maxUnfinishedAttachments: 20))
        let set = try VaultConfiguration.fromEnvironment([
            "SVX_VAULT_QUOTA_ITEMS": "5", "SVX_VAULT_QUOTA_ATTACHMENT_BYTES": "1000", "SVX_VAULT_QUOTA_UNFINISHED_UPLOADS": "2",
        ])
        #expect(set == VaultConfiguration(maxItems: 5, maxAttachmentBytes: 1000, maxUnfinishedAttachments: 2))
        for variable in VaultConfiguration.variables {
            for bad in ["0", "-1", "many"] {
                #expect {
                    _ = try VaultConfiguration.fromEnvironment([variable: bad])
                } throws: { error in
                    (error as? ConfigurationError)?.variable == variable
                }
            }
        }
        #expect(Set(VaultConfiguration.variables).isSubset(of: ServiceConfiguration.variables(service: "vault")))
    }

    @Test func readsEveryVariable() throws {
        let configuration = try ServiceConfiguration.fromEnvironment(service: "auth", [
            "SVX_AUTH_ENDPOINT": "tcp://127.0.0.1:9000",
            "SVX_AUTH_DATABASE_URL": "postgresql://x@127.0.0.1:1/y",
            "SVX_WORKERS": "7", "SVX_MAX_MESSAGE_BYTES": "2048", "SVX_QUEUE_CAPACITY": "5", "SVX_QUEUE_BYTES": "100000",
            "SVX_DEFAULT_TIMEOUT_MS": "1500", "SVX_DATABASE_CONNECT_TIMEOUT_MS": "0",
            "SVX_LOG_LEVEL": "DEBUG", "SVX_LOG_FORMAT": "json", "SVX_ENABLE_TEST_METHODS": "1",
            "SVX_VAULT_ENDPOINT": "tcp://127.0.0.1:1",  // another service's variable is not ours
        ])
        #expect(configuration.endpoint == "tcp://127.0.0.1:9000")
        #expect(configuration.databaseURL == "postgresql://x@127.0.0.1:1/y")
        #expect(configuration.workers == 7)
        #expect(configuration.maxMessageBytes == 2048)
        #expect(configuration.queueCapacity == 5)
        #expect(configuration.queueBytes == 100_000)
        #expect(configuration.defaultTimeout == .milliseconds(1500))
        #expect(configuration.databaseConnectTimeout == .zero)
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logFormat == .json)
        #expect(configuration.enableTestMethods)
    }

    @Test(arguments: [
        ("SVX_WORKERS", "0"), ("SVX_WORKERS", "four"), ("SVX_MAX_MESSAGE_BYTES", "-1"),
        ("SVX_KEYSTORE_MAX_MESSAGE_BYTES", "10"), ("SVX_QUEUE_BYTES", "1"),
        ("SVX_LOG_LEVEL", "loud"), ("SVX_LOG_FORMAT", "xml"), ("SVX_KEYSTORE_ENDPOINT", "http://x"),
    ])
    func refusesBadValuesNamingTheVariable(variable: String, value: String) {
        #expect {
            _ = try ServiceConfiguration.fromEnvironment(service: "keystore", [variable: value])
        } throws: { error in
            (error as? ConfigurationError)?.variable == variable
        }
    }

    @Test func keystoreRetentionDaysDefaultsTo14AndRefusesBadValues() throws {
        #expect(try KeystoreConfiguration.fromEnvironment([:]).wrapRetentionDays == 14)
        #expect(try KeystoreConfiguration.fromEnvironment(["SVX_KEYSTORE_WRAP_RETENTION_DAYS": "30"]).wrapRetentionDays == 30)
        for value in ["0", "-1", "3651", "two weeks"] {
            #expect {
                _ = try KeystoreConfiguration.fromEnvironment(["SVX_KEYSTORE_WRAP_RETENTION_DAYS": value])
            } throws: { error in
                (error as? ConfigurationError)?.variable == "SVX_KEYSTORE_WRAP_RETENTION_DAYS"
            }
        }
        #expect(ServiceConfiguration.variables(service: "keystore").contains("SVX_KEYSTORE_WRAP_RETENTION_DAYS"))
        #expect(!ServiceConfiguration.variables(service: "vault").contains("SVX_KEYSTORE_WRAP_RETENTION_DAYS"))
    }

    @Test func keystoreQuotasDefaultAndRefuseBadValues() throws {
        let defaults = try KeystoreConfiguration.fromEnvironment([:])
        #expect(defaults.maximumDataKeys == 2_000 && defaults.maximumKeypairs == 120 && defaults.maximumKeptRotations == 20)
        let set = try KeystoreConfiguration.fromEnvironment([
            "SVX_KEYSTORE_MAX_DATA_KEYS": "3", "SVX_KEYSTORE_MAX_KEYPAIRS": "1", "SVX_KEYSTORE_WRAP_RETENTION_DAYS": "",
            "SVX_KEYSTORE_MAX_KEPT_ROTATIONS": "2",
        ])
        #expect(set == KeystoreConfiguration(wrapRetentionDays: 14, maximumDataKeys: 3, maximumKeypairs: 1, maximumKeptRotations: 2))
        for variable in ["SVX_KEYSTORE_MAX_DATA_KEYS", "SVX_KEYSTORE_MAX_KEYPAIRS", "SVX_KEYSTORE_MAX_KEPT_ROTATIONS"] {
            for value in ["0", "-5", "1000001", "10 000", "lots"] {
                #expect {
                    _ = try KeystoreConfiguration.fromEnvironment([variable: value])
                } throws: { error in
                    (error as? ConfigurationError)?.variable == variable
                }
            }
            #expect(ServiceConfiguration.variables(service: "keystore").contains(variable))
            #expect(!ServiceConfiguration.variables(service: "classification").contains(variable))
        }
    }

    @Test func sharingCapsDefaultAndRefuseBadValues() throws {
        #expect(try SharingConfiguration.fromEnvironment([:]) == SharingConfiguration(
            maximumPendingInvitations: 100, maximumConnections: 5_000, maximumShares: 50_000, maximumSharesPerItem: 500))
        #expect(try SharingConfiguration.fromEnvironment([
            "SVX_SHARING_MAX_PENDING_INVITATIONS": "2", "SVX_SHARING_MAX_CONNECTIONS": "3", "SVX_SHARING_MAX_SHARES": "4",
            "SVX_SHARING_MAX_SHARES_PER_ITEM": "5",
        ]) == SharingConfiguration(
            maximumPendingInvitations: 2, maximumConnections: 3, maximumShares: 4, maximumSharesPerItem: 5))
        for (variable, tooMany) in [
            ("SVX_SHARING_MAX_PENDING_INVITATIONS", "100001"), ("SVX_SHARING_MAX_CONNECTIONS", "1000001"),
            ("SVX_SHARING_MAX_SHARES", "10000001"), ("SVX_SHARING_MAX_SHARES_PER_ITEM", "100001"),
        ] {
            for value in ["0", "-1", tooMany, "1e3", "some"] {
                #expect {
                    _ = try SharingConfiguration.fromEnvironment([variable: value])
                } throws: { error in
                    (error as? ConfigurationError)?.variable == variable
                }
            }
            #expect(ServiceConfiguration.variables(service: "sharing").contains(variable))
            #expect(!ServiceConfiguration.variables(service: "vault").contains(variable))
        }
        // Sharing asks the Keystore (nobody else does) and the Vault.
        #expect(ServiceConfiguration.variables(service: "sharing").contains("SVX_KEYSTORE_ENDPOINT"))
        #expect(ServiceConfiguration.variables(service: "sharing").contains("SVX_VAULT_ENDPOINT"))
        // The Vault asks Sharing (ForgetSharedEntities) and Classification; Classification asks neither Sharing nor the Keystore.
        #expect(ServiceConfiguration.peers["vault"] == ["classification", "sharing"])
        #expect(ServiceConfiguration.variables(service: "vault").contains("SVX_SHARING_ENDPOINT"))
        #expect(!ServiceConfiguration.variables(service: "classification").contains("SVX_SHARING_ENDPOINT"))
        for service in ["vault", "classification"] {
            #expect(!ServiceConfiguration.variables(service: service).contains("SVX_KEYSTORE_ENDPOINT"), "\(service)")
        }
    }

    @Test func classificationTombstoneQuotaDefaultsAndRefusesBadValues() throws {
        #expect(try ClassificationConfiguration.fromEnvironment([:]).maximumTombstones == 100_000)
        #expect(try ClassificationConfiguration.fromEnvironment(["SVX_CLASSIFICATION_MAX_TOMBSTONES": "4"]).maximumTombstones == 4)
        for value in ["0", "-1", "10000001", "4.5", "many"] {
            #expect {
                _ = try ClassificationConfiguration.fromEnvironment(["SVX_CLASSIFICATION_MAX_TOMBSTONES": value])
            } throws: { error in
                (error as? ConfigurationError)?.variable == "SVX_CLASSIFICATION_MAX_TOMBSTONES"
            }
        }
        #expect(ServiceConfiguration.variables(service: "classification").contains("SVX_CLASSIFICATION_MAX_TOMBSTONES"))
        #expect(!ServiceConfiguration.variables(service: "vault").contains("SVX_CLASSIFICATION_MAX_TOMBSTONES"))
    }

    @Test func peerEndpointDefaultsToThePeersPortAndNoneSwitchesItOff() throws {
        #expect(try ServiceConfiguration.peerEndpoint("classification", [:]) == "tcp://127.0.0.1:7105")
        #expect(try ServiceConfiguration.peerEndpoint("classification", ["SVX_CLASSIFICATION_ENDPOINT": ""]) == "tcp://127.0.0.1:7105")
        #expect(try ServiceConfiguration.peerEndpoint("vault", [:]) == "tcp://127.0.0.1:7103")
        #expect(try ServiceConfiguration.peerEndpoint("classification", ["SVX_CLASSIFICATION_ENDPOINT": "none"]) == nil)
        #expect(try ServiceConfiguration.peerEndpoint(
            "classification", ["SVX_CLASSIFICATION_ENDPOINT": "tcp://svx-classification:7105"]) == "tcp://svx-classification:7105")
        #expect(try ServiceConfiguration.peerEndpoint("vault", ["SVX_VAULT_ENDPOINT": "ipc:///tmp/vault"]) == "ipc:///tmp/vault")
        // Another peer's variable is not this one's.
        #expect(try ServiceConfiguration.peerEndpoint("vault", ["SVX_CLASSIFICATION_ENDPOINT": "none"]) == "tcp://127.0.0.1:7103")
    }

    @Test(arguments: ["http://x", "127.0.0.1:7105", "NONE", "off"])
    func aMalformedPeerEndpointNamesTheVariable(value: String) {
        #expect {
            _ = try ServiceConfiguration.peerEndpoint("classification", ["SVX_CLASSIFICATION_ENDPOINT": value])
        } throws: { error in
            (error as? ConfigurationError)?.variable == "SVX_CLASSIFICATION_ENDPOINT"
        }
    }

    @Test func peersAreAmongTheVariablesTheyRead() {
        let vault = ServiceConfiguration.variables(service: "vault")
        let classification = ServiceConfiguration.variables(service: "classification")
        #expect(vault.contains("SVX_CLASSIFICATION_ENDPOINT"))
        #expect(classification.contains("SVX_VAULT_ENDPOINT"))
        #expect(classification.contains("SVX_AUTH_ENDPOINT"))
        for service in ["auth", "keystore"] {
            let variables = ServiceConfiguration.variables(service: service)
            #expect(!variables.contains("SVX_CLASSIFICATION_ENDPOINT") && !variables.contains("SVX_VAULT_ENDPOINT"), "\(service)")
        }
        // Sharing asks the Vault for item outlines, never Classification.
        let sharing = ServiceConfiguration.variables(service: "sharing")
        #expect(sharing.contains("SVX_VAULT_ENDPOINT") && !sharing.contains("SVX_CLASSIFICATION_ENDPOINT"))
        #expect(Set(sharing).count == sharing.count)
        #expect(Set(vault).count == vault.count && Set(classification).count == classification.count)
    }
}

/// The compose file, the native stack script and the README must agree with what the services read.
@Suite struct DeploymentDescriptionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func read(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    @Test func composeNamesEveryServiceAndVariable() throws {
        let compose = try Self.read("compose/docker-compose.yml")
        for service in ServiceConfiguration.defaultPorts.keys.sorted() {
            #expect(compose.contains("\n  svx-\(service):\n"), "compose lacks service svx-\(service)")
            #expect(compose.contains("/usr/local/bin/svx-\(service)\"]"), "compose does not run svx-\(service)")
            let port = ServiceConfiguration.defaultPorts[service]!
            #expect(compose.contains("\"tcp://127.0.0.1:\(port)\"]"), "svx-\(service) has no health check on \(port)")
            let block = compose.components(separatedBy: "\n  svx-\(service):\n").last!
                .components(separatedBy: "\n  svx-").first!
            for variable in ServiceConfiguration.variables(service: service) {
                // Optional settings with no default are left out (podman-compose 1.0.3 passes an empty `${VAR:-}`
                // literally) and named, as patterns, in the file's header.
                let pattern = variable.replacingOccurrences(
                    of: "SVX_\(service.uppercased())_", with: "SVX_<SERVICE>_", options: .anchored)
                if variable.hasSuffix("_MAX_MESSAGE_BYTES") || variable.hasSuffix("_PUBLIC_KEY")
                    || variable.hasSuffix("_SECRET_KEY_FILE")
                {
                    #expect(!block.contains("      \(variable): "), "compose svx-\(service) lists optional \(variable)")
                    let named = compose.contains(variable) || compose.contains(pattern)
                        || compose.contains(variable.replacingOccurrences(
                            of: #"SVX_[A-Z]+_(PUBLIC_KEY|SECRET_KEY_FILE|MAX_MESSAGE_BYTES)"#, with: "SVX_<SERVICE>_$1",
                            options: .regularExpression))
                    #expect(named, "compose's header does not name the optional \(variable)")
                } else {
                    #expect(block.contains("      \(variable): "), "compose svx-\(service) lacks \(variable)")
                }
            }
        }
    }

    @Test func nativeStackStartsEveryServiceOnItsDefaultPort() throws {
        let script = try Self.read("scripts/stack.sh")
        let names = ServiceConfiguration.defaultPorts.keys.sorted()
        #expect(script.contains("services=(auth keystore vault sharing classification)"))
        for name in names {
            #expect(script.contains("[\(name)]=\(ServiceConfiguration.defaultPorts[name]!)"))
        }
        // The script passes each service its own endpoint and database URL.
        #expect(script.contains("url=\"SVX_${s^^}_DATABASE_URL\""))
        #expect(script.contains("ep=\"SVX_${s^^}_ENDPOINT\""))
    }

    @Test func readmeDocumentsEveryVariable() throws {
        let readme = try Self.read("README.md")
        for service in ServiceConfiguration.defaultPorts.keys.sorted() {
            for variable in ServiceConfiguration.variables(service: service) {
                // Documented by name, or as `SVX_<SERVICE>_…` for whichever service it names.
                let documented = readme.contains("`\(variable)`")
                    || ServiceConfiguration.defaultPorts.keys.contains { named in
                        readme.contains("`" + variable.replacingOccurrences(of: "_\(named.uppercased())_", with: "_<SERVICE>_") + "`")
                    }
                #expect(documented, "README does not document \(variable)")
            }
        }
    }
}
