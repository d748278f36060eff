import Cryppo
import Foundation
import SVXModels
import SVXProto
import SVXRPC
import SVXTestHarness
import Testing

@testable import Vault

/// What the Vault accepts as a slot, pure (before any database work), and the domain rules of SVXModels.
@Suite struct VaultValidationTests {
    let key = try! SymmetricKey.random()

    func input(name: String = "", label: String = "", type: String = "", value: String = "") -> Svx_Vault_V1_SlotInput {
        var slot = Svx_Vault_V1_SlotInput()
        slot.name = name
        slot.label = label
        slot.slotType = type
        slot.encryptedValue = value
        return slot
    }

    @Test func slotNamesComeFromLabelsAsMeecoMakesThem() {
        #expect(SlotName.derive(fromLabel: "Passport Number") == "passport_number")
        #expect(SlotName.derive(fromLabel: "E-mail (work)") == "e_mail__work_")
        #expect(SlotName.derive(fromLabel: "Café") == "caf_")
        #expect(SlotName.derive(fromLabel: String(repeating: "a", count: 100)).count == 64)
        #expect(SlotName.isValid("passport_number") && !SlotName.isValid("Passport") && !SlotName.isValid(""))
    }

    @Test func slotTypesAreTheFixedList() {
        #expect(SlotType.allCases.count == 15)
        #expect(SlotType(wire: "") == .keyValue)
        #expect(SlotType(wire: "phone_number") == .phoneNumber)
        #expect(SlotType(wire: "classification_node") == .classificationNode)
        #expect(SlotType(wire: "Phone_Number") == nil && SlotType(wire: "ssn") == nil)
    }

    @Test func aSlotTakesItsNameFromItsLabelAndItsTypeFromItsTemplate() throws {
        let value = try Cryppo.encrypt(Array("X123".utf8), key: key)
        let slot = try VaultValidation.slot(input(label: "Passport Number", value: value), field: "slots[0]")
        #expect(slot.name == "passport_number" && slot.slotType == "key_value" && slot.encryptedValue == value)
        let template = TemplateSlotRow(name: "expiry_date", label: "Expiry date", slotType: "date", ordinal: 7)
        let filled = try VaultValidation.slot(input(name: "expiry_date"), field: "slots[0]", template: template)
        #expect(filled.label == "Expiry date" && filled.slotType == "date" && filled.encryptedValue == nil)
    }

    @Test func plaintextAndUnknownTypesAreRefusedNamingTheField() throws {
        for plaintext in ["X1234567", "WDEyMzQ1Njc=", #"{"value":"secret"}"#, "Aes256Gcm.notbase64!.x"] {
            #expect(invalidArgumentField { try VaultValidation.slot(input(name: "n", value: plaintext), field: "slots[2]") } == "slots[2].encrypted_value")
        }
        let message = #expect(throws: RPCStatus.self) { try VaultValidation.slot(input(name: "n", value: "X1234567"), field: "s") }?.message
        #expect(message?.contains("plaintext is refused") == true)
        #expect(invalidArgumentField { try VaultValidation.slot(input(name: "n", type: "ssn"), field: "slots[1]") } == "slots[1].slot_type")
        #expect(invalidArgumentField { try VaultValidation.slot(input(), field: "slots[0]") } == "slots[0].label")
        #expect(invalidArgumentField { try VaultValidation.slot(input(name: "Bad Name"), field: "slots[0]") } == "slots[0].name")
        #expect(invalidArgumentField { try VaultValidation.slot(input(name: "n", label: String(repeating: "l", count: 257)), field: "s") } == "s.label")
        var hashed = input(name: "n")
        hashed.valueVerificationHash = String(repeating: "A", count: 64)
        #expect(invalidArgumentField { try VaultValidation.slot(hashed, field: "s") } == "s.value_verification_hash")
        var attached = input(name: "n", type: "key_value")
        attached.attachmentID = UUID().uuidString
        #expect(invalidArgumentField { try VaultValidation.slot(attached, field: "s") } == "s.attachment_id")
        let big = try Cryppo.encrypt([UInt8](repeating: 7, count: 70_000), key: key)
        #expect(invalidArgumentField { try VaultValidation.slot(input(name: "n", value: big), field: "s") } == "s.encrypted_value")
    }

    @Test func slotNamesAreUniqueAndBounded() throws {
        let slot = try VaultValidation.slot(input(name: "a"), field: "s")
        #expect(invalidArgumentField { try VaultValidation.uniqueNames([slot, slot], field: "slots") } == "slots")
        let many = try (0...200).map { try VaultValidation.slot(input(name: "s\($0)"), field: "s") }
        #expect(invalidArgumentField { try VaultValidation.uniqueNames(many, field: "slots") } == "slots")
    }
}
