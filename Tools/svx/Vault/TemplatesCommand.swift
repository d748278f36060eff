import ArgumentParser
import Foundation
import SVXClient

/// `svx templates list|info`: the Item Templates items are made from. Templates hold no values, so these commands
/// need only the session (no Secret Key, no passphrase).
struct TemplatesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "templates", abstract: "List the item templates, or show one's slots.",
        subcommands: [List.self, Info.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the system templates and your own.")
        @OptionGroup var options: ClientOptions
        @Option(help: "Only templates whose name or label contains this (any case).") var nameContains: String?

        func run() async throws {
            let vault = try VaultSession(options: options)
            let templates = try await clientFlow {
                try await vault.vault.templates(session: vault.session, nameContains: nameContains)
            }
            if options.json {
                try printJSON(["templates": templates.map(VaultOutput.json)])
                return
            }
            guard !templates.isEmpty else {
                Terminal.printLine("No templates.")
                return
            }
            VaultOutput.printTable(
                ["NAME", "LABEL", "SLOTS", "KIND"],
                templates.map { [$0.name, $0.label, String($0.slots.count), $0.isSystem ? "system" : "yours"] })
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a template's slots (name, label, type).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The template's name (see `svx templates list`).") var name: String

        func run() async throws {
            let vault = try VaultSession(options: options)
            let template = try await clientFlow { try await vault.vault.template(session: vault.session, name: name) }
            if options.json {
                try printJSON(VaultOutput.json(template))
                return
            }
            Terminal.printLine("\(template.name): \(template.label)\(template.isSystem ? " (system)" : "")")
            if !template.description.isEmpty { Terminal.printLine(template.description) }
            VaultOutput.printTable(["NAME", "LABEL", "TYPE"], template.slots.map { [$0.name, $0.label, $0.type.rawValue] })
        }
    }
}
