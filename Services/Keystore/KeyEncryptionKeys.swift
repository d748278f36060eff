import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// The KEK and its wraps per credential generation: CreateKEK, GetKEK, and the two Keystore steps of a
/// passphrase change (StagePassphraseChange, CommitPassphraseChange). docs/ADR-004-keystore.md.
extension KeystoreService {
    /// A user cannot pile up more unfinished passphrase changes than this.
    static let maximumKEKWraps = 16

    static let wrapColumns = """
        credential_generation, kek_version, wrapped_kek, derivation_algorithm, derivation_salt_source,
        derivation_iterations, derivation_key_length, derivation_version, \(epochMilliseconds("created_at"))
        """

    static func keyEncryptionKey(_ row: PostgresRow, from start: Int = 0) throws -> Svx_Keystore_V1_KeyEncryptionKey {
        var kek = Svx_Keystore_V1_KeyEncryptionKey()
        kek.credentialGeneration = UInt64(try row.decode(Int64.self, at: start))
        kek.kekVersion = UInt32(try row.decode(Int32.self, at: start + 1))
        kek.wrappedKek = try row.decode(String.self, at: start + 2)
        kek.derivation.algorithm = try row.decode(String.self, at: start + 3)
        kek.derivation.saltSource = try row.decode(String.self, at: start + 4)
        kek.derivation.iterations = UInt32(try row.decode(Int32.self, at: start + 5))
        kek.derivation.keyLength = UInt32(try row.decode(Int32.self, at: start + 6))
        kek.derivation.version = UInt32(try row.decode(Int32.self, at: start + 7))
        kek.createdAtMs = UInt64(try row.decode(Int64.self, at: start + 8))
        return kek
    }

    static func insertWrap(
        _ db: PostgresConnection, userID: UUID, generation: Int64, kekVersion: Int32, wrappedKEK: String,
        derivation: Svx_Keystore_V1_DerivationArtefacts
    ) throws -> Svx_Keystore_V1_KeyEncryptionKey {
        let rows = try db.query(
            """
            INSERT INTO keystore.kek_wraps (user_id, credential_generation, kek_version, wrapped_kek,
                derivation_algorithm, derivation_salt_source, derivation_iterations, derivation_key_length,
                derivation_version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            RETURNING \(wrapColumns)
            """, userID, generation, kekVersion, wrappedKEK, derivation.algorithm, derivation.saltSource,
            Int32(derivation.iterations), Int32(derivation.keyLength), Int32(derivation.version))
        return try keyEncryptionKey(rows[0])
    }

    static func sessionGeneration(_ session: AuthenticatedSession) throws -> Int64 {
        guard session.credentialGeneration >= 1, session.credentialGeneration <= UInt64(Int64.max) else {
            throw RPCStatus(.unavailable, "authentication service gave no credential generation, try again")
        }
        return Int64(session.credentialGeneration)
    }

    func createKEK(
        _ request: Svx_Keystore_V1_CreateKEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_CreateKEKResponse {
        let wrapped = try KeyValidation.wrappedKey(request.wrappedKek, field: "wrapped_kek")
        let derivation = try KeyValidation.derivation(request.hasDerivation ? request.derivation : nil)
        let userID = try Self.userID(session)
        let generation = try Self.sessionGeneration(session)
        let kek = try worker.database.transaction { db in
            let created = try db.execute(
                "INSERT INTO keystore.users (user_id, kek_version) VALUES ($1, 1) ON CONFLICT (user_id) DO NOTHING", userID)
            guard created == 1 else { throw RPCStatus(.alreadyExists, "this user already has a KEK") }
            return try Self.insertWrap(
                db, userID: userID, generation: generation, kekVersion: 1, wrappedKEK: wrapped, derivation: derivation)
        }
        context.logger.info("kek created", metadata: ["user_id": "\(session.userID)"])
        var response = Svx_Keystore_V1_CreateKEKResponse()
        response.kek = kek
        return response
    }

    func getKEK(
        _ request: Svx_Keystore_V1_GetKEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_GetKEKResponse {
        let userID = try Self.userID(session)
        let generation = request.credentialGeneration == 0
            ? try Self.sessionGeneration(session)
            : try KeyValidation.generation(request.credentialGeneration)
        let rows = try worker.database.query(
            """
            SELECT \(Self.wrapColumns),
                   EXISTS (SELECT 1 FROM keystore.kek_wraps p WHERE p.user_id = $1 AND p.credential_generation > $2)
            FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation = $2
            """, userID, generation)
        guard let row = rows.first else {
            throw Self.notFound("KEK for credential generation \(generation)", field: "credential_generation")
        }
        var response = Svx_Keystore_V1_GetKEKResponse()
        response.kek = try Self.keyEncryptionKey(row)
        response.passphraseChangePending = try row.decode(Bool.self, at: 9)
        return response
    }

    /// Step 1: the current KEK wrapped by the new PDK, under a generation above every one used so far (so a
    /// generation is never reused, and an abandoned staged change is passed over, never revived).
    func stagePassphraseChange(
        _ request: Svx_Keystore_V1_StagePassphraseChangeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_StagePassphraseChangeResponse {
        let kekVersion = try KeyValidation.kekVersion(request.kekVersion)
        let wrapped = try KeyValidation.wrappedKey(request.wrappedKek, field: "wrapped_kek")
        let derivation = try KeyValidation.derivation(request.hasDerivation ? request.derivation : nil)
        let userID = try Self.userID(session)
        let current = try Self.sessionGeneration(session)
        let staged = try worker.database.transaction { db -> Int64 in
            guard let version = try Self.lockedKEKVersion(db, userID, exclusive: true) else {
                throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
            }
            guard version == kekVersion else {
                throw RPCStatus(
                    .aborted, "kek_version \(kekVersion) is not the current KEK (version \(version)): unwrap the KEK again",
                    details: ["field": "kek_version"])
            }
            // Auth is at `current` or later, and never goes back: earlier wraps can no longer be used.
            _ = try db.execute(
                "DELETE FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation < $2", userID, current)
            let existing = try db.query(
                "SELECT count(*)::bigint, coalesce(max(credential_generation), 0) FROM keystore.kek_wraps WHERE user_id = $1",
                userID)[0]
            guard try existing.decode(Int64.self, at: 0) < Int64(Self.maximumKEKWraps) else {
                throw RPCStatus(
                    .resourceExhausted,
                    "too many unfinished passphrase changes: finish one (log in with its passphrase) before staging another")
            }
            let generation = max(try existing.decode(Int64.self, at: 1), current) + 1
            _ = try Self.insertWrap(
                db, userID: userID, generation: generation, kekVersion: kekVersion, wrappedKEK: wrapped,
                derivation: derivation)
            return generation
        }
        context.logger.info("passphrase change staged", metadata: [
            "user_id": "\(session.userID)", "credential_generation": "\(staged)",
        ])
        var response = Svx_Keystore_V1_StagePassphraseChangeResponse()
        response.credentialGeneration = UInt64(staged)
        return response
    }

    /// Step 3 (and part of every login): Auth is at `credential_generation` (asked just now), so every wrap of
    /// an earlier generation can go. Nothing is deleted unless the wrap of Auth's current generation exists.
    func commitPassphraseChange(
        _ request: Svx_Keystore_V1_CommitPassphraseChangeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_CommitPassphraseChangeResponse {
        let generation = try KeyValidation.generation(request.credentialGeneration)
        let userID = try Self.userID(session)
        let current = try Self.sessionGeneration(session)
        guard current >= generation else {
            throw RPCStatus(
                .failedPrecondition,
                "Auth is at credential generation \(current), not \(generation): change the verifier first",
                details: ["field": "credential_generation"])
        }
        let removed = try worker.database.transaction { db -> Int in
            guard try Self.lockedKEKVersion(db, userID, exclusive: true) != nil else {
                throw RPCStatus(.failedPrecondition, "this user has no KEK yet: create it first (CreateKEK)")
            }
            let live = try db.query(
                "SELECT 1 FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation = $2", userID, current)
            guard !live.isEmpty else {
                throw RPCStatus(
                    .failedPrecondition, "there is no KEK wrap for the current credential generation \(current)",
                    details: ["field": "credential_generation"])
            }
            return try db.execute(
                "DELETE FROM keystore.kek_wraps WHERE user_id = $1 AND credential_generation < $2", userID, generation)
        }
        if removed > 0 {
            context.logger.info("passphrase change committed", metadata: [
                "user_id": "\(session.userID)", "credential_generation": "\(generation)", "removed_wraps": "\(removed)",
            ])
        }
        var response = Svx_Keystore_V1_CommitPassphraseChangeResponse()
        response.removedWraps = UInt32(clamping: removed)
        return response
    }
}
