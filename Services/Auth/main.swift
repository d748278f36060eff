// svx-auth: SRP-6a sign-up and login, sessions. Thin entry point: the bootstrap is SVXService.ServiceMain;
// the methods are in AuthService (Registration, Login, Sessions). docs/ADR-002-auth.md.
import Foundation
import SVXService

// `svx-auth generate-key DIR` (and --help): handled before anything reads the environment.
ServiceMain.handleCommandLine(service: "auth")
// Before the challenge key is read from the environment.
ServiceMain.disableCoreDumps(service: "auth")
let authConfiguration: AuthConfiguration
do {
    authConfiguration = try AuthConfiguration.fromEnvironment()
} catch {
    FileHandle.standardError.write(Data("svx-auth: configuration error: \(error)\n".utf8))
    exit(2)
}
let auth = AuthService(configuration: authConfiguration)

await ServiceMain.run(ServiceDefinition(
    name: "auth",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    sessionValidator: auth.sessions,
    audit: auth.audit,
    routes: { routes in auth.register(routes) }
))
