import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// The caller's vault record: which Keystore DEK wraps its slot values (Meeco's `private_dek_external_id`).
extension VaultService {
    func getVaultUser(
        _: Svx_Vault_V1_GetVaultUserRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_GetVaultUserResponse {
        let rows = try worker.database.query(
            "SELECT private_dek_external_id, \(epochMilliseconds("created_at")) FROM vault.users WHERE user_id = $1",
            try session.userUUID)
        guard let row = rows.first else { throw RPCStatus(.notFound, "no vault record yet: PutVaultUser first") }
        var response = Svx_Vault_V1_GetVaultUserResponse()
        response.user.privateDekExternalID = try row.decode(String.self, at: 0)
        response.user.createdAtMs = UInt64(try row.decode(Int64.self, at: 1))
        return response
    }

    func putVaultUser(
        _ request: Svx_Vault_V1_PutVaultUserRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Vault_V1_PutVaultUserResponse {
        let external = try FieldValidation.identifier(request.privateDekExternalID, field: "private_dek_external_id")
        let row = try worker.database.query(
            """
            INSERT INTO vault.users (user_id, private_dek_external_id) VALUES ($1, $2)
            ON CONFLICT (user_id) DO UPDATE SET private_dek_external_id = EXCLUDED.private_dek_external_id, updated_at = now()
            RETURNING private_dek_external_id, \(epochMilliseconds("created_at"))
            """, try session.userUUID, external)[0]
        var response = Svx_Vault_V1_PutVaultUserResponse()
        response.user.privateDekExternalID = try row.decode(String.self, at: 0)
        response.user.createdAtMs = UInt64(try row.decode(Int64.self, at: 1))
        return response
    }
}
