import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC

/// The user's audit trail across the services (docs/ADR-010-audit.md, reference/sharing.md §5b). Each service keeps its
/// own chain of the user's events and answers `svx.audit.v1.Audit/ListEvents` and `/AppendCheckpoint`; this client
/// reads every chain to its head, merges them by time, verifies them, and signs checkpoints with the user's own `auth`
/// key. A service that answers UNIMPLEMENTED keeps no trail yet: it is reported as such, not as a failure.
///
/// - ``list(session:since:)``: every event, merged by time.
/// - ``verify(session:storedHeads:keys:acceptPrunedHeads:)``: every chain recomputed and compared with the heads this
///   device stored last; on success its ``AuditVerification/newHeads`` are what the caller stores.
/// - ``checkpoint(session:keys:storedHeads:)``: verifies, then signs each service's head and appends it there.
public struct AuditClient: Sendable {
    /// ListEvents' largest page.
    public static let pageSize: UInt32 = 500
    /// The type of a checkpoint event (AppendCheckpoint).
    public static let checkpointEventType = "audit.checkpoint"

    /// The services asked, in this order (their names are those of the chains' genesis: `auth`, `keystore`, ...).
    public let services: [(name: String, client: RPCClient)]
    public var timeout: Duration
    /// A bound on the pages read from one service (a service that never reaches its head).
    public var maximumPages: Int

    public init(services: [(name: String, client: RPCClient)], timeout: Duration = .seconds(30), maximumPages: Int = 10_000) {
        self.services = services
        self.timeout = timeout
        self.maximumPages = maximumPages
    }

    // MARK: Reading

    /// Every service's trail of the caller's events, read to its head (pages of ``pageSize``), in the order of
    /// ``services``. Any answer but OK or UNIMPLEMENTED is thrown.
    public func chains(session: AuthenticatedSession) async throws -> [AuditServiceTrail] {
        try await withThrowingTaskGroup(of: (Int, AuditServiceTrail).self) { group in
            for (index, service) in services.enumerated() {
                group.addTask { (index, try await trail(of: service.name, client: service.client, session: session)) }
            }
            var trails: [(Int, AuditServiceTrail)] = []
            for try await trail in group { trails.append(trail) }
            return trails.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// One service's trail: pages from seq 0 until the page that reaches the head the service claims (or a short
    /// page). The anchor is the first page's (a prune in between only removes events already read); the head is the
    /// last page's.
    func trail(of service: String, client: RPCClient, session: AuthenticatedSession) async throws -> AuditServiceTrail {
        let userID = session.userID.lowercased()
        var request = Svx_Audit_V1_ListEventsRequest()
        request.pageSize = Self.pageSize
        var entries: [AuditEntry] = []
        var first: Svx_Audit_V1_ListEventsResponse?
        var last = Svx_Audit_V1_ListEventsResponse()
        for _ in 0..<max(maximumPages, 1) {
            do {
                last = try await client.call(AuditRPC.listEvents, request, sessionToken: session.token, timeout: timeout)
            } catch let status as RPCStatus where status.code == .unimplemented {
                return .notKept(service: service)
            }
            if first == nil { first = last }
            entries += last.events.map { Self.entry($0, userID: userID) }
            guard let seq = last.events.last?.seq, last.events.count >= Int(Self.pageSize), seq < last.headSeq,
                seq > request.sinceSeq
            else {
                let anchor = first.flatMap { $0.anchorSeq > 0 ? AuditHead(seq: $0.anchorSeq, hash: Array($0.anchorHash)) : nil }
                return .chain(
                    AuditServiceChain(
                        service: service, answeredService: first?.service ?? last.service, userID: userID, entries: entries,
                        head: AuditHead(seq: last.headSeq, hash: Array(last.headHash)), anchor: anchor))
            }
            request.sinceSeq = seq
        }
        throw SVXClientError(.malformedResponse, "the audit trail of \(service) did not end after \(maximumPages) pages")
    }

    static func entry(_ event: Svx_Audit_V1_AuditEvent, userID: String) -> AuditEntry {
        AuditEntry(
            userID: userID, seq: event.seq, occurredAtMs: event.occurredAtMs, type: event.type, sessionID: event.sessionID,
            peerAddress: event.peerAddress, subjectType: event.subjectType, subjectID: event.subjectID, details: event.details,
            prevHash: Array(event.prevHash), entryHash: Array(event.entryHash))
    }

    /// Every service's events of the caller (those at or after `since` when given), merged by time (ties: service name,
    /// then seq). Nothing is verified here: ``verify(session:storedHeads:keys:acceptPrunedHeads:)`` does that.
    public func list(session: AuthenticatedSession, since: Date? = nil) async throws -> AuditListing {
        Self.merge(try await chains(session: session), since: since)
    }

    /// The events of `trails` from `since`, merged by time, service, seq.
    public static func merge(_ trails: [AuditServiceTrail], since: Date? = nil) -> AuditListing {
        var events: [AuditRecord] = []
        var without: [String] = []
        for trail in trails {
            switch trail {
            case .chain(let chain):
                let records = chain.entries.map { AuditRecord(service: chain.service, entry: $0) }
                events += since.map { since in records.filter { $0.occurredAt >= since } } ?? records
            case .notKept(let service):
                without.append(service)
            }
        }
        return AuditListing(events: events.sorted(by: AuditRecord.mergedOrder), servicesWithoutTrail: without)
    }

    // MARK: Verifying

    /// Every chain recomputed (``AuditVerifier``) and compared with `storedHeads` (the heads this device verified last
    /// for this user, by service). With `keys` (the user's, open), every checkpoint's signature is checked with the
    /// public key of the user's own `auth` private key; without, checkpoints are checked for their shape and signed
    /// head only (``AuditServiceVerification/checkpointsUnchecked``). `acceptPrunedHeads`: a stored head that
    /// retention pruned past is accepted. A service that answers UNIMPLEMENTED while this device stored a head of it
    /// fails `head_missing` (a whole chain hidden). Failures are in the result, one per service; only errors reading a chain
    /// are thrown.
    public func verify(
        session: AuthenticatedSession, storedHeads: [String: AuditHead], keys: UnlockedKeys?, acceptPrunedHeads: Bool = false
    ) async throws -> AuditVerification {
        Self.verify(
            try await chains(session: session), userID: session.userID.lowercased(), storedHeads: storedHeads,
            key: try keys.map { try Self.signingKey($0) }, acceptPrunedHeads: acceptPrunedHeads)
    }

    /// ``verify(session:storedHeads:keys:acceptPrunedHeads:)`` on trails already read.
    public static func verify(
        _ trails: [AuditServiceTrail], userID: String, storedHeads: [String: AuditHead], key: AuditVerifier.SigningKey?,
        acceptPrunedHeads: Bool = false
    ) -> AuditVerification {
        AuditVerification(
            userID: userID,
            services: trails.map { trail in
                switch trail {
                case .chain(let chain):
                    AuditVerifier.verify(
                        chain, storedHead: storedHeads[chain.service], key: key, acceptPrunedHead: acceptPrunedHeads)
                case .notKept(let service):
                    AuditServiceVerification(
                        service: service,
                        // A trail this device verified cannot stop existing: hiding a whole chain is a truncation.
                        state: storedHeads[service].map { stored in
                            .failed(AuditFailure(
                                service: service, seq: stored.seq, reason: .headMissing,
                                message: "this device verified this trail up to event \(stored.seq), and the service now says it keeps none"))
                        } ?? .notKept,
                        eventCount: 0, anchor: nil, checkpointsVerified: 0, checkpointsUnchecked: 0)
                }
            })
    }

    /// The public key the user's checkpoints are checked with: the one of the `auth` private key this client opened
    /// (not the Keystore's copy of a public key).
    static func signingKey(_ keys: UnlockedKeys) throws -> AuditVerifier.SigningKey {
        try AuditVerifier.SigningKey(publicKeyPEM: try keys.authPrivateKey.publicKeyPEM)
    }

    // MARK: Checkpoints

    /// Verifies every chain (``verify(session:storedHeads:keys:acceptPrunedHeads:)`` with `keys`) and, only if they
    /// all hold, signs each service's head with the user's `auth` private key (`Sign.Rsa4096` over
    /// ``AuditChain/checkpointMessage(service:userID:seq:head:)``) and appends it there with AppendCheckpoint. A
    /// service with no event yet gets none. Returns the verification, the checkpoint events appended, by service, and
    /// the heads to store (``AuditCheckpoints/newHeads``). A broken chain is never signed:
    /// the result then holds the failures and no checkpoint.
    public func checkpoint(
        session: AuthenticatedSession, keys: UnlockedKeys, storedHeads: [String: AuditHead]
    ) async throws -> AuditCheckpoints {
        let verification = try await verify(session: session, storedHeads: storedHeads, keys: keys)
        guard verification.isVerified else { return AuditCheckpoints(verification: verification, appended: [:], newHeads: [:]) }
        let userID = session.userID.lowercased()
        let key = try Self.signingKey(keys)
        var appended: [String: AuditHead] = [:]
        var newHeads = verification.newHeads
        for (name, client) in services {
            guard let head = verification.newHeads[name] else { continue }
            let message = AuditChain.checkpointMessage(service: name, userID: userID, seq: head.seq, head: head.hash)
            var request = Svx_Audit_V1_AppendCheckpointRequest()
            request.seq = head.seq
            request.headHash = Data(head.hash)
            request.signature = try Cryppo.sign(message, privateKey: keys.authPrivateKey)
            request.publicKeySha256 = key.publicKeySHA256
            let response = try await client.call(
                AuditRPC.appendCheckpoint, request, sessionToken: session.token, timeout: timeout)
            // The event the service says it appended. When it extends the verified head directly (nothing was
            // appended in between), it is the new head; otherwise the verified head stays the one to store, and the
            // next verification checks the checkpoint with the rest.
            let event = Self.entry(response.event, userID: userID)
            appended[name] = AuditHead(seq: event.seq, hash: event.entryHash)
            if event.seq == head.seq + 1, event.type == Self.checkpointEventType,
                event.details["signature"] == request.signature,
                AuditChain.firstBreak(
                    [event], service: name, userID: userID, anchor: (head.seq, head.hash), sha256: AuditVerifier.sha256) == nil
            {
                newHeads[name] = appended[name]
            }
        }
        return AuditCheckpoints(verification: verification, appended: appended, newHeads: newHeads)
    }
}

/// The result of ``AuditClient/checkpoint(session:keys:storedHeads:)``.
public struct AuditCheckpoints: Sendable, Equatable {
    /// The verification that came first.
    public let verification: AuditVerification
    /// The checkpoint events appended, by service (none when the verification failed).
    public let appended: [String: AuditHead]

    /// What the caller stores: every verified head, moved to its checkpoint where the checkpoint extends it directly
    /// (nothing when the verification failed).
    public let newHeads: [String: AuditHead]
}
