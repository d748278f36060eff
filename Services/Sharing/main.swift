// svx-sharing: invitations, connections and shares between users. Thin entry point: the
// bootstrap is SVXService.ServiceMain; the methods are in SharingService. docs/ADR-008-sharing.md.
import Foundation
import SVXService

// `svx-sharing generate-key DIR` (and --help): handled before anything reads the environment.
ServiceMain.handleCommandLine(service: "sharing")
let sharingConfiguration: SharingConfiguration
do {
    sharingConfiguration = try SharingConfiguration.fromEnvironment()
} catch {
    FileHandle.standardError.write(Data("svx-sharing: configuration error: \(error)\n".utf8))
    exit(2)
}
// SVX_KEYSTORE_ENDPOINT (`none`: keys cannot be confirmed, CreateInvitation and AcceptInvitation answer UNAVAILABLE);
// SVX_VAULT_ENDPOINT (`none`: items cannot be outlined, CreateShare of an owned item answers UNAVAILABLE).
let sharing = SharingService(
    configuration: sharingConfiguration, keystore: PeerClient.fromEnvironment("keystore", caller: "sharing"),
    vault: PeerClient.fromEnvironment("vault", caller: "sharing"))

await ServiceMain.run(ServiceDefinition(
    name: "sharing",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    audit: sharing.audit,
    routes: { routes in sharing.register(routes) }
))
