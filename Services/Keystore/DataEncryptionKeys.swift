import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// DEKs: CreateDEK, GetDEK, ListDEKs, DeleteDEK. Each is a 32-byte key wrapped by the user's current KEK.
extension KeystoreService {
    static let dekColumns = """
        dek_id, coalesce(external_id, ''), kek_version, wrapped_dek, \(epochMilliseconds("created_at"))
        """

    static func dataEncryptionKey(_ row: PostgresRow) throws -> Svx_Keystore_V1_DataEncryptionKey {
        var dek = Svx_Keystore_V1_DataEncryptionKey()
        dek.dekID = try row.decode(UUID.self, at: 0).wire
        dek.externalID = try row.decode(String.self, at: 1)
        dek.kekVersion = UInt32(try row.decode(Int32.self, at: 2))
        dek.wrappedDek = try row.decode(String.self, at: 3)
        dek.createdAtMs = UInt64(try row.decode(Int64.self, at: 4))
        return dek
    }

    func createDEK(
        _ request: Svx_Keystore_V1_CreateDEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_CreateDEKResponse {
        let externalID = request.externalID.isEmpty
            ? nil : try FieldValidation.identifier(request.externalID, field: "external_id")
        let kekVersion = try KeyValidation.kekVersion(request.kekVersion)
        let wrapped = try KeyValidation.wrappedKey(request.wrappedDek, field: "wrapped_dek")
        let userID = try session.userUUID
        let dek = try worker.database.transaction { db in
            try Self.requireCurrentKEK(db, userID, kekVersion)
            try Self.requireRoom(db, userID, in: "data_encryption_keys", dataKeyQuota)
            let rows: [PostgresRow]
            do {
                rows = try db.query(
                    """
                    INSERT INTO keystore.data_encryption_keys (user_id, dek_id, external_id, kek_version, wrapped_dek)
                    VALUES ($1, $2, $3, $4, $5) RETURNING \(Self.dekColumns)
                    """, userID, UUID(), externalID, kekVersion, wrapped)
            } catch let error as DatabaseError where error.kind == .uniqueViolation {
                throw RPCStatus(.alreadyExists, "external_id is already used by another DEK", details: ["field": "external_id"])
            }
            let dek = try Self.dataEncryptionKey(rows[0])
            try recordEvent(
                "dek.created", subject: ("dek", dek.dekID), details: ["kek_version": "\(kekVersion)"], session, context, on: db)
            return dek
        }
        var response = Svx_Keystore_V1_CreateDEKResponse()
        response.dek = dek
        return response
    }

    func getDEK(
        _ request: Svx_Keystore_V1_GetDEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_GetDEKResponse {
        let userID = try session.userUUID
        let rows: [PostgresRow]
        switch (request.dekID.isEmpty, request.externalID.isEmpty) {
        case (false, true):
            let id = try FieldValidation.uuid(request.dekID, field: "dek_id")
            rows = try worker.database.query(
                "SELECT \(Self.dekColumns) FROM keystore.data_encryption_keys WHERE user_id = $1 AND dek_id = $2",
                userID, id)
        case (true, false):
            let externalID = try FieldValidation.identifier(request.externalID, field: "external_id")
            rows = try worker.database.query(
                "SELECT \(Self.dekColumns) FROM keystore.data_encryption_keys WHERE user_id = $1 AND external_id = $2",
                userID, externalID)
        default:
            throw FieldValidation.invalid("dek_id", "give exactly one of dek_id and external_id")
        }
        guard let row = rows.first else {
            throw RPCStatus.notFound("DEK", field: request.dekID.isEmpty ? "external_id" : "dek_id")
        }
        var response = Svx_Keystore_V1_GetDEKResponse()
        response.dek = try Self.dataEncryptionKey(row)
        return response
    }

    func listDEKs(
        _ request: Svx_Keystore_V1_ListDEKsRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_ListDEKsResponse {
        let pageSize = try FieldValidation.pageSize(request.pageSize)
        let after = try FieldValidation.pageToken(request.pageToken)
        let userID = try session.userUUID
        // One more than asked: whether there is a next page, without a count.
        let rows = try worker.database.query(
            """
            SELECT \(Self.dekColumns) FROM keystore.data_encryption_keys
            WHERE user_id = $1 AND ($2::uuid IS NULL OR dek_id > $2::uuid)
            ORDER BY dek_id LIMIT $3
            """, userID, after, pageSize + 1)
        var response = Svx_Keystore_V1_ListDEKsResponse()
        response.deks = try rows.prefix(pageSize).map(Self.dataEncryptionKey)
        if rows.count > pageSize, let last = response.deks.last { response.nextPageToken = last.dekID }
        return response
    }

    func deleteDEK(
        _ request: Svx_Keystore_V1_DeleteDEKRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Keystore_V1_DeleteDEKResponse {
        let id = try FieldValidation.uuid(request.dekID, field: "dek_id")
        let userID = try session.userUUID
        // The private DEK wraps every slot value of the vault: deleting it would lose them all (and the next login
        // would quietly make a new one), so it is never deleted.
        let deleted = try worker.database.transaction { db in
            let deleted = try db.query(
                """
                DELETE FROM keystore.data_encryption_keys
                WHERE user_id = $1 AND dek_id = $2 AND external_id IS DISTINCT FROM $3
                RETURNING 1
                """, userID, id, Self.reservedDEK)
            if deleted.count == 1 { try recordEvent("dek.deleted", subject: ("dek", id.wire), session, context, on: db) }
            return deleted
        }
        guard deleted.count == 1 else {
            let reserved = try worker.database.query(
                "SELECT 1 FROM keystore.data_encryption_keys WHERE user_id = $1 AND dek_id = $2", userID, id)
            if !reserved.isEmpty {
                throw RPCStatus(
                    .failedPrecondition, "the private DEK cannot be deleted: everything in the vault is encrypted with it",
                    details: ["field": "dek_id"])
            }
            throw RPCStatus.notFound("DEK", field: "dek_id")
        }
        context.logger.info("dek deleted", metadata: ["user_id": "\(session.userID)", "dek_id": "\(id.wire)"])
        return .init()
    }
}
