// Why not a YAML library: only the legacy artefacts written by Cryppo before late 2020 are read, in the few
// shapes listed in meeco-compat.md (a flat map of `!binary`/`!!binary` block scalars, plain scalars, `''`, or
// `{}`). A YAML library (none is among the allowed packages) would accept far more than needed (aliases, tags,
// anchors: a known attack surface) for a format svx never writes. Anything outside this subset is refused.

/// A value in a legacy artefacts map.
enum YAMLValue: Equatable {
    case binary([UInt8])
    case scalar(String)
}

enum MiniYAML {
    static func read(_ text: String) throws -> [String: YAMLValue] {
        func fail(_ why: String) -> CryppoError { CryppoError(.invalidArtefacts, "invalid legacy YAML artefacts: \(why)") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? $0.dropLast() : $0
        }
        while let last = lines.last, last.allSatisfy({ $0 == " " }) { lines.removeLast() }
        guard let first = lines.first, first == "---" || first.hasPrefix("--- ") else { throw fail("missing --- header") }
        var rest = first == "---" ? Array(lines.dropFirst()) : [first.dropFirst(4)] + lines.dropFirst()
        if rest.count == 1, rest[0].trimmingSpaces == "{}" { return [:] }
        var fields = [String: YAMLValue]()
        var i = 0
        func unquote(_ s: Substring) -> String {
            if s.count >= 2, (s.first == "'" && s.last == "'") || (s.first == "\"" && s.last == "\"") {
                return String(s.dropFirst().dropLast())
            }
            return String(s)
        }
        while i < rest.count {
            let line = rest[i]
            i += 1
            guard !line.isEmpty, line.first != " " else { throw fail("unexpected indentation") }
            guard let colon = line.firstIndex(of: ":") else { throw fail("expected `key: value`") }
            let key = unquote(line[..<colon].trimmingSpaces)
            guard !key.isEmpty else { throw fail("empty key") }
            guard fields[key] == nil else { throw fail("duplicate key \(key)") }
            let value = line[line.index(after: colon)...].trimmingSpaces
            if value == "!binary |-" || value == "!!binary |-" || value == "!binary |" || value == "!!binary |" {
                var base64 = ""
                while i < rest.count, rest[i].first == " " {
                    base64 += rest[i].trimmingSpaces
                    i += 1
                }
                fields[key] = .binary(try Base64URL.decodeStandard(base64))
            } else if value.hasPrefix("!") || value.hasPrefix("&") || value.hasPrefix("*") || value.hasPrefix("|")
                || value.hasPrefix(">") || value.hasPrefix("{") || value.hasPrefix("[")
            {
                throw fail("unsupported value for \(key)")
            } else {
                fields[key] = .scalar(unquote(value))
            }
        }
        rest.removeAll()
        return fields
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return s
    }
}
