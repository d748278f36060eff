import Foundation
import SVXRPC
import Testing

/// The status `body` fails with, nil if it succeeded; an error that is not an ``RPCStatus`` is recorded as an issue.
public func status<Result>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Result
) async -> RPCStatus? {
    do {
        _ = try await body()
        return nil
    } catch let status as RPCStatus {
        return status
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The field an INVALID_ARGUMENT from `body` names, nil if `body` succeeded; a failure that is not INVALID_ARGUMENT is
/// recorded as an issue. For validation code called directly, without I/O.
public func invalidArgumentField<Result>(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Result
) -> String? {
    do {
        _ = try body()
        return nil
    } catch {
        let status = error as? RPCStatus
        #expect(status?.code == .invalidArgument, "expected INVALID_ARGUMENT, got \(error)", sourceLocation: sourceLocation)
        return status?.details["field"] ?? "<no field>"
    }
}

/// Checks that `body` fails with `code` and, when given, the `reason` and `field` of the status details.
/// `what` names the case in the failure message. Returns the status.
@discardableResult
public func expectStatus(
    _ code: RPCStatus.Code, reason: String? = nil, field: String? = nil, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async -> RPCStatus? {
    let failure = await status(sourceLocation: sourceLocation, body)
    expect(failure, code, reason: reason, field: field, what, sourceLocation: sourceLocation)
    return failure
}

/// Checks that `status` is `code` with, when given, the `reason` and `field` of its details.
public func expect(
    _ status: RPCStatus?, _ code: RPCStatus.Code, reason: String? = nil, field: String? = nil, _ what: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let prefix = what.isEmpty ? "" : "\(what): "
    #expect(status?.code == code, "\(prefix)\(status.map { "\($0)" } ?? "succeeded")", sourceLocation: sourceLocation)
    if let reason {
        #expect(status?.details["reason"] == reason, "\(prefix)details \(status?.details ?? [:])", sourceLocation: sourceLocation)
    }
    if let field {
        #expect(status?.details["field"] == field, "\(prefix)details \(status?.details ?? [:])", sourceLocation: sourceLocation)
    }
}

/// Checks that `body` fails with INVALID_ARGUMENT naming one of `fields` in `details["field"]`: exactly, or with the
/// indices left out (`slots.name` matches `slots[3].name`). `what` names the case.
public func expectInvalidField(
    _ fields: String..., what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    await expectInvalidField(anyOf: fields, what: what, sourceLocation: sourceLocation, body)
}

/// ``expectInvalidField(_:what:sourceLocation:_:)`` with the fields in an array.
public func expectInvalidField(
    anyOf fields: [String], what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    let failure = await status(sourceLocation: sourceLocation, body)
    expectInvalidField(failure, anyOf: fields, what: what, sourceLocation: sourceLocation)
}

/// Checks that `status` is INVALID_ARGUMENT naming one of `fields` (exactly, or with the indices left out).
public func expectInvalidField(
    _ status: RPCStatus?, anyOf fields: [String], what: String = "", sourceLocation: SourceLocation = #_sourceLocation
) {
    let prefix = what.isEmpty ? "" : "\(what): "
    let field = status?.details["field"]
    #expect(status?.code == .invalidArgument, "\(prefix)\(status.map { "\($0)" } ?? "succeeded")", sourceLocation: sourceLocation)
    #expect(field.map { fields.contains($0) || fields.contains(withoutIndices($0)) } == true,
            "\(prefix)want field \(fields), details \(status?.details ?? [:])", sourceLocation: sourceLocation)
}

/// `slots[3].name` → `slots.name`.
public func withoutIndices(_ field: String) -> String {
    field.replacingOccurrences(of: #"\[[0-9]+\]"#, with: "", options: .regularExpression)
}

/// `status` with `id` replaced by a placeholder, to compare the answer about a stranger's object with the one about an
/// id nobody has (they must not differ).
public func anonymized(_ status: RPCStatus?, _ id: String) -> RPCStatus? {
    status.map {
        RPCStatus($0.code, $0.message.replacingOccurrences(of: id, with: "<id>"),
                  details: $0.details.mapValues { $0.replacingOccurrences(of: id, with: "<id>") })
    }
}

/// A random lowercase UUID that no row has.
public func unknownID() -> String { UUID().uuidString.lowercased() }

/// `count` copies of `character`: as many UTF-8 bytes for ASCII, twice as many for `é`.
public func filler(_ count: Int, _ character: Character = "x") -> String { String(repeating: character, count: count) }

/// Every element of a paged list and the number of pages: `page(token)` answers the elements of the page at `token`
/// ("" for the first) and the next page's token ("" after the last). An issue is recorded when `maximumPages` do not
/// reach the end.
public func allPages<Element>(
    _ what: String, maximumPages: Int = 1000, sourceLocation: SourceLocation = #_sourceLocation,
    _ page: (String) async throws -> (elements: [Element], next: String)
) async throws -> (elements: [Element], pages: Int) {
    var elements: [Element] = []
    var token = ""
    for count in 1...maximumPages {
        let (more, next) = try await page(token)
        elements += more
        if next.isEmpty { return (elements, count) }
        token = next
    }
    Issue.record("\(what) did not reach its last page in \(maximumPages)", sourceLocation: sourceLocation)
    return (elements, maximumPages)
}
