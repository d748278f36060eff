import CZeroMQ
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX thread that can be joined (Foundation's `Thread` cannot).
final class JoinableThread: Sendable {
    private final class Box {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    private let thread: ThreadHandle

    /// Starts `body` on a new thread named `name` (at most 15 bytes are kept by Linux).
    init(name: String, body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        #if canImport(Glibc)
        var tid = pthread_t()
        #else
        var tid: pthread_t?
        #endif
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            #if os(Linux)
            CZeroMQ_set_thread_name(String(box.name.prefix(15)))
            #else
            _ = pthread_setname_np(String(box.name.prefix(15)))
            #endif
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        #if canImport(Glibc)
        self.thread = ThreadHandle(raw: tid)
        #else
        self.thread = ThreadHandle(raw: tid!)
        #endif
    }

    /// Waits for the thread to finish. Call exactly once, never from the thread itself.
    func join() {
        _ = pthread_join(thread.raw, nil)
    }
}

/// pthread_t wrapped so it can be stored in a Sendable class.
private struct ThreadHandle: @unchecked Sendable {
    // @unchecked Sendable: a pthread_t is an identifier; passing it to pthread_join from another thread is its purpose.
    let raw: pthread_t
}
