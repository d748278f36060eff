import ArgumentParser
import Foundation
import SVXClient
import SVXModels

/// How `svx items` and `svx templates` print: aligned tables for people, JSON (`--json`) for scripts.
enum VaultOutput {
    static func json(_ item: DecryptedItem) -> [String: Any] {
        [
            "item_id": item.id, "template_name": item.templateName, "label": item.label, "version": item.version,
            "created_at": item.createdAt.iso8601, "updated_at": item.updatedAt.iso8601,
            "slots": item.slots.map { slot in
                [
                    "name": slot.name, "label": slot.label, "type": slot.type.rawValue,
                    "value": slot.value.map { $0 as Any } ?? NSNull(),
                    "attachment_id": slot.attachmentID.map { $0 as Any } ?? NSNull(),
                ] as [String: Any]
            },
        ]
    }

    /// An item listed without its slots.
    static func summaryJSON(_ item: DecryptedItem) -> [String: Any] {
        [
            "item_id": item.id, "template_name": item.templateName, "label": item.label, "version": item.version,
            "created_at": item.createdAt.iso8601, "updated_at": item.updatedAt.iso8601,
        ]
    }

    static func json(_ template: VaultTemplate) -> [String: Any] {
        [
            "template_id": template.id, "name": template.name, "label": template.label, "description": template.description,
            "system": template.isSystem,
            "slots": template.slots.map { ["name": $0.name, "label": $0.label, "type": $0.type.rawValue] },
        ]
    }

    /// The item and its decrypted values. Attachment slots show their file's name.
    static func printItem(_ item: DecryptedItem) {
        Terminal.printLine("\(item.label)  (\(item.templateName), item \(item.id), version \(item.version), updated \(item.updatedAt.iso8601))")
        guard !item.slots.isEmpty else {
            Terminal.printLine("(no slots)")
            return
        }
        printTable(
            ["NAME", "LABEL", "TYPE", "VALUE"],
            item.slots.map { slot in
                let value = slot.value.map(oneLine) ?? "-"
                return [slot.name, slot.label, slot.type.rawValue, slot.type == .attachment ? "[file] \(value)" : value]
            })
    }

    static func printTable(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count { widths[column] = max(widths[column], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        Terminal.printLine(line(headers))
        rows.forEach { Terminal.printLine(line($0)) }
    }

    /// A multi-line value on one table line.
    private static func oneLine(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\\n").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func byteCount(_ bytes: UInt64) -> String {
        ByteCountFormatter.string(fromByteCount: Int64(bytes), countStyle: .binary)
    }
}

/// `--set name=value`: `name` is a slot name, or a label from which one is derived (`"Passport Number"` →
/// `passport_number`). The value may be empty (the slot is then emptied) and may contain `=`.
struct SlotAssignment {
    let key: String
    let name: String
    let value: String

    init(parsing text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw ValidationError("--set takes name=value, not \"\(text)\"")
        }
        key = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
        value = String(text[text.index(after: equals)...])
        guard !key.isEmpty else { throw ValidationError("--set \"\(text)\" has no slot name") }
        name = SlotName.derive(fromLabel: key)
    }

    static func parse(_ texts: [String]) throws -> [SlotAssignment] {
        let assignments = try texts.map(SlotAssignment.init(parsing:))
        var seen = Set<String>()
        for assignment in assignments where !seen.insert(assignment.name).inserted {
            throw ValidationError("slot \(assignment.name) is set twice")
        }
        return assignments
    }

    /// A slot this item or template does not have: a `key_value` slot labelled as typed.
    var newSlot: SlotEdit { SlotEdit(name: name, value: value, label: key, type: .keyValue) }
}
