import ArgumentParser

/// The root `svx` command. To add a command group, write it in its own folder and list it in `subcommands`.
@main
struct SVXCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "svx",
        abstract: "svx: end-to-end encrypted personal data vault, command line.",
        subcommands: [
            SignUpCommand.self, LoginCommand.self, LogoutCommand.self, WhoAmICommand.self, SessionsCommand.self,
            KeysCommand.self, PassphraseCommand.self, TemplatesCommand.self, ItemsCommand.self, SchemesCommand.self,
            NodesCommand.self, ClassifyCommand.self, UnclassifyCommand.self, CryptoCommand.self,
        ])
}
