// svx-keystore: the key hierarchy: wrapped KEKs, DEKs, keypairs, derivation artefacts. Thin entry point: the
// bootstrap is SVXService.ServiceMain; the methods are in KeystoreService. docs/ADR-004-keystore.md.
import Foundation
import SVXService

// `svx-keystore generate-key DIR` (and --help): handled before anything reads the environment.
ServiceMain.handleCommandLine(service: "keystore")
let keystoreConfiguration: KeystoreConfiguration
do {
    keystoreConfiguration = try KeystoreConfiguration.fromEnvironment()
} catch {
    FileHandle.standardError.write(Data("svx-keystore: configuration error: \(error)\n".utf8))
    exit(2)
}
// SVX_AUTH_ENDPOINT: the Auth that checks sessions also checks SetKEKCheck's proofs of the passphrase.
let keystore = KeystoreService(configuration: keystoreConfiguration, auth: PeerClient.fromEnvironment("auth", caller: "keystore"))

await ServiceMain.run(ServiceDefinition(
    name: "keystore",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    audit: keystore.audit,
    routes: { routes in keystore.register(routes) }
))
