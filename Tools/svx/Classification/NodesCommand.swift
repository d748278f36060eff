import ArgumentParser
import Foundation
import SVXClient

/// `svx nodes create|list|move|delete|search`: the nodes of a scheme's tree. A NODE argument is a node id or
/// `scheme:name`; where the scheme is already given (SCHEME), a bare `name` works too. Names are looked up here; a
/// name that several nodes share is refused with their ids, to give one of instead.
struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes", abstract: "Create, list, move, delete and search the nodes of classification schemes.",
        discussion: """
            NODE is a node id or scheme:name (a bare name where the scheme is known). Node names, labels and \
            descriptions are stored in clear: never put a secret in them. Lines, tables and trees for people; --json \
            for scripts.
            """,
        subcommands: [Create.self, List.self, Move.self, Delete.self, Search.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a node in a scheme that takes yours (`tag`, or one of your own).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The scheme's name or id.") var scheme: String
        @Argument(help: "The node's label (for people).") var label: String
        @Option(help: "The node's name (default: derived from the label).") var name: String?
        @Option(help: "The parent node: its id, scheme:name or name (default: a root).") var parent: String?
        @Option(name: .customLong("description"), help: "What the node means.") var nodeDescription: String?
        @Option(help: "An image reference (a URL or file name).") var image: String?
        @Option(help: "Its place among its siblings, 0...100000 (default 0; then by name).") var ordinal: Int32?

        func validate() throws {
            if let name, !NodeReference.isName(name) {
                throw ValidationError("\"\(name)\" is not a node name: lower-case letters, digits and _, at most 64")
            }
            if let ordinal, !(0...100_000).contains(ordinal) { throw ValidationError("--ordinal must be in 0...100000") }
        }

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let node = try await clientFlow {
                let parentID = try await parent.asyncMap { try await classification.nodeID($0, inScheme: scheme) }
                return try await classification.classification.createNode(
                    session: classification.session, scheme: scheme, parentID: parentID, name: name, label: label,
                    description: nodeDescription ?? "", image: image ?? "", ordinal: ordinal ?? 0)
            }
            if options.json {
                try printJSON(ClassificationOutput.json(node))
            } else {
                Terminal.printLine("Created \(ClassificationOutput.line(node)).")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a scheme's tree, or the subtree under one node (depth first).",
            discussion: """
                An indented tree (name, label, id) for people; --json gives an array of nodes, each with its depth. The \
                service lists at most 10 000 nodes at once: a longer listing is cut, and said so on stderr.
                """)
        @OptionGroup var options: ClientOptions
        @Argument(help: "The scheme's name or id.") var scheme: String
        @Option(help: "Only this node and its descendants: its id, scheme:name or name.") var under: String?
        @Option(help: "At most this many levels below (default: all).") var depth: Int?

        func validate() throws {
            if let depth, depth < 1 { throw ValidationError("--depth must be at least 1") }
        }

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let subtree = try await clientFlow {
                let nodeID = try await under.asyncMap { try await classification.nodeID($0, inScheme: scheme) }
                return try await classification.classification.listSubtree(
                    session: classification.session, scheme: scheme, under: nodeID, maxDepth: depth)
            }
            if subtree.truncated {
                Terminal.printError("The listing was cut at the service's limit: list a subtree (--under) or fewer levels (--depth).")
            }
            if options.json {
                try printJSON(subtree.nodes.map(ClassificationOutput.json))
                return
            }
            if subtree.nodes.isEmpty { Terminal.printError("No nodes.") }
            NodeTree.lines(subtree.nodes).forEach(Terminal.printLine)
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a node of yours, with its subtree, under another node of the same scheme, or make it a root.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The node: its id or scheme:name.") var node: String
        @Option(help: "The new parent: its id or scheme:name (a bare name when NODE is given as scheme:name).") var to: String?
        @Flag(help: "Make the node a root.") var root = false

        func validate() throws {
            guard (to != nil) != root else { throw ValidationError("give either --to PARENT or --root") }
        }

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let moved = try await clientFlow {
                let reference = try NodeReference(parsing: node)
                let nodeID = try await classification.classification.resolveNodeID(session: classification.session, reference)
                var scheme: String?
                if case .name(let named?, _) = reference { scheme = named }
                let parentID = try await to.asyncMap { try await classification.nodeID($0, inScheme: scheme) }
                return try await classification.classification.moveNode(
                    session: classification.session, nodeID: nodeID, newParentID: parentID)
            }
            if options.json {
                try printJSON(ClassificationOutput.json(moved))
            } else {
                Terminal.printLine("Moved: \(ClassificationOutput.line(moved)).")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a node of yours.",
            discussion: "A node with children or classifications is deleted only with --cascade, which takes its whole subtree and their classifications.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The node: its id or scheme:name.") var node: String
        @Flag(help: "Delete its subtree and their classifications too.") var cascade = false

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let (nodeID, deletion) = try await clientFlow {
                let nodeID = try await classification.nodeID(node)
                return (nodeID, try await classification.classification.deleteNode(session: classification.session, nodeID: nodeID, cascade: cascade))
            }
            if options.json {
                try printJSON(ClassificationOutput.json(deletion).merging(["node_id": nodeID, "deleted": true]) { old, _ in old })
            } else {
                Terminal.printLine("\(ClassificationOutput.line(deletion)).")
            }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find nodes whose name or label contains QUERY (any case), by scheme then name.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "What the name or label contains (\"\" lists every node).") var query: String
        @Option(help: "Only in this scheme (name or id).") var scheme: String?
        @Option(help: "At most this many nodes, 1...500 (default 50).") var limit: Int?

        func validate() throws {
            if let limit, !(1...ClassificationClient.maximumSearchLimit).contains(limit) {
                throw ValidationError("--limit must be in 1...\(ClassificationClient.maximumSearchLimit)")
            }
        }

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let nodes = try await clientFlow {
                try await classification.classification.searchNodes(
                    session: classification.session, query: query, scheme: scheme, limit: limit)
            }
            if options.json { try printJSON(nodes.map(ClassificationOutput.json)) } else { ClassificationOutput.printNodes(nodes) }
        }
    }
}

extension Optional {
    /// `map` with an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
