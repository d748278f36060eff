// svx-classification: schemes, node trees, classifications. Thin entry point: the bootstrap is SVXService.ServiceMain.
import Foundation
import SVXService

await ServiceMain.run(ServiceDefinition(
    name: "classification",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    routes: { _ in }  // the Classification methods arrive with the Classification issue
))
