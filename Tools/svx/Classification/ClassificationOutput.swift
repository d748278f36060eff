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

/// How the classification commands print, like every svx command: lines and aligned tables for people, JSON with
/// `--json` for scripts (objects with sorted keys; lists as JSON arrays).
enum ClassificationOutput {
    static func printSchemes(_ schemes: [ClassificationScheme]) {
        VaultOutput.printTable(
            ["NAME", "LABEL", "OWNER", "YOUR NODES", "ID"],
            schemes.map { [$0.name, $0.label, $0.isSystem ? "system" : "you", $0.takesUserNodes ? "yes" : "no", $0.id] })
    }

    static func printNodes(_ nodes: [ClassificationNode]) {
        if nodes.isEmpty { Terminal.printError("No nodes.") }
        VaultOutput.printTable(
            ["NODE", "LABEL", "DEPTH", "ID"], nodes.map { ["\($0.schemeName):\($0.name)", $0.label, "\($0.depth)", $0.id] })
    }

    /// One node on one line: `scheme:name "Label" (depth N, id ID)`.
    static func line(_ node: ClassificationNode) -> String {
        "\(node.schemeName):\(node.name) \"\(node.label)\" (depth \(node.depth), id \(node.id))"
    }

    static func line(_ entity: ClassificationEntity) -> String {
        "\(entity.kind.rawValue) \(entity.id)"
    }

    static func line(_ deletion: ClassificationDeletion) -> String {
        "\(deletion.deletedNodes) node(s) and \(deletion.deletedClassifications) classification(s) deleted"
    }

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
