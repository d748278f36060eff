import ArgumentParser
import Foundation
import SVXClient

/// `svx schemes list|create|delete`: classification schemes, the system ones (`tag`, `country`) and your own.
struct SchemesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schemes", abstract: "List, create and delete classification schemes (trees of nodes).",
        discussion: """
            Scheme and node names, labels and descriptions are stored in clear (they are how things are found): never \
            put a secret in them. Tables for people; --json for scripts.
            """,
        subcommands: [List.self, Create.self, Delete.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the system schemes and your own.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let schemes = try await clientFlow { try await classification.classification.listSchemes(session: classification.session) }
            if options.json { try printJSON(schemes.map(ClassificationOutput.json)) } else { ClassificationOutput.printSchemes(schemes) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a scheme of your own.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The scheme's name: lower-case letters, digits and _, at most 64.") var name: String
        @Option(help: "The scheme's label (for people).") var label: String
        @Option(name: .customLong("description"), help: "What the scheme is for.") var schemeDescription: String?

        func validate() throws {
            guard NodeReference.isName(name) else {
                throw ValidationError("\"\(name)\" is not a scheme name: lower-case letters, digits and _, at most 64")
            }
        }

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let scheme = try await clientFlow {
                try await classification.classification.createScheme(
                    session: classification.session, name: name, label: label, description: schemeDescription ?? "")
            }
            if options.json {
                try printJSON(ClassificationOutput.json(scheme))
            } else {
                Terminal.printLine("Scheme \(scheme.name) \"\(scheme.label)\" created (id \(scheme.id)).")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a scheme of your own.",
            discussion: "A scheme with nodes is deleted only with --cascade, which takes its nodes and their classifications.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The scheme's name or id.") var scheme: String
        @Flag(help: "Delete its nodes and their classifications too.") var cascade = false

        func run() async throws {
            let classification = try ClassificationSession(options: options)
            let deletion = try await clientFlow {
                try await classification.classification.deleteScheme(session: classification.session, scheme: scheme, cascade: cascade)
            }
            if options.json {
                try printJSON(ClassificationOutput.json(deletion).merging(["scheme": scheme, "deleted": true]) { old, _ in old })
            } else {
                Terminal.printLine("Scheme \(scheme) deleted: \(ClassificationOutput.line(deletion)).")
            }
        }
    }
}
