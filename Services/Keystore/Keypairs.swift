import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Keypairs: CreateKeypair, GetKeypair (by id or external identifier), ListKeypairs, DeleteKeypair.
extension KeystoreService {
    static let keypairColumns = """
        k.keypair_id, k.public_key_pem, k.wrapped_private_key, k.metadata::text, k.kek_version,
        \(epochMilliseconds("k.created_at")),
        (SELECT coalesce(json_agg(e.external_id ORDER BY e.external_id), '[]'::json)::text
         FROM keystore.keypair_external_ids e WHERE e.user_id = k.user_id AND e.keypair_id = k.keypair_id)
        """

    static func keypair(_ row: PostgresRow) throws -> Svx_Keystore_V1_Keypair {
        var keypair = Svx_Keystore_V1_Keypair()
        keypair.keypairID = try row.decode(UUID.self, at: 0).wire
        keypair.publicKeyPem = try row.decode(String.self, at: 1)
        keypair.wrappedPrivateKey = try row.decode(String.self, at: 2)
        keypair.metadata = try JSONDecoder().decode([String: String].self, from: Data(try row.decode(String.self, at: 3).utf8))
        keypair.kekVersion = UInt32(try row.decode(Int32.self, at: 4))
        keypair.createdAtMs = UInt64(try row.decode(Int64.self, at: 5))
        keypair.externalIdentifiers = try JSONDecoder().decode([String].self, from: Data(try row.decode(String.self, at: 6).utf8))
        return keypair
    }

    func createKeypair(
        _ request: Svx_Keystore_V1_CreateKeypairRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_CreateKeypairResponse {
        let publicKey = try FieldValidation.publicKeyPEM(request.publicKeyPem)
        let wrapped = try KeyValidation.wrappedPrivateKey(request.wrappedPrivateKey, field: "wrapped_private_key")
        let identifiers = try KeyValidation.externalIdentifiers(request.externalIdentifiers)
        let metadata = try KeyValidation.metadataJSON(request.metadata)
        let kekVersion = try KeyValidation.kekVersion(request.kekVersion)
        let userID = try session.userUUID
        let keypairID = UUID()
        let keypair = try worker.database.transaction { db in
            try Self.requireCurrentKEK(db, userID, kekVersion)
            try Self.requireRoom(db, userID, in: "keypairs", keypairQuota)
            _ = try db.execute(
                """
                INSERT INTO keystore.keypairs (user_id, keypair_id, public_key_pem, wrapped_private_key, metadata, kek_version)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6)
                """, userID, keypairID, publicKey, wrapped, metadata, kekVersion)
            for identifier in identifiers.sorted() {  // one order for every request: no deadlock between two
                do {
                    _ = try db.execute(
                        "INSERT INTO keystore.keypair_external_ids (user_id, external_id, keypair_id) VALUES ($1, $2, $3)",
                        userID, identifier, keypairID)
                } catch let error as DatabaseError where error.kind == .uniqueViolation {
                    throw RPCStatus(
                        .alreadyExists, "external identifier \(identifier) is already used by another keypair",
                        details: ["field": "external_identifiers"])
                }
            }
            let rows = try db.query(
                "SELECT \(Self.keypairColumns) FROM keystore.keypairs k WHERE k.user_id = $1 AND k.keypair_id = $2",
                userID, keypairID)
            try recordEvent(
                "keypair.created", subject: ("keypair", keypairID.wire), details: ["kek_version": "\(kekVersion)"],
                session, context, on: db)
            return try Self.keypair(rows[0])
        }
        context.logger.info("keypair created", metadata: ["user_id": "\(session.userID)", "keypair_id": "\(keypairID.wire)"])
        var response = Svx_Keystore_V1_CreateKeypairResponse()
        response.keypair = keypair
        return response
    }

    func getKeypair(
        _ request: Svx_Keystore_V1_GetKeypairRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_GetKeypairResponse {
        let userID = try session.userUUID
        let rows: [PostgresRow]
        switch (request.keypairID.isEmpty, request.externalIdentifier.isEmpty) {
        case (false, true):
            let id = try FieldValidation.uuid(request.keypairID, field: "keypair_id")
            rows = try worker.database.query(
                "SELECT \(Self.keypairColumns) FROM keystore.keypairs k WHERE k.user_id = $1 AND k.keypair_id = $2",
                userID, id)
        case (true, false):
            let identifier = try FieldValidation.identifier(request.externalIdentifier, field: "external_identifier")
            rows = try worker.database.query(
                """
                SELECT \(Self.keypairColumns) FROM keystore.keypair_external_ids x
                JOIN keystore.keypairs k ON k.user_id = x.user_id AND k.keypair_id = x.keypair_id
                WHERE x.user_id = $1 AND x.external_id = $2
                """, userID, identifier)
        default:
            throw FieldValidation.invalid("keypair_id", "give exactly one of keypair_id and external_identifier")
        }
        guard let row = rows.first else {
            throw RPCStatus.notFound("keypair", field: request.keypairID.isEmpty ? "external_identifier" : "keypair_id")
        }
        var response = Svx_Keystore_V1_GetKeypairResponse()
        response.keypair = try Self.keypair(row)
        return response
    }

    func listKeypairs(
        _ request: Svx_Keystore_V1_ListKeypairsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_ListKeypairsResponse {
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let after = try FieldValidation.pageToken(request.pageToken)
        let rows = try worker.database.query(
            """
            SELECT \(Self.keypairColumns) FROM keystore.keypairs k
            WHERE k.user_id = $1 AND ($2::uuid IS NULL OR k.keypair_id > $2::uuid)
            ORDER BY k.keypair_id LIMIT $3
            """, try session.userUUID, after, pageSize + 1)
        var response = Svx_Keystore_V1_ListKeypairsResponse()
        response.keypairs = try rows.prefix(pageSize).map(Self.keypair)
        if rows.count > pageSize, let last = response.keypairs.last { response.nextPageToken = last.keypairID }
        return response
    }

    func deleteKeypair(
        _ request: Svx_Keystore_V1_DeleteKeypairRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_DeleteKeypairResponse {
        let id = try FieldValidation.uuid(request.keypairID, field: "keypair_id")
        let userID = try session.userUUID
        // The external identifiers go with it (ON DELETE CASCADE). The account keypair is never deleted.
        let deleted = try worker.database.transaction { db in
            let deleted = try db.query(
                """
                DELETE FROM keystore.keypairs k WHERE k.user_id = $1 AND k.keypair_id = $2
                  AND NOT EXISTS (SELECT 1 FROM keystore.keypair_external_ids x
                                  WHERE x.user_id = k.user_id AND x.keypair_id = k.keypair_id AND x.external_id = $3)
                RETURNING 1
                """, userID, id, Self.reservedKeypair)
            if deleted.count == 1 { try recordEvent("keypair.deleted", subject: ("keypair", id.wire), session, context, on: db) }
            return deleted
        }
        guard deleted.count == 1 else {
            let exists = try worker.database.query(
                "SELECT 1 FROM keystore.keypairs WHERE user_id = $1 AND keypair_id = $2", userID, id)
            if !exists.isEmpty {
                throw RPCStatus(
                    .failedPrecondition, "the account keypair (external identifier auth) cannot be deleted",
                    details: ["field": "keypair_id"])
            }
            throw RPCStatus.notFound("keypair", field: "keypair_id")
        }
        context.logger.info("keypair deleted", metadata: ["user_id": "\(session.userID)", "keypair_id": "\(id.wire)"])
        return .init()
    }
}
