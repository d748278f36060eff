import Foundation
import SVXClient
import Testing

/// The client-side rules of classification that need no service: node arguments, picking a node by name, finding
/// a slot without its value, and drawing a tree.
@Suite struct NodeReferenceTests {
    @Test func anIDIsAnIDInLowerCase() throws {
        #expect(try NodeReference(parsing: "3F2A0C7E-1B2C-4D5E-8F90-A1B2C3D4E5F6") == .id("3f2a0c7e-1b2c-4d5e-8f90-a1b2c3d4e5f6"))
        #expect(try NodeReference(parsing: " 3f2a0c7e-1b2c-4d5e-8f90-a1b2c3d4e5f6 ").wireValue() == "3f2a0c7e-1b2c-4d5e-8f90-a1b2c3d4e5f6")
    }

    @Test func schemeColonName() throws {
        #expect(try NodeReference(parsing: "country:nz") == .name(scheme: "country", name: "nz"))
        #expect(try NodeReference(parsing: "tag:work_2024").wireValue() == "tag:work_2024")
        let schemeID = "0f0e0d0c-0b0a-4908-8706-050403020100"
        #expect(try NodeReference(parsing: "\(schemeID):home") == .name(scheme: schemeID, name: "home"))
    }

    @Test func aBareNameHasNoSchemeToSend() throws {
        #expect(try NodeReference(parsing: "work") == .name(scheme: nil, name: "work"))
        #expect(throws: SVXClientError.self) { try NodeReference(parsing: "work").wireValue() }
    }

    @Test(arguments: ["", "  ", "Work", "tag:", ":work", "tag:Work", "tag:a:b", "tag:a b", "a-b", String(repeating: "a", count: 65)])
    func malformedArgumentsAreRefused(_ text: String) {
        #expect(throws: SVXClientError.self) { try NodeReference(parsing: text) }
    }

    @Test func namesFollowTheServiceRule() {
        #expect(NodeReference.isName("a"))
        #expect(NodeReference.isName("tag_2024"))
        #expect(NodeReference.isName(String(repeating: "z", count: 64)))
        #expect(!NodeReference.isName(""))
        #expect(!NodeReference.isName("é"))
        #expect(!NodeReference.isName("A"))
    }
}

@Suite struct NodeNameMatchTests {
    let schemeID = "11111111-1111-4111-8111-111111111111"

    func node(_ id: String, _ name: String, parent: String? = nil, scheme: String = "tag", label: String? = nil) -> ClassificationNode {
        ClassificationNode(
            id: id, schemeID: scheme == "tag" ? schemeID : "22222222-2222-4222-8222-222222222222", schemeName: scheme,
            parentID: parent, name: name, label: label ?? name.capitalized)
    }

    @Test func theExactNameAmongSearchHits() throws {
        let hits = [node("a", "work"), node("b", "workshop"), node("c", "home", label: "Work from home")]
        #expect(try NodeNameMatch.single(named: "work", inScheme: "tag", among: hits).id == "a")
        #expect(try NodeNameMatch.single(named: "work", inScheme: schemeID, among: hits).id == "a")
    }

    @Test func anotherSchemesNodeDoesNotCount() throws {
        let hits = [node("a", "nz", scheme: "country"), node("b", "nz")]
        #expect(try NodeNameMatch.single(named: "nz", inScheme: "tag", among: hits).id == "b")
    }

    @Test func noneIsNotFound() {
        #expect(throws: SVXClientError(.notFound, "no node tag:work")) {
            try NodeNameMatch.single(named: "work", inScheme: "tag", among: [node("b", "workshop")])
        }
    }

    @Test func severalAreAmbiguousAndListTheirIDs() {
        let hits = [node("p1", "projects"), node("p2", "projects", parent: "w"), node("w", "work")]
        do {
            _ = try NodeNameMatch.single(named: "projects", inScheme: "tag", among: hits)
            Issue.record("an ambiguous name was taken")
        } catch let error as SVXClientError {
            #expect(error.code == .ambiguous)
            #expect(error.message.contains("give the node's id"))
            #expect(error.message.contains("p1 (tag:projects, a root)"))
            #expect(error.message.contains("p2 (tag:projects, under work)"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}

@Suite struct SlotOutlineTests {
    let slots = [
        SlotOutline(id: "AAAA0000-0000-4000-8000-000000000001", name: "passport_number", label: "Passport Number", type: "key_value"),
        SlotOutline(id: "aaaa0000-0000-4000-8000-000000000002", name: "expiry", label: "Expires", type: "date"),
    ]

    @Test func byNameIDOrLabel() throws {
        #expect(try SlotOutline.find("expiry", in: slots, itemID: "i").id.hasSuffix("02"))
        #expect(try SlotOutline.find("aaaa0000-0000-4000-8000-000000000001", in: slots, itemID: "i").name == "passport_number")
        #expect(try SlotOutline.find("Passport Number", in: slots, itemID: "i").name == "passport_number")
    }

    @Test func anUnknownSlotIsNotFound() {
        #expect(throws: SVXClientError(.notFound, "item i has no slot colour")) { try SlotOutline.find("colour", in: slots, itemID: "i") }
    }
}

@Suite struct NodeTreeTests {
    func node(_ name: String, _ depth: Int) -> ClassificationNode {
        ClassificationNode(id: "id-\(name)", schemeID: "s", schemeName: "tag", parentID: nil, name: name, label: name, depth: depth)
    }

    @Test func drawsAForestDepthFirst() {
        let nodes = [
            node("work", 0), node("projects", 1), node("svx", 2), node("docs", 3), node("old", 2), node("admin", 1),
            node("home", 0), node("garden", 1),
        ]
        #expect(NodeTree.lines(nodes, describe: \.name) == [
            "work",
            "├── projects",
            "│   ├── svx",
            "│   │   └── docs",
            "│   └── old",
            "└── admin",
            "home",
            "└── garden",
        ])
    }

    @Test func aSubtreeStartsFlushLeftWhateverItsDepth() {
        let nodes = [node("projects", 1), node("svx", 2), node("old", 2)]
        #expect(NodeTree.lines(nodes, describe: \.name) == ["projects", "├── svx", "└── old"])
    }

    @Test func aColumnEndsWithItsLastSibling() {
        let nodes = [node("a", 0), node("b", 1), node("c", 2), node("d", 3), node("e", 1)]
        #expect(NodeTree.lines(nodes, describe: \.name) == ["a", "├── b", "│   └── c", "│       └── d", "└── e"])
    }

    @Test func theDefaultLineShowsNameLabelAndID() {
        let labelled = ClassificationNode(id: "n1", schemeID: "s", schemeName: "tag", parentID: nil, name: "work", label: "Work")
        #expect(NodeTree.lines([labelled]) == ["work  Work  n1"])
        #expect(NodeTree.lines([node("x", 0)]) == ["x  id-x"])
        #expect(NodeTree.lines([]).isEmpty)
    }

    @Test func aListingWithGapsStillDraws() {
        #expect(NodeTree.lines([node("a", 0), node("deep", 3), node("b", 0)], describe: \.name).count == 3)
    }
}

@Suite struct ClassificationEndpointTests {
    @Test func defaultAndEnvironment() {
        #expect(ServiceEndpoints.fromEnvironment([:]).classification == "tcp://127.0.0.1:7105")
        #expect(ServiceEndpoints.fromEnvironment(["SVX_CLASSIFICATION_ENDPOINT": "tcp://10.0.0.5:9000"]).classification == "tcp://10.0.0.5:9000")
        #expect(ServiceEndpoints.fromEnvironment(["SVX_CLASSIFICATION_ENDPOINT": ""]).classification == "tcp://127.0.0.1:7105")
    }

    @Test func anItemFilterCarriesTheNode() {
        #expect(ItemFilter(classificationNode: "tag:work").classificationNode == "tag:work")
        #expect(ItemFilter(templateName: "passport").classificationNode == nil)
    }
}
