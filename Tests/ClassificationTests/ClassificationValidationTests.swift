import Foundation
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

@testable import Classification

/// What the Classification service accepts before any database work: names, node references, entities, text.
@Suite struct ClassificationValidationTests {
    @Test func namesAreDerivedFromLabelsLikeSlotNames() throws {
        #expect(try ClassificationValidation.name("", derivedFrom: "New Zealand") == "new_zealand")
        #expect(try ClassificationValidation.name("travel_2026", derivedFrom: "ignored") == "travel_2026")
        #expect(invalidArgumentField { try ClassificationValidation.name("Travel", derivedFrom: "x") } == "name")
        #expect(invalidArgumentField { try ClassificationValidation.name(String(repeating: "a", count: 65), derivedFrom: "x") } == "name")
        #expect(invalidArgumentField { try ClassificationValidation.name("", derivedFrom: "") } == "name")
    }

    @Test func nodeReferencesAreIDsOrSchemeColonName() throws {
        let id = UUID()
        #expect(try ClassificationValidation.node(id.uuidString) == .id(id))
        #expect(try ClassificationValidation.node("tag:work") == .named(scheme: .name("tag"), name: "work"))
        #expect(try ClassificationValidation.node("\(id.uuidString):work") == .named(scheme: .id(id), name: "work"))
        for bad in ["", "work", ":work", "tag:", "a:b:c", "Tag:work", "tag:wo rk", String(repeating: "x", count: 36)] {
            #expect(invalidArgumentField { try ClassificationValidation.node(bad) } == "node", "\(bad) was accepted")
        }
    }

    @Test func schemesAreNamedOrByID() throws {
        let id = UUID()
        #expect(try ClassificationValidation.scheme(id.uuidString.lowercased()) == .id(id))
        #expect(try ClassificationValidation.scheme("country") == .name("country"))
        #expect(invalidArgumentField { try ClassificationValidation.scheme("") } == "scheme")
        #expect(invalidArgumentField { try ClassificationValidation.scheme("Country") } == "scheme")
    }

    @Test func entitiesNeedATypeAndAUUID() throws {
        var entity = Svx_Classification_V1_Entity()
        entity.entityID = UUID().uuidString
        entity.type = .slot
        #expect(try ClassificationValidation.entity(entity).type == .slot)
        entity.type = .unspecified
        #expect(invalidArgumentField { try ClassificationValidation.entity(entity) } == "entity.type")
        entity.type = .item
        entity.entityID = "item-1"
        #expect(invalidArgumentField { try ClassificationValidation.entity(entity, field: "entities[3]") } == "entities[3].entity_id")
        #expect(try ClassificationValidation.entityTypeFilter(.unspecified) == 0)
        #expect(try ClassificationValidation.entityTypeFilter(.template) == 3)
        #expect(invalidArgumentField { try ClassificationValidation.entityTypeFilter(.UNRECOGNIZED(9)) } == "type")
    }

    @Test func textAllowsLineBreaksButNoOtherControlCharacters() throws {
        #expect(try ClassificationValidation.text("two\nlines\tand a tab", field: "description") == "two\nlines\tand a tab")
        #expect(invalidArgumentField { try ClassificationValidation.text("nul\u{0}", field: "description") } == "description")
        #expect(invalidArgumentField { try ClassificationValidation.text("bell\u{7}", field: "image") } == "image")
        #expect(invalidArgumentField { try ClassificationValidation.text(String(repeating: "é", count: 1025), field: "description") } == "description")
        #expect(invalidArgumentField { try ClassificationValidation.label(" padded") } == "label")
        #expect(invalidArgumentField { try ClassificationValidation.label(String(repeating: "a", count: 257)) } == "label")
    }

    @Test func ordinalsAreBounded() throws {
        #expect(try ClassificationValidation.ordinal(100_000) == 100_000)
        #expect(invalidArgumentField { try ClassificationValidation.ordinal(-1) } == "ordinal")
        #expect(invalidArgumentField { try ClassificationValidation.ordinal(100_001) } == "ordinal")
    }
}
