import ArgumentParser
import Foundation
import SVXClient

/// `svx items ...`: items and their values. Values are encrypted and decrypted here, with your private data key:
/// each command needs the Secret Key and the passphrase (see `svx login --help` for where they come from).
struct ItemsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "items", abstract: "Create, list, read, change and delete your items and their files.",
        discussion: """
            Every value is encrypted on this machine before it is sent; the vault stores only ciphertext. Each command \
            opens your keys: the Secret Key comes from --secret-key-file, $SVX_SECRET_KEY or the copy kept by \
            `signup --remember-secret-key`; the passphrase from $SVX_PASSPHRASE or a prompt.
            """,
        subcommands: [
            Create.self, List.self, Get.self, Update.self, RemoveSlot.self, Delete.self, AttachFile.self, GetAttachment.self,
        ])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an item from a template.",
            discussion: """
                --set name=value fills the template's slot `name` (a label such as "Passport Number" works too); a name \
                the template does not have adds a key_value slot labelled as you typed it.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Option(help: "The template (see `svx templates list`).") var template: String
        @Option(help: "The item's label (default: the template's).") var label: String?
        @Option(name: .customLong("set"), help: ArgumentHelp("A slot value (repeatable).", valueName: "name=value"))
        var assignments: [String] = []

        func run() async throws {
            let assignments = try SlotAssignment.parse(self.assignments)
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let item = try await clientFlow {
                let chosen = try await unlocked.vault.template(session: unlocked.session, name: template)
                let templateSlots = Set(chosen.slots.map(\.name))
                return try await unlocked.vault.createItem(
                    session: unlocked.session, keys: unlocked.keys, templateName: chosen.name, label: label,
                    values: assignments.filter { templateSlots.contains($0.name) }.map { ($0.name, $0.value) },
                    extraSlots: assignments.filter { !templateSlots.contains($0.name) }.map(\.newSlot))
            }
            if options.json {
                try printJSON(VaultOutput.json(item))
            } else {
                // Values are shown only when asked for (`svx items get`): a terminal may be watched or logged.
                Terminal.printLine("Created item \(item.id) (\(item.slots.filter { $0.value != nil }.count) values set).")
                Terminal.printLine("`svx items get \(item.id)` shows the values.")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List your items (oldest first).")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Option(help: "Only items made from this template.") var template: String?
        @Option(help: "Only items whose label contains this (any case).") var labelContains: String?
        @Option(help: "Only items classified under this node or its descendants: its id or scheme:name.") var node: String?

        func validate() throws {
            if let node { _ = try nodeArgument(node) }
        }

        func run() async throws {
            let classificationNode = try node.map(nodeArgument)
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let items = try await clientFlow {
                try await unlocked.vault.allItems(
                    session: unlocked.session, keys: unlocked.keys,
                    filter: ItemFilter(templateName: template, labelContains: labelContains, classificationNode: classificationNode))
            }
            if options.json {
                try printJSON(["items": items.map(VaultOutput.summaryJSON)])
                return
            }
            guard !items.isEmpty else {
                Terminal.printLine("No items.")
                return
            }
            VaultOutput.printTable(
                ["ID", "TEMPLATE", "LABEL", "UPDATED"], items.map { [$0.id, $0.templateName, $0.label, $0.updatedAt.iso8601] })
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an item with its values decrypted.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id.") var id: String

        func run() async throws {
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let item = try await clientFlow { try await unlocked.vault.item(session: unlocked.session, keys: unlocked.keys, id: id) }
            if options.json {
                try printJSON(VaultOutput.json(item))
            } else {
                VaultOutput.printItem(item)
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an item's label or values.",
            discussion: """
                --set name=value replaces the value of slot `name` (keeping its label and type), or adds a key_value \
                slot if the item has none of that name; `--set name=` empties it. If the item changes between reading \
                and writing, nothing is written and the command says so. Right after the update every live share of \
                the item (on-shares included) is encrypted again from the new version, under fresh keys, and the \
                command says how many; if that fails, the update stands and `svx shares sync ITEM` finishes it.
                """)
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id.") var id: String
        @Option(help: "A new label.") var label: String?
        @Option(name: .customLong("set"), help: ArgumentHelp("A slot value (repeatable).", valueName: "name=value"))
        var assignments: [String] = []

        func validate() throws {
            guard label != nil || !assignments.isEmpty else { throw ValidationError("nothing to change: give --label or --set") }
        }

        func run() async throws {
            let assignments = try SlotAssignment.parse(self.assignments)
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let item = try await clientFlow {
                let current = try await unlocked.vault.item(session: unlocked.session, keys: unlocked.keys, id: id)
                let edits = assignments.map { current.slot(named: $0.name) == nil ? $0.newSlot : SlotEdit(name: $0.name, value: $0.value) }
                return try await staleVersionReported(current) {
                    try await unlocked.vault.updateItem(
                        session: unlocked.session, keys: unlocked.keys, item: current, label: label, set: edits)
                }
            }
            let resharing = await ShareResync.run(options: options, unlocked: unlocked, item: item)
            if options.json {
                try printJSON(VaultOutput.json(item).merging(["shares": resharing.json]) { _, new in new })
            } else {
                Terminal.printLine("Updated item \(item.id) (version \(item.version)). `svx items get \(item.id)` shows the values.")
                resharing.print(itemID: item.id)
            }
        }
    }

    struct RemoveSlot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-slot", abstract: "Remove a slot (and its value or file) from an item.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id.") var id: String
        @Argument(help: "The slot's name.") var name: String

        func run() async throws {
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            let item = try await clientFlow {
                let current = try await unlocked.vault.item(session: unlocked.session, keys: unlocked.keys, id: id)
                guard current.slot(named: name) != nil else { throw CLIError("item \(id) has no slot \(name)") }
                return try await staleVersionReported(current) {
                    try await unlocked.vault.updateItem(session: unlocked.session, keys: unlocked.keys, item: current, remove: [name])
                }
            }
            let resharing = await ShareResync.run(options: options, unlocked: unlocked, item: item)
            if options.json {
                try printJSON(VaultOutput.json(item).merging(["shares": resharing.json]) { _, new in new })
            } else {
                Terminal.printLine("Removed slot \(name) from item \(item.id) (version \(item.version)).")
                resharing.print(itemID: item.id)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an item, its values and its files.")
        @OptionGroup var options: ClientOptions
        @OptionGroup var unlock: UnlockOptions
        @Argument(help: "The item's id.") var id: String

        func run() async throws {
            let unlocked = try await UnlockedVault.open(options: options, unlock: unlock)
            try await clientFlow { try await unlocked.vault.deleteItem(session: unlocked.session, id: id) }
            if options.json {
                try printJSON(["item_id": id, "deleted": true])
            } else {
                Terminal.printLine("Deleted item \(id).")
            }
        }
    }
}

/// An update that lost the race with another one (ABORTED: the item is no longer at the version read) is said
/// as such: nothing was written, and running the command again applies it to the new version.
func staleVersionReported<T>(_ read: DecryptedItem, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch where ServiceError(error)?.code == .aborted {
        throw CLIError(
            "item \(read.id) was changed elsewhere after it was read at version \(read.version): nothing was written. Run the command again to apply it to the current version.")
    }
}
