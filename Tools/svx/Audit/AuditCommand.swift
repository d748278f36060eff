import ArgumentParser
import Cryppo
import Foundation
import SVXClient

/// `svx audit list|verify|checkpoint`: the user's tamper-evident audit trail in every service
/// (docs/ADR-010-audit.md).
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List, verify and checkpoint your audit trail (logins, key changes, deletions, shares).",
        discussion: """
            Every service keeps a chain of your security events, each event linked to the one before by its hash.
            `svx audit verify` recomputes every chain and checks that the heads this device verified last (kept in
            audit.json next to the session) are still in them: an event edited, deleted or reordered, or a history
            rewritten below a head you verified, is named. `svx audit checkpoint` signs each chain's head with your
            own auth key, so any of your devices can later tell that history up to there was not rewritten.
            """,
        subcommands: [List.self, Verify.self, Checkpoint.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Your events in every service, oldest first.",
            discussion: "Nothing is verified here: `svx audit verify` does that. Ids only: needs no passphrase.")
        @OptionGroup var options: ClientOptions
        @Option(help: "Only events from then: a duration back from now (36h, 7d, 2w) or a date (2026-12-01, 2026-12-01T18:00:00Z).")
        var since: String?

        func validate() throws {
            if let since {
                do { _ = try AuditSince.date(parsing: since) } catch let error as SVXClientError {
                    throw ValidationError("--since: \(error.message)")
                }
            }
        }

        func run() async throws {
            let session = try ClientState().loadSession()
            let start = try since.map { try AuditSince.date(parsing: $0) }
            let audit = try options.auditClient()
            let listing = try await clientFlow { try await audit.list(session: session, since: start) }
            if options.json {
                try printJSON(listing.events.map(auditRecordJSON))
                return
            }
            if listing.events.isEmpty { Terminal.printLine("No events.") }
            for event in listing.events {
                var line = "\(event.occurredAt.iso8601)  \(event.service.padding(toLength: 14, withPad: " ", startingAt: 0))"
                line += " #\(event.seq)  \(event.type)"
                if !event.subjectType.isEmpty || !event.subjectID.isEmpty { line += "  \(event.subjectType) \(event.subjectID)" }
                if !event.sessionID.isEmpty { line += "  session \(event.sessionID)" }
                if !event.peerAddress.isEmpty { line += "  from \(event.peerAddress)" }
                let details = event.details.filter { $0.key != "signature" }.sorted { $0.key < $1.key }
                if !details.isEmpty { line += "  " + details.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
                Terminal.printLine(line)
            }
            for service in listing.servicesWithoutTrail {
                Terminal.printError("svx: \(service) keeps no audit trail yet")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every chain and compare it with the heads this device verified last.",
            discussion: """
                Prints `verified` and each chain's head, and keeps those heads for next time; or names the first bad
                event of each broken chain and exits 1 (the kept heads are left as they were). Checkpoints are checked
                with your own auth key, which needs your Secret Key and passphrase (see `svx login --help` for where
                they come from); --no-keys checks the chains without them (checkpoint signatures unchecked).
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Flag(help: "Do not open your keys: checkpoint signatures are not checked.") var noKeys = false
        @Flag(help: "Accept chains that retention pruned past the head this device verified last.") var acceptPruned = false

        func run() async throws {
            let state = ClientState()
            let (session, keys) = try await openSession(options: options, unlock: unlock, keys: !noKeys)
            var stored = try state.loadAuditHeads()
            let audit = try options.auditClient()
            let verification = try await clientFlow {
                try await audit.verify(
                    session: session, storedHeads: stored.heads(userID: session.userID), keys: keys,
                    acceptPrunedHeads: acceptPruned)
            }
            if verification.isVerified {
                stored.store(verification.newHeads, userID: session.userID)
                try state.saveAuditHeads(stored)
            }
            try printVerification(verification, json: options.json)
            if !verification.isVerified { throw ExitCode(1) }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every chain, then sign each head with your auth key and append it there.",
            discussion: """
                Needs your Secret Key and passphrase. A broken chain is never signed: the failures are named and the
                command exits 1.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions

        func run() async throws {
            let state = ClientState()
            let (session, keys) = try await openSession(options: options, unlock: unlock, keys: true)
            guard let keys else { throw CLIError("the keys did not open") }
            var stored = try state.loadAuditHeads()
            let audit = try options.auditClient()
            let result = try await clientFlow {
                try await audit.checkpoint(session: session, keys: keys, storedHeads: stored.heads(userID: session.userID))
            }
            guard result.verification.isVerified else {
                try printVerification(result.verification, json: options.json)
                throw ExitCode(1)
            }
            stored.store(result.newHeads, userID: session.userID)
            try state.saveAuditHeads(stored)
            if options.json {
                try printJSON([
                    "verified": true,
                    "checkpoints": result.appended.sorted { $0.key < $1.key }.map {
                        [
                            "service": $0.key, "seq": $0.value.seq, "hash": Hex.encode($0.value.hash),
                            "signed_seq": result.verification.newHeads[$0.key]?.seq ?? 0,
                        ] as [String: Any]
                    },
                ])
                return
            }
            if result.appended.isEmpty { Terminal.printLine("Nothing to sign: no service has an event of yours yet.") }
            for (service, event) in result.appended.sorted(by: { $0.key < $1.key }) {
                let signed = result.verification.newHeads[service]?.seq ?? 0
                Terminal.printLine("\(service): signed event \(signed), checkpoint appended as event \(event.seq)")
            }
        }
    }
}

/// The saved session, with the keys opened when `keys` (Secret Key and passphrase asked as every command does).
private func openSession(
    options: ClientOptions, unlock: UnlockOptions, keys: Bool
) async throws -> (AuthenticatedSession, UnlockedKeys?) {
    guard keys else { return (try ClientState().loadSession(), nil) }
    let unlocked = try await UnlockedKeyring.open(options: options, unlock: unlock)
    return (unlocked.session, unlocked.keys)
}

private func auditRecordJSON(_ event: AuditRecord) -> [String: Any] {
    [
        "service": event.service, "seq": event.seq, "occurred_at": event.occurredAt.iso8601,
        "occurred_at_ms": event.occurredAtMs, "type": event.type, "session_id": event.sessionID,
        "peer_address": event.peerAddress, "subject_type": event.subjectType, "subject_id": event.subjectID,
        "details": event.details,
    ]
}

private func printVerification(_ verification: AuditVerification, json: Bool) throws {
    if json {
        try printJSON([
            "verified": verification.isVerified, "user_id": verification.userID,
            "services": verification.services.map { service -> [String: Any] in
                var object: [String: Any] = [
                    "service": service.service, "events": service.eventCount,
                    "checkpoints_verified": service.checkpointsVerified,
                    "checkpoints_unchecked": service.checkpointsUnchecked,
                ]
                if let anchor = service.anchor { object["anchor_seq"] = anchor.seq }
                switch service.state {
                case .verified(let head):
                    object["state"] = "verified"
                    object["head_seq"] = head.seq
                    object["head"] = Hex.encode(head.hash)
                case .notKept:
                    object["state"] = "not_kept"
                case .failed(let failure):
                    object["state"] = "failed"
                    object["seq"] = failure.seq
                    object["reason"] = failure.reason.rawValue
                    object["message"] = failure.message
                }
                return object
            },
        ])
        return
    }
    for service in verification.services {
        let name = service.service.padding(toLength: 14, withPad: " ", startingAt: 0)
        switch service.state {
        case .verified(let head):
            var line = head.seq == 0 ? "\(name) verified (no event yet)" : "\(name) verified to event \(head.seq)"
            if let anchor = service.anchor { line += " (events up to \(anchor.seq) pruned)" }
            if service.checkpointsVerified > 0 { line += ", \(service.checkpointsVerified) checkpoint(s) signed by your auth key" }
            if service.checkpointsUnchecked > 0 { line += ", \(service.checkpointsUnchecked) checkpoint signature(s) not checked" }
            Terminal.printLine(line)
        case .notKept:
            Terminal.printLine("\(name) keeps no audit trail yet")
        case .failed(let failure):
            Terminal.printLine("\(name) FAILED at event \(failure.seq): \(failure.reason.rawValue): \(failure.message)")
        }
    }
    if let first = verification.failures.first {
        Terminal.printLine("NOT verified: \(first.service) event \(first.seq) (\(first.reason.rawValue))")
    } else {
        Terminal.printLine("verified")
    }
}
