import ArgumentParser
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SwiftProtobuf

/// `svx-load hostile`: sweeps of malformed, oversized and unknown requests, sent as an attacker without a session
/// would, against one or more services; after chosen sweeps it reports each service's resident memory and the size of
/// its `Metrics/Scrape` answer. Bounded in count (about 400 requests per service and sweep); loopback only.
struct HostileSweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hostile",
        abstract: "Sweeps of malformed, oversized and unknown requests; RSS and metrics size after chosen sweeps.",
        discussion: """
            Each sweep sends every target about 400 requests: unknown method names of 1 KiB (new ones every sweep), \
            random bytes, truncated envelopes, payloads of the wrong shape for each of the service's methods, invalid \
            UTF-8, out-of-range numbers, oversized tokens, and strings and bytes up to the message limit and beyond it. \
            Every request that carries a request id must be answered; a missing answer fails the run (exit 1).
            """)

    @Option(name: .customLong("target"), help: "SERVICE=ENDPOINT[,PID] (repeatable): a service (auth, keystore, vault, sharing, classification), where it listens, and its pid for RSS.")
    var targets: [String] = []

    @Option(help: "Sweeps to run. 1...50.")
    var sweeps: Int = 3

    @Option(help: "Sweeps after which RSS and the scrape size are reported, comma separated (the last sweep always is).")
    var reportAfter: String = "1,3,10"

    @Option(help: "A service's message limit when it does not say (it says when a request of 1 MiB is over its limit).")
    var maxMessageBytes: Int = 4 << 20

    @Option(help: "Milliseconds to wait after a sweep before reading RSS (the services settle).")
    var settleMs: Int = 500

    @Option(help: "Seed of the random generator (the same seed sends the same requests).")
    var seed: UInt64 = 1

    func validate() throws {
        guard !targets.isEmpty else { throw ValidationError("give at least one --target SERVICE=ENDPOINT[,PID]") }
        for target in targets { _ = try HostileTarget(parsing: target) }
        guard (1...50).contains(sweeps) else { throw ValidationError("--sweeps must be in 1...50") }
        guard (1024...(64 << 20)).contains(maxMessageBytes) else { throw ValidationError("--max-message-bytes must be in 1024...67108864") }
        guard (0...10_000).contains(settleMs) else { throw ValidationError("--settle-ms must be in 0...10000") }
    }

    func run() throws {
        let targets = try targets.map(HostileTarget.init(parsing:))
        let reportPoints = Set(reportAfter.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } + [sweeps])
        var rng = SplitMix64(seed: seed)
        var table: [(sweep: Int, service: String, rssKiB: Int?, scrapeBytes: Int?)] = []
        printFlushed("svx-load hostile: \(sweeps) sweep(s) of \(targets.map(\.service).joined(separator: ", "))")
        for target in targets {
            table.append((0, target.service, target.residentKiB(), try? target.scrapeSize()))
        }
        var failed = false
        var limits: [String: Int] = [:]
        for target in targets {
            limits[target.service] = try target.messageLimit() ?? maxMessageBytes
            printFlushed("\(target.service): message limit \(limits[target.service]!) bytes")
        }
        for sweep in 1...sweeps {
            for target in targets {
                let requests = HostileRequests.sweep(
                    service: target.service, sweep: sweep, maxMessageBytes: limits[target.service]!, rng: &rng)
                let outcome = try HostileExchange.run(requests, service: target.service, endpoint: target.endpoint)
                printFlushed("sweep \(sweep) \(target.service): \(outcome.describe())")
                if !outcome.missing.isEmpty { failed = true }
                guard target.isHealthy() else {
                    printFlushed("sweep \(sweep) \(target.service): Health/Check failed after the sweep")
                    throw ExitCode.failure
                }
            }
            if reportPoints.contains(sweep) {
                if settleMs > 0 { Thread.sleep(forTimeInterval: Double(settleMs) / 1000) }
                for target in targets { table.append((sweep, target.service, target.residentKiB(), try? target.scrapeSize())) }
            }
        }
        printFlushed("== RSS and Metrics/Scrape size (sweep 0 = before the first sweep)")
        printFlushed("   service         sweep   RSS MiB   scrape bytes")
        for row in table.sorted(by: { ($0.service, $0.sweep) < ($1.service, $1.sweep) }) {
            let rss = row.rssKiB.map { String(format: "%.1f", Double($0) / 1024) } ?? "-"
            let scrape = row.scrapeBytes.map(String.init) ?? "-"
            printFlushed("   \(row.service.padding(toLength: 15, withPad: " ", startingAt: 0)) \(String(format: "%5d", row.sweep))   \(rss.leftPadded(7))   \(scrape.leftPadded(12))")
        }
        for target in targets {
            let rows = table.filter { $0.service == target.service }
            guard let first = rows.first(where: { $0.sweep == 1 })?.rssKiB, let last = rows.last?.rssKiB,
                let peak = rows.compactMap(\.rssKiB).max()
            else { continue }
            printFlushed(String(
                format: "   %@: RSS max %.1f MiB (goal <= 64), after sweep 1 %.1f MiB, after sweep %d %.1f MiB (%+.1f MiB)",
                target.service, Double(peak) / 1024, Double(first) / 1024, rows.last!.sweep, Double(last) / 1024,
                Double(last - first) / 1024))
        }
        if failed {
            printFlushed("hostile: some requests with a request id were not answered")
            throw ExitCode.failure
        }
    }
}

/// One service under the sweep.
struct HostileTarget {
    let service: String
    let endpoint: String
    let pid: Int32?

    init(parsing text: String) throws {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, HostileRequests.methods[parts[0]] != nil else {
            throw ValidationError("--target wants SERVICE=ENDPOINT[,PID] with SERVICE one of \(HostileRequests.methods.keys.sorted().joined(separator: ", ")); got \"\(text)\"")
        }
        let rest = parts[1].split(separator: ",").map(String.init)
        service = parts[0]
        endpoint = rest[0]
        try validateLoopback(endpoint)
        if rest.count > 1 {
            guard let pid = Int32(rest[1]), pid > 0 else { throw ValidationError("--target: bad pid in \"\(text)\"") }
            self.pid = pid
        } else {
            pid = nil
        }
    }

    func residentKiB() -> Int? { pid.flatMap { ServerProcess(pid: $0).memory()?.current } }

    func scrapeSize() throws -> Int {
        let client = try LoadTransport.client(service: service, endpoint: endpoint)
        defer { client.close() }
        return try client.callBlocking(MetricsRPC.scrape, .init(), timeout: .seconds(5)).text.utf8.count
    }

    /// The service's message limit if it is under 1 MiB: a Health request of 1 MiB (always under the size at which
    /// the server closes the connection) is answered RESOURCE_EXHAUSTED with `max_message_bytes`; nil otherwise.
    func messageLimit() throws -> Int? {
        var request = Svx_Rpc_V1_Request()
        request.method = HealthRPC.check.name
        request.requestID = 1
        request.payload = Data(HostileRequests.lengthDelimited(field: 1000, [UInt8](repeating: 0, count: 1 << 20)))
        let outcome = try HostileExchange.run([HostileRequest(kind: "limit probe", frame: try request.serializedBytes(), requestID: 1)], service: service, endpoint: endpoint)
        return outcome.limit
    }

    func isHealthy() -> Bool {
        guard let client = try? LoadTransport.client(service: service, endpoint: endpoint) else { return false }
        defer { client.close() }
        return (try? client.callBlocking(HealthRPC.check, .init(), timeout: .seconds(5)))?.status == .serving
    }
}

/// One hostile message: its frame, and whether the service must answer it (it carries a request id the server
/// can read).
struct HostileRequest {
    let kind: String
    let frame: [UInt8]
    let requestID: UInt64?
}

/// What the requests of one sweep are.
enum HostileRequests {
    /// The methods each service registers (besides Health/Check and Metrics/Scrape), from the shared contracts.
    static let methods: [String: [String]] = [
        "auth": [
            AuthRPC.reserveUsername.name, AuthRPC.register.name, AuthRPC.beginLogin.name, AuthRPC.finishLogin.name,
            AuthRPC.logout.name, AuthRPC.listSessions.name, AuthRPC.revokeSession.name, AuthRPC.changeVerifier.name,
            AuthRPC.validateSession.name,
        ],
        "keystore": [
            KeystoreRPC.createKEK.name, KeystoreRPC.getKEK.name, KeystoreRPC.stagePassphraseChange.name,
            KeystoreRPC.commitPassphraseChange.name, KeystoreRPC.createDEK.name, KeystoreRPC.getDEK.name,
            KeystoreRPC.listDEKs.name, KeystoreRPC.deleteDEK.name, KeystoreRPC.createKeypair.name,
            KeystoreRPC.getKeypair.name, KeystoreRPC.listKeypairs.name, KeystoreRPC.deleteKeypair.name,
            KeystoreRPC.rotateKEK.name,
        ],
        "vault": [
            VaultRPC.getVaultUser.name, VaultRPC.putVaultUser.name, VaultRPC.listTemplates.name, VaultRPC.getTemplate.name,
            VaultRPC.createTemplate.name, VaultRPC.deleteTemplate.name, VaultRPC.createItem.name, VaultRPC.getItem.name,
            VaultRPC.listItems.name, VaultRPC.updateItem.name, VaultRPC.deleteItem.name, VaultRPC.createAttachment.name,
            VaultRPC.uploadAttachmentBlock.name, VaultRPC.finishAttachment.name, VaultRPC.getAttachment.name,
            VaultRPC.checkEntities.name, VaultRPC.getAttachmentBlock.name,
        ],
        "sharing": [],
        "classification": [
            ClassificationRPC.listSchemes.name, ClassificationRPC.createScheme.name, ClassificationRPC.deleteScheme.name,
            ClassificationRPC.createNode.name, ClassificationRPC.updateNode.name, ClassificationRPC.moveNode.name,
            ClassificationRPC.deleteNode.name, ClassificationRPC.searchNodes.name, ClassificationRPC.listSubtree.name,
            ClassificationRPC.classify.name, ClassificationRPC.unclassify.name, ClassificationRPC.listEntityNodes.name,
            ClassificationRPC.listEntities.name, ClassificationRPC.forgetEntities.name,
        ],
    ]

    /// The requests of sweep `sweep` against `service`: about 400 (more for a service with many methods), shuffled.
    static func sweep(service: String, sweep: Int, maxMessageBytes: Int, rng: inout SplitMix64) -> [HostileRequest] {
        let methods = (methods[service] ?? []) + [HealthRPC.check.name, MetricsRPC.scrape.name]
        var requestIDs = UInt64(sweep) << 32
        var out: [HostileRequest] = []
        func envelope(
            _ kind: String, method: String, payload: [UInt8] = [], token: String = "", deadline: UInt64 = 0
        ) {
            requestIDs += 1
            var request = Svx_Rpc_V1_Request()
            request.method = method
            request.requestID = requestIDs
            request.sessionToken = token
            request.deadlineMs = deadline
            request.payload = Data(payload)
            out.append(HostileRequest(kind: kind, frame: (try? request.serializedBytes()) ?? [], requestID: requestIDs))
        }

        // Unknown methods: 1 KiB names, new ones every sweep (each would be a metrics series if labelled as is).
        for index in 0..<60 {
            let name = "svx.\(service).v1.Nothing/S\(sweep)N\(index)-" + String(repeating: "x", count: 1000)
            envelope("unknown method", method: name, payload: rng.bytes(rng.int(0...64)))
        }
        // Random bytes (dropped unless they happen to decode as a Request with an id: not awaited).
        for _ in 0..<30 {
            out.append(HostileRequest(kind: "random bytes", frame: rng.bytes(rng.int(1...65_536)), requestID: nil))
        }
        // Truncated envelopes (not awaited: the cut may leave a readable request id or not).
        for _ in 0..<30 {
            requestIDs += 1
            var request = Svx_Rpc_V1_Request()
            request.method = methods[rng.int(0...(methods.count - 1))]
            request.requestID = requestIDs
            request.payload = Data(rng.bytes(rng.int(16...4096)))
            let bytes: [UInt8] = (try? request.serializedBytes()) ?? []
            out.append(HostileRequest(kind: "truncated envelope", frame: Array(bytes.prefix(rng.int(1...max(1, bytes.count - 1)))), requestID: nil))
        }
        // Every method: payloads of the wrong shape, invalid UTF-8, out-of-range numbers, odd tokens and deadlines; in
        // rounds over the methods until the sweep holds about 400 requests, whatever the number of methods.
        var round = 0
        while round == 0 || out.count < 380 {
            for method in methods {
                envelope("random payload", method: method, payload: rng.bytes(rng.int(1...2048)))
                envelope("wrong wire type", method: method, payload: wrongWireTypes(&rng))
                envelope("invalid UTF-8", method: method, payload: invalidUTF8Fields())
                envelope("out-of-range numbers", method: method, payload: outOfRangeNumbers())
                envelope("nested garbage", method: method, payload: nestedGarbage(depth: 40, &rng))
                envelope("random token", method: method, payload: [], token: rng.base64url(43))
                envelope("oversized token", method: method, payload: [], token: String(repeating: "A", count: 65_536))
                envelope("garbage deadline", method: method, payload: [], deadline: UInt64.max)
                envelope("unknown fields", method: method, payload: unknownFields(&rng))
                envelope("repeated sub-messages", method: method, payload: repeatedSubmessages(count: 20_000))
            }
            round += 1
        }
        // Large strings and bytes just under the message limit, and requests over it (RESOURCE_EXHAUSTED).
        let large = max(0, maxMessageBytes - 4096)
        for index in 0..<6 {
            let method = methods[index % methods.count]
            envelope("large field under the limit", method: method, payload: lengthDelimited(field: UInt64(1 + index % 3), rng.bytes(large)))
        }
        for index in 0..<4 {
            let method = methods[index % methods.count]
            envelope("over the limit", method: method, payload: lengthDelimited(field: 1, rng.bytes(maxMessageBytes + 65_536)))
        }
        envelope("oversized method name", method: String(repeating: "m", count: large), payload: [])
        rng.shuffle(&out)
        return out
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var out: [UInt8] = []
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
        return out
    }

    static func lengthDelimited(field: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        varint(field << 3 | 2) + varint(UInt64(bytes.count)) + bytes
    }

    /// Fields 1...8 with each wire type but the one they have (whatever they are, most mismatch).
    static func wrongWireTypes(_ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        for field in UInt64(1)...8 {
            switch rng.int(0...2) {
            case 0: out += varint(field << 3) + varint(rng.next())
            case 1: out += varint(field << 3 | 5) + [1, 2, 3, 4]
            default: out += varint(field << 3 | 1) + [1, 2, 3, 4, 5, 6, 7, 8]
            }
        }
        return out
    }

    /// Fields 1...8 as length-delimited invalid UTF-8 (a string field must refuse it).
    static func invalidUTF8Fields() -> [UInt8] {
        (UInt64(1)...8).flatMap { lengthDelimited(field: $0, [0xC3, 0x28, 0xFF, 0xFE, 0xED, 0xA0, 0x80]) }
    }

    /// Fields 1...8 as the largest varint, and as a negative number.
    static func outOfRangeNumbers() -> [UInt8] {
        var out: [UInt8] = []
        for field in UInt64(1)...8 {
            out += varint(field << 3)
            out += varint(UInt64.max)
            out += varint(field << 3)
            out += varint(UInt64(bitPattern: -(1 << 40)))
        }
        return out
    }

    /// A sub-message nested `depth` levels in every field number tried (beyond swift-protobuf's depth limit).
    static func nestedGarbage(depth: Int, _ rng: inout SplitMix64) -> [UInt8] {
        var inner = rng.bytes(8)
        for _ in 0..<depth { inner = lengthDelimited(field: UInt64(rng.int(1...8)), inner) }
        return inner
    }

    /// High field numbers of every wire type (kept as unknown fields by a lenient decoder).
    static func unknownFields(_ rng: inout SplitMix64) -> [UInt8] {
        var out: [UInt8] = []
        for field in UInt64(1000)..<1064 { out += lengthDelimited(field: field, rng.bytes(64)) }
        return out
    }

    /// Many tiny sub-messages in one field: small on the wire, many objects once decoded.
    static func repeatedSubmessages(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for _ in 0..<count { out += [0x1A, 0x00] }  // field 3, length 0
        return out
    }
}

/// Sends one sweep's requests on one DEALER socket, a window at a time, and collects the answers.
enum HostileExchange {
    struct Outcome {
        var sent = 0
        var codes: [String: Int] = [:]
        var missing: [String] = []
        var unreadable = 0
        /// `max_message_bytes` of a RESOURCE_EXHAUSTED answer, if one said it.
        var limit: Int?

        func describe() -> String {
            let answered = codes.values.reduce(0, +)
            let byCode = codes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            var text = "\(sent) requests, \(answered) answered (\(byCode))"
            if unreadable > 0 { text += ", \(unreadable) unreadable answers" }
            if !missing.isEmpty { text += "; NOT ANSWERED: \(missing.count) (\(Set(missing).sorted().joined(separator: ", ")))" }
            return text
        }
    }

    static let window = 8

    static func run(_ requests: [HostileRequest], service: String, endpoint: String) throws -> Outcome {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .dealer)
        defer { socket.close() }
        try socket.setOption(.linger, 0)
        try LoadTransport.secure(socket, service: service, endpoint: endpoint)
        try socket.connect(endpoint)
        let poller = ZMQPoller()
        poller.add(socket)
        var outcome = Outcome()
        var start = 0
        while start < requests.count {
            let batch = requests[start..<min(start + window, requests.count)]
            start += batch.count
            var awaited: [UInt64: String] = [:]
            for request in batch {
                _ = try socket.send(request.frame)
                outcome.sent += 1
                if let id = request.requestID { awaited[id] = request.kind }
            }
            // Answers to this window; unawaited ones (a truncated envelope that still named an id) count as well.
            let deadline = ContinuousClock.now + .seconds(awaited.isEmpty ? 0.2 : 30)
            while ContinuousClock.now < deadline {
                if awaited.isEmpty && ContinuousClock.now >= deadline { break }
                guard try poller.poll(timeoutMilliseconds: 50) > 0 else {
                    if awaited.isEmpty { break }
                    continue
                }
                while let frames = try socket.receiveMultipart(dontWait: true), let first = frames.first {
                    guard let response = try? Svx_Rpc_V1_Response(serializedBytes: first) else {
                        outcome.unreadable += 1
                        continue
                    }
                    outcome.codes[RPCStatus.Code(rawValue: response.status.code.rawValue).name, default: 0] += 1
                    if let limit = response.status.details["max_message_bytes"].flatMap({ Int($0) }) { outcome.limit = limit }
                    awaited[response.requestID] = nil
                }
                if awaited.isEmpty { break }
            }
            outcome.missing += awaited.values
        }
        return outcome
    }
}

/// The sweep's random choices, from svx-load's SplitMix64 (VaultItems.swift): the same seed sends the same sweep.
extension SplitMix64 {
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = next()
            for _ in 0..<8 where index < count {
                out[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return out
    }

    mutating func base64url(_ count: Int) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return String((0..<count).map { _ in alphabet[int(0...63)] })
    }

    mutating func shuffle<T>(_ array: inout [T]) { array.shuffle(using: &self) }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
