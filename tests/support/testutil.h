/* testutil.h - helpers shared by the cmocka tests (tests run from the
 * repository root, started by tests/run.sh). */
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* tu_shared_data returns the path of a folder of ../shared/data (for example
 * "lfw-dev"), or NULL when it is absent (the test then skips). The root can
 * be overridden with $SHARED_DATA. The string is static. */
const char *tu_shared_data(const char *sub);

/* tu_weights_path returns the synthetic VGG16 weights file (official
 * layout, seed 1) that `make test` generates: $TEST_WEIGHTS, or
 * build/test-data/vgg16_seed1.h5. */
const char *tu_weights_path(void);

/* tu_tmpdir creates a fresh temporary directory and returns its path
 * (static storage, one per call until tu_cleanup). */
const char *tu_tmpdir(void);

/* tu_rm_rf removes a directory tree (used for cleanup). */
void tu_rm_rf(const char *path);

/* tu_write_file writes len bytes to path; returns 0 or -1. */
int tu_write_file(const char *path, const void *buf, size_t len);

/* tu_read_file reads a whole file (malloc'd, caller frees); NULL on error. */
uint8_t *tu_read_file(const char *path, size_t *len);

/* Seeded pseudo-random numbers (splitmix64), identical on every machine. */
typedef struct tu_rng { uint64_t s; } tu_rng_t;
uint64_t tu_rng_u64(tu_rng_t *r);
double tu_rng_uniform(tu_rng_t *r); /* [0, 1) */

#endif
