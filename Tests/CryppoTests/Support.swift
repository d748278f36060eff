import Cryppo
import Foundation
import Testing

/// Paths derived from this file's location: <package root>/Tests/CryppoTests/Support.swift.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    /// The cross-library corpus: `cryppo-compat.json` in `SVX_TEST_VECTORS_DIR` when set, else in `../shared/vectors`
    /// beside the checkout.
    static let vectors: URL = {
        let configured = ProcessInfo.processInfo.environment["SVX_TEST_VECTORS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let directory = configured.map { URL(fileURLWithPath: $0) }
            ?? packageRoot.appendingPathComponent("../shared/vectors")
        return directory.appendingPathComponent("cryppo-compat.json").standardizedFileURL
    }()
    static let fixtures = packageRoot.appendingPathComponent("Tests/CryppoTests/Fixtures")

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8)
    }
}

enum Fixtures {
    static let privateKey: RSAPrivateKey = try! RSAPrivateKey(pem: Paths.fixture("rsa4096-private.pem"))
    static let publicKey: RSAPublicKey = try! RSAPublicKey(pem: Paths.fixture("rsa4096-public.pem"))
    static let otherPrivateKey: RSAPrivateKey = try! RSAPrivateKey(pem: Paths.fixture("rsa4096-other-private.pem"))
}

func hex(_ s: String) -> [UInt8] { try! Hex.decode(s.filter { !$0.isWhitespace }) }
func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Asserts that `body` throws a CryppoError with `code`.
func expectCryppoError(_ code: CryppoError.Code, sourceLocation: SourceLocation = #_sourceLocation,
                       _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected CryppoError \(code), nothing thrown", sourceLocation: sourceLocation)
    } catch let error as CryppoError {
        #expect(error.code == code, "got \(error.code): \(error.message)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected CryppoError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// The cross-library corpus (`Paths.vectors`), read once. A missing or malformed file is an error that names the path
/// looked at, thrown by each test that needs the corpus (from its arguments too): those tests fail, the others run.
struct CompatCorpus: Sendable {
    struct WithKey: Sendable, CustomTestStringConvertible {
        let index: Int, strategy: String, format: String, key: String, serialized: String, expected: String
        var testDescription: String { "#\(index) \(strategy) \(format)" }
    }
    struct WithDerivedKey: Sendable, CustomTestStringConvertible {
        let index: Int, format: String, passphrase: String, serialized: String, expected: String
        var testDescription: String { "#\(index) \(format)" }
    }
    struct Signature: Sendable, CustomTestStringConvertible {
        let index: Int, publicPEM: String, serialized: String
        var testDescription: String { "#\(index)" }
    }

    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    let withKey: [WithKey]
    let withDerivedKey: [WithDerivedKey]
    let signatures: [Signature]

    private static let loaded = Result { try CompatCorpus(file: Paths.vectors) }

    /// The corpus, or the error that says where it was looked for and what was wrong.
    static func load() throws -> CompatCorpus { try loaded.get() }

    static func withKey() throws -> [WithKey] { try load().withKey }
    static func withDerivedKey() throws -> [WithDerivedKey] { try load().withDerivedKey }
    static func signatures() throws -> [Signature] { try load().signatures }

    private init(file: URL) throws {
        let place = "the Cryppo compatibility vectors at \(file.path) (../shared/vectors beside the checkout, or "
            + "SVX_TEST_VECTORS_DIR)"
        let data: Data
        do {
            data = try Data(contentsOf: file)
        } catch {
            throw Unreadable(description: "cannot read \(place): \(error.localizedDescription)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw Unreadable(description: "\(place) is not a JSON object")
        }
        func entries(_ section: String) throws -> [(index: Int, field: (String) throws -> String)] {
            guard let list = json[section] as? [[String: String]] else {
                throw Unreadable(description: "\(place) has no list of string entries \"\(section)\"")
            }
            return list.enumerated().map { index, entry in
                (index, { name in
                    guard let value = entry[name] else {
                        throw Unreadable(description: "\(place): entry #\(index) of \"\(section)\" has no \"\(name)\"")
                    }
                    return value
                })
            }
        }
        withKey = try entries("encryption_with_key").map { index, field in
            WithKey(index: index, strategy: try field("encryption_strategy"), format: try field("format"),
                    key: try field("key"), serialized: try field("serialized"),
                    expected: try field("expected_decryption_result"))
        }
        withDerivedKey = try entries("encryption_with_derived_key").map { index, field in
            WithDerivedKey(index: index, format: try field("format"), passphrase: try field("passphrase"),
                           serialized: try field("serialized"), expected: try field("expected_decryption_result"))
        }
        signatures = try entries("signatures").map { index, field in
            Signature(index: index, publicPEM: try field("public_pem"), serialized: try field("serialized_signature"))
        }
    }
}
