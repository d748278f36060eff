/// A depth-first node listing (``ClassificationClient/listSubtree(session:scheme:under:maxDepth:)``) drawn as an
/// indented tree for people:
///
/// ```
/// work  Work  <id>
/// ├── projects  Projects  <id>
/// │   └── svx  svx  <id>
/// └── admin  Admin  <id>
/// home  Home  <id>
/// ```
///
/// The shallowest nodes are drawn flush left (roots, or the node listed with `under`). Only each node's `depth`
/// and the order are used, so a listing cut short still draws without a crash.
public enum NodeTree {
    public static func lines(
        _ nodes: [ClassificationNode], describe: (ClassificationNode) -> String = defaultDescription
    ) -> [String] {
        guard let base = nodes.map(\.depth).min() else { return [] }
        let depths = nodes.map { $0.depth - base }
        // Walking backwards: a node is the last of its siblings when no node of its depth came after it before a
        // shallower one did.
        var isLast = [Bool](repeating: true, count: nodes.count)
        var siblingAfter: [Bool] = []
        for index in nodes.indices.reversed() {
            let depth = depths[index]
            if siblingAfter.count <= depth { siblingAfter += [Bool](repeating: false, count: depth + 1 - siblingAfter.count) }
            isLast[index] = !siblingAfter[depth]
            siblingAfter[depth] = true
            for deeper in (depth + 1)..<siblingAfter.count { siblingAfter[deeper] = false }
        }
        // Walking forwards: whether the open ancestor at each level still has siblings to come (a `│` column).
        var continuing: [Bool] = []
        return nodes.indices.map { index in
            let depth = depths[index]
            if continuing.count < depth + 1 { continuing += [Bool](repeating: false, count: depth + 1 - continuing.count) }
            continuing[depth] = !isLast[index]
            for deeper in (depth + 1)..<continuing.count { continuing[deeper] = false }
            guard depth > 0 else { return describe(nodes[index]) }
            var prefix = ""
            for level in 1..<depth { prefix += continuing[level] ? "│   " : "    " }
            prefix += isLast[index] ? "└── " : "├── "
            return prefix + describe(nodes[index])
        }
    }

    /// `name  label  id`, the label left out when it is the name.
    public static func defaultDescription(_ node: ClassificationNode) -> String {
        node.label == node.name ? "\(node.name)  \(node.id)" : "\(node.name)  \(node.label)  \(node.id)"
    }
}
