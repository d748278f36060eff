/// The fixed slot types of an Item (DESIGN.md glossary). No new types: anything else is refused.
public enum SlotType: String, CaseIterable, Sendable, Codable {
    case keyValue = "key_value"
    case bool
    case date
    case datetime
    case image
    case url
    case phoneNumber = "phone_number"
    case email
    case password
    case attachment
    case noteText = "note_text"
    case select
    case selectMultiple = "select_multiple"
    case color
    case classificationNode = "classification_node"

    /// The type of a slot that names none.
    public static let `default` = SlotType.keyValue

    /// The wire form's type: empty is ``default``, an unknown name is nil.
    public init?(wire: String) {
        if wire.isEmpty {
            self = .default
        } else if let type = SlotType(rawValue: wire) {
            self = type
        } else {
            return nil
        }
    }

    /// Every type's wire name, for messages.
    public static let names = allCases.map(\.rawValue).joined(separator: ", ")
}
