import Cryppo
import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXStore
import SVXTestHarness
import Testing

/// The Sharing integration suites (SharingInvitationTests, SharingConnectionTests, SharingKeysAndCapsTests,
/// SharingInputTests, SharingClientTests, SharingShareTests, SharingShareInputTests, SharesClientTests), one test at a
/// time: each starts Auth, Keystore and Sharing (the share suites the Vault too, ``shareStack(environment:)``), and all
/// at once they would take more of the test PostgreSQL's connections than the rest of the suite leaves them.
@Suite(.serialized) struct SharingIntegrationTests {
    /// Auth, Keystore and Sharing on a new database, with `environment` on top: Auth and the Keystore with 2 workers
    /// each (these tests do not load them), Sharing with its default 4 (11 database connections in all).
    static func stack(environment: [TestService: [String: String]] = [:]) async throws -> TestStack {
        var wired: [TestService: [String: String]] = [.auth: ["SVX_WORKERS": "2"], .keystore: ["SVX_WORKERS": "2"]]
        wired.merge(environment) { base, set in base.merging(set) { $1 } }
        return try await TestStack.start([.auth, .keystore, .sharing], environment: wired)
    }
}

/// A user ready to connect: signed up through the kit, with a KEK in its Keystore to wrap connection keypairs.
struct SharingUser: Sendable {
    let user: TestUser
    let kek: SymmetricKey

    var userID: String { user.userID }
    var username: String { user.username }

    /// `count` new users of `stack`, each with its KEK (made concurrently).
    static func make(_ stack: TestStack, count: Int) async throws -> [SharingUser] {
        try await withThrowingTaskGroup(of: (Int, SharingUser).self) { group in
            for index in 0..<count {
                group.addTask {
                    let user = try await stack.newUser()
                    return (index, SharingUser(user: user, kek: try await user.createKEK().kek))
                }
            }
            var users: [(Int, SharingUser)] = []
            for try await made in group { users.append(made) }
            return users.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    /// A new RSA keypair for a connection (2048 bits: the product's 4096 take seconds each), stored in this user's
    /// Keystore with the private key wrapped by its KEK, as the SDK does.
    func newKey() async throws -> ConnectionKey {
        let privateKey = try RSAPrivateKey.generate(bits: 2048)
        let keypair = try await user.createKeypair(privateKey, kek: kek, metadata: ["purpose": "connection"])
        return ConnectionKey(privateKey: privateKey, keypair: keypair)
    }

    /// `peer`: as that service's peer call (its key), for the methods meant for peers.
    func call<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, as peer: TestService? = nil
    ) async throws -> Response {
        try await user.call(method, request, as: peer)
    }

    func failure<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, as peer: TestService? = nil,
        timeout: Duration = .seconds(30)
    ) async -> RPCStatus? {
        await user.failure(method, request, as: peer, timeout: timeout)
    }

    /// Cryppo(the user's private DEK, `bytes`), as the SDK encrypts names and the invitation secret.
    func encrypt(_ bytes: [UInt8]) throws -> String { try Cryppo.encrypt(bytes, key: user.dek) }
    func encrypt(_ text: String) throws -> String { try user.encrypt(text) }
    func decrypt(_ text: String) throws -> [UInt8] { try Cryppo.decrypt(text, key: user.dek) }

    /// A CreateInvitation request for `key`, with a new secret S (returned: it never goes to the server).
    func invitationRequest(
        key: ConnectionKey, name: String = "the neighbour from the allotment", expiresInMs: UInt64 = 0,
        for intended: String = ""
    ) throws -> (request: Svx_Sharing_V1_CreateInvitationRequest, secret: [UInt8]) {
        let secret = try SecureRandom.bytes(count: 32)
        var request = Svx_Sharing_V1_CreateInvitationRequest()
        request.keypairID = key.keypair.keypairID
        request.publicKeyPem = key.pem
        request.encryptedRecipientName = try encrypt(name)
        request.encryptedKeySecret = try encrypt(secret)
        request.inviterProof = ConnectionProof.inviter(secret: secret, inviterKey: key.fingerprint)
        request.expiresInMs = expiresInMs
        request.intendedUsername = intended
        return (request, secret)
    }

    /// CreateInvitation with a new secret: what the inviter hands over (the code's parts) and what the server said.
    func invite(
        key: ConnectionKey, name: String = "the neighbour from the allotment", expiresInMs: UInt64 = 0,
        for intended: String = ""
    ) async throws -> SentInvitation {
        let (request, secret) = try invitationRequest(key: key, name: name, expiresInMs: expiresInMs, for: intended)
        let response = try await call(SharingRPC.createInvitation, request)
        return SentInvitation(invitation: response.invitation, token: response.token, secret: secret, key: key)
    }

    /// An AcceptInvitation request for `invitation` with `key`, the invitee proof made over the inviter's key as
    /// `inviterPEM` gives it (GetInvitation's answer, as the SDK would have it).
    func acceptanceRequest(
        _ invitation: SentInvitation, key: ConnectionKey, inviterPEM: String? = nil,
        name: String = "the woman with the red bicycle"
    ) throws -> Svx_Sharing_V1_AcceptInvitationRequest {
        let inviterKey = try RSAPublicKey(pem: inviterPEM ?? invitation.key.pem).fingerprintSHA256
        var request = Svx_Sharing_V1_AcceptInvitationRequest()
        request.inviterID = invitation.inviterID
        request.invitationID = invitation.invitationID
        request.token = invitation.token
        request.keypairID = key.keypair.keypairID
        request.publicKeyPem = key.pem
        request.encryptedRecipientName = try encrypt(name)
        request.encryptedKeySecret = try encrypt(invitation.secret)
        request.inviteeProof = ConnectionProof.invitee(
            secret: invitation.secret, inviterKey: inviterKey, inviteeKey: key.fingerprint)
        return request
    }

    /// What an invitee's SDK does: GetInvitation, the inviter's proof checked under S, then AcceptInvitation.
    func accept(
        _ invitation: SentInvitation, key: ConnectionKey, name: String = "the woman with the red bicycle"
    ) async throws -> Svx_Sharing_V1_Connection {
        let seen = try await call(SharingRPC.getInvitation, .init(invitation))
        let inviterKey = try RSAPublicKey(pem: seen.inviterPublicKeyPem).fingerprintSHA256
        #expect(seen.inviterProof == ConnectionProof.inviter(secret: invitation.secret, inviterKey: inviterKey))
        let request = try acceptanceRequest(invitation, key: key, inviterPEM: seen.inviterPublicKeyPem, name: name)
        return try await call(SharingRPC.acceptInvitation, request).connection
    }

    /// Every invitation of the user (`state` only), page by page.
    func allInvitations(state: Svx_Sharing_V1_InvitationState = .unspecified, pageSize: UInt32 = 0) async throws
        -> (invitations: [Svx_Sharing_V1_Invitation], pages: Int)
    {
        let (invitations, pages) = try await allPages("ListInvitations") { token in
            let page = try await call(SharingRPC.listInvitations, .init(state: state, pageSize: pageSize, pageToken: token))
            return (page.invitations, page.nextPageToken)
        }
        return (invitations, pages)
    }

    /// Every connection of the user (`state` only), page by page.
    func allConnections(state: Svx_Sharing_V1_ConnectionState = .unspecified, pageSize: UInt32 = 0) async throws
        -> (connections: [Svx_Sharing_V1_Connection], pages: Int)
    {
        let (connections, pages) = try await allPages("ListConnections") { token in
            let page = try await call(SharingRPC.listConnections, .init(state: state, pageSize: pageSize, pageToken: token))
            return (page.connections, page.nextPageToken)
        }
        return (connections, pages)
    }

    func invitation(_ id: String) async throws -> Svx_Sharing_V1_Invitation? {
        try await allInvitations().invitations.first { $0.invitationID == id }
    }

    func connection(_ id: String) async throws -> Svx_Sharing_V1_Connection {
        try await call(SharingRPC.getConnection, .init(connectionID: id)).connection
    }
}

/// A connection keypair: the private key stays in the test; the Keystore holds it wrapped.
struct ConnectionKey: Sendable {
    let privateKey: RSAPrivateKey
    let keypair: Svx_Keystore_V1_Keypair

    var pem: String { keypair.publicKeyPem }
    /// fpr(K): SHA-256 of the DER SubjectPublicKeyInfo.
    var fingerprint: [UInt8] { try! RSAPublicKey(pem: keypair.publicKeyPem).fingerprintSHA256 }
}

/// An invitation as its inviter holds it: the server's answer, the token shown once, and the secret S that never
/// left the inviter (the parts of the code handed over out of band).
struct SentInvitation: Sendable {
    let invitation: Svx_Sharing_V1_Invitation
    let token: String
    let secret: [UInt8]
    let key: ConnectionKey

    var inviterID: String { invitation.inviterID }
    var invitationID: String { invitation.invitationID }

    /// The same invitation presented with another token.
    func with(token: String) -> SentInvitation {
        SentInvitation(invitation: invitation, token: token, secret: secret, key: key)
    }
}

/// The HMAC proofs under S that bind both keys (sharing.md §2.2), as an SDK computes them.
enum ConnectionProof {
    static func inviter(secret: [UInt8], inviterKey: [UInt8]) -> String {
        Hex.encode(HMAC.sha256(key: secret, message: Array("svx-connection-v1|inviter|".utf8) + inviterKey))
    }

    static func invitee(secret: [UInt8], inviterKey: [UInt8], inviteeKey: [UInt8]) -> String {
        Hex.encode(HMAC.sha256(key: secret, message: Array("svx-connection-v1|invitee|".utf8) + inviterKey + inviteeKey))
    }
}

extension TestDatabase {
    /// `sharing.invitations.token_sha256` of an invitation as lowercase hex ("" when NULL, nil when no such row).
    func storedTokenHash(_ invitationID: String) throws -> String? {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query(
            "SELECT coalesce(encode(token_sha256, 'hex'), '') FROM sharing.invitations WHERE invitation_id = $1::uuid",
            invitationID
        ).first?.decode(String.self, at: 0)
    }

    /// Runs `sql` (a test's change of the rows, e.g. ageing them) as the superuser; returns the rows changed.
    @discardableResult
    func change(_ sql: String, _ parameters: (any PostgresEncodable)?...) throws -> Int {
        let connection = try connect()
        defer { connection.close() }
        return try connection.execute(sql, parameters: parameters)
    }

    /// Moves an invitation `days` into the past (created and expiring that much earlier): what time does, without
    /// waiting.
    func ageInvitation(_ invitationID: String, days: Int) throws {
        try change(
            """
            UPDATE sharing.invitations SET created_at = created_at - $2::int * interval '1 day',
                expires_at = expires_at - $2::int * interval '1 day',
                decided_at = decided_at - $2::int * interval '1 day'
            WHERE invitation_id = $1::uuid
            """, invitationID, days)
    }
}

// MARK: Requests

extension Svx_Sharing_V1_GetInvitationRequest {
    init(_ invitation: SentInvitation) {
        self.init(inviterID: invitation.inviterID, invitationID: invitation.invitationID, token: invitation.token)
    }

    init(inviterID: String, invitationID: String, token: String) {
        self.init()
        self.inviterID = inviterID
        self.invitationID = invitationID
        self.token = token
    }
}

extension Svx_Sharing_V1_ListInvitationsRequest {
    init(state: Svx_Sharing_V1_InvitationState = .unspecified, pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.state = state
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Sharing_V1_ListConnectionsRequest {
    init(state: Svx_Sharing_V1_ConnectionState = .unspecified, pageSize: UInt32 = 0, pageToken: String = "") {
        self.init()
        self.state = state
        self.pageSize = pageSize
        self.pageToken = pageToken
    }
}

extension Svx_Sharing_V1_RevokeInvitationRequest {
    init(invitationID: String) {
        self.init()
        self.invitationID = invitationID
    }
}

extension Svx_Sharing_V1_GetConnectionRequest {
    init(connectionID: String) {
        self.init()
        self.connectionID = connectionID
    }
}

extension Svx_Sharing_V1_DeleteConnectionRequest {
    init(connectionID: String) {
        self.init()
        self.connectionID = connectionID
    }
}

extension Svx_Sharing_V1_RenameConnectionRequest {
    init(connectionID: String, encryptedName: String) {
        self.init()
        self.connectionID = connectionID
        encryptedRecipientName = encryptedName
    }
}
