// svx-keystore: the key hierarchy: wrapped KEKs, DEKs, keypairs, derivation artefacts. Thin entry point: the bootstrap is SVXService.ServiceMain.
import Foundation
import SVXService

await ServiceMain.run(ServiceDefinition(
    name: "keystore",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { _ in }  // the Keystore methods arrive with the Keystore issue
))
