import Cryppo
import Foundation
import Testing

/// Paths derived from this file's location: <package root>/Tests/CryppoTests/Support.swift.
enum Paths {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let vectors = packageRoot.appendingPathComponent("../shared/vectors/cryppo-compat.json").standardizedFileURL
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

/// The cross-library corpus.
struct CompatCorpus {
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

    static func loadJSON() -> [String: Any] {
        let data = try! Data(contentsOf: Paths.vectors)
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static let withKey: [WithKey] = (loadJSON()["encryption_with_key"] as! [[String: String]]).enumerated().map { i, e in
        WithKey(index: i, strategy: e["encryption_strategy"]!, format: e["format"]!, key: e["key"]!,
                serialized: e["serialized"]!, expected: e["expected_decryption_result"]!)
    }
    static let withDerivedKey: [WithDerivedKey] = (loadJSON()["encryption_with_derived_key"] as! [[String: String]])
        .enumerated().map { i, e in
            WithDerivedKey(index: i, format: e["format"]!, passphrase: e["passphrase"]!, serialized: e["serialized"]!,
                           expected: e["expected_decryption_result"]!)
        }
    static let signatures: [Signature] = (loadJSON()["signatures"] as! [[String: String]]).enumerated().map { i, e in
        Signature(index: i, publicPEM: e["public_pem"]!, serialized: e["serialized_signature"]!)
    }
}
