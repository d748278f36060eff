import Cryppo
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

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

    /// Runs `svx` with `arguments`, `stdin`, and the test's environment plus `environment`.
    func svx(_ arguments: [String], stdin: [UInt8] = [], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = SVXBinary.url!
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
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
        let inEnvironment = ["SVX_TEST_KEY": key]
        func withKey(_ arguments: [String], stdin: [UInt8] = []) throws -> Result {
            try svx(arguments, stdin: stdin, environment: inEnvironment)
        }
        let binary: [UInt8] = [0, 1, 2, 0xFF, 0x0A, 0x80]
        // DATA as argument, `-`, and omitted.
        let fromArg = try withKey(["crypto", "encrypt", "--key", "env:SVX_TEST_KEY", "hello"])
        #expect(fromArg.status == 0 && fromArg.text.hasPrefix("Aes256Gcm."))
        let fromDash = try withKey(["crypto", "encrypt", "--key", "env:SVX_TEST_KEY", "-"], stdin: binary)
        let fromStdin = try withKey(["crypto", "encrypt", "--key", "env:SVX_TEST_KEY"], stdin: binary)
        for string in [fromDash.text, fromStdin.text] {
            let s = string.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try withKey(["crypto", "decrypt", "--key", "env:SVX_TEST_KEY", s]).stdout == binary)
            #expect(try withKey(["crypto", "decrypt", "--key", "env:SVX_TEST_KEY", "-"], stdin: Array(string.utf8)).stdout == binary)
            #expect(try withKey(["crypto", "decrypt", "--key", "env:SVX_TEST_KEY"], stdin: Array(string.utf8)).stdout == binary)
        }
        #expect(try withKey(["crypto", "decrypt", "--key", "env:SVX_TEST_KEY"], stdin: fromArg.stdout).stdout == utf8("hello"))
        // The key from a file: its first line (as `svx crypto genkey > FILE` writes it).
        let keyFile = try temporaryFile(Array((key + "\n").utf8))
        defer { try? FileManager.default.removeItem(at: keyFile) }
        #expect(try svx(["crypto", "decrypt", "--key", "file:\(keyFile.path)"], stdin: fromArg.stdout).stdout == utf8("hello"))
        // Wrong key: error on stderr, non-zero exit, nothing on stdout.
        let other = try svx(["crypto", "genkey"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let wrong = try svx(["crypto", "decrypt", "--key", "env:SVX_OTHER_KEY"], stdin: fromArg.stdout, environment: ["SVX_OTHER_KEY": other])
        #expect(wrong.status != 0 && wrong.stdout.isEmpty && wrong.stderr.contains("wrong key"))
        let garbage = try withKey(["crypto", "decrypt", "--key", "env:SVX_TEST_KEY", "Aes256Gcm.x"])
        #expect(garbage.status != 0 && !garbage.stderr.isEmpty)
        // A variable that is not set, a file that is not there.
        let unset = try svx(["crypto", "decrypt", "--key", "env:SVX_TEST_UNSET_KEY"], stdin: fromArg.stdout)
        #expect(unset.status == 1 && unset.stdout.isEmpty && unset.stderr.contains("SVX_TEST_UNSET_KEY"), "\(unset.stderr)")
        let missing = try svx(["crypto", "decrypt", "--key", "file:/nonexistent/svx-key"], stdin: fromArg.stdout)
        #expect(missing.status == 1 && missing.stderr.contains("/nonexistent/svx-key"), "\(missing.stderr)")
    }

    /// Security review L3: a key, passphrase or Secret Key given on the command line itself is refused (usage error,
    /// exit 64), and the refusal does not repeat it.
    @Test func secretsOnTheCommandLineAreRefused() throws {
        let key = try svx(["crypto", "genkey"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let secretKey = "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9"
        let cases: [(arguments: [String], secret: String)] = [
            (["crypto", "encrypt", "--key", key, "data"], key),
            (["crypto", "decrypt", "--key", key, "Aes256Gcm.x.y"], key),
            (["crypto", "encrypt", "--passphrase", "correct horse", "data"], "correct horse"),
            (["crypto", "decrypt", "--passphrase", "correct horse", "Aes256Gcm.x.y"], "correct horse"),
            (["crypto", "derive-pdk", "--secret", secretKey], secretKey),
            (["crypto", "encrypt", "--key", "env:", "data"], "env:"),
            (["crypto", "encrypt", "--passphrase", "file:", "data"], "file:"),
        ]
        for (arguments, secret) in cases {
            let refused = try svx(arguments, stdin: utf8("supersecretpassword\n"))
            #expect(refused.status == 64 && refused.stdout.isEmpty, "\(arguments): \(refused.status) \(refused.stderr)")
            #expect(refused.stderr.contains("env:NAME, file:PATH or prompt"), "\(arguments): \(refused.stderr)")
            #expect(secret.count < 6 || !refused.stderr.contains(secret), "\(arguments): the secret is repeated")
        }
    }

    @Test func passphraseForms() throws {
        let environment = ["SVX_TEST_PASSPHRASE": "correct horse"]
        let s = try svx(["crypto", "encrypt", "--passphrase", "env:SVX_TEST_PASSPHRASE", "secret"], environment: environment).text
        #expect(s.split(separator: ".").count == 5)
        // Security review L5: at least 600 000 PBKDF2 iterations.
        #expect(try Cryppo.parseDerivationArtefacts(s.trimmingCharacters(in: .newlines)).iterations >= 600_000)
        #expect(try svx(
            ["crypto", "decrypt", "--passphrase", "env:SVX_TEST_PASSPHRASE", s.trimmingCharacters(in: .newlines)],
            environment: environment).stdout == utf8("secret"))
        #expect(try svx(["crypto", "decrypt", "--passphrase", "env:SVX_TEST_PASSPHRASE"], stdin: utf8(s), environment: environment).stdout
            == utf8("secret"))
        #expect(try svx(["crypto", "decrypt", "--passphrase", "env:SVX_TEST_PASSPHRASE"], stdin: utf8(s), environment: [
            "SVX_TEST_PASSPHRASE": "nope",
        ]).status != 0)
        // From a file: its first line, without the line end (`\n` or `\r\n`); the rest of the file is not read.
        for content in ["correct horse\n", "correct horse\r\nsecond line\n", "correct horse"] {
            let file = try temporaryFile(utf8(content))
            defer { try? FileManager.default.removeItem(at: file) }
            let run = try svx(["crypto", "decrypt", "--passphrase", "file:\(file.path)"], stdin: utf8(s))
            #expect(run.stdout == utf8("secret"), "\(content.debugDescription): \(run.stderr)")
        }
        // A corpus entry written by another library (about 20 000 iterations).
        let entry = try CompatCorpus.withDerivedKey()[1]
        #expect(try svx(["crypto", "decrypt", "--passphrase", "env:SVX_TEST_PASSPHRASE", entry.serialized], environment: [
            "SVX_TEST_PASSPHRASE": entry.passphrase,
        ]).stdout == utf8(entry.expected))
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
        let entry = try CompatCorpus.signatures()[0]
        let pemPath = FileManager.default.temporaryDirectory.appendingPathComponent("svx-cli-\(UUID()).pem")
        try entry.publicPEM.write(to: pemPath, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: pemPath) }
        #expect(try svx(["crypto", "verify", "--public-key", pemPath.path, entry.serialized]).status == 0)
    }

    @Test func derivePDKFromStdin() throws {
        let secretKey = "1.M9znjHbD5Xi.xQCSCK-8A1d6d-emUjx8-YVGDcT-UhctWy-2rfHyv-7JNAgh-9"
        let pdk = "24rdL_ugryujjDLcvwt00ARWWMCF4kk4gJETJy6yRjs=\n"
        // The Secret Key from a named variable, from $SVX_SECRET_KEY by default, and from a file.
        let named = try svx(["crypto", "derive-pdk", "--secret", "env:MY_SECRET_KEY"], stdin: utf8("supersecretpassword\n"),
                            environment: ["MY_SECRET_KEY": secretKey])
        #expect(named.status == 0 && named.text == pdk, "\(named.stderr)")
        let byDefault = try svx(["crypto", "derive-pdk"], stdin: utf8("supersecretpassword\n"), environment: ["SVX_SECRET_KEY": secretKey])
        #expect(byDefault.status == 0 && byDefault.text == pdk, "\(byDefault.stderr)")
        let file = try temporaryFile(utf8(secretKey + "\n"))
        defer { try? FileManager.default.removeItem(at: file) }
        let fromFile = try svx(["crypto", "derive-pdk", "--secret", "file:\(file.path)"], stdin: utf8("supersecretpassword\n"))
        #expect(fromFile.status == 0 && fromFile.text == pdk, "\(fromFile.stderr)")
        let bad = try svx(["crypto", "derive-pdk", "--secret", "env:MY_SECRET_KEY"], stdin: utf8("x\n"), environment: ["MY_SECRET_KEY": "nonsense"])
        #expect(bad.status != 0 && bad.stderr.contains("Secret Key"))
    }

    /// Security review L6: `genkeypair` writes through a temporary file and a rename, never through a symlink at
    /// its target, and refuses anything already there (a dangling symlink too) unless --force.
    @Test func genkeypairNeverFollowsASymlink() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("svx-genkeypair-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func mode(_ name: String) throws -> Int? {
            try FileManager.default.attributesOfItem(atPath: path(name))[.posixPermissions] as? Int
        }
        func isRegularFile(_ name: String) -> Bool {
            var info = stat()
            return lstat(path(name), &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        }

        // To new paths.
        let fresh = try svx(["crypto", "genkeypair", "--private-key", path("new.pem"), "--public-key", path("new.pub")])
        #expect(fresh.status == 0, "\(fresh.stderr)")
        #expect(try isRegularFile("new.pem") && isRegularFile("new.pub") && mode("new.pem") == 0o600)
        let generated = try RSAPrivateKey(pem: try String(contentsOfFile: path("new.pem"), encoding: .utf8))
        #expect(try generated.publicKeyPEM == String(contentsOfFile: path("new.pub"), encoding: .utf8))

        // A symlink to another file, and a dangling one, where the keys would go.
        try Data("untouched\n".utf8).write(to: URL(fileURLWithPath: path("victim.txt")))
        try FileManager.default.createSymbolicLink(atPath: path("linked.pem"), withDestinationPath: path("victim.txt"))
        try FileManager.default.createSymbolicLink(atPath: path("dangling.pub"), withDestinationPath: path("through-link.pub"))
        for (privatePath, publicPath) in [(path("linked.pem"), path("other.pub")), (path("other.pem"), path("dangling.pub"))] {
            let refused = try svx(["crypto", "genkeypair", "--private-key", privatePath, "--public-key", publicPath])
            #expect(refused.status == 1 && refused.stderr.contains("exists"), "\(refused.stderr)")
        }
        #expect(try String(contentsOfFile: path("victim.txt"), encoding: .utf8) == "untouched\n")
        #expect(!FileManager.default.fileExists(atPath: path("through-link.pub")))
        #expect(!FileManager.default.fileExists(atPath: path("other.pem")) && !FileManager.default.fileExists(atPath: path("other.pub")))

        // --force replaces the symlinks themselves with the new files; their targets are neither written nor made.
        let forced = try svx(["crypto", "genkeypair", "--private-key", path("linked.pem"), "--public-key", path("dangling.pub"), "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try isRegularFile("linked.pem") && isRegularFile("dangling.pub") && mode("linked.pem") == 0o600)
        #expect(try String(contentsOfFile: path("linked.pem"), encoding: .utf8).hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        #expect(try String(contentsOfFile: path("victim.txt"), encoding: .utf8) == "untouched\n")
        #expect(!FileManager.default.fileExists(atPath: path("through-link.pub")))
        // No temporary file is left behind.
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path))
        #expect(names == ["new.pem", "new.pub", "victim.txt", "linked.pem", "dangling.pub"])
    }

    /// Security review L4: `svx` turns core dumps off before it reads a secret. The key is read from a FIFO, so the
    /// process is known to be waiting for it, past its start, while its limits are read from /proc.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/limits")))
    func coreDumpsAreOffBeforeASecretIsRead() throws {
        let key = try svx(["crypto", "genkey"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("svx-key-\(UUID().uuidString).fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        let process = Process()
        process.executableURL = SVXBinary.url!
        process.arguments = ["crypto", "encrypt", "--key", "file:\(fifo)", "hello"]
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // The FIFO opens for writing once svx has it open for reading (ENXIO before): bounded, not timed.
        var writer: Int32 = -1
        for _ in 0..<6_000 where process.isRunning {
            writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 || errno != ENXIO { break }
            usleep(10_000)
        }
        guard writer >= 0 else {
            process.terminate()
            process.waitUntilExit()
            Issue.record("svx never opened the key FIFO: \(String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
            return
        }
        let limits = try String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?
            .dropFirst("Max core file size".count).split(separator: " ").prefix(2).map(String.init)
        #expect(core == ["0", "0"], "\(limits)")
        // Not dumpable: its /proc files belong to root (observable only when the tests do not run as root).
        if geteuid() != 0 {
            var info = stat()
            #expect(stat("/proc/\(process.processIdentifier)", &info) == 0 && info.st_uid == 0)
        }
        let line = Array((key + "\n").utf8)
        #expect(line.withUnsafeBytes { write(writer, $0.baseAddress, $0.count) } == line.count)
        close(writer)
        let encrypted = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let string = String(decoding: encrypted, as: UTF8.self).trimmingCharacters(in: .newlines)
        #expect(try Cryppo.decrypt(string, key: try SymmetricKey(base64URL: key)) == utf8("hello"))
    }

    @Test func usageErrors() throws {
        let both = try svx(["crypto", "encrypt", "--key", "env:A", "--passphrase", "env:B", "x"])
        #expect(both.status != 0 && !both.stderr.isEmpty)
    }

    /// A file with `bytes` in the temporary directory.
    func temporaryFile(_ bytes: [UInt8]) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("svx-cli-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url
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
