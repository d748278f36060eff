import Foundation
import SVXStore
import Testing

/// The SQL text helpers every service builds statements with (pure: no database).
@Suite struct SQLFragmentTests {
    @Test func uuidArraysAreArrayLiteralsOfCanonicalIDs() {
        let ids = [UUID(), UUID()]
        #expect(uuidArrayLiteral(ids) == "{\(ids[0].uuidString.lowercased()),\(ids[1].uuidString.lowercased())}")
        #expect(uuidArrayLiteral([UUID]()) == "{}")
        #expect(epochMilliseconds("t.created_at") == "(EXTRACT(EPOCH FROM t.created_at) * 1000)::bigint")
    }
}
