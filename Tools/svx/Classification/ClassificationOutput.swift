import ArgumentParser
import Foundation
import SVXClient

/// The saved session with the classification client, for the classification commands. They read and write no
/// values, so they need neither the Secret Key nor the passphrase.
struct ClassificationSession {
    let session: AuthenticatedSession
    let classification: ClassificationClient
    let options: ClientOptions

    init(options: ClientOptions) throws {
        session = try ClientState().loadSession()
        classification = try options.classificationClient()
        self.options = options
    }

    /// The Vault, for the commands that name an item's slot or a template by name.
    func vault() throws -> VaultClient { try options.vaultClient() }

    /// The id of the node a NODE argument names (an id as given; a name looked up within `scheme`).
    func nodeID(_ argument: String, inScheme scheme: String? = nil) async throws -> String {
        let reference = try NodeReference(parsing: argument)
        return try await classification.resolveNodeID(session: session, reference, inScheme: scheme)
    }
}

/// A NODE argument the service takes as it is: a node id or `scheme:name` (a bare name has no scheme to send).
/// A malformed one is a usage error, before any call.
func nodeArgument(_ text: String) throws -> String {
    do {
        return try NodeReference(parsing: text).wireValue()
    } catch let error as SVXClientError {
        throw ValidationError(error.message)
    }
}

/// How the classification commands print: JSON on stdout (objects with sorted keys; lists as JSON arrays), except
/// `svx nodes list --tree`, which draws the tree for people.
enum ClassificationOutput {
    static func json(_ scheme: ClassificationScheme) -> [String: Any] {
        [
            "scheme_id": scheme.id, "name": scheme.name, "label": scheme.label, "description": scheme.description,
            "system": scheme.isSystem, "user_nodes": scheme.takesUserNodes, "created_at": scheme.createdAt.iso8601,
        ]
    }

    static func json(_ node: ClassificationNode) -> [String: Any] {
        [
            "node_id": node.id, "scheme_id": node.schemeID, "scheme_name": node.schemeName,
            "parent_id": node.parentID.map { $0 as Any } ?? NSNull(), "name": node.name, "label": node.label,
            "description": node.description, "image": node.image, "ordinal": Int(node.ordinal), "system": node.isSystem,
            "depth": node.depth, "created_at": node.createdAt.iso8601,
        ]
    }

    static func json(_ entity: ClassificationEntity) -> [String: Any] {
        var object: [String: Any] = ["type": entity.kind.rawValue, "entity_id": entity.id]
        if let itemID = entity.itemID { object["item_id"] = itemID }
        return object
    }

    static func json(_ deletion: ClassificationDeletion) -> [String: Any] {
        ["deleted_nodes": deletion.deletedNodes, "deleted_classifications": deletion.deletedClassifications]
    }
}
