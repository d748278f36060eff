#include "CAllocator.h"
#if defined(__linux__)
#include <malloc.h>  /* defines __GLIBC__ (through features.h) when the C library is glibc */
#endif

int CAllocator_return_large_blocks(size_t bytes) {
#if defined(__GLIBC__)
    if (bytes > (size_t)(1 << 30)) return 0;
    return mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1 && mallopt(M_TRIM_THRESHOLD, (int)(bytes * 2)) == 1;
#else
    (void)bytes;
    return 0;
#endif
}
