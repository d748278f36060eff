import Foundation
import SVXRPC

/// How svx's ZeroMQ sockets are secured, read from the environment the same way by the services, the SDK, `svx`,
/// `svx-load` and the tests (docs/rpc.md "CURVE"; README, "Configuration"):
///
/// - `SVX_TRANSPORT`: `curve` (the default) or `plaintext` (explicitly, for a test or a benchmark baseline; services
///   log a warning).
/// - `SVX_KEYS_DIR`: a directory holding each service's public key as `<service>.pub` (40 Z85 characters) and, for a
///   service, its own secret key as `<service>.key` (mode 0600 or stricter). `make up` makes them once in
///   `.svx/stack/keys`.
/// - `SVX_<SERVICE>_PUBLIC_KEY`: a service's public key in Z85, instead of the directory's file.
/// - `SVX_<SERVICE>_SECRET_KEY_FILE`: a service's own secret key file, instead of the directory's.
///
/// A malformed value is an error as soon as it is read; a key nobody configured is an error only when it is needed,
/// naming what to set.
public struct TransportSecurity: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        case curve, plaintext
    }

    /// The services with a keypair, in the order of their ports.
    public static let services = ["auth", "keystore", "vault", "sharing", "classification"]

    public let mode: Mode
    /// The public keys configured (32 bytes each), by service.
    public let publicKeys: [String: [UInt8]]
    private let keysDirectory: String?
    private let secretKeyFiles: [String: String]

    public init(mode: Mode, publicKeys: [String: [UInt8]] = [:], keysDirectory: String? = nil, secretKeyFiles: [String: String] = [:]) {
        self.mode = mode
        self.publicKeys = publicKeys
        self.keysDirectory = keysDirectory
        self.secretKeyFiles = secretKeyFiles
    }

    /// No CURVE anywhere (tests of plain-TCP behaviour, benchmark baselines).
    public static let plaintext = TransportSecurity(mode: .plaintext)

    /// Every variable the transport reads, for a process of service `name` (nil: a client).
    public static func variables(service name: String? = nil) -> [String] {
        ["SVX_TRANSPORT", "SVX_KEYS_DIR"] + services.map { "SVX_\($0.uppercased())_PUBLIC_KEY" }
            + (name.map { ["SVX_\($0.uppercased())_SECRET_KEY_FILE"] } ?? [])
    }

    /// Reads the transport settings; public keys are read at once (from the variable, else from the directory).
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(TransportConfigurationError) -> TransportSecurity {
        func value(_ key: String) -> String? { environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        let modeText = value("SVX_TRANSPORT") ?? Mode.curve.rawValue
        guard let mode = Mode(rawValue: modeText.lowercased()) else {
            throw TransportConfigurationError(variable: "SVX_TRANSPORT", message: "expected curve or plaintext, got \"\(modeText)\"")
        }
        guard mode == .curve else { return .plaintext }
        let directory = value("SVX_KEYS_DIR")
        var keys: [String: [UInt8]] = [:]
        var secretFiles: [String: String] = [:]
        for service in services {
            let variable = "SVX_\(service.uppercased())_PUBLIC_KEY"
            if let text = value(variable) {
                guard let key = CurveKeyPair.publicKey(z85: text) else {
                    throw TransportConfigurationError(variable: variable, message: "expected a CURVE public key, 40 Z85 characters")
                }
                keys[service] = key
            } else if let directory {
                let path = "\(directory)/\(service).pub"
                guard let data = FileManager.default.contents(atPath: path) else { continue }
                guard let key = CurveKeyPair.publicKey(z85: String(decoding: data, as: UTF8.self)) else {
                    throw TransportConfigurationError(
                        variable: "SVX_KEYS_DIR", message: "\(path) is not a CURVE public key (40 Z85 characters)")
                }
                keys[service] = key
            }
            if let file = value("SVX_\(service.uppercased())_SECRET_KEY_FILE") { secretFiles[service] = file }
        }
        return TransportSecurity(mode: mode, publicKeys: keys, keysDirectory: directory, secretKeyFiles: secretFiles)
    }

    /// Service `service`'s public key, which a client pins.
    public func publicKey(of service: String) throws(TransportConfigurationError) -> [UInt8] {
        guard let key = publicKeys[service] else {
            throw TransportConfigurationError(
                variable: "SVX_\(service.uppercased())_PUBLIC_KEY",
                message: "no public key for \(service): set it (40 Z85 characters), or SVX_KEYS_DIR to a directory with "
                    + "\(service).pub (`make up` makes them in .svx/stack/keys); SVX_TRANSPORT=plaintext turns CURVE off")
        }
        return key
    }

    /// What a client of `service` sets on its socket: nil in plaintext; else the pinned server key, with `keyPair` as
    /// the client's own (a peer service's; nil: a throwaway one per socket, as users' clients have).
    public func client(of service: String, keyPair: CurveKeyPair? = nil) throws(TransportConfigurationError) -> CurveClientSecurity? {
        guard mode == .curve else { return nil }
        return CurveClientSecurity(serverPublicKey: try publicKey(of: service), keyPair: keyPair)
    }

    /// Service `name`'s own keypair, from `SVX_<NAME>_SECRET_KEY_FILE`, else `<SVX_KEYS_DIR>/<name>.key`. The file
    /// must be the owner's alone (no group or other permission bits), like an SSH key.
    public func keyPair(of name: String) throws(TransportConfigurationError) -> CurveKeyPair {
        let variable = "SVX_\(name.uppercased())_SECRET_KEY_FILE"
        guard let path = secretKeyFiles[name] ?? keysDirectory.map({ "\($0)/\(name).key" }) else {
            throw TransportConfigurationError(
                variable: variable,
                message: "no secret key for svx-\(name): set it, or SVX_KEYS_DIR to a directory with \(name).key "
                    + "(`svx-\(name) generate-key DIR` makes one); SVX_TRANSPORT=plaintext turns CURVE off")
        }
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: path)
        } catch {
            throw TransportConfigurationError(variable: variable, message: "cannot read \(path)")
        }
        if let permissions = attributes[.posixPermissions] as? Int, permissions & 0o077 != 0 {
            throw TransportConfigurationError(
                variable: variable,
                message: "\(path) is readable by others (mode \(String(permissions, radix: 8))): chmod 600 it")
        }
        guard let keyPair = Self.readSecretKey(path) else {
            throw TransportConfigurationError(variable: variable, message: "\(path) is not a CURVE secret key (40 Z85 characters)")
        }
        return keyPair
    }

    /// A service's server settings: nil in plaintext; else its own keypair, and every other service's public key
    /// (the peers its ZAP handler names; all are needed, so a missing one stops the service at start).
    public func server(of name: String) throws(TransportConfigurationError) -> CurveServerSecurity? {
        guard mode == .curve else { return nil }
        let keyPair = try keyPair(of: name)
        if let published = publicKeys[name], published != keyPair.publicKey {
            throw TransportConfigurationError(
                variable: "SVX_\(name.uppercased())_PUBLIC_KEY",
                message: "is not the public key of svx-\(name)'s secret key: clients would refuse it")
        }
        var peers: [String: [UInt8]] = [:]
        for service in Self.services where service != name { peers[service] = try publicKey(of: service) }
        return CurveServerSecurity(keyPair: keyPair, peers: peers)
    }

    /// Makes service `name`'s keypair in `directory` (created 0700 if missing): `<name>.key` (0600) and `<name>.pub`.
    /// An existing keypair is kept (a long-term key); returns whether one was made.
    @discardableResult
    public static func generateKeyPair(service name: String, in directory: String) throws -> Bool {
        let secretPath = "\(directory)/\(name).key", publicPath = "\(directory)/\(name).pub"
        let files = FileManager.default
        if files.fileExists(atPath: secretPath) {
            // Kept; its public half is written again if it went missing.
            if !files.fileExists(atPath: publicPath) {
                guard let keyPair = readSecretKey(secretPath) else {
                    throw CurveKeyError("\(secretPath) is not a CURVE secret key (40 Z85 characters)")
                }
                try write(keyPair.z85PublicKey + "\n", to: publicPath, mode: 0o644)
            }
            return false
        }
        try files.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let keyPair = try CurveKeyPair.generate()
        try write(keyPair.z85SecretKey + "\n", to: secretPath, mode: 0o600)
        try? files.removeItem(atPath: publicPath)
        try write(keyPair.z85PublicKey + "\n", to: publicPath, mode: 0o644)
        return true
    }
}

extension TransportSecurity {
    /// The keypair of the Z85 secret key in the file at `path`; nil when it cannot be read or is not one.
    private static func readSecretKey(_ path: String) -> CurveKeyPair? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? CurveKeyPair(z85SecretKey: String(decoding: data, as: UTF8.self))
    }

    /// Creates `path` with `mode` from the start (O_EXCL: never over an existing file, never readable by others in
    /// between) and writes `text`.
    private static func write(_ text: String, to path: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw CurveKeyError("cannot create \(path): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw CurveKeyError("cannot write \(path): errno \(errno)") }
    }
}

/// A transport setting that cannot be used: the variable, and what is wrong with it.
public struct TransportConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }
    public var description: String { "\(variable): \(message)" }
}

extension RPCClient {
    /// A client of svx service `service` (`vault`, ...) at `endpoint`, secured as `transport` says: over CURVE it pins
    /// the service's public key, with `keyPair` as its own (a peer service's; nil: a throwaway one).
    public convenience init(
        service: String, endpoint: String, transport: TransportSecurity, keyPair: CurveKeyPair? = nil,
        configuration: RPCClientConfiguration = .init()
    ) throws {
        var configuration = configuration
        configuration.curve = try transport.client(of: service, keyPair: keyPair)
        try self.init(endpoint: endpoint, configuration: configuration)
    }
}
