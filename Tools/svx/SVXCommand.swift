import ArgumentParser
import Cryppo
import Foundation

/// The root `svx` command. To add a command group, write it in its own folder and list it in `subcommands`.
@main
struct SVXCommand: AsyncParsableCommand {
    /// Core dumps off before anything is parsed or read (the PDK, KEK, DEKs and private keys pass through this
    /// process), then the command.
    static func main() async {
        for failure in CoreDumps.disable() {
            FileHandle.standardError.write(Data("svx: warning: core dumps stay possible: \(failure)\n".utf8))
        }
        await main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "svx",
        abstract: "svx: end-to-end encrypted personal data vault, command line.",
        subcommands: [
            SignUpCommand.self, LoginCommand.self, LogoutCommand.self, WhoAmICommand.self, SessionsCommand.self,
            KeysCommand.self, PassphraseCommand.self, TemplatesCommand.self, ItemsCommand.self, SchemesCommand.self,
            NodesCommand.self, ClassifyCommand.self, UnclassifyCommand.self, InvitationsCommand.self, ConnectionsCommand.self,
            SharesCommand.self, RecoveryCommand.self, AuditCommand.self, CryptoCommand.self,
        ])
}
