// CZeroMQ: libzmq for SVXRPC (its only importer), plus two Linux helpers SVXRPC's threads need and that Glibc's
// Swift module does not export (they need _GNU_SOURCE).
#include <zmq.h>

#if defined(__linux__)
#include <sys/eventfd.h>
#include <sys/prctl.h>

/// A non-blocking, close-on-exec eventfd (a wakeup a zmq_poll loop can watch).
static inline int CZeroMQ_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

/// Names the calling thread (at most 15 bytes are kept).
static inline void CZeroMQ_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
#endif
