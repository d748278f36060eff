// svx-sharing: invitations and connections between users (shares arrive with Sharing II). Thin entry point: the
// bootstrap is SVXService.ServiceMain; the methods are in SharingService. docs/ADR-008-sharing.md.
import Foundation
import SVXService

let sharingConfiguration: SharingConfiguration
do {
    sharingConfiguration = try SharingConfiguration.fromEnvironment()
} catch {
    FileHandle.standardError.write(Data("svx-sharing: configuration error: \(error)\n".utf8))
    exit(2)
}
// SVX_KEYSTORE_ENDPOINT (`none`: keys cannot be confirmed, CreateInvitation and AcceptInvitation answer UNAVAILABLE).
let sharing = SharingService(configuration: sharingConfiguration, keystore: PeerClient.fromEnvironment("keystore"))

await ServiceMain.run(ServiceDefinition(
    name: "sharing",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { routes in sharing.register(routes) }
))
