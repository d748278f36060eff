// svx-vault: items of typed encrypted slots, item templates, attachments. Thin entry point: the bootstrap is
// SVXService.ServiceMain; the methods are in VaultService. docs/ADR-005-vault.md.
import Foundation
import SVXService

// `svx-vault generate-key DIR` (and --help): handled before anything reads the environment.
ServiceMain.handleCommandLine(service: "vault")
let vaultConfiguration: VaultConfiguration
do {
    vaultConfiguration = try VaultConfiguration.fromEnvironment()
} catch {
    FileHandle.standardError.write(Data("svx-vault: configuration error: \(error)\n".utf8))
    exit(2)
}
// SVX_CLASSIFICATION_ENDPOINT (`none`: no classification; ListItems by node answers UNAVAILABLE);
// SVX_SHARING_ENDPOINT (`none`: deletions do not reach shares).
let vault = VaultService(
    classification: PeerClient.fromEnvironment("classification", caller: "vault"),
    sharing: PeerClient.fromEnvironment("sharing", caller: "vault"),
    configuration: vaultConfiguration)

await ServiceMain.run(ServiceDefinition(
    name: "vault",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    audit: vault.audit,
    routes: { routes in vault.register(routes) }
))
