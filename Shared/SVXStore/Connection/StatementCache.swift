/// Which statements a connection has prepared on its server, by SQL text and parameter types: a pure state machine
/// (no I/O), tested alone. ``PostgresConnection`` asks it before each statement with parameters: a hit runs the
/// prepared statement (no parsing, analysis or planning on the server), a miss prepares it first under a fresh name.
///
/// Bounded: at most `capacity` statements; once a new one is prepared, the least recently used one is evicted and its
/// name handed back, for the connection to `DEALLOCATE` (a prepare the server refuses evicts nothing). The parameter types are part of the key, because a prepared statement keeps the types
/// it was prepared with and a value of another type would be read wrongly in the binary format.
struct StatementCache {
    struct Key: Hashable {
        let sql: String
        let types: [UInt32]
    }

    /// What to do for a statement.
    enum Decision: Equatable {
        /// Run the statement prepared under `name`.
        case run(name: String)
        /// Prepare the statement under `name`, then run it.
        case prepare(name: String)
    }

    let capacity: Int
    private var names: [Key: String] = [:]
    private var lastUse: [Key: UInt64] = [:]
    private var clock: UInt64 = 0
    private var nextNumber = 1

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int { names.count }

    /// The decision for `key`. A `.prepare` is not remembered until ``prepared(_:name:)`` confirms the server took it.
    mutating func decide(_ key: Key) -> Decision {
        clock += 1
        if let name = names[key] {
            lastUse[key] = clock
            return .run(name: name)
        }
        let name = "svx_\(nextNumber)"
        nextNumber += 1
        return .prepare(name: name)
    }

    /// The server prepared `key` as `name`. Returns the name of the statement evicted to stay within the capacity (the
    /// least recently used), for the connection to deallocate.
    mutating func prepared(_ key: Key, name: String) -> String? {
        var evicted: String?
        if names[key] == nil, names.count >= capacity, let oldest = lastUse.min(by: { $0.value < $1.value })?.key {
            evicted = names.removeValue(forKey: oldest)
            lastUse[oldest] = nil
        }
        names[key] = name
        lastUse[key] = clock
        return evicted
    }

    /// The server no longer has `key`'s statement (it reported it missing, or its plan cannot be used any more).
    mutating func forget(_ key: Key) {
        names[key] = nil
        lastUse[key] = nil
    }

    /// The connection was reset: the server has none of them.
    mutating func removeAll() {
        names.removeAll()
        lastUse.removeAll()
    }
}
