#ifndef CPROCESSCONTROL_H
#define CPROCESSCONTROL_H
// C interop for process controls Swift cannot call: prctl(2) is variadic and not in the Glibc module.
// Imported only by the Cryppo module (CoreDumps.swift).

/// prctl(PR_SET_DUMPABLE, 0) on Linux: no core dump, no ptrace attach by other processes of the same user, and
/// /proc/PID files owned by root. Returns 0, or the errno of the failure. Elsewhere it does nothing and returns 0.
int CProcessControl_set_not_dumpable(void);

/// prctl(PR_GET_DUMPABLE) on Linux: 0 when the process is not dumpable, 1 or 2 when it is, -1 on failure (and
/// elsewhere).
int CProcessControl_dumpable(void);

#endif
