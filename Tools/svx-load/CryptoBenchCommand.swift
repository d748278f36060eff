import ArgumentParser
import Cryppo
import SRP

/// `svx-load crypto`: Cryppo and SRP costs beside the raw primitives they are built on, measured in one run.
///
/// Every measurement is bounded by time (`--seconds`) and by an iteration cap, so a slow machine cannot hang it.
struct CryptoBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crypto",
        abstract: "Benchmark Cryppo strings, SRP and PBKDF2 against raw OpenSSL primitives.")

    @Option(help: "Time budget per measurement, in seconds.") var seconds: Double = 0.5
    @Option(help: "PBKDF2-100k derivations to time.") var pbkdf2Runs: Int = 5

    struct Measurement {
        let iterations: Int
        let elapsed: Duration
        var perSecond: Double { Double(iterations) / elapsed.seconds }
        var microseconds: Double { elapsed.seconds * 1e6 / Double(iterations) }
    }

    /// Runs `body` repeatedly until `budget` is spent (at least 1, at most `cap` iterations).
    func measure(budget: Duration, cap: Int, _ body: () throws -> Void) rethrows -> Measurement {
        let clock = ContinuousClock()
        var iterations = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            try body()
            iterations += 1
            if iterations & 7 == 0 || iterations < 64 { elapsed = clock.now - start }
        } while elapsed < budget && iterations < cap
        return Measurement(iterations: iterations, elapsed: clock.now - start)
    }

    /// Measures `a` and `b` in 10 alternating slices of the time budget, so that load from other processes on
    /// a shared machine falls on both sides of the ratio alike.
    func compare(cap: Int = 10_000_000, _ a: () throws -> Void, _ b: () throws -> Void) rethrows
        -> (Measurement, Measurement)
    {
        for _ in 0..<3 {  // warm-up
            try a()
            try b()
        }
        let slice = Duration.seconds(seconds / 10)
        var ia = 0, ib = 0
        var ea = Duration.zero, eb = Duration.zero
        for _ in 0..<10 {
            let ma = try measure(budget: slice, cap: max(1, cap / 10), a)
            let mb = try measure(budget: slice, cap: max(1, cap / 10), b)
            ia += ma.iterations
            ea += ma.elapsed
            ib += mb.iterations
            eb += mb.elapsed
        }
        return (Measurement(iterations: ia, elapsed: ea), Measurement(iterations: ib, elapsed: eb))
    }

    func run() throws {
        print("svx-load crypto: \(seconds) s per measurement\n")
        try benchCryppo()
        try benchSRP()
        try benchPBKDF2()
    }

    func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    func format(_ value: Double, decimals: Int = 1) -> String {
        let factor = Double([1, 10, 100, 1000][min(decimals, 3)])
        let rounded = (value * factor).rounded() / factor
        var text = "\(rounded)"
        if decimals == 0, text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    func benchCryppo() throws {
        let key = try SymmetricKey.random()
        let iv = try SecureRandom.bytes(count: AES256GCM.ivLength)
        let aad = Array("none".utf8)
        print("AES-256-GCM: Cryppo string vs raw EVP (same buffers)")
        print([pad("size", 8), pad("operation", 24), pad("ops/s", 12), pad("MB/s", 10), pad("raw ops/s", 12),
               pad("raw MB/s", 10), pad("ratio", 7)].joined(separator: " "))
        for size in [100, 1024, 16 * 1024, 1024 * 1024] {
            let plaintext = try SecureRandom.bytes(count: size)
            let cap = size >= 1024 * 1024 ? 5_000 : 2_000_000
            var sink = 0
            let sealed = try AES256GCM.seal(plaintext, key: key, iv: iv, aad: aad)
            let string = try Cryppo.encrypt(plaintext, key: key)
            let (cryppoSeal, rawSeal) = try compare(
                cap: cap,
                {
                    let s = try plaintext.withUnsafeBytes { try Cryppo.encrypt(bytes: $0, key: key) }
                    sink &+= s.utf8.count
                },
                {
                    let sealed = try plaintext.withUnsafeBytes { try AES256GCM.seal(bytes: $0, key: key, iv: iv, aad: aad) }
                    sink &+= Int(sealed.tag[0])
                })
            let (cryppoOpen, rawOpen) = try compare(
                cap: cap,
                {
                    let p = try Cryppo.decrypt(string, key: key)
                    sink &+= p.count
                },
                {
                    let p = try AES256GCM.open(sealed.ciphertext, key: key, iv: iv, tag: sealed.tag, aad: aad)
                    sink &+= p.count
                })
            precondition(sink != 0)
            for (name, cryppo, raw) in [
                ("encrypt+serialize", cryppoSeal, rawSeal), ("parse+decrypt", cryppoOpen, rawOpen),
            ] {
                let mb = { (m: Measurement) in m.perSecond * Double(size) / 1e6 }
                print([
                    pad(sizeName(size), 8), pad(name, 24), pad(format(cryppo.perSecond, decimals: 0), 12),
                    pad(format(mb(cryppo)), 10), pad(format(raw.perSecond, decimals: 0), 12), pad(format(mb(raw)), 10),
                    pad(format(cryppo.perSecond / raw.perSecond, decimals: 2) + "x", 7),
                ].joined(separator: " "))
            }
        }
        print("")
    }

    func sizeName(_ size: Int) -> String {
        size >= 1024 * 1024 ? "\(size / (1024 * 1024)) MiB" : size >= 1024 ? "\(size / 1024) KiB" : "\(size) B"
    }

    func benchSRP() throws {
        let p = SRPParameters.meeco
        let salt = try SecureRandom.bytes(count: 32)
        let password = Array("benchmark password".utf8)
        let verifier = try p.verifier(salt: salt, username: "bench", password: password)
        let b = try SecureRandom.bytes(count: 32)
        // Client values precomputed once for this b: A and M1.
        var client = try SRPClient(username: "bench", password: password)
        let challenge = try SRPServer(parameters: p, verifier: verifier, privateValue: b)
        let m1 = try client.respond(salt: salt, serverPublicKey: challenge.publicKey)
        let A = client.publicKey
        let base = try BigNumber(bytes: try SecureRandom.bytes(count: 256)).mod(p.group.N)
        let exponent = BigNumber(bytes: try SecureRandom.bytes(count: 32))
        var sink = 0
        let (server, three) = try compare(
            cap: 100_000,
            {
                var s = try SRPServer(parameters: p, verifier: verifier, privateValue: b)
                let m2 = try s.verify(clientPublicKey: A, clientProof: m1)
                sink &+= Int(m2[0])
            },
            {
                for _ in 0..<3 { sink &+= try base.modExp(exponent, p.group.N).byteCount }
            })
        precondition(sink != 0)
        print("SRP-6a (2048-bit, SHA-256)")
        print("  server step, challenge to verified: \(format(server.microseconds)) us  (\(format(server.perSecond, decimals: 0))/s)")
        print("  3 raw 2048-bit modexps, 256-bit exponents: \(format(three.microseconds)) us  (\(format(three.perSecond, decimals: 0))/s)")
        print("  ratio: \(format(server.microseconds / three.microseconds, decimals: 2))x\n")
    }

    func benchPBKDF2() throws {
        let clock = ContinuousClock()
        let salt = Array("xQCSCK8A1d6demUjx8YVGDcTUhctWy2rfHyv7JNAgh9".utf8)
        var times: [Double] = []
        for _ in 0..<max(1, min(pbkdf2Runs, 50)) {
            let start = clock.now
            _ = try PBKDF2.sha256(password: Array("passphrase".utf8), salt: salt, iterations: 100_000, keyLength: 32)
            times.append((clock.now - start).seconds * 1000)
        }
        times.sort()
        print("PBKDF2-HMAC-SHA256, 100 000 iterations (\(times.count) runs)")
        print("  median \(format(times[times.count / 2])) ms, min \(format(times[0])) ms, max \(format(times[times.count - 1])) ms")
    }
}

// `Duration.seconds` is defined once for the whole tool, in LoadRunner.swift.
