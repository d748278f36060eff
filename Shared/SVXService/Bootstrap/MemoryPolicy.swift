import CAllocator

/// How a service's process uses the C allocator.
///
/// Requests may be as large as `SVX_MAX_MESSAGE_BYTES` (4 MiB by default), and each one is copied a few times on its
/// way in (libzmq's message, the frame, the decoded envelope, the decoded payload). glibc serves such blocks with
/// their own mappings at first, but after the first of them is freed it raises its mmap threshold to that size and
/// from then on keeps blocks of up to 32 MiB in the heap of the thread that asked, where they stay resident: a sweep
/// of malformed 4 MiB requests took a service from 37 to 108 MiB for good (BENCHMARKS.md, "Memory under hostile
/// traffic"). A fixed threshold of ``largeBlockBytes`` keeps every large block in a mapping of its own, returned to
/// the system when it is freed, so RSS follows what is live rather than the largest request each thread ever saw.
enum MemoryPolicy {
    /// Allocations of this size and more get their own mapping (glibc's default starting threshold).
    static let largeBlockBytes = 128 * 1024

    /// Applies the policy; called first thing at start-up. Returns whether the C library took it.
    @discardableResult
    static func apply() -> Bool {
        CAllocator_return_large_blocks(largeBlockBytes) == 1
    }
}
