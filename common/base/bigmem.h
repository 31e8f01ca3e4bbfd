/* bigmem.h - the network's large buffers (activations, Winograd's
 * transformed kernels, scratch), on 2 MB boundaries and offered to the
 * kernel's transparent huge pages, so that a layer's stream over tens of
 * megabytes costs a TLB entry per 2 MB, not per 4 KB; where the system
 * keeps huge pages for those who ask (Debian's default, `madvise`), a
 * plain malloc never gets them.  Only placement: no value changes. */
#ifndef COMMON_BASE_BIGMEM_H
#define COMMON_BASE_BIGMEM_H

#include <stddef.h>

/* bigmem_alloc: bytes (> 0), 64-byte aligned at least, or NULL; freed by
 * free().  Below 2 MB it is aligned_alloc(64, ...). */
void *bigmem_alloc(size_t bytes);

#endif
