import ClassificationSQL
import Foundation
import SVXModels
import SVXProto
import SVXRPC
import SVXService

/// A reference to nodes as callers write it: a node id, or `scheme:name` with the scheme's name or id (every visible
/// node of that name in the scheme, which names need not make unique: names are unique among siblings only).
enum NodeReference: Equatable, Sendable {
    case id(UUID)
    case named(scheme: ClassificationValidation.SchemeReference, name: String)
}

/// An entity of the Vault as a request names it.
struct EntityReference: Equatable, Sendable {
    let type: Svx_Classification_V1_EntityType
    let id: UUID
}

/// Checks of request fields before any database work; every refusal is INVALID_ARGUMENT naming the field. Pure:
/// unit-tested in ClassificationTests.
enum ClassificationValidation {
    static let maximumLabelBytes = 256
    static let maximumTextBytes = 2048
    static let maximumOrdinal: Int32 = 100_000
    /// Levels of a tree (``ClassificationQueries/maximumDepth``, where the recursive queries stop).
    static let maximumDepth = ClassificationQueries.maximumDepth
    static let maximumNodesPerUser = 10_000
    static let maximumSchemesPerUser = 100
    static let maximumSubtreeNodes = 10_000
    static let maximumForget = 500
    /// Nodes one entity may be classified under.
    static let maximumNodesPerEntity = 100

    private static func invalid(_ field: String, _ message: String) -> RPCStatus { FieldValidation.invalid(field, message) }

    /// A scheme or node name: `[a-z0-9_]`, 1...64 (the slot-name rule); empty takes the one derived from `label`.
    static func name(_ text: String, derivedFrom label: String, field: String = "name") throws(RPCStatus) -> String {
        let name = text.isEmpty ? SlotName.derive(fromLabel: label) : text
        guard SlotName.isValid(name) else {
            throw invalid(field, "\(field) must be 1 to \(SlotName.maximumLength) characters of a-z, 0-9 and _")
        }
        return name
    }

    static func label(_ text: String, field: String = "label") throws(RPCStatus) -> String {
        try FieldValidation.identifier(text, field: field, maximumBytes: maximumLabelBytes)
    }

    /// Free text (a description, an image reference): at most 2048 bytes; line breaks and tabs, but no other
    /// control characters (PostgreSQL refuses NUL in text).
    static func text(_ text: String, field: String) throws(RPCStatus) -> String {
        guard text.utf8.count <= maximumTextBytes else {
            throw invalid(field, "\(field) is longer than \(maximumTextBytes) bytes")
        }
        let allowed: Set<Unicode.Scalar> = ["\n", "\t"]
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !allowed.contains($0) }) else {
            throw invalid(field, "\(field) must not contain control characters")
        }
        return text
    }

    static func ordinal(_ value: Int32, field: String = "ordinal") throws(RPCStatus) -> Int32 {
        guard (0...maximumOrdinal).contains(value) else {
            throw invalid(field, "\(field) must be between 0 and \(maximumOrdinal)")
        }
        return value
    }

    /// A scheme as a request names it: its id or its name.
    enum SchemeReference: Equatable, Sendable {
        case id(UUID)
        case name(String)
    }

    static func scheme(_ text: String, field: String = "scheme") throws(RPCStatus) -> SchemeReference {
        guard !text.isEmpty else { throw invalid(field, "\(field) is required (a scheme name or id)") }
        if text.utf8.count == 36, let id = UUID(uuidString: text) { return .id(id) }
        guard SlotName.isValid(text) else {
            throw invalid(field, "\(field) must be a scheme id or a scheme name (a-z, 0-9 and _)")
        }
        return .name(text)
    }

    static func node(_ text: String, field: String = "node") throws(RPCStatus) -> NodeReference {
        guard !text.isEmpty else { throw invalid(field, "\(field) is required (a node id or scheme:name)") }
        if text.utf8.count == 36, let id = UUID(uuidString: text) { return .id(id) }
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, SlotName.isValid(String(parts[1])) else {
            throw invalid(field, "\(field) must be a node id or scheme:name (a-z, 0-9 and _ on each side)")
        }
        let scheme = String(parts[0])
        if scheme.utf8.count == 36, let id = UUID(uuidString: scheme) { return .named(scheme: .id(id), name: String(parts[1])) }
        guard SlotName.isValid(scheme) else {
            throw invalid(field, "\(field) must be a node id or scheme:name (a-z, 0-9 and _ on each side)")
        }
        return .named(scheme: .name(scheme), name: String(parts[1]))
    }

    /// An optional node id (a parent): empty is nil.
    static func optionalNodeID(_ text: String, field: String) throws(RPCStatus) -> UUID? {
        text.isEmpty ? nil : try FieldValidation.uuid(text, field: field)
    }

    /// The entity of a request (`present`: the request has one; INVALID_ARGUMENT when it has not).
    static func entity(_ entity: Svx_Classification_V1_Entity, present: Bool) throws(RPCStatus) -> EntityReference {
        guard present else { throw invalid("entity", "entity is required") }
        return try self.entity(entity)
    }

    static func entity(_ entity: Svx_Classification_V1_Entity, field: String = "entity") throws(RPCStatus) -> EntityReference {
        switch entity.type {
        case .item, .slot, .template: break
        default: throw invalid("\(field).type", "\(field).type must be ENTITY_TYPE_ITEM, ENTITY_TYPE_SLOT or ENTITY_TYPE_TEMPLATE")
        }
        return EntityReference(type: entity.type, id: try FieldValidation.uuid(entity.entityID, field: "\(field).entity_id"))
    }

    /// The entity type filter of a listing: unspecified is every type.
    static func entityTypeFilter(_ type: Svx_Classification_V1_EntityType, field: String = "type") throws(RPCStatus) -> Int32 {
        switch type {
        case .unspecified: 0
        case .item, .slot, .template: Int32(type.rawValue)
        default: throw invalid(field, "\(field) is not an entity type")
        }
    }
}
