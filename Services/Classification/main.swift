// svx-classification: schemes, node trees, classifications. Thin entry point: the bootstrap is SVXService.ServiceMain;
// the methods are in ClassificationService. docs/ADR-006-classification.md.
import Foundation
import SVXService

// `svx-classification generate-key DIR` (and --help): handled before anything reads the environment.
ServiceMain.handleCommandLine(service: "classification")
let classificationConfiguration: ClassificationConfiguration
do {
    classificationConfiguration = try ClassificationConfiguration.fromEnvironment()
} catch {
    FileHandle.standardError.write(Data("svx-classification: configuration error: \(error)\n".utf8))
    exit(2)
}
let classification = ClassificationService(
    configuration: classificationConfiguration, vault: PeerClient.fromEnvironment("vault", caller: "classification"))

await ServiceMain.run(ServiceDefinition(
    name: "classification",
    migrationsDirectory: Bundle.module.url(forResource: "Migrations", withExtension: nil),
    audit: classification.audit,
    routes: { routes in classification.register(routes) }
))
