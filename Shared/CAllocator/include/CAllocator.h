#ifndef CALLOCATOR_H
#define CALLOCATOR_H
// C interop for the C library's allocator (glibc's malloc.h does not import into Swift through Glibc).
// Imported only by the SVXService module.
#include <stddef.h>

/// Serves every allocation of at least `bytes` with its own mapping, returned to the system when freed, and fixes
/// the heap's trim threshold at twice that. Setting the threshold turns off glibc's dynamic threshold, which after
/// the first large free would keep every later allocation of that size (up to 32 MiB) in a per-thread heap for good.
/// Returns 1 when applied, 0 where the C library has no such setting.
int CAllocator_return_large_blocks(size_t bytes);

#endif
