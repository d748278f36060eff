import Foundation

/// How a person names a node: its id (a UUID), `scheme:name`, or a bare `name` when the scheme is known from
/// elsewhere (a command's SCHEME argument). The scheme of `scheme:name` may be a scheme's name or id.
public enum NodeReference: Sendable, Equatable, CustomStringConvertible {
    case id(String)
    case name(scheme: String?, name: String)

    /// Parses a node argument. Node and scheme names are `[a-z0-9_]`, 1...64 (the service's rule); anything else
    /// that is not a UUID is refused here, with the reason, before any call.
    public init(parsing text: String) throws {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty else { throw SVXClientError(.invalidInput, "a node is needed: its id, scheme:name or name") }
        if let uuid = UUID(uuidString: text) {
            self = .id(uuid.uuidString.lowercased())
            return
        }
        guard let colon = text.firstIndex(of: ":") else {
            guard Self.isName(text) else { throw Self.malformed(text) }
            self = .name(scheme: nil, name: text)
            return
        }
        let scheme = String(text[..<colon])
        let name = String(text[text.index(after: colon)...])
        guard Self.isName(scheme) || UUID(uuidString: scheme) != nil, Self.isName(name) else { throw Self.malformed(text) }
        self = .name(scheme: scheme, name: name)
    }

    /// What the service takes in a `node` field: the id or `scheme:name`. A bare name has no scheme to send.
    public func wireValue() throws -> String {
        switch self {
        case .id(let id): return id
        case .name(let scheme?, let name): return "\(scheme):\(name)"
        case .name(nil, let name):
            throw SVXClientError(.invalidInput, "node \(name) needs its scheme: give scheme:\(name) or the node's id")
        }
    }

    public var description: String {
        switch self {
        case .id(let id): id
        case .name(let scheme?, let name): "\(scheme):\(name)"
        case .name(nil, let name): name
        }
    }

    /// `[a-z0-9_]`, 1...64: a node or scheme name.
    public static func isName(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count)
            && text.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
    }

    private static func malformed(_ text: String) -> SVXClientError {
        SVXClientError(
            .invalidInput,
            "\"\(text)\" is not a node: give its id, scheme:name or name (names are lower-case letters, digits and _, at most 64)")
    }
}

/// Picks the one node a name means among candidates (from a search or a subtree listing). Pure, so the rules are
/// tested without a service: exact name, within `scheme` (a name or id) when given; none is NOT_FOUND-like, more
/// than one is ambiguous and the error lists them with their ids.
public enum NodeNameMatch {
    public static func single(
        named name: String, inScheme scheme: String?, among candidates: [ClassificationNode]
    ) throws -> ClassificationNode {
        let matches = candidates.filter { node in
            node.name == name && (scheme.map { $0 == node.schemeName || $0.lowercased() == node.schemeID.lowercased() } ?? true)
        }
        let shown = scheme.map { "\($0):\(name)" } ?? name
        guard let first = matches.first else {
            throw SVXClientError(.notFound, "no node \(shown)\(scheme == nil ? " in any scheme" : "")")
        }
        guard matches.count == 1 else {
            let listed = matches.map { node in
                var place = "a root"
                if let parentID = node.parentID { place = "under " + (candidates.first { $0.id == parentID }?.name ?? parentID) }
                return "\(node.id) (\(node.qualifiedName), \(place))"
            }
            throw SVXClientError(
                .ambiguous, "\(matches.count) nodes are named \(shown): give the node's id instead: \(listed.joined(separator: "; "))")
        }
        return first
    }
}
