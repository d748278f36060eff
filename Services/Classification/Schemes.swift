import Foundation
import SVXProto
import SVXRPC
import SVXService
import SVXStore

/// Schemes: the system ones (seeded by migration, read-only, `tag` takes each user's own nodes) and a user's own.
extension ClassificationService {
    static let schemeColumns = """
        scheme_id, name, label, description, owner_id IS NULL, user_nodes, \(epochMilliseconds("created_at"))
        """

    static func scheme(_ row: PostgresRow) throws -> Svx_Classification_V1_Scheme {
        var scheme = Svx_Classification_V1_Scheme()
        scheme.schemeID = try row.decode(UUID.self, at: 0).wire
        scheme.name = try row.decode(String.self, at: 1)
        scheme.label = try row.decode(String.self, at: 2)
        scheme.description_p = try row.decode(String.self, at: 3)
        scheme.system = try row.decode(Bool.self, at: 4)
        scheme.userNodes = try row.decode(Bool.self, at: 5)
        scheme.createdAtMs = UInt64(try row.decode(Int64.self, at: 6))
        return scheme
    }

    func listSchemes(
        _ request: Svx_Classification_V1_ListSchemesRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_ListSchemesResponse {
        let rows = try worker.database.query(
            """
            SELECT \(Self.schemeColumns) FROM classification.schemes
            WHERE owner_id IS NULL OR owner_id = $1 ORDER BY name COLLATE "C", owner_id NULLS FIRST
            """, try session.userUUID)
        var response = Svx_Classification_V1_ListSchemesResponse()
        response.schemes = try rows.map(Self.scheme)
        return response
    }

    func createScheme(
        _ request: Svx_Classification_V1_CreateSchemeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_CreateSchemeResponse {
        let label = try ClassificationValidation.label(request.label)
        let name = try ClassificationValidation.name(request.name, derivedFrom: label)
        let description = try ClassificationValidation.text(request.description_p, field: "description")
        let userID = try session.userUUID
        let row = try worker.database.transaction { db -> PostgresRow in
            try Self.lockUser(db, userID)
            let taken = try db.query(
                "SELECT 1 FROM classification.schemes WHERE (owner_id IS NULL OR owner_id = $1) AND name = $2", userID, name)
            guard taken.isEmpty else {
                throw RPCStatus(.alreadyExists, "a scheme named \(name) exists", details: ["field": "name"])
            }
            let count = try db.query("SELECT count(*)::bigint FROM classification.schemes WHERE owner_id = $1", userID)[0]
            guard try count.decode(Int64.self, at: 0) < ClassificationValidation.maximumSchemesPerUser else {
                throw RPCStatus(
                    .resourceExhausted, "a user has at most \(ClassificationValidation.maximumSchemesPerUser) schemes",
                    details: ["field": "name"])
            }
            return try db.query(
                """
                INSERT INTO classification.schemes (scheme_id, owner_id, name, label, description, user_nodes)
                VALUES ($1, $2, $3, $4, $5, true) RETURNING \(Self.schemeColumns)
                """, UUID(), userID, name, label, description)[0]
        }
        var response = Svx_Classification_V1_CreateSchemeResponse()
        response.scheme = try Self.scheme(row)
        return response
    }

    func deleteScheme(
        _ request: Svx_Classification_V1_DeleteSchemeRequest, _ context: RequestContext, _ worker: ServiceWorker,
        _ session: AuthenticatedSession
    ) throws -> Svx_Classification_V1_DeleteSchemeResponse {
        let reference = try ClassificationValidation.scheme(request.scheme)
        let userID = try session.userUUID
        let counts = try worker.database.transaction { db -> (Int, Int) in
            try Self.lockUser(db, userID)
            let scheme = try Self.scheme(db, userID: userID, reference, field: "scheme")
            guard !scheme.system else {
                throw RPCStatus(.permissionDenied, "system schemes are read-only", details: ["field": "scheme"])
            }
            let nodes = try db.query(
                "SELECT count(*)::bigint FROM classification.nodes WHERE scheme_id = $1 AND owner_id = $2", scheme.id, userID)[0]
            let nodeCount = Int(try nodes.decode(Int64.self, at: 0))
            guard nodeCount == 0 || request.cascade else {
                throw RPCStatus(
                    .failedPrecondition, "the scheme has \(nodeCount) nodes: delete them first, or ask to cascade",
                    details: ["field": "cascade", "reason": "has_nodes"])
            }
            let classifications = try db.execute(
                """
                DELETE FROM classification.classifications c USING classification.nodes n
                WHERE c.user_id = $2 AND c.node_id = n.node_id AND n.scheme_id = $1 AND n.owner_id = $2
                """, scheme.id, userID)
            let deleted = try db.execute(
                "DELETE FROM classification.nodes WHERE scheme_id = $1 AND owner_id = $2", scheme.id, userID)
            _ = try db.execute("DELETE FROM classification.schemes WHERE scheme_id = $1 AND owner_id = $2", scheme.id, userID)
            return (deleted, classifications)
        }
        context.logger.info("scheme deleted", metadata: ["user_id": "\(session.userID)", "nodes": "\(counts.0)"])
        var response = Svx_Classification_V1_DeleteSchemeResponse()
        response.deletedNodes = UInt32(counts.0)
        response.deletedClassifications = UInt32(counts.1)
        return response
    }
}
