/* test_testutil.c - the test helpers' own promise about the disk:
 * tu_tmpdir's folders are gone when the binary that made them exits,
 * whatever the exit (a failed test's too), and not before, not even when
 * a child it forked exits.  Each case runs in a child process of its own,
 * since the removal happens at exit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#define NDIRS 20 /* more than the 16 the helper once kept */
#define REPORT_LEN (NDIRS * 64 + 64)

/* Runs body in a child that writes what it reports to a pipe, then exits
 * with status code; returns the report (static), after the child exited. */
static const char *in_child(void (*body)(FILE *out), int code)
{
	static char report[REPORT_LEN];
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fd[0]);
		FILE *out = fdopen(fd[1], "w");
		body(out);
		fclose(out);
		exit(code);
	}
	close(fd[1]);
	FILE *in = fdopen(fd[0], "r");
	size_t n = fread(report, 1, sizeof report - 1, in);
	report[n] = '\0';
	fclose(in);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), code);
	return report;
}

/* NDIRS folders, each with a file in it: their paths, a line each. */
static void make_dirs(FILE *out)
{
	for (int i = 0; i < NDIRS; i++) {
		const char *d = tu_tmpdir();
		char f[128];
		snprintf(f, sizeof f, "%s/file", d);
		if (tu_write_file(f, "x", 1) != 0)
			exit(3);
		fprintf(out, "%s\n", d);
	}
}

/* Every path of the report: distinct, and (gone) absent or present. */
static void check_paths(const char *report, int gone)
{
	char copy[REPORT_LEN], *save = NULL, *paths[NDIRS];
	int n = 0;
	snprintf(copy, sizeof copy, "%s", report);
	for (char *p = strtok_r(copy, "\n", &save); p; p = strtok_r(NULL, "\n", &save)) {
		assert_true(n < NDIRS);
		assert_non_null(strstr(p, "/tmp/vggtest."));
		for (int i = 0; i < n; i++)
			assert_string_not_equal(paths[i], p);
		paths[n++] = p;
		if (gone && tu_exists(p))
			fail_msg("%s is still there after its maker exited", p);
		if (!gone && !tu_exists(p))
			fail_msg("%s is gone before its maker exited", p);
	}
	assert_int_equal(n, NDIRS);
}

static void test_removed_at_exit(void **state)
{
	(void)state;
	check_paths(in_child(make_dirs, 0), 1);
}

/* A binary whose tests failed exits non-zero through exit(): the same. */
static void test_removed_after_failure(void **state)
{
	(void)state;
	check_paths(in_child(make_dirs, 1), 1);
}

/* A child forked after the folders were made exits first: they stay until
 * their maker exits.  The maker reports its paths, then "kept" once its
 * own child has exited and every folder is still there. */
static void fork_then_check(FILE *out)
{
	make_dirs(out);
	fflush(out);
	pid_t pid = fork();
	if (pid == 0)
		exit(0);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		exit(4);
	fprintf(out, "%s\n", "kept");
}

static void test_child_leaves_them(void **state)
{
	(void)state;
	const char *report = in_child(fork_then_check, 0);
	const char *kept = strstr(report, "kept\n");
	assert_non_null(kept);
	char paths[REPORT_LEN];
	snprintf(paths, sizeof paths, "%.*s", (int)(kept - report), report);
	check_paths(paths, 1);
}

/* A child forked after its parent made a folder makes its own: they go
 * when the child exits, and the parent's stays. */
static void test_child_of_a_maker(void **state)
{
	(void)state;
	const char *mine = tu_tmpdir();
	check_paths(in_child(make_dirs, 0), 1);
	assert_true(tu_exists(mine));
}

/* In the maker itself, before it exits: there, and the paths stable. */
static void test_there_until_exit(void **state)
{
	(void)state;
	const char *first = tu_tmpdir();
	char copy[64];
	snprintf(copy, sizeof copy, "%s", first);
	for (int i = 0; i < NDIRS; i++)
		assert_true(tu_exists(tu_tmpdir()));
	assert_string_equal(first, copy);
	assert_true(tu_exists(first));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_removed_at_exit),
		cmocka_unit_test(test_removed_after_failure),
		cmocka_unit_test(test_child_leaves_them),
		cmocka_unit_test(test_child_of_a_maker),
		cmocka_unit_test(test_there_until_exit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
