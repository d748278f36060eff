import CProcessControl

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keeps this process's memory (PDK, KEK, DEKs, private keys, plaintext; in svx-auth the challenge key) out of core
/// dumps and away from debuggers of the same user. Every service and the `svx` command line call ``disable()``
/// first thing in `main`, before they read a secret.
public enum CoreDumps {
    /// Sets RLIMIT_CORE to 0, soft and hard (no core file, and the process cannot raise it again), and on Linux
    /// `prctl(PR_SET_DUMPABLE, 0)`: no dump even through a `core_pattern` pipe, no `ptrace` attach by another
    /// process of the same user, `/proc/PID` files owned by root. Children started later inherit the limit.
    ///
    /// - Returns: what could not be done, one sentence each, for the caller to report (empty when both held).
    ///   Neither call fails in an ordinary process; a failure leaves the process as it was, not broken.
    @discardableResult
    public static func disable() -> [String] {
        var failures: [String] = []
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(coreLimit, &none) != 0 {
            failures.append("setrlimit(RLIMIT_CORE, 0) failed: \(String(cString: strerror(errno)))")
        }
        let error = CProcessControl_set_not_dumpable()
        if error != 0 {
            failures.append("prctl(PR_SET_DUMPABLE, 0) failed: \(String(cString: strerror(error)))")
        }
        return failures
    }

    /// True when core dumps are off as ``disable()`` leaves them: RLIMIT_CORE 0, soft and hard, and on Linux not
    /// dumpable. (A soft limit of 0 alone, as shells often set, is not enough: the process could raise it again.)
    public static var areDisabled: Bool {
        var limit = rlimit()
        guard getrlimit(coreLimit, &limit) == 0, limit.rlim_cur == 0, limit.rlim_max == 0 else { return false }
        #if os(Linux)
            return CProcessControl_dumpable() == 0
        #else
            return true
        #endif
    }

    #if canImport(Glibc)
        private static let coreLimit = Int32(RLIMIT_CORE.rawValue)
    #else
        private static let coreLimit = RLIMIT_CORE
    #endif
}
