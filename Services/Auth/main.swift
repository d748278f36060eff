// svx-auth: SRP-6a sign-up and login, sessions. Thin entry point: the bootstrap is SVXService.ServiceMain.
import Foundation
import SVXService

await ServiceMain.run(ServiceDefinition(
    name: "auth",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { _ in }  // the Auth methods arrive with the Auth issue
))
