import Foundation
import SVXProto

/// A classification scheme (proto/svx/classification/v1/classification.proto): a tree of nodes. Nothing in it is
/// encrypted: names, labels and descriptions are metadata stored as given, so never put a secret in them.
public struct ClassificationScheme: Sendable, Equatable {
    public let id: String
    /// `[a-z0-9_]`, 1...64; unique among the system schemes and the caller's own.
    public let name: String
    public let label: String
    public let description: String
    /// Seeded by the service, visible to everyone.
    public let isSystem: Bool
    /// The caller may add nodes (true for `tag` and for the caller's own schemes).
    public let takesUserNodes: Bool
    public let createdAt: Date
}

/// A node of a scheme's tree.
public struct ClassificationNode: Sendable, Equatable {
    public let id: String
    public let schemeID: String
    public let schemeName: String
    /// Nil for a root.
    public let parentID: String?
    /// `[a-z0-9_]`, 1...64; unique among its siblings.
    public let name: String
    public let label: String
    public let description: String
    /// A reference (URL or file name), not the image.
    public let image: String
    public let ordinal: Int32
    /// Seeded by the service: read-only.
    public let isSystem: Bool
    /// 0 for a root; in a subtree listing, the depth below the listed node (which is 0).
    public let depth: Int
    public let createdAt: Date

    public init(
        id: String, schemeID: String, schemeName: String, parentID: String?, name: String, label: String,
        description: String = "", image: String = "", ordinal: Int32 = 0, isSystem: Bool = false, depth: Int = 0,
        createdAt: Date = Date(timeIntervalSince1970: 0)
    ) {
        self.id = id
        self.schemeID = schemeID
        self.schemeName = schemeName
        self.parentID = parentID
        self.name = name
        self.label = label
        self.description = description
        self.image = image
        self.ordinal = ordinal
        self.isSystem = isSystem
        self.depth = depth
        self.createdAt = createdAt
    }

    /// `scheme:name`, as people and the service name a node.
    public var qualifiedName: String { "\(schemeName):\(name)" }
}

/// What a classification links a node to: one of the caller's items, slots or templates (by its Vault id).
public struct ClassificationEntity: Sendable, Equatable, Hashable {
    public enum Kind: String, Sendable, Equatable, Hashable, CaseIterable {
        case item, slot, template
    }

    public let kind: Kind
    /// An item_id, slot_id or template_id of the Vault.
    public let id: String
    /// For a slot in an answer: the item it belongs to (ignored in requests).
    public let itemID: String?

    public init(kind: Kind, id: String, itemID: String? = nil) {
        self.kind = kind
        self.id = id
        self.itemID = itemID
    }

    public static func item(_ id: String) -> ClassificationEntity { .init(kind: .item, id: id) }
    public static func slot(_ id: String, itemID: String? = nil) -> ClassificationEntity { .init(kind: .slot, id: id, itemID: itemID) }
    public static func template(_ id: String) -> ClassificationEntity { .init(kind: .template, id: id) }
}

/// One page of ``ClassificationClient/listEntities(session:node:kind:pageSize:pageToken:)``.
public struct ClassifiedEntityPage: Sendable {
    public let entities: [ClassificationEntity]
    /// Nil on the last page.
    public let nextPageToken: String?
}

/// ``ClassificationClient/listSubtree(session:scheme:under:maxDepth:)``: depth first, siblings by ordinal then name.
public struct ClassificationSubtree: Sendable {
    public let nodes: [ClassificationNode]
    /// The service stopped at its limit (10 000 nodes): more nodes exist below.
    public let truncated: Bool
}

/// What a deletion took with it.
public struct ClassificationDeletion: Sendable, Equatable {
    public let deletedNodes: Int
    public let deletedClassifications: Int
}

/// Conversions between the wire messages and the SDK's types.
enum ClassificationWire {
    static func scheme(_ scheme: Svx_Classification_V1_Scheme) -> ClassificationScheme {
        ClassificationScheme(
            id: scheme.schemeID, name: scheme.name, label: scheme.label, description: scheme.description_p,
            isSystem: scheme.system, takesUserNodes: scheme.userNodes,
            createdAt: Date(wireMilliseconds: scheme.createdAtMs))
    }

    static func node(_ node: Svx_Classification_V1_Node) -> ClassificationNode {
        ClassificationNode(
            id: node.nodeID, schemeID: node.schemeID, schemeName: node.schemeName,
            parentID: node.parentID.isEmpty ? nil : node.parentID, name: node.name, label: node.label,
            description: node.description_p, image: node.image, ordinal: node.ordinal, isSystem: node.system,
            depth: Int(node.depth), createdAt: Date(wireMilliseconds: node.createdAtMs))
    }

    static func entity(_ entity: ClassificationEntity) -> Svx_Classification_V1_Entity {
        var wire = Svx_Classification_V1_Entity()
        wire.type = entityType(entity.kind)
        wire.entityID = entity.id
        return wire
    }

    static func entity(_ wire: Svx_Classification_V1_Entity) throws -> ClassificationEntity {
        let kind: ClassificationEntity.Kind
        switch wire.type {
        case .item: kind = .item
        case .slot: kind = .slot
        case .template: kind = .template
        case .unspecified, .UNRECOGNIZED:
            throw SVXClientError(.malformedResponse, "the classification service named an entity of unknown type \(wire.type.rawValue)")
        }
        return ClassificationEntity(kind: kind, id: wire.entityID, itemID: wire.itemID.isEmpty ? nil : wire.itemID)
    }

    static func entityType(_ kind: ClassificationEntity.Kind?) -> Svx_Classification_V1_EntityType {
        switch kind {
        case nil: .unspecified
        case .item: .item
        case .slot: .slot
        case .template: .template
        }
    }

    static func deletion(nodes: UInt32, classifications: UInt32) -> ClassificationDeletion {
        ClassificationDeletion(deletedNodes: Int(nodes), deletedClassifications: Int(classifications))
    }
}
