/* test_fsutil.c - fsutil.h, the fsyncs that make a finished file durable:
 * a file, the folder holding a name (nested, at the top of /, or the
 * current folder for a name without a slash), and errno when there is
 * nothing to sync. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "testutil.h"

static char g_dir[4096];

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(g_dir);
	return 0;
}

static void test_sync_file(void **state)
{
	(void)state;
	char path[4200];

	snprintf(path, sizeof path, "%s/f.bin", g_dir);
	assert_int_equal(tu_write_file(path, "abc", 3), 0);
	assert_int_equal(fsutil_sync_file(path), 0);
	/* A folder opens read-only too: fsync of it is allowed. */
	assert_int_equal(fsutil_sync_file(g_dir), 0);
}

static void test_sync_dir_of(void **state)
{
	(void)state;
	char path[4200], sub[4200];

	/* The name need not exist yet, only its folder. */
	snprintf(path, sizeof path, "%s/not-yet.h5", g_dir);
	assert_int_equal(fsutil_sync_dir_of(path), 0);
	snprintf(sub, sizeof sub, "%s/sub", g_dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(path, sizeof path, "%s/sub/f.h5", g_dir);
	assert_int_equal(fsutil_sync_dir_of(path), 0);
	/* "/name": the root folder. */
	assert_int_equal(fsutil_sync_dir_of("/vggfeat-no-such-name"), 0);
}

/* A name without a slash lives in the current folder. */
static void test_sync_dir_of_bare_name(void **state)
{
	(void)state;
	char cwd[4096];

	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(g_dir), 0);
	assert_int_equal(fsutil_sync_dir_of("head.h5"), 0);
	assert_int_equal(chdir(cwd), 0);
}

static void test_missing(void **state)
{
	(void)state;
	char path[4200];

	snprintf(path, sizeof path, "%s/none.bin", g_dir);
	errno = 0;
	assert_int_equal(fsutil_sync_file(path), -1);
	assert_int_equal(errno, ENOENT);
	snprintf(path, sizeof path, "%s/no-dir/f.h5", g_dir);
	errno = 0;
	assert_int_equal(fsutil_sync_dir_of(path), -1);
	assert_int_equal(errno, ENOENT);
	/* A file where the folder should be. */
	snprintf(path, sizeof path, "%s/plain", g_dir);
	assert_int_equal(tu_write_file(path, "x", 1), 0);
	snprintf(path, sizeof path, "%s/plain/f.h5", g_dir);
	errno = 0;
	assert_int_equal(fsutil_sync_dir_of(path), -1);
	assert_int_equal(errno, ENOTDIR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_file),
		cmocka_unit_test(test_sync_dir_of),
		cmocka_unit_test(test_sync_dir_of_bare_name),
		cmocka_unit_test(test_missing),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
