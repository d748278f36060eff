/// Classification's statements that something outside the service runs too: `svx-load`'s raw libpq baseline
/// measures exactly what ListEntities sends to PostgreSQL, so the text lives here, once, for both (the service's
/// other SQL stays with its handlers). Only SQL text: no I/O, no service code.
public enum ClassificationQueries {
    /// Levels of a tree: a root is at depth 0, the deepest node at depth `maximumDepth - 1`. Every recursive
    /// query stops there.
    public static let maximumDepth = 64

    /// Nodes the caller may see, alias `n`: the system ones and its own (`$1` is the caller).
    public static let visibleNodes = "(n.owner_id IS NULL OR n.owner_id = $1)"

    /// ListEntities: the subtrees of the named nodes (visible nodes only, ``maximumDepth`` levels at most), then the
    /// caller's links to any of their nodes, each entity once, in id order after the page token. `$1` user id,
    /// `$2` the start nodes as a `uuid[]` literal, `$3` entity type (0: any), `$4` page token (the last entity id,
    /// or NULL), `$5` limit (page size + 1, to know whether there is a next page). Rows: entity id, entity type,
    /// item id (NULL for a template).
    public static let listEntities = """
        WITH RECURSIVE tree AS (
            SELECT n.node_id, 0 AS depth FROM classification.nodes n WHERE n.node_id = ANY($2::uuid[]) AND \(visibleNodes)
            UNION
            SELECT n.node_id, tree.depth + 1 FROM classification.nodes n JOIN tree ON n.parent_id = tree.node_id
            WHERE \(visibleNodes) AND tree.depth < \(maximumDepth)
        )
        SELECT DISTINCT ON (c.entity_id) c.entity_id, c.entity_type, c.item_id
        FROM classification.classifications c
        WHERE c.user_id = $1 AND c.node_id IN (SELECT node_id FROM tree)
          AND ($3::smallint = 0 OR c.entity_type = $3::smallint) AND ($4::uuid IS NULL OR c.entity_id > $4::uuid)
        ORDER BY c.entity_id LIMIT $5
        """
}
