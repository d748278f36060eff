import Foundation
import SVXContracts
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

/// Schemes and node trees of the Classification contract (proto/svx/classification/v1/classification.proto) through
/// real processes: svx-auth, svx-vault and svx-classification on one PostgreSQL database, users signed up and
/// logged in through Auth. Each test starts its own stack.
@Suite(.serialized) struct ClassificationTreeTests {
    typealias Node = Svx_Classification_V1_Node

    /// level_0 ... level_9, each under the one before (depths 0...9); side_3 beside level_3 with a child side_child;
    /// aside_6 beside level_6, listed after it (ordinal 5 against 0) though its name sorts first.
    static func buildTree(_ user: TestUser) async throws -> [String: Node] {
        var nodes: [String: Node] = [:]
        let chain = try await user.createChain(prefix: "Level", count: 10)
        for (level, node) in chain.enumerated() {
            #expect(node.name == "level_\(level)", "the name derived from the label")
            #expect(node.depth == UInt32(level))
            nodes[node.name] = node
        }
        nodes["side_3"] = try await user.createNode(parent: nodes["level_2"]!.nodeID, label: "Side 3")
        nodes["side_child"] = try await user.createNode(parent: nodes["side_3"]!.nodeID, label: "Side Child")
        nodes["aside_6"] = try await user.createNode(parent: nodes["level_5"]!.nodeID, label: "Aside 6", ordinal: 5)
        return nodes
    }

    static let tree = [
        "level_0@0", "level_1@1", "level_2@2", "level_3@3", "level_4@4", "level_5@5", "level_6@6", "level_7@7", "level_8@8",
        "level_9@9", "aside_6@6", "side_3@3", "side_child@4",
    ]

    /// Checks that `nodes` is a depth-first listing: each node's parent is the nearest node before it one level up
    /// (the first node, at depth 0, may have any parent).
    static func expectDepthFirst(_ nodes: [Node], sourceLocation: SourceLocation = #_sourceLocation) {
        var path: [Node] = []
        for (index, node) in nodes.enumerated() {
            let depth = Int(node.depth)
            guard index == 0 ? depth == 0 : depth <= path.count else {
                Issue.record("\(node.name) at depth \(depth) after \(path.count) levels", sourceLocation: sourceLocation)
                return
            }
            if depth > 0 {
                #expect(path[depth - 1].nodeID == node.parentID, "\(node.name) under \(path[depth - 1].name)",
                        sourceLocation: sourceLocation)
            }
            path = Array(path.prefix(depth)) + [node]
        }
    }

    static func randomID() -> String { UUID().uuidString.lowercased() }

    /// Row counts of the classification tables (what a listing cannot show, like forgotten entities).
    static func rowCounts(_ database: TestDatabase) throws -> String {
        let connection = try database.connect()
        defer { connection.close() }
        return try connection.query("""
            SELECT (SELECT count(*) FROM classification.schemes)::text || ' ' || (SELECT count(*) FROM classification.nodes)::text
                || ' ' || (SELECT count(*) FROM classification.classifications)::text
                || ' ' || (SELECT count(*) FROM classification.forgotten_entities)::text
            """)[0].decode(String.self, at: 0)
    }

    // MARK: System schemes

    @Test func systemSchemesAreListedForEveryoneAndCountriesAreReadOnly() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()

        let schemes = try await user.schemes()
        #expect(schemes.map(\.name) == ["country", "tag"], "a new user has only the system schemes")
        let tag = try #require(schemes.first { $0.name == "tag" })
        #expect(tag.system && tag.userNodes)
        let country = try #require(schemes.first { $0.name == "country" })
        #expect(country.system && !country.userNodes)
        #expect(UUID(uuidString: country.schemeID) != nil && UUID(uuidString: tag.schemeID) != nil)

        // The 249 ISO 3166-1 countries, all roots, by ordinal (their codes in order).
        let response = try await user.call(ClassificationRPC.listSubtree, .init(scheme: "country"))
        let countries = response.nodes
        #expect(!response.truncated)
        #expect(countries.count == 249)
        #expect(Set(countries.map(\.name)).count == 249)
        #expect(countries.allSatisfy { $0.depth == 0 && $0.parentID.isEmpty && $0.system && $0.schemeName == "country" })
        #expect(countries.allSatisfy { $0.name.count == 2 && $0.name.allSatisfy { $0.isASCII && $0.isLowercase } })
        #expect(countries.map(\.name) == countries.map(\.name).sorted())
        #expect(countries.allSatisfy { $0.schemeID == country.schemeID })
        #expect(Set(["au", "de", "nz", "us", "ci"]).isSubset(of: countries.map(\.name)))
        #expect(try await user.subtree(scheme: country.schemeID) == countries, "the scheme by id")

        let zealand = try await user.search("zealand", scheme: "country")
        #expect(zealand.map(\.name) == ["nz"])
        #expect(zealand.first?.label == "New Zealand")
        #expect(try await user.search("ZEALAND").map(\.name) == ["nz"], "every scheme, any case")
        let nz = try #require(zealand.first)
        #expect(try await user.subtree(node: nz.nodeID).map(\.name) == ["nz"])

        let before = try await user.subtree(scheme: "country")
        #expect(await user.failure(ClassificationRPC.createNode, .init(scheme: "country", label: "Atlantis"))?.code
                == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.createNode, .init(scheme: country.schemeID, label: "Atlantis"))?.code
                == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.createNode, .init(scheme: "country", parentID: nz.nodeID, label: "Auckland"))?.code
                == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.updateNode, .init(nodeID: nz.nodeID, label: "Aotearoa"))?.code
                == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.updateNode, .init(nodeID: nz.nodeID, ordinal: 0))?.code
                == .permissionDenied)
        let au = try #require(countries.first { $0.name == "au" })
        #expect(await user.failure(ClassificationRPC.moveNode, .init(nodeID: nz.nodeID, newParentID: au.nodeID))?.code
                == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.moveNode, .init(nodeID: nz.nodeID))?.code == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.deleteNode, .init(nodeID: nz.nodeID))?.code == .permissionDenied)
        #expect(await user.failure(ClassificationRPC.deleteNode, .init(nodeID: nz.nodeID, cascade: true))?.code
                == .permissionDenied)
        // A tag cannot hang under a country either (not the caller's node).
        #expect(await user.failure(ClassificationRPC.createNode, .init(parentID: nz.nodeID, label: "Kiwi"))?.code == .notFound)
        #expect(try await user.subtree(scheme: "country") == before)
        #expect(try await user.subtree(scheme: "tag").isEmpty)
    }

    // MARK: Trees

    @Test func aTreeOfTenLevelsIsListedDepthFirstFromAnyNode() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let nodes = try await Self.buildTree(user)

        let all = try await user.subtree()
        #expect(namesAndDepths(all) == Self.tree)
        Self.expectDepthFirst(all)
        #expect(all.filter { $0.name.hasPrefix("level_") }.map(\.depth) == Array(0...9))
        #expect(all.allSatisfy { $0.schemeName == "tag" && !$0.system })
        #expect(try await user.subtree(scheme: all[0].schemeID) == all, "the scheme by id")
        #expect(try await user.subtree(maxDepth: 64) == all)
        let level5 = try #require(all.first { $0.name == "level_5" })
        #expect(level5.nodeID == nodes["level_5"]!.nodeID && level5.parentID == nodes["level_4"]!.nodeID)
        #expect(level5.label == "Level 5")

        // From a middle node the depths start again at 0.
        let middle = try await user.subtree(node: nodes["level_5"]!.nodeID)
        #expect(namesAndDepths(middle) == ["level_5@0", "level_6@1", "level_7@2", "level_8@3", "level_9@4", "aside_6@1"])
        Self.expectDepthFirst(middle)
        #expect(namesAndDepths(try await user.subtree(node: nodes["level_9"]!.nodeID)) == ["level_9@0"])

        // max_depth: levels below the listed node.
        #expect(namesAndDepths(try await user.subtree(maxDepth: 2)) == ["level_0@0", "level_1@1", "level_2@2"])
        #expect(namesAndDepths(try await user.subtree(node: nodes["level_2"]!.nodeID, maxDepth: 1))
                == ["level_2@0", "level_3@1", "side_3@1"])
        #expect(namesAndDepths(try await user.subtree(node: nodes["level_2"]!.nodeID, maxDepth: 2))
                == ["level_2@0", "level_3@1", "level_4@2", "side_3@1", "side_child@2"])
        #expect(try await user.subtree(maxDepth: 9) == all)
        #expect(try await user.subtree(maxDepth: 8).map(\.name) == all.map(\.name).filter { $0 != "level_9" })

        // Siblings by ordinal, then name: aside_6 moves before level_6 when its ordinal drops to 0 (a name tie
        // broken by name).
        let updated = try await user.call(ClassificationRPC.updateNode, .init(nodeID: nodes["aside_6"]!.nodeID, ordinal: 0)).node
        #expect(updated.ordinal == 0 && updated.name == "aside_6" && updated.label == "Aside 6")
        #expect(namesAndDepths(try await user.subtree(node: nodes["level_5"]!.nodeID))
                == ["level_5@0", "aside_6@1", "level_6@1", "level_7@2", "level_8@3", "level_9@4"])
    }

    @Test func namesComeFromLabelsAndAreUniqueAmongSiblings() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let nodes = try await Self.buildTree(user)

        let cafe = try await user.createNode(label: "Café & Bar!")
        #expect(cafe.name == "caf____bar_" && cafe.label == "Café & Bar!" && cafe.parentID.isEmpty && cafe.depth == 0)
        let long = try await user.createNode(label: String(repeating: "Ab", count: 60))
        #expect(long.name == String(repeating: "ab", count: 32), "cut at 64 characters")
        let named = try await user.createNode(parent: nodes["level_0"]!.nodeID, label: "Anything", name: "chosen_name")
        #expect(named.name == "chosen_name" && named.label == "Anything" && named.depth == 1)
        #expect(named.parentID == nodes["level_0"]!.nodeID)

        var before = try await user.subtree()
        // A sibling has the name: by derivation or given.
        for request in [
            Svx_Classification_V1_CreateNodeRequest(parentID: nodes["level_0"]!.nodeID, label: "Level 1"),
            Svx_Classification_V1_CreateNodeRequest(parentID: nodes["level_0"]!.nodeID, name: "level_1", label: "Other"),
            Svx_Classification_V1_CreateNodeRequest(label: "Level 0"),
            Svx_Classification_V1_CreateNodeRequest(label: "Café & Bar!"),
        ] {
            let failure = await user.failure(ClassificationRPC.createNode, request)
            #expect(failure?.code == .alreadyExists, "\(request.label)")
            #expect(failure?.details["field"] == "name")
        }
        #expect(try await user.subtree() == before)

        // The same name under another parent, or in another scheme, is fine.
        let elsewhere = try await user.createNode(parent: nodes["level_2"]!.nodeID, label: "Level 1")
        #expect(elsewhere.name == "level_1" && elsewhere.depth == 3)
        let root = try await user.createNode(label: "Level 1")
        #expect(root.name == "level_1" && root.depth == 0)
        _ = try await user.call(ClassificationRPC.createScheme, .init(label: "Other scheme"))
        #expect(try await user.createNode(scheme: "other_scheme", label: "Level 0").name == "level_0")

        // Renaming or moving onto a sibling's name is refused too.
        before = try await user.subtree()
        let rename = await user.failure(ClassificationRPC.updateNode, .init(nodeID: nodes["side_3"]!.nodeID, name: "level_3"))
        #expect(rename?.code == .alreadyExists && rename?.details["field"] == "name")
        #expect(await user.failure(ClassificationRPC.updateNode, .init(nodeID: nodes["side_3"]!.nodeID, name: "", label: "Level 3"))?.code
                == .alreadyExists, "a name derived from the new label")
        #expect(await user.failure(ClassificationRPC.moveNode, .init(nodeID: elsewhere.nodeID, newParentID: nodes["level_0"]!.nodeID))?.code
                == .alreadyExists)
        #expect(await user.failure(ClassificationRPC.moveNode, .init(nodeID: nodes["level_1"]!.nodeID))?.code == .alreadyExists,
                "a root is named level_1 already")
        #expect(try await user.subtree() == before)

        // Update: fields left out are kept.
        let side = nodes["side_3"]!
        var changed = try await user.call(ClassificationRPC.updateNode, .init(nodeID: side.nodeID, label: "Side Three")).node
        #expect(changed.name == "side_3" && changed.label == "Side Three" && changed.parentID == side.parentID)
        changed = try await user.call(ClassificationRPC.updateNode, .init(
            nodeID: side.nodeID, name: "", label: "Renamed Side", description: "about it", image: "side.png", ordinal: 7)).node
        #expect(changed.name == "renamed_side" && changed.label == "Renamed Side")
        #expect(changed.description_p == "about it" && changed.image == "side.png" && changed.ordinal == 7)
        changed = try await user.call(ClassificationRPC.updateNode, .init(nodeID: side.nodeID, name: "side_again")).node
        #expect(changed.name == "side_again" && changed.label == "Renamed Side" && changed.description_p == "about it")
        #expect(changed.image == "side.png" && changed.ordinal == 7 && changed.nodeID == side.nodeID)
        #expect(changed.createdAtMs == side.createdAtMs)
        #expect(changed.depth == 3, "its depth in the tree, as CreateNode and MoveNode answer")
        let listed = try await user.search("side_again", scheme: "tag")
        #expect(listed == [changed])
    }

    @Test func searchFindsNodesByNameOrLabelIgnoringCase() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let nodes = try await Self.buildTree(user)
        let cafe = try await user.createNode(parent: nodes["level_4"]!.nodeID, label: "Zürich Café", name: "zurich")

        #expect(try await user.search("LEVEL_1", scheme: "tag").map(\.name) == ["level_1"], "by name")
        #expect(try await user.search("level 7", scheme: "tag").map(\.name) == ["level_7"], "by label")
        #expect(try await user.search("LeVeL 7").map(\.name) == ["level_7"])
        #expect(try await user.search("side", scheme: "tag").map(\.name) == ["aside_6", "side_3", "side_child"])
        #expect(try await user.search("Zürich café", scheme: "tag").map(\.nodeID) == [cafe.nodeID], "a label beyond ASCII")
        #expect(try await user.search("RICH CAF", scheme: "tag").map(\.nodeID) == [cafe.nodeID])
        #expect(try await user.search("nothing like it").isEmpty)

        let everything = try await user.search("", scheme: "tag")
        #expect(everything.count == 14)
        #expect(everything.map(\.name) == everything.map(\.name).sorted(), "by name")
        #expect(Set(everything.map(\.nodeID)) == Set(nodes.values.map(\.nodeID) + [cafe.nodeID]))
        let level3 = try #require(everything.first { $0.name == "level_3" })
        #expect(level3.parentID == nodes["level_2"]!.nodeID && level3.label == "Level 3" && level3.schemeName == "tag")
        let depths = Dictionary(uniqueKeysWithValues: everything.map { ($0.name, $0.depth) })
        #expect(depths == Dictionary(uniqueKeysWithValues: (try await user.subtree()).map { ($0.name, $0.depth) }),
                "each node's depth in its tree (0 for a root)")
        #expect(try await user.search("", scheme: "tag", limit: 3).map(\.name) == ["aside_6", "level_0", "level_1"])

        // Every scheme: countries and tags, by scheme then name.
        let across = try await user.search("a", limit: 500)
        #expect(across.contains { $0.schemeName == "country" } && across.contains { $0.schemeName == "tag" })
        #expect(across.map(\.schemeName) == across.map(\.schemeName).sorted())
    }

    // MARK: Moves

    @Test func movesIntoACycleAreRefusedAndChangeNothing() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let nodes = try await Self.buildTree(user)
        let before = try await user.subtree()

        for (node, parent) in [
            ("level_3", "level_3"), ("level_0", "level_9"), ("level_0", "level_0"), ("level_2", "side_child"),
            ("level_5", "aside_6"), ("level_8", "level_9"), ("side_3", "side_child"), ("level_0", "side_child"),
        ] {
            let failure = await user.failure(ClassificationRPC.moveNode, .init(
                nodeID: nodes[node]!.nodeID, newParentID: nodes[parent]!.nodeID))
            #expect(failure?.code == .failedPrecondition, "\(node) under \(parent): \(failure.map { "\($0)" } ?? "moved")")
            #expect(failure?.details["reason"] == "cycle", "\(node) under \(parent)")
            #expect(failure?.details["field"] == "new_parent_id", "\(node) under \(parent)")
        }
        #expect(try await user.subtree() == before, "the tree is unchanged")
        #expect(try await user.search("", scheme: "tag").count == 13)
    }

    @Test func aValidMoveCarriesTheSubtreeAndItsDepths() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let nodes = try await Self.buildTree(user)

        let moved = try await user.move(nodes["level_6"]!.nodeID, under: nodes["side_child"]!.nodeID)
        #expect(moved.depth == 5 && moved.parentID == nodes["side_child"]!.nodeID && moved.name == "level_6")
        var all = try await user.subtree()
        #expect(namesAndDepths(all) == [
            "level_0@0", "level_1@1", "level_2@2", "level_3@3", "level_4@4", "level_5@5", "aside_6@6", "side_3@3",
            "side_child@4", "level_6@5", "level_7@6", "level_8@7", "level_9@8",
        ])
        Self.expectDepthFirst(all)
        #expect(namesAndDepths(try await user.subtree(node: nodes["side_3"]!.nodeID))
                == ["side_3@0", "side_child@1", "level_6@2", "level_7@3", "level_8@4", "level_9@5"])

        // Under its own parent again: nothing moves.
        #expect(try await user.move(nodes["level_6"]!.nodeID, under: nodes["side_child"]!.nodeID).depth == 5)
        #expect(try await user.subtree() == all)

        // To the roots.
        let root = try await user.move(nodes["level_6"]!.nodeID, under: "")
        #expect(root.depth == 0 && root.parentID.isEmpty)
        all = try await user.subtree()
        #expect(namesAndDepths(all) == [
            "level_0@0", "level_1@1", "level_2@2", "level_3@3", "level_4@4", "level_5@5", "aside_6@6", "side_3@3",
            "side_child@4", "level_6@0", "level_7@1", "level_8@2", "level_9@3",
        ])
        Self.expectDepthFirst(all)

        // And back under the deepest node: a node that was under it before is not a cycle now.
        let back = try await user.move(nodes["level_4"]!.nodeID, under: nodes["level_9"]!.nodeID)
        #expect(back.depth == 4)
        #expect(namesAndDepths(try await user.subtree(node: nodes["level_6"]!.nodeID)) == [
            "level_6@0", "level_7@1", "level_8@2", "level_9@3", "level_4@4", "level_5@5", "aside_6@6",
        ])
    }

    @Test func treesAreAtMostSixtyFourLevelsDeep() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()

        // 64 levels: depths 0...63.
        let deep = try await user.createChain(prefix: "Deep", count: 64)
        #expect(deep.last?.depth == 63)
        let other = try await user.createChain(prefix: "Other", count: 30)
        #expect(other.last?.depth == 29)
        var before = try await user.snapshot()
        let counts = try Self.rowCounts(stack.database)

        // A create at depth 64.
        let create = await user.failure(ClassificationRPC.createNode, .init(parentID: deep[63].nodeID, label: "Too deep"))
        #expect(create?.code == .failedPrecondition)
        #expect(create?.details["reason"] == "too_deep")
        #expect(create?.details["field"] == "parent_id")

        // Moves whose two chains add up to more than 64 levels.
        for (node, parent, what) in [
            (other[0], deep[63], "30 levels under the 64th"), (other[0], deep[34], "the deepest at depth 64"),
            (deep[0], other[29], "64 levels under the 30th"), (deep[0], other[0], "64 levels under a root"),
            (deep[1], other[1], "63 levels at depth 2"), (other[0], deep[40], "30 levels under the 41st"),
        ] {
            let failure = await user.failure(ClassificationRPC.moveNode, .init(nodeID: node.nodeID, newParentID: parent.nodeID))
            #expect(failure?.code == .failedPrecondition, "\(what): \(failure.map { "\($0)" } ?? "moved")")
            #expect(failure?.details["reason"] == "too_deep", "\(what)")
            #expect(failure?.details["field"] == "new_parent_id", "\(what)")
        }
        #expect(try await user.snapshot() == before, "nothing changed")
        #expect(try Self.rowCounts(stack.database) == counts)

        // Exactly 64 levels is fine: the 30-level chain under depth 33 ends at depth 63.
        let moved = try await user.move(other[0].nodeID, under: deep[33].nodeID)
        #expect(moved.depth == 34)
        let below = try await user.subtree(node: deep[0].nodeID)
        #expect(below.count == 94)
        #expect(below.map(\.depth).max() == 63)
        #expect(below.first { $0.nodeID == other[29].nodeID }?.depth == 63)
        Self.expectDepthFirst(below)
        let leaf = await user.failure(ClassificationRPC.createNode, .init(parentID: other[29].nodeID, label: "Too deep"))
        #expect(leaf?.code == .failedPrecondition && leaf?.details["reason"] == "too_deep")

        // One level deeper is not, and leaves it where it was.
        before = try await user.snapshot()
        let deeper = await user.failure(ClassificationRPC.moveNode, .init(nodeID: other[0].nodeID, newParentID: deep[34].nodeID))
        #expect(deeper?.code == .failedPrecondition && deeper?.details["reason"] == "too_deep")
        #expect(try await user.snapshot() == before)

        // A create at depth 63 under a moved chain is fine when it fits.
        _ = try await user.move(other[0].nodeID, under: deep[32].nodeID)
        #expect(try await user.createNode(parent: other[29].nodeID, label: "Last level").depth == 63)
    }

    // MARK: Delete

    @Test func deleteNodeRefusesChildrenUnlessCascade() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let nodes = try await Self.buildTree(user)
        let before = try await user.subtree()

        for node in ["level_3", "level_0", "side_3"] {
            let failure = await user.failure(ClassificationRPC.deleteNode, .init(nodeID: nodes[node]!.nodeID))
            #expect(failure?.code == .failedPrecondition, "\(node)")
            #expect(failure?.details["reason"] == "has_children", "\(node)")
        }
        #expect(try await user.subtree() == before, "nothing deleted")

        // A leaf goes without cascade.
        let leaf = try await user.call(ClassificationRPC.deleteNode, .init(nodeID: nodes["level_9"]!.nodeID))
        #expect(leaf.deletedNodes == 1 && leaf.deletedClassifications == 0)

        // Cascade: level_3 ... level_8 and aside_6.
        let cascade = try await user.call(ClassificationRPC.deleteNode, .init(nodeID: nodes["level_3"]!.nodeID, cascade: true))
        #expect(cascade.deletedNodes == 7 && cascade.deletedClassifications == 0)
        #expect(namesAndDepths(try await user.subtree()) == ["level_0@0", "level_1@1", "level_2@2", "side_3@3", "side_child@4"])
        #expect(try await user.search("level", scheme: "tag").map(\.name) == ["level_0", "level_1", "level_2"])
        #expect(try await user.search("aside").isEmpty)
        for node in ["level_3", "level_5", "level_9", "aside_6"] {
            #expect(await user.failure(ClassificationRPC.listSubtree, .init(nodeID: nodes[node]!.nodeID))?.code == .notFound)
            #expect(await user.failure(ClassificationRPC.deleteNode, .init(nodeID: nodes[node]!.nodeID, cascade: true))?.code
                    == .notFound)
            #expect(await user.failure(ClassificationRPC.createNode, .init(parentID: nodes[node]!.nodeID, label: "Orphan"))?.code
                    == .notFound)
        }
        // The name is free again.
        #expect(try await user.createNode(parent: nodes["level_2"]!.nodeID, label: "Level 3").depth == 3)

        // The whole tree from its root, with cascade on a leaf too.
        #expect(try await user.call(ClassificationRPC.deleteNode, .init(nodeID: nodes["side_child"]!.nodeID, cascade: true))
                .deletedNodes == 1)
        #expect(try await user.call(ClassificationRPC.deleteNode, .init(nodeID: nodes["level_0"]!.nodeID, cascade: true))
                .deletedNodes == 5)
        #expect(try await user.subtree().isEmpty)
        #expect(try await user.search("", scheme: "tag").isEmpty)
        #expect(try await user.subtree(scheme: "country").count == 249)
    }

    // MARK: User schemes

    @Test func userSchemesTakeNodesAndGoOnlyWhenEmptyOrCascaded() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let other = try await stack.newUser()

        let projects = try await user.call(ClassificationRPC.createScheme, .init(label: "My Projects", description: "work")).scheme
        #expect(projects.name == "my_projects" && projects.label == "My Projects" && projects.description_p == "work")
        #expect(!projects.system && projects.userNodes && UUID(uuidString: projects.schemeID) != nil)
        #expect(abs(Int64(projects.createdAtMs) - Int64(unixMilliseconds())) < 60_000)
        let books = try await user.call(ClassificationRPC.createScheme, .init(name: "books", label: "Books")).scheme
        #expect(try await user.schemes().map(\.name) == ["books", "country", "my_projects", "tag"])
        #expect(try await user.schemes().first { $0.name == "my_projects" } == projects)
        #expect(try await other.schemes().map(\.name) == ["country", "tag"])

        // Names of system schemes and of the caller's own are taken.
        var before = try await user.snapshot()
        for request in [
            Svx_Classification_V1_CreateSchemeRequest(name: "tag", label: "Mine"),
            Svx_Classification_V1_CreateSchemeRequest(name: "country", label: "Mine"),
            Svx_Classification_V1_CreateSchemeRequest(label: "Tag"),
            Svx_Classification_V1_CreateSchemeRequest(label: "Books"),
            Svx_Classification_V1_CreateSchemeRequest(name: "my_projects", label: "Again"),
        ] {
            let failure = await user.failure(ClassificationRPC.createScheme, request)
            #expect(failure?.code == .alreadyExists, "\(request.name) \(request.label)")
            #expect(failure?.details["field"] == "name")
        }
        #expect(try await user.snapshot() == before)

        // Nodes, by scheme name or id.
        let alpha = try await user.createNode(scheme: "my_projects", label: "Alpha")
        #expect(alpha.schemeID == projects.schemeID && alpha.schemeName == "my_projects" && !alpha.system)
        let beta = try await user.createNode(scheme: projects.schemeID, parent: alpha.nodeID, label: "Beta")
        #expect(beta.depth == 1 && beta.schemeName == "my_projects")
        let tagged = try await user.createNode(label: "Alpha")
        #expect(namesAndDepths(try await user.subtree(scheme: "my_projects")) == ["alpha@0", "beta@1"])
        #expect(namesAndDepths(try await user.subtree(scheme: "tag")) == ["alpha@0"])
        #expect(try await user.search("alpha").map(\.schemeName) == ["my_projects", "tag"])
        #expect(try await user.search("alpha", scheme: "my_projects").map(\.nodeID) == [alpha.nodeID])
        #expect(try await user.search("", scheme: books.schemeID).isEmpty)

        // A parent in another scheme is not one.
        let crossCreate = await user.failure(ClassificationRPC.createNode, .init(scheme: "books", parentID: alpha.nodeID, label: "X"))
        #expect(crossCreate?.code == .notFound && crossCreate?.details["field"] == "parent_id")
        let crossMove = await user.failure(ClassificationRPC.moveNode, .init(nodeID: tagged.nodeID, newParentID: alpha.nodeID))
        #expect(crossMove?.code == .notFound && crossMove?.details["field"] == "new_parent_id")

        // Not while it has nodes, unless cascade.
        before = try await user.snapshot()
        let refused = await user.failure(ClassificationRPC.deleteScheme, .init(scheme: "my_projects"))
        #expect(refused?.code == .failedPrecondition && refused?.details["reason"] == "has_nodes")
        #expect(await user.failure(ClassificationRPC.deleteScheme, .init(scheme: projects.schemeID))?.code == .failedPrecondition)
        #expect(try await user.snapshot() == before)
        let deleted = try await user.call(ClassificationRPC.deleteScheme, .init(scheme: projects.schemeID, cascade: true))
        #expect(deleted.deletedNodes == 2 && deleted.deletedClassifications == 0)
        #expect(try await user.schemes().map(\.name) == ["books", "country", "tag"])
        #expect(try await user.search("", scheme: "tag").map(\.nodeID) == [tagged.nodeID])
        #expect(try await user.search("beta").isEmpty)
        #expect(await user.failure(ClassificationRPC.listSubtree, .init(scheme: "my_projects"))?.code == .notFound)
        #expect(await user.failure(ClassificationRPC.listSubtree, .init(nodeID: alpha.nodeID))?.code == .notFound)
        #expect(await user.failure(ClassificationRPC.createNode, .init(scheme: projects.schemeID, label: "Gamma"))?.code == .notFound)
        #expect(await user.failure(ClassificationRPC.deleteScheme, .init(scheme: "my_projects", cascade: true))?.code == .notFound)

        // An empty one goes without cascade; its name is free again.
        #expect(try await user.call(ClassificationRPC.deleteScheme, .init(scheme: "books")).deletedNodes == 0)
        #expect(try await user.call(ClassificationRPC.createScheme, .init(name: "books", label: "Books again")).scheme.schemeID
                != books.schemeID)

        // System schemes never go.
        before = try await user.snapshot()
        let schemes = try await user.schemes()
        for scheme in ["tag", "country", schemes.first { $0.name == "tag" }!.schemeID, schemes.first { $0.name == "country" }!.schemeID] {
            for cascade in [false, true] {
                let failure = await user.failure(ClassificationRPC.deleteScheme, .init(scheme: scheme, cascade: cascade))
                #expect(failure?.code == .permissionDenied, "\(scheme) cascade \(cascade)")
            }
        }
        #expect(try await user.snapshot() == before)
        #expect(try await user.subtree(scheme: "country").count == 249)
    }

    // MARK: Isolation

    @Test func anotherUsersNodesAndSchemesAreInvisibleAndUntouchable() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let alice = try await stack.newUser()
        let bob = try await stack.newUser()
        let nodes = try await Self.buildTree(alice)
        let scheme = try await alice.call(ClassificationRPC.createScheme, .init(name: "private_stuff", label: "Private")).scheme
        let secret = try await alice.createNode(scheme: "private_stuff", label: "Secret")
        let aliceBefore = try await alice.snapshot()

        #expect(try await bob.subtree(scheme: "tag").isEmpty)
        #expect(try await bob.search("", scheme: "tag").isEmpty)
        #expect(try await bob.search("level").isEmpty)
        #expect(try await bob.search("secret").isEmpty)
        #expect(try await bob.search("", limit: 500).allSatisfy { $0.schemeName == "country" })
        #expect(try await bob.schemes().map(\.name) == ["country", "tag"])

        let bobsNode = try await bob.createNode(label: "Bob's own")
        let entity = Svx_Classification_V1_Entity(.item, Self.randomID())
        let unknown = Self.randomID()
        typealias Probe = (String, (String) async -> RPCStatus?)
        let nodeProbes: [Probe] = [
            ("UpdateNode", { await bob.failure(ClassificationRPC.updateNode, .init(nodeID: $0, label: "Mine now")) }),
            ("UpdateNode ordinal", { await bob.failure(ClassificationRPC.updateNode, .init(nodeID: $0, ordinal: 3)) }),
            ("MoveNode to the roots", { await bob.failure(ClassificationRPC.moveNode, .init(nodeID: $0)) }),
            ("MoveNode of it", { await bob.failure(ClassificationRPC.moveNode, .init(nodeID: $0, newParentID: bobsNode.nodeID)) }),
            ("MoveNode under it", { await bob.failure(ClassificationRPC.moveNode, .init(nodeID: bobsNode.nodeID, newParentID: $0)) }),
            ("DeleteNode", { await bob.failure(ClassificationRPC.deleteNode, .init(nodeID: $0)) }),
            ("DeleteNode cascade", { await bob.failure(ClassificationRPC.deleteNode, .init(nodeID: $0, cascade: true)) }),
            ("CreateNode under it", { await bob.failure(ClassificationRPC.createNode, .init(parentID: $0, label: "Child")) }),
            ("ListSubtree", { await bob.failure(ClassificationRPC.listSubtree, .init(nodeID: $0)) }),
        ]
        // Methods that take a node id or `scheme:name`.
        let referenceProbes: [Probe] = [
            ("Classify", { await bob.failure(ClassificationRPC.classify, .init(node: $0, entity: entity)) }),
            ("Unclassify", { await bob.failure(ClassificationRPC.unclassify, .init(node: $0, entity: entity)) }),
            ("ListEntities", { await bob.failure(ClassificationRPC.listEntities, .init(node: $0)) }),
        ]
        let schemeProbes: [Probe] = [
            ("CreateNode in it", { await bob.failure(ClassificationRPC.createNode, .init(scheme: $0, label: "Intruder")) }),
            ("DeleteScheme", { await bob.failure(ClassificationRPC.deleteScheme, .init(scheme: $0)) }),
            ("DeleteScheme cascade", { await bob.failure(ClassificationRPC.deleteScheme, .init(scheme: $0, cascade: true)) }),
            ("ListSubtree", { await bob.failure(ClassificationRPC.listSubtree, .init(scheme: $0)) }),
            ("SearchNodes", { await bob.failure(ClassificationRPC.searchNodes, .init(scheme: $0)) }),
        ]
        func compare(_ probes: [Probe], _ strangers: [String], unknown: String) async {
            for (what, probe) in probes {
                let unknownStatus = await probe(unknown)
                #expect(unknownStatus?.code == .notFound, "\(what) with an unknown id: \(unknownStatus.map { "\($0)" } ?? "ok")")
                for stranger in strangers {
                    let status = await probe(stranger)
                    #expect(status?.code == .notFound, "\(what) with alice's \(stranger): \(status.map { "\($0)" } ?? "ok")")
                    #expect(anonymized(status, stranger) == anonymized(unknownStatus, unknown), "\(what)")
                }
            }
        }
        let aliceNodes = ["level_0", "level_5", "level_9", "side_child"].map { nodes[$0]!.nodeID } + [secret.nodeID]
        await compare(nodeProbes + referenceProbes, aliceNodes, unknown: unknown)
        await compare(referenceProbes, ["private_stuff:secret"], unknown: "private_stuff:nothing")
        await compare(referenceProbes, ["tag:level_0", "tag:side_child"], unknown: "tag:nothing_here")
        await compare(schemeProbes, [scheme.schemeID, "private_stuff"], unknown: unknown)
        await compare(schemeProbes, ["private_stuff"], unknown: "no_such_scheme")
        #expect(try await alice.snapshot() == aliceBefore, "alice's schemes and trees are unchanged")

        // Both may use the same names.
        let bobRoot = try await bob.createNode(label: "Level 0")
        #expect(bobRoot.name == "level_0" && bobRoot.nodeID != nodes["level_0"]!.nodeID)
        let bobScheme = try await bob.call(ClassificationRPC.createScheme, .init(name: "private_stuff", label: "Bob's")).scheme
        #expect(bobScheme.schemeID != scheme.schemeID)
        #expect(try await bob.createNode(scheme: "private_stuff", label: "Secret").nodeID != secret.nodeID)
        #expect(try await bob.search("level").map(\.nodeID) == [bobRoot.nodeID])
        #expect(namesAndDepths(try await bob.subtree(scheme: "tag")) == ["bob_s_own@0", "level_0@0"])
        #expect(try await alice.snapshot() == aliceBefore)
        #expect(try await alice.search("bob").isEmpty)
        #expect(try await alice.schemes().first { $0.name == "private_stuff" } == scheme)
    }

    // MARK: Malformed input

    @Test func malformedInputIsInvalidArgumentNamingTheFieldAndChangesNothing() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        _ = try await user.call(ClassificationRPC.createScheme, .init(name: "mine", label: "Mine"))
        let root = try await user.createNode(label: "Root")
        let child = try await user.createNode(parent: root.nodeID, label: "Child")
        let before = try await user.snapshot()
        let counts = try Self.rowCounts(stack.database)

        let id = root.nodeID
        let item = Svx_Classification_V1_Entity(.item, Self.randomID())
        let control = "bad\u{7}label", nul = "a\u{0}b", escape = "\u{1b}[31m"
        let longLabel = filler(257), longUTF8 = filler(129, "é"), longText = filler(2049)
        let badNames = ["Bad Name", filler(65), "Ünïcode", "dash-name", "UPPER"]
        let badIDs = ["garbage", "12345678123456781234567812345678", "\(id)x", " \(id)", "{\(id)}"]
        let entities = (0..<501).map { _ in Svx_Classification_V1_Entity(.item, Self.randomID()) }

        typealias Case = (String, [String], () async throws -> Void)
        var cases: [Case] = []
        func add<Request, Response>(
            _ what: String, _ fields: [String], _ method: RPCMethod<Request, Response>, _ request: Request
        ) {
            // ForgetEntities is the Vault's peer call: made with its key, so its own validation is what answers.
            let peer: TestService? = method.name == ClassificationRPC.forgetEntities.name ? .vault : nil
            cases.append((what, fields, { _ = try await user.call(method, request, as: peer) }))
        }
        // CreateScheme
        for label in ["", control, nul, longLabel, longUTF8, " padded", "tab\tlabel"] {
            add("CreateScheme label \(label.prefix(10))", ["label"], ClassificationRPC.createScheme, .init(label: label))
        }
        for name in badNames {
            add("CreateScheme name \(name.prefix(10))", ["name"], ClassificationRPC.createScheme, .init(name: name, label: "Fine"))
        }
        for description in [longText, nul, escape] {
            add("CreateScheme description", ["description"], ClassificationRPC.createScheme, .init(label: "Fine", description: description))
        }
        // DeleteScheme
        for scheme in ["", "Bad Name", "a:b", filler(65), "mine!"] {
            add("DeleteScheme scheme \(scheme.prefix(10))", ["scheme"], ClassificationRPC.deleteScheme, .init(scheme: scheme, cascade: true))
        }
        // CreateNode
        for scheme in ["", "Bad Name", "tag:x", filler(65)] {
            add("CreateNode scheme \(scheme.prefix(10))", ["scheme"], ClassificationRPC.createNode, .init(scheme: scheme, label: "Fine"))
        }
        for parent in badIDs {
            add("CreateNode parent_id \(parent)", ["parent_id"], ClassificationRPC.createNode, .init(parentID: parent, label: "Fine"))
        }
        for label in ["", control, nul, longLabel, longUTF8, " padded", "tab\tlabel"] {
            add("CreateNode label \(label.prefix(10))", ["label"], ClassificationRPC.createNode, .init(parentID: id, label: label))
        }
        for name in badNames {
            add("CreateNode name \(name.prefix(10))", ["name"], ClassificationRPC.createNode, .init(parentID: id, name: name, label: "Fine"))
        }
        for ordinal: Int32 in [-1, 100_001, .min, .max] {
            add("CreateNode ordinal \(ordinal)", ["ordinal"], ClassificationRPC.createNode, .init(label: "Fine", ordinal: ordinal))
        }
        for text in [longText, nul, escape] {
            add("CreateNode description", ["description"], ClassificationRPC.createNode, .init(label: "Fine", description: text))
            add("CreateNode image", ["image"], ClassificationRPC.createNode, .init(label: "Fine", image: text))
        }
        // UpdateNode
        for node in [""] + badIDs {
            add("UpdateNode node_id \(node)", ["node_id"], ClassificationRPC.updateNode, .init(nodeID: node, label: "Fine"))
        }
        for name in badNames + [""] {
            add("UpdateNode name \(name.prefix(10))", ["name"], ClassificationRPC.updateNode, .init(nodeID: id, name: name))
        }
        for label in ["", control, nul, longLabel, longUTF8, "\u{7f}"] {
            add("UpdateNode label \(label.prefix(10))", ["label"], ClassificationRPC.updateNode, .init(nodeID: id, label: label))
        }
        for ordinal: Int32 in [-1, 100_001] {
            add("UpdateNode ordinal \(ordinal)", ["ordinal"], ClassificationRPC.updateNode, .init(nodeID: id, ordinal: ordinal))
        }
        for text in [longText, nul] {
            add("UpdateNode description", ["description"], ClassificationRPC.updateNode, .init(nodeID: id, description: text))
            add("UpdateNode image", ["image"], ClassificationRPC.updateNode, .init(nodeID: id, image: text))
        }
        // MoveNode
        for node in [""] + badIDs {
            add("MoveNode node_id \(node)", ["node_id"], ClassificationRPC.moveNode, .init(nodeID: node, newParentID: id))
        }
        for parent in badIDs {
            add("MoveNode new_parent_id \(parent)", ["new_parent_id"], ClassificationRPC.moveNode,
                .init(nodeID: child.nodeID, newParentID: parent))
        }
        // DeleteNode
        for node in [""] + badIDs {
            add("DeleteNode node_id \(node)", ["node_id"], ClassificationRPC.deleteNode, .init(nodeID: node, cascade: true))
        }
        // SearchNodes
        add("SearchNodes limit 501", ["limit"], ClassificationRPC.searchNodes, .init(limit: 501))
        add("SearchNodes limit max", ["limit"], ClassificationRPC.searchNodes, .init(limit: .max))
        for query in [filler(257), nul, control] {
            add("SearchNodes query \(query.prefix(10))", ["query"], ClassificationRPC.searchNodes, .init(query: query))
        }
        for scheme in ["Bad Name", "a:b"] {
            add("SearchNodes scheme \(scheme)", ["scheme"], ClassificationRPC.searchNodes, .init(scheme: scheme))
        }
        // ListSubtree
        add("ListSubtree max_depth 65", ["max_depth"], ClassificationRPC.listSubtree, .init(scheme: "tag", maxDepth: 65))
        add("ListSubtree max_depth max", ["max_depth"], ClassificationRPC.listSubtree, .init(nodeID: id, maxDepth: .max))
        for node in badIDs {
            add("ListSubtree node_id \(node)", ["node_id"], ClassificationRPC.listSubtree, .init(nodeID: node))
        }
        for scheme in ["", "Bad Name", "tag:x"] {
            add("ListSubtree scheme \(scheme)", ["scheme"], ClassificationRPC.listSubtree, .init(scheme: scheme))
        }
        // Classify, Unclassify, ListEntityNodes, ListEntities: node references and entities.
        let badNodes = ["", "a:b:c", ":x", "x:", "tag:Bad Name", "Tag:root", "garbage", ":"]
        let badEntities: [(Svx_Classification_V1_Entity?, String)] = [
            (nil, "entity"), (.init(.unspecified, Self.randomID()), "entity.type"),
            (.init(Svx_Classification_V1_EntityType(rawValue: 9)!, Self.randomID()), "entity.type"),
            (.init(.item, "not-a-uuid"), "entity.entity_id"), (.init(.slot, ""), "entity.entity_id"),
            (.init(.template, "garbage"), "entity.entity_id"),
        ]
        for node in badNodes {
            add("Classify node \(node)", ["node"], ClassificationRPC.classify, .init(node: node, entity: item))
            add("Unclassify node \(node)", ["node"], ClassificationRPC.unclassify, .init(node: node, entity: item))
            add("ListEntities node \(node)", ["node"], ClassificationRPC.listEntities, .init(node: node))
        }
        for (entity, field) in badEntities {
            add("Classify \(field)", [field], ClassificationRPC.classify, .init(node: id, entity: entity))
            add("Classify by name \(field)", [field], ClassificationRPC.classify, .init(node: "tag:root", entity: entity))
            add("Unclassify \(field)", [field], ClassificationRPC.unclassify, .init(node: id, entity: entity))
            add("ListEntityNodes \(field)", [field], ClassificationRPC.listEntityNodes, .init(entity: entity))
        }
        add("ListEntities type 9", ["type"], ClassificationRPC.listEntities,
            .init(node: id, type: Svx_Classification_V1_EntityType(rawValue: 9)!))
        add("ListEntities page_size 501", ["page_size"], ClassificationRPC.listEntities, .init(node: id, pageSize: 501))
        add("ListEntities page_token", ["page_token"], ClassificationRPC.listEntities, .init(node: id, pageToken: "garbage"))
        // ForgetEntities
        add("ForgetEntities none", ["entities"], ClassificationRPC.forgetEntities, .init(entities: []))
        add("ForgetEntities 501", ["entities"], ClassificationRPC.forgetEntities, .init(entities: entities))
        add("ForgetEntities unspecified", ["entities.type"], ClassificationRPC.forgetEntities,
            .init(entities: [.init(.unspecified, Self.randomID())]))
        add("ForgetEntities bad id", ["entities.entity_id"], ClassificationRPC.forgetEntities,
            .init(entities: Array(entities.prefix(3)) + [.init(.slot, "not-a-uuid")]))
        add("ForgetEntities empty id", ["entities.entity_id"], ClassificationRPC.forgetEntities,
            .init(entities: [.init(.template, "")]))

        for (what, fields, body) in cases {
            await expectInvalidField(anyOf: fields, what: what, body)
        }
        #expect(try await user.snapshot() == before, "nothing changed")
        #expect(try Self.rowCounts(stack.database) == counts, "no row written")
        // 500 entities are fine (the limit itself).
        #expect(try await user.call(ClassificationRPC.forgetEntities, .init(entities: Array(entities.prefix(500))), as: .vault)
                .deletedClassifications == 0)
        #expect(try await user.call(ClassificationRPC.searchNodes, .init(limit: 500)).nodes.count == 251)
        #expect(try await user.subtree(maxDepth: 64).count == 2)
    }

    @Test func everyMethodNeedsASession() async throws {
        let stack = try await TestStack.start([.auth, .vault, .classification])
        defer { stack.stop() }
        let user = try await stack.newUser()
        let root = try await user.createNode(label: "Root")
        let before = try await user.snapshot()
        let counts = try Self.rowCounts(stack.database)

        let entity = Svx_Classification_V1_Entity(.item, Self.randomID())
        let calls: [(String, (String) async -> RPCStatus?)] = [
            ("ListSchemes", { await stack.anonymous(ClassificationRPC.listSchemes, .init(), token: $0) }),
            ("CreateScheme", { await stack.anonymous(ClassificationRPC.createScheme, .init(label: "Anon"), token: $0) }),
            ("DeleteScheme", { await stack.anonymous(ClassificationRPC.deleteScheme, .init(scheme: "tag"), token: $0) }),
            ("CreateNode", { await stack.anonymous(ClassificationRPC.createNode, .init(label: "Anon"), token: $0) }),
            ("UpdateNode", { await stack.anonymous(ClassificationRPC.updateNode, .init(nodeID: root.nodeID, label: "Anon"), token: $0) }),
            ("MoveNode", { await stack.anonymous(ClassificationRPC.moveNode, .init(nodeID: root.nodeID), token: $0) }),
            ("DeleteNode", { await stack.anonymous(ClassificationRPC.deleteNode, .init(nodeID: root.nodeID, cascade: true), token: $0) }),
            ("SearchNodes", { await stack.anonymous(ClassificationRPC.searchNodes, .init(), token: $0) }),
            ("ListSubtree", { await stack.anonymous(ClassificationRPC.listSubtree, .init(scheme: "tag"), token: $0) }),
            ("Classify", { await stack.anonymous(ClassificationRPC.classify, .init(node: root.nodeID, entity: entity), token: $0) }),
            ("Unclassify", { await stack.anonymous(ClassificationRPC.unclassify, .init(node: root.nodeID, entity: entity), token: $0) }),
            ("ListEntityNodes", { await stack.anonymous(ClassificationRPC.listEntityNodes, .init(entity: entity), token: $0) }),
            ("ListEntities", { await stack.anonymous(ClassificationRPC.listEntities, .init(node: root.nodeID), token: $0) }),
            ("ForgetEntities", { await stack.anonymous(ClassificationRPC.forgetEntities, .init(entities: [entity]), token: $0, as: .vault) }),
        ]
        for (method, call) in calls {
            for token in ["", "not-a-session-token", String(repeating: "A", count: 43)] {
                let failure = await call(token)
                #expect(failure?.code == .unauthenticated, "\(method) with token \(token.prefix(8)): \(failure.map { "\($0)" } ?? "ok")")
            }
        }
        #expect(try await user.snapshot() == before)
        #expect(try Self.rowCounts(stack.database) == counts)
    }
}
