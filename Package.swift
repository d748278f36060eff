// swift-tools-version:6.0
// svx: an end-to-end encrypted personal data vault. Layout and rules: ../shared/DESIGN.md, README.md.
import PackageDescription

let package = Package(
    name: "svx",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "svx", targets: ["SVXCommandLine"]),
        .executable(name: "svx-load", targets: ["SVXLoad"]),
        .executable(name: "svx-auth", targets: ["Auth"]),
        .executable(name: "svx-keystore", targets: ["Keystore"]),
        .executable(name: "svx-vault", targets: ["Vault"]),
        .executable(name: "svx-sharing", targets: ["Sharing"]),
        .executable(name: "svx-classification", targets: ["Classification"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // C interop: each is imported by exactly one Swift module.
        .target(
            name: "COpenSSL", path: "Shared/COpenSSL",
            linkerSettings: [.linkedLibrary("crypto")]),  // imported only by Cryppo
        .systemLibrary(name: "CZeroMQ", path: "Shared/CZeroMQ", pkgConfig: "libzmq"),  // only by SVXRPC
        .systemLibrary(name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq"),  // only by SVXStore
        .target(name: "CAllocator", path: "Shared/CAllocator"),  // only by SVXService
        .target(name: "CProcessControl", path: "Shared/CProcessControl"),  // only by Cryppo (core dumps off)

        // Shared Swift modules.
        .target(name: "Cryppo", dependencies: ["COpenSSL", "CProcessControl"], path: "Shared/Cryppo"),
        .target(name: "SRP", dependencies: ["Cryppo"], path: "Shared/SRP"),
        .target(name: "SVXModels", path: "Shared/SVXModels"),
        .target(
            name: "SVXProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Shared/SVXProto"),
        .target(
            name: "SVXRPC",
            dependencies: [
                "CZeroMQ", "SVXProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/SVXRPC"),
        .target(
            name: "SVXStore",
            dependencies: ["CLibPQ", .product(name: "Logging", package: "swift-log")],
            path: "Shared/SVXStore"),
        .target(
            name: "SVXService",
            dependencies: [
                "CAllocator", "SVXRPC", "SVXStore", "SVXProto", "SVXContracts", "Cryppo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/SVXService"),
        .target(
            name: "SVXContracts",  // typed RPC methods of every bounded context, shared by services and clients
            dependencies: ["SVXRPC", "SVXProto"],
            path: "Shared/SVXContracts"),
        .target(
            name: "SVXClient",
            dependencies: ["SVXRPC", "SVXProto", "SVXContracts", "SVXModels", "Cryppo", "SRP"],
            path: "Shared/SVXClient"),

        // Services: one executable per bounded context. `<Name>SQL` (Services/<Name>/SQL) holds the statements that
        // something outside the service runs too (svx-load's raw baselines): SQL text only, one copy for both.
        .target(name: "VaultSQL", dependencies: ["SVXStore"], path: "Services/Vault/SQL"),
        .target(name: "ClassificationSQL", path: "Services/Classification/SQL"),
        .target(name: "SharingSQL", dependencies: ["SVXStore"], path: "Services/Sharing/SQL"),
        .executableTarget(
            name: "Auth", dependencies: ["SVXService", "SVXContracts", "SVXRPC", "SVXStore", "SVXProto", "Cryppo", "SRP"],
            path: "Services/Auth",
            resources: [.copy("Migrations")]),
        .executableTarget(
            name: "Keystore",
            dependencies: ["SVXService", "SVXContracts", "SVXRPC", "SVXStore", "SVXProto", "Cryppo"],
            path: "Services/Keystore",
            resources: [.copy("Migrations")]),
        .executableTarget(
            name: "Vault",
            dependencies: ["SVXService", "SVXContracts", "SVXRPC", "SVXStore", "SVXProto", "SVXModels", "Cryppo", "VaultSQL"],
            path: "Services/Vault",
            exclude: ["SQL"],
            resources: [.copy("Migrations")]),
        .executableTarget(
            name: "Sharing",
            dependencies: ["SVXService", "SVXContracts", "SVXRPC", "SVXStore", "SVXProto", "Cryppo", "SharingSQL"],
            path: "Services/Sharing",
            exclude: ["SQL"],
            resources: [.copy("Migrations")]),
        .executableTarget(
            name: "Classification",
            dependencies: [
                "SVXService", "SVXContracts", "SVXRPC", "SVXStore", "SVXProto", "SVXModels", "ClassificationSQL",
            ],
            path: "Services/Classification",
            exclude: ["SQL"],
            resources: [.copy("Migrations")]),

        // Tools. The CLI reaches the services only through the SDK (no SVXRPC or SVXProto).
        .executableTarget(
            name: "SVXCommandLine",
            dependencies: [
                "SVXClient", "SVXModels", "Cryppo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/svx"),
        .executableTarget(
            name: "SVXLoad",
            dependencies: [
                "SVXClient", "SVXRPC", "SVXProto", "SVXContracts", "SVXStore", "SVXModels", "Cryppo", "SRP", "VaultSQL",
                "ClassificationSQL", "SharingSQL",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/svx-load"),

        // Tests.
        .target(
            name: "SVXTestHarness",
            dependencies: [
                "SVXRPC", "SVXStore", "SVXProto", "SVXClient", "SVXContracts", "SVXService", "Cryppo",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SVXTestHarness"),
        .testTarget(name: "CryppoTests", dependencies: ["Cryppo"], exclude: ["Fixtures"]),
        .testTarget(name: "SRPTests", dependencies: ["SRP", "Cryppo"]),
        .testTarget(
            name: "SVXRPCTests",
            dependencies: ["SVXRPC", "SVXProto", "SVXTestHarness", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "SVXStoreTests",
            dependencies: ["SVXStore", "SVXTestHarness", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "SVXServiceTests",
            dependencies: [
                "SVXService", "SVXTestHarness", "SVXRPC", "SVXContracts", "Cryppo", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "AuthTests",
            dependencies: [
                "Auth", "SVXTestHarness", "SVXService", "SVXContracts", "SVXRPC", "SVXProto", "Cryppo", "SRP",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "KeystoreTests",
            dependencies: ["Keystore", "SVXTestHarness", "SVXProto", "SVXRPC", "SVXService", "SVXContracts", "Cryppo"]),
        .testTarget(
            name: "SVXClientTests", dependencies: ["SVXClient", "SVXModels", "SVXContracts", "SVXProto", "SVXRPC", "Cryppo"]),
        .testTarget(name: "VaultTests", dependencies: ["Vault", "SVXTestHarness", "SVXModels", "SVXProto", "SVXRPC", "Cryppo"]),
        .testTarget(
            name: "ClassificationTests", dependencies: ["Classification", "SVXTestHarness", "SVXProto", "SVXRPC", "SVXService"]),
        .testTarget(name: "SharingTests", dependencies: ["Sharing", "SVXTestHarness", "SVXProto", "SVXRPC", "SVXService", "Cryppo"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "SVXRPC", "SVXProto", "SVXStore", "SVXTestHarness", "SVXClient", "SVXContracts", "SVXModels", "Cryppo",
                "SRP", .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
