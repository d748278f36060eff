// svx-sharing: connections and shares re-encrypted for a recipient. Thin entry point: the bootstrap is SVXService.ServiceMain.
import Foundation
import SVXService

await ServiceMain.run(ServiceDefinition(
    name: "sharing",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { _ in }  // the Sharing methods arrive with the Sharing issue
))
