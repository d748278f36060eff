import Cryppo
import Foundation
import SVXProto

/// Realistic items for the vault benchmarks: one of the 10 system templates (in the proportions a personal vault
/// might have them), plausible values for its slots, each value encrypted client-side with the user's DEK
/// (`Cryppo.encrypt`, as the SDK does). Values are made up from small word lists; none is real.
enum VaultItemFactory {
    /// Template names with weights (logins and notes dominate a real vault).
    static let templates: [(name: String, weight: Int)] = [
        ("login", 30), ("secure_note", 15), ("contact", 15), ("payment_card", 6), ("bank_account", 6),
        ("address", 8), ("vehicle", 4), ("health_insurance", 4), ("passport", 6), ("drivers_licence", 6),
    ]
    static let totalWeight = templates.map(\.weight).reduce(0, +)

    /// A CreateItemRequest for a random template.
    static func request(dek: SymmetricKey, using rng: inout some RandomNumberGenerator) throws -> Svx_Vault_V1_CreateItemRequest {
        var pick = Int.random(in: 0..<totalWeight, using: &rng)
        var template = templates[0].name
        for entry in templates {
            if pick < entry.weight { template = entry.name; break }
            pick -= entry.weight
        }
        let (label, values) = item(template, using: &rng)
        var request = Svx_Vault_V1_CreateItemRequest()
        request.templateName = template
        request.label = label
        request.slots = try values.map { name, value in
            var slot = Svx_Vault_V1_SlotInput()
            slot.name = name
            slot.encryptedValue = try Cryppo.encrypt(Array(value.utf8), key: dek)
            return slot
        }
        return request
    }

    // MARK: Word lists

    static let firstNames = ["Olivia", "Liam", "Amelia", "Noah", "Isla", "Jack", "Mia", "Oliver", "Ava", "Leo", "Chloe",
        "Lucas", "Grace", "Henry", "Zoe", "Arjun", "Mei", "Sofia", "Mateo", "Aroha", "Kai", "Priya", "Tom", "Hannah"]
    static let lastNames = ["Smith", "Nguyen", "Williams", "Brown", "Taylor", "Wilson", "Patel", "Martin", "Kaur", "Chen",
        "Walker", "Harris", "Müller", "García", "Rossi", "Tanaka", "O'Brien", "Novak", "Silva", "Kowalski", "Jones"]
    static let cities = ["Melbourne", "Auckland", "London", "Dublin", "Toronto", "Berlin", "Lisbon", "Osaka", "Sydney",
        "Wellington", "Manchester", "Vancouver", "Rotterdam", "Brisbane", "Edinburgh", "Christchurch"]
    static let countries = ["Australia", "New Zealand", "United Kingdom", "Ireland", "Canada", "Germany", "Portugal",
        "Japan", "Netherlands"]
    static let streets = ["High Street", "Station Road", "Church Lane", "Queen Street", "Victoria Avenue", "Park Road",
        "Elm Grove", "Harbour View", "Mill Lane", "King Street"]
    static let banks = ["Westpac", "ANZ", "Barclays", "Bank of Ireland", "RBC", "Deutsche Bank", "ING", "Kiwibank",
        "Commonwealth Bank", "Monzo"]
    static let sites = ["github.com", "mail.example.com", "bank.example.com.au", "shop.example.co.uk", "news.example.org",
        "travel.example.com", "energy.example.co.nz", "streaming.example.tv", "forum.example.net", "gov.example.gov"]
    static let makes = [("Toyota", ["Corolla", "RAV4", "Yaris", "Hilux"]), ("Mazda", ["3", "CX-5", "MX-5"]),
        ("Volkswagen", ["Golf", "Polo", "ID.4"]), ("Ford", ["Focus", "Ranger", "Fiesta"]), ("Tesla", ["Model 3", "Model Y"]),
        ("Honda", ["Civic", "Jazz", "CR-V"])]
    static let insurers = ["Bupa", "Medibank", "Southern Cross", "Aviva", "Vhi Healthcare", "nib", "AXA"]
    static let words = ("the a of to and in for on with at by from up about into over after wifi alarm code door garage "
        + "locker safe combination spare key under pot neighbour vet appointment insurance renewal reminder account "
        + "recovery phrase backup printer router admin guest network meeting notes gift ideas birthday recipe pasta "
        + "sauce tomatoes garlic basil oven minutes serve with bread plan travel flight booking reference seat hotel "
        + "checkin passport visa embassy form signed copy scanned folder tax return accountant deadline receipts").split(separator: " ")

    // MARK: Values

    static func item(_ template: String, using rng: inout some RandomNumberGenerator) -> (String, [(String, String)]) {
        func pick<T>(_ list: [T]) -> T { list[Int.random(in: 0..<list.count, using: &rng)] }
        func digits(_ count: Int) -> String { String((0..<count).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) }) }
        func letters(_ count: Int) -> String { String((0..<count).map { _ in pick(Array("ABCDEFGHJKLMNPRSTUVWXYZ")) }) }
        func date(_ years: ClosedRange<Int>) -> String {
            String(format: "%04d-%02d-%02d", Int.random(in: years, using: &rng), Int.random(in: 1...12, using: &rng),
                   Int.random(in: 1...28, using: &rng))
        }
        func sentence(_ count: ClosedRange<Int>) -> String {
            let text = (0..<Int.random(in: count, using: &rng)).map { _ in String(pick(words)) }.joined(separator: " ")
            return text.prefix(1).uppercased() + text.dropFirst() + "."
        }
        func paragraph(_ sentences: ClosedRange<Int>) -> String {
            (0..<Int.random(in: sentences, using: &rng)).map { _ in sentence(5...18) }.joined(separator: " ")
        }
        func maybe(_ percent: Int, _ value: () -> String) -> String? {
            Int.random(in: 0..<100, using: &rng) < percent ? value() : nil
        }
        let first = pick(firstNames), last = pick(lastNames)
        let name = "\(first) \(last)"
        let city = pick(cities), country = pick(countries)
        let street = "\(Int.random(in: 1...240, using: &rng)) \(pick(streets))"
        let address = "\(street)\n\(city) \(digits(4))\n\(country)"
        let email = "\(first.lowercased()).\(last.lowercased().filter(\.isLetter))\(Int.random(in: 1...99, using: &rng))@example.com"
        let phone = "+\(Int.random(in: 1...64, using: &rng)) \(digits(3)) \(digits(3)) \(digits(4))"
        var slots: [(String, String?)]
        let label: String
        switch template {
        case "passport":
            label = "Passport – \(first)"
            slots = [("full_name", name), ("passport_number", letters(2) + digits(7)), ("nationality", country),
                ("date_of_birth", date(1950...2010)), ("place_of_birth", city), ("issue_date", date(2016...2025)),
                ("expiry_date", date(2026...2035)), ("issuing_authority", "Passport Office, \(country)")]
        case "drivers_licence":
            label = "Driver's licence – \(first)"
            slots = [("full_name", name), ("licence_number", digits(9)), ("date_of_birth", date(1950...2007)),
                ("address", address), ("licence_class", pick(["C", "B", "Full", "Class 1", "CR"])),
                ("issue_date", date(2015...2025)), ("expiry_date", date(2026...2036)),
                ("issuing_authority", "Transport agency, \(country)")]
        case "bank_account":
            let bank = pick(banks)
            label = "\(bank) \(pick(["everyday", "savings", "joint", "business"]))"
            slots = [("account_name", name), ("bank_name", bank), ("account_number", digits(8)),
                ("branch_code", "\(digits(3))-\(digits(3))"), ("iban", "GB\(digits(2)) \(letters(4)) \(digits(4)) \(digits(4)) \(digits(4)) \(digits(2))"),
                ("swift_bic", letters(6) + "2L"), ("notes", maybe(30) { sentence(4...12) })]
        case "payment_card":
            let card = pick(["visa", "mastercard", "amex"])
            label = "\(pick(banks)) \(card.capitalized) •••• \(digits(4))"
            slots = [("cardholder_name", name.uppercased()), ("card_number", "\(digits(4)) \(digits(4)) \(digits(4)) \(digits(4))"),
                ("card_type", card), ("expiry_date", String(format: "%02d/%02d", Int.random(in: 1...12, using: &rng), Int.random(in: 26...31, using: &rng))),
                ("security_code", digits(3)), ("pin", maybe(50) { digits(4) }), ("issuer", pick(banks))]
        case "address":
            label = pick(["Home", "Work", "Parents", "Holiday house", "Old flat"]) + " – \(city)"
            slots = [("street", street), ("city", city), ("region", pick(["VIC", "NSW", "Auckland", "Ontario", "Bayern", "Leinster"])),
                ("postcode", digits(4)), ("country", country), ("notes", maybe(25) { sentence(4...14) })]
        case "contact":
            label = name
            slots = [("full_name", name), ("phone", phone), ("email", email), ("address", maybe(60) { address }),
                ("birthday", maybe(50) { date(1940...2015) }), ("website", maybe(15) { "https://\(pick(sites))/\(first.lowercased())" }),
                ("notes", maybe(40) { sentence(4...20) })]
        case "vehicle":
            let (make, models) = pick(makes)
            let model = pick(models)
            label = "\(make) \(model)"
            slots = [("make", make), ("model", model), ("year", String(Int.random(in: 2005...2025, using: &rng))),
                ("registration_number", letters(3) + digits(3)), ("vin", letters(3) + digits(6) + letters(2) + digits(6)),
                ("colour", pick(["#1f3a93", "#c0392b", "#ecf0f1", "#2c3e50", "#7f8c8d"])),
                ("registration_expiry", date(2026...2027)), ("insurance_policy", "POL-\(digits(8))")]
        case "health_insurance":
            let insurer = pick(insurers)
            label = "\(insurer) health cover"
            slots = [("provider", insurer), ("policy_number", letters(2) + digits(8)), ("member_number", digits(10)),
                ("plan", pick(["Basic hospital", "Gold hospital + extras", "Family silver", "Young adult"])),
                ("phone", phone), ("website", "https://\(insurer.lowercased().filter(\.isLetter)).example.com"),
                ("expiry_date", date(2026...2028))]
        case "login":
            let site = pick(sites)
            label = site
            let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!@#$%^&*-_")
            slots = [("website", "https://\(site)/login"), ("username", "\(first.lowercased())\(digits(2))"), ("email", email),
                ("password", String((0..<Int.random(in: 14...24, using: &rng)).map { _ in pick(alphabet) })),
                ("notes", maybe(20) { sentence(4...14) })]
        default:  // secure_note
            label = sentence(2...5).dropLast().description
            slots = [("note", paragraph(1...12))]
        }
        return (label, slots.compactMap { name, value in value.map { (name, $0) } })
    }
}

/// A small fast PRNG (SplitMix64) for generating values; never for keys or IVs.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
