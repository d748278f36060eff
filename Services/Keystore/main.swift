// svx-keystore: the key hierarchy: wrapped KEKs, DEKs, keypairs, derivation artefacts. Thin entry point: the
// bootstrap is SVXService.ServiceMain; the methods are in KeystoreService. docs/ADR-004-keystore.md.
import Foundation
import SVXService

let keystore = KeystoreService()

await ServiceMain.run(ServiceDefinition(
    name: "keystore",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { routes in keystore.register(routes) }
))
