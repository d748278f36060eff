// svx-vault: items of typed encrypted slots, item templates, attachments. Thin entry point: the bootstrap is
// SVXService.ServiceMain; the methods are in VaultService. docs/ADR-005-vault.md.
import Foundation
import SVXService

let vault = VaultService()

await ServiceMain.run(ServiceDefinition(
    name: "vault",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { routes in vault.register(routes) }
))
