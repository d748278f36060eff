import ArgumentParser

/// The root `svx` command. To add a command group, write it in its own folder and list it in `subcommands`.
struct SVXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "svx",
        abstract: "svx: end-to-end encrypted personal data vault, command line.",
        subcommands: [
            CryptoCommand.self
        ])
}
