// svx-vault: items of typed encrypted slots, item templates. Thin entry point: the bootstrap is SVXService.ServiceMain.
import Foundation
import SVXService

await ServiceMain.run(ServiceDefinition(
    name: "vault",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { _ in }  // the Vault methods arrive with the Vault issue
))
