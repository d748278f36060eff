import Cryppo
import Foundation
import Testing

/// Runs the built `svx` binary for the script forms of issue 3. The binary sits next to the test bundle
/// (`swift build --build-tests` builds it); the suite is skipped, with a message, only if it is absent.
@Suite(.enabled(if: SVXBinary.url != nil, "svx binary not found next to the test bundle (build the `svx` product first)"))
struct CommandLineTests {
    struct Result {
        let status: Int32
        let stdout: [UInt8]
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    func svx(_ arguments: [String], stdin: [UInt8] = []) throws -> Result {
        let process = Process()
        process.executableURL = SVXBinary.url!
        process.arguments = arguments
        let input = Pipe(), output = Pipe(), error = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        input.fileHandleForWriting.write(Data(stdin))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: [UInt8](out), stderr: String(decoding: err, as: UTF8.self))
    }

    @Test func keyForms() throws {
        let key = try svx(["crypto", "genkey"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try Base64URL.decode(key).count == 32)
        let binary: [UInt8] = [0, 1, 2, 0xFF, 0x0A, 0x80]
        // DATA as argument, `-`, and omitted.
        let fromArg = try svx(["crypto", "encrypt", "--key", key, "hello"])
        #expect(fromArg.status == 0 && fromArg.text.hasPrefix("Aes256Gcm."))
        let fromDash = try svx(["crypto", "encrypt", "--key", key, "-"], stdin: binary)
        let fromStdin = try svx(["crypto", "encrypt", "--key", key], stdin: binary)
        for string in [fromDash.text, fromStdin.text] {
            let s = string.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try svx(["crypto", "decrypt", "--key", key, s]).stdout == binary)
            #expect(try svx(["crypto", "decrypt", "--key", key, "-"], stdin: Array(string.utf8)).stdout == binary)
            #expect(try svx(["crypto", "decrypt", "--key", key], stdin: Array(string.utf8)).stdout == binary)
        }
        #expect(try svx(["crypto", "decrypt", "--key", key], stdin: fromArg.stdout).stdout == utf8("hello"))
        // Wrong key: error on stderr, non-zero exit, nothing on stdout.
        let other = try svx(["crypto", "genkey"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let wrong = try svx(["crypto", "decrypt", "--key", other], stdin: fromArg.stdout)
        #expect(wrong.status != 0 && wrong.stdout.isEmpty && wrong.stderr.contains("wrong key"))
        let garbage = try svx(["crypto", "decrypt", "--key", key, "Aes256Gcm.x"])
        #expect(garbage.status != 0 && !garbage.stderr.isEmpty)
    }

    @Test func passphraseForms() throws {
        let s = try svx(["crypto", "encrypt", "--passphrase", "correct horse", "secret"]).text
        #expect(s.split(separator: ".").count == 5)
        #expect(try svx(["crypto", "decrypt", "--passphrase", "correct horse", s.trimmingCharacters(in: .newlines)]).stdout == utf8("secret"))
        #expect(try svx(["crypto", "decrypt", "--passphrase", "correct horse"], stdin: utf8(s)).stdout == utf8("secret"))
        #expect(try svx(["crypto", "decrypt", "--passphrase", "nope"], stdin: utf8(s)).status != 0)
        // A corpus entry written by another library.
        let entry = CompatCorpus.withDerivedKey[1]
        #expect(try svx(["crypto", "decrypt", "--passphrase", entry.passphrase, entry.serialized]).stdout == utf8(entry.expected))
    }

    @Test func rsaAndSignatureForms() throws {
        let privatePath = Paths.fixtures.appendingPathComponent("rsa4096-private.pem").path
        let publicPath = Paths.fixtures.appendingPathComponent("rsa4096-public.pem").path
        let s = try svx(["crypto", "encrypt", "--public-key", publicPath, "dek"]).text
        #expect(s.hasPrefix("Rsa4096."))
        #expect(try svx(["crypto", "decrypt", "--private-key", privatePath], stdin: utf8(s)).stdout == utf8("dek"))
        #expect(try svx(["crypto", "decrypt", "--private-key", privatePath, "-"], stdin: utf8(s)).stdout == utf8("dek"))

        let signature = try svx(["crypto", "sign", "--private-key", privatePath, "signed"]).text
        #expect(signature.hasPrefix("Sign.Rsa4096."))
        #expect(try svx(["crypto", "verify", "--public-key", publicPath], stdin: utf8(signature)).status == 0)
        let trimmed = signature.trimmingCharacters(in: .newlines)
        #expect(try svx(["crypto", "verify", "--public-key", publicPath, trimmed]).status == 0)
        var parsed = try CryppoSignature(parsing: trimmed)
        parsed.data = utf8("forged")
        let invalid = try svx(["crypto", "verify", "--public-key", publicPath, parsed.serialized])
        #expect(invalid.status == 1)
        let malformed = try svx(["crypto", "verify", "--public-key", publicPath, "Sign.Rsa4096.x"])
        #expect(malformed.status == 2 && !malformed.stderr.isEmpty)
        // A corpus signature.
        let entry = CompatCorpus.signatures[0]
        let pemPath = FileManager.default.temporaryDirectory.appendingPathComponent("svx-cli-\(UUID()).pem")
        try entry.publicPEM.write(to: pemPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: pemPath) }
        #expect(try svx(["crypto", "verify", "--public-key", pemPath.path, entry.serialized]).status == 0)
    }

    @Test func derivePDKFromStdin() throws {
        let r = try svx(["crypto", "derive-pdk", "--secret", "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9"],
                        stdin: utf8("supersecretpassword\n"))
        #expect(r.status == 0)
        #expect(r.text == "24rdL_ugryujjDLcvwt00ARWWMCF4kk4gJETJy6yRjs=\n")
        let bad = try svx(["crypto", "derive-pdk", "--secret", "nonsense"], stdin: utf8("x\n"))
        #expect(bad.status != 0 && bad.stderr.contains("Secret Key"))
    }

    @Test func usageErrors() throws {
        let both = try svx(["crypto", "encrypt", "--key", "a", "--passphrase", "b", "x"])
        #expect(both.status != 0 && !both.stderr.isEmpty)
    }
}

enum SVXBinary {
    static let url: URL? = {
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        candidates.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
        for directory in candidates {
            // On Linux the bundle is an executable in .build/<triple>/debug; on macOS, walk out of the .xctest bundle.
            var dir = directory
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("svx")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }()
}
