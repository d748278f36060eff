// Why not a BSON library: Cryppo artefacts are tiny documents with at most four fields of four types, and the
// only allowed packages are the ones in Package.swift (none is a BSON library). A general BSON codec would be a
// large attack surface for a few dozen lines of needed format. This reader accepts the scalar types that the
// Meeco libraries (Ruby bson, js-bson) can emit for these fields, in any order, and refuses everything else with
// a typed error; it checks every length against the buffer so truncated or lying input cannot crash it.

/// A BSON scalar as found in Cryppo artefacts.
enum BSONValue: Equatable {
    case double(Double)
    case string(String)
    case binary(subtype: UInt8, [UInt8])
    case bool(Bool)
    case null
    case int32(Int32)
    case int64(Int64)

    /// An integer value (int32, int64 or an integral double).
    var integer: Int? {
        switch self {
        case .int32(let v): Int(v)
        case .int64(let v): Int(exactly: v)
        case .double(let d): Int(exactly: d)
        default: nil
        }
    }
}

enum MiniBSON {
    /// Maximum size of an artefacts document (they are under 100 bytes in practice).
    static let maximumDocumentSize = 4096

    /// Writes a document with the fields in the given order (int32 for integers, binary subtype 0, strings).
    /// Cryppo's artefacts: a version byte followed by the document.
    static func write(versionByte: UInt8, _ fields: [(String, BSONValue)]) -> [UInt8] {
        write(fields, prefix: versionByte)
    }

    /// Writes a document with the fields in the given order, after an optional prefix byte.
    static func write(_ fields: [(String, BSONValue)], prefix: UInt8? = nil) -> [UInt8] {
        // One buffer, appended in place (this runs on every encryption).
        var out = [UInt8]()
        out.reserveCapacity(96)
        if let prefix { out.append(prefix) }
        let base = out.count
        func int32LE(_ v: Int32) {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }
        int32LE(0)  // length, patched below
        for (name, value) in fields {
            func header(_ type: UInt8) {
                out.append(type)
                out.append(contentsOf: name.utf8)
                out.append(0)
            }
            switch value {
            case .binary(let subtype, let data):
                header(0x05)
                int32LE(Int32(data.count))
                out.append(subtype)
                out.append(contentsOf: data)
            case .string(let s):
                header(0x02)
                int32LE(Int32(s.utf8.count + 1))
                out.append(contentsOf: s.utf8)
                out.append(0)
            case .int32(let v):
                header(0x10)
                int32LE(v)
            case .int64(let v):
                header(0x12)
                withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
            case .double(let d):
                header(0x01)
                withUnsafeBytes(of: d.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            case .bool(let b):
                header(0x08)
                out.append(b ? 1 : 0)
            case .null:
                header(0x0A)
            }
        }
        out.append(0)
        let length = Int32(out.count - base).littleEndian
        withUnsafeBytes(of: length) { for (i, b) in $0.enumerated() { out[base + i] = b } }
        return out
    }

    /// Reads a whole document; `bytes` must hold exactly one document.
    static func read(_ bytes: ArraySlice<UInt8>) throws -> [String: BSONValue] {
        func fail(_ why: String) -> CryppoError { CryppoError(.invalidArtefacts, "invalid BSON artefacts: \(why)") }
        let b = Array(bytes)
        guard b.count >= 5 else { throw fail("truncated document") }
        guard b.count <= maximumDocumentSize else { throw fail("document too large") }
        var pos = 0
        func int32() throws -> Int32 {
            guard pos + 4 <= b.count else { throw fail("truncated") }
            let v = UInt32(b[pos]) | UInt32(b[pos + 1]) << 8 | UInt32(b[pos + 2]) << 16 | UInt32(b[pos + 3]) << 24
            pos += 4
            return Int32(bitPattern: v)
        }
        func int64() throws -> Int64 {
            let low = UInt64(UInt32(bitPattern: try int32())), high = UInt64(UInt32(bitPattern: try int32()))
            return Int64(bitPattern: low | high << 32)
        }
        func cstring() throws -> String {
            guard let end = b[pos...].firstIndex(of: 0) else { throw fail("unterminated field name") }
            let s = String(decoding: b[pos..<end], as: UTF8.self)
            pos = end + 1
            return s
        }
        let declared = Int(try int32())
        guard declared == b.count else { throw fail("declared length \(declared) but \(b.count) bytes present") }
        guard b[b.count - 1] == 0 else { throw fail("missing terminator") }
        var fields = [String: BSONValue]()
        while pos < b.count - 1 {
            let type = b[pos]
            pos += 1
            let name = try cstring()
            guard fields[name] == nil else { throw fail("duplicate field \(name)") }
            let value: BSONValue
            switch type {
            case 0x01:
                value = .double(Double(bitPattern: UInt64(bitPattern: try int64())))
            case 0x02:
                let length = Int(try int32())
                guard length >= 1, pos + length <= b.count - 1, b[pos + length - 1] == 0 else {
                    throw fail("bad string length for \(name)")
                }
                let raw = b[pos..<(pos + length - 1)]
                guard let s = String(validating: raw, as: UTF8.self) else { throw fail("string \(name) is not UTF-8") }
                value = .string(s)
                pos += length
            case 0x05:
                let length = Int(try int32())
                guard length >= 0, pos + 1 + length <= b.count - 1 else { throw fail("bad binary length for \(name)") }
                let subtype = b[pos]
                value = .binary(subtype: subtype, Array(b[(pos + 1)..<(pos + 1 + length)]))
                pos += 1 + length
            case 0x08:
                guard pos < b.count - 1 else { throw fail("truncated") }
                value = .bool(b[pos] != 0)
                pos += 1
            case 0x0A:
                value = .null
            case 0x10:
                value = .int32(try int32())
            case 0x12:
                value = .int64(try int64())
            default:
                throw fail("unsupported BSON type 0x\(String(type, radix: 16)) for field \(name)")
            }
            guard pos <= b.count - 1 else { throw fail("truncated field \(name)") }
            fields[name] = value
        }
        return fields
    }
}
