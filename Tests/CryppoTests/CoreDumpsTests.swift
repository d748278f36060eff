import Cryppo
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// ``CoreDumps/disable()`` in a forked child, so that the test runner itself keeps its settings: afterwards the child
/// has RLIMIT_CORE 0 (soft and hard) and, on Linux, is not dumpable; it cannot raise the limit again.
@Suite struct CoreDumpsTests {
    #if os(Linux)
        @Test func disableInAChild() throws {
            _ = CoreDumps.areDisabled  // the code the child runs is loaded before the fork
            let pid = fork()
            #expect(pid >= 0)
            if pid == 0 {
                // Only system calls from here on: the child exits without returning to the test runner.
                let failures = CoreDumps.disable()
                var raised = rlimit(rlim_cur: 1 << 20, rlim_max: 1 << 20)
                let raise = setrlimit(Int32(RLIMIT_CORE.rawValue), &raised)
                _exit(failures.isEmpty && CoreDumps.areDisabled ? (raise != 0 || geteuid() == 0 ? 0 : 2) : 1)
            }
            var status: Int32 = 0
            #expect(waitpid(pid, &status, 0) == pid)
            // Exited normally (low 7 bits 0) with status 0: 1 = not disabled, 2 = the limit could be raised again.
            #expect(status & 0x7f == 0 && (status >> 8) & 0xff == 0, "child status \(status)")
        }
    #endif
}
