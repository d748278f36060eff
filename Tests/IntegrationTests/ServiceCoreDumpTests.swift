import Foundation
import SVXTestHarness
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Security review L4: every service turns core dumps off before it reads its configuration (the database password,
/// and in svx-auth the challenge key): RLIMIT_CORE 0, soft and hard, as /proc shows it for the running process.
@Suite struct ServiceCoreDumpTests {
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/limits")))
    func everyServiceRunsWithoutCoreDumps() async throws {
        let stack = try await TestStack.start(Set(TestService.allCases))
        defer { stack.stop() }
        #expect(stack.services == TestService.allCases)
        for service in stack.services.map({ stack[$0] }) {
            let limits = try String(contentsOfFile: "/proc/\(service.pid)/limits", encoding: .utf8)
            let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?
                .dropFirst("Max core file size".count).split(separator: " ").prefix(2).map(String.init)
            #expect(core == ["0", "0"], "\(service.name): \(limits)")
            // Not dumpable: its /proc files belong to root (observable only when the tests do not run as root; the
            // flag itself is checked in CryppoTests' CoreDumpsTests).
            if geteuid() != 0 {
                var info = stat()
                #expect(stat("/proc/\(service.pid)", &info) == 0 && info.st_uid == 0, "\(service.name)")
            }
        }
    }
}
