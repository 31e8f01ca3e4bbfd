/* test_bigmem.c - the network's large buffers (base/bigmem.h): aligned as
 * promised, whole, and, where the system offers transparent huge pages on
 * request, asked for them (the mapping's VmFlags carry "hg"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigmem.h"

#define MB ((size_t)1 << 20)

static void test_alignment_and_use(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 63, 64, 1000, 2 * MB - 1, 2 * MB,
				       2 * MB + 1, 13 * MB + 5};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = sizes[i];
		unsigned char *p = bigmem_alloc(n);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 64, 0);
		if (n >= 2 * MB)
			assert_int_equal((uintptr_t)p % (2 * MB), 0);
		/* Every byte asked for is there (ASan checks the bounds). */
		memset(p, 0xa5, n);
		assert_int_equal(p[0], 0xa5);
		assert_int_equal(p[n - 1], 0xa5);
		free(p);
	}
}

/* Whether this kernel gives huge pages on request: THP's mode is
 * "[always]" or "[madvise]", not "[never]" (or no THP at all). */
static int thp_on_request(void)
{
	char mode[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (!f)
		return 0;
	if (!fgets(mode, sizeof mode, f))
		mode[0] = 0;
	fclose(f);
	return strstr(mode, "[always]") || strstr(mode, "[madvise]");
}

/* The VmFlags of the mapping that holds p, from /proc/self/smaps, or "". */
static void vmflags_of(const void *p, char *out, size_t len)
{
	char line[512];
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	out[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char dash;
		if (sscanf(line, "%lx%c%lx", &lo, &dash, &hi) == 3 && dash == '-') {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			size_t k = strlen(line + 8);
			k = k < len ? k : len - 1;
			memcpy(out, line + 8, k);
			out[k] = 0;
			break;
		}
	}
	fclose(f);
}

static void test_huge_pages_asked(void **state)
{
	(void)state;
	char flags[256];
	if (!thp_on_request())
		skip();
	float *p = bigmem_alloc(24 * MB);
	assert_non_null(p);
	vmflags_of(p, flags, sizeof flags);
	if (!flags[0]) {
		free(p);
		skip(); /* no /proc/self/smaps here */
	}
	if (!strstr(flags, " hg"))
		fail_msg("24 MB from bigmem_alloc: VmFlags%s without hg", flags);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alignment_and_use),
		cmocka_unit_test(test_huge_pages_asked),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
