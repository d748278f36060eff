import ArgumentParser
import Foundation
import SVXClient

/// What `svx classify` and `svx unclassify` name: an item (or one of its slots, or a template) and a node.
struct ClassificationTarget: ParsableArguments {
    @Argument(help: "The item's id (with --template: the template's id or name).") var item: String
    @Argument(help: "The node: its id or scheme:name.") var node: String
    @Option(help: "A slot of the item instead of the item: its name or id.") var slot: String?
    @Flag(help: "ITEM is a template (its id or name), not an item.") var template = false

    func validate() throws {
        if slot != nil && template { throw ValidationError("--slot and --template cannot go together") }
        _ = try nodeArgument(node)
    }

    /// The node as the service takes it (an id or scheme:name) and the entity, found with the Vault when a slot
    /// or a template is named (no value is read or decrypted).
    func resolve(_ classification: ClassificationSession) async throws -> (node: String, entity: ClassificationEntity) {
        let node = try nodeArgument(self.node)
        if template {
            return (node, try await classification.vault().templateEntity(session: classification.session, nameOrID: item))
        }
        guard slot != nil else { return (node, .item(item)) }
        return (node, try await classification.vault().classificationEntity(session: classification.session, itemID: item, slot: slot))
    }
}

/// `svx classify ITEM NODE`: links a node to an item, one of its slots, or a template.
struct ClassifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify", abstract: "Classify an item (or a slot of it, or a template) under a node.",
        discussion: """
            NODE is a node id, or scheme:name when exactly one node you can see has that name (e.g. country:nz, \
            tag:work). Classifying twice is harmless. Needs no Secret Key: nothing is decrypted.
            """)
    @OptionGroup var options: ClientOptions
    @OptionGroup var target: ClassificationTarget

    func run() async throws {
        let classification = try ClassificationSession(options: options)
        let (entity, node) = try await clientFlow {
            let (node, entity) = try await target.resolve(classification)
            return (entity, try await classification.classification.classify(session: classification.session, node: node, entity: entity))
        }
        if options.json {
            try printJSON(["entity": ClassificationOutput.json(entity), "node": ClassificationOutput.json(node)])
        } else {
            Terminal.printLine("Classified \(ClassificationOutput.line(entity)) under \(ClassificationOutput.line(node)).")
        }
    }
}

/// `svx unclassify ITEM NODE`: removes such a link.
struct UnclassifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unclassify", abstract: "Remove an item's (or slot's, or template's) classification under a node.",
        discussion: "NODE is a node id, or scheme:name (every node of that name you can see). An error if there is no such link.")
    @OptionGroup var options: ClientOptions
    @OptionGroup var target: ClassificationTarget

    func run() async throws {
        let classification = try ClassificationSession(options: options)
        let (node, entity) = try await clientFlow {
            let (node, entity) = try await target.resolve(classification)
            try await classification.classification.unclassify(session: classification.session, node: node, entity: entity)
            return (node, entity)
        }
        if options.json {
            try printJSON(["entity": ClassificationOutput.json(entity), "node": node, "unclassified": true])
        } else {
            Terminal.printLine("Unclassified \(ClassificationOutput.line(entity)) from \(node).")
        }
    }
}
