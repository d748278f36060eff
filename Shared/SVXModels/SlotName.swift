/// Slot names: unique within an item, `[a-z0-9_]`, 1...64 characters. A slot without a name takes one derived
/// from its label as Meeco's SDK does (reference/meeco-compat.md §4): lower case, every character that is not
/// an ASCII letter or digit becomes `_`.
public enum SlotName {
    public static let maximumLength = 64

    /// `Passport Number` → `passport_number`; `E-mail (work)` → `e_mail__work_`. Longer results are cut to 64.
    public static func derive(fromLabel label: String) -> String {
        var name = ""
        for scalar in label.lowercased().unicodeScalars {
            if name.unicodeScalars.count == maximumLength { break }
            switch scalar {
            case "a"..."z", "0"..."9": name.unicodeScalars.append(scalar)
            default: name.append("_")
            }
        }
        return name
    }

    /// True for a well-formed name.
    public static func isValid(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= maximumLength else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
            default: false
            }
        }
    }
}
