/* bigmem.c - large buffers on huge-page boundaries (bigmem.h). */
#include "base/bigmem.h"

#include <stdlib.h>
#include <sys/mman.h>

#define BIGMEM_HUGE ((size_t)2 << 20)

void *bigmem_alloc(size_t bytes)
{
	void *p = NULL;

	if (bytes < BIGMEM_HUGE)
		return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	bytes = (bytes + BIGMEM_HUGE - 1) & ~(BIGMEM_HUGE - 1);
	if (posix_memalign(&p, BIGMEM_HUGE, bytes))
		return NULL;
#ifdef MADV_HUGEPAGE
	/* Advice only: a kernel without THP says no, and the buffer is as
	 * good as malloc's. */
	(void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
	return p;
}
