/* test_h5child.c - reading in a child process (h5child.h): the child's
 * answer and error come back; a child that dies by a signal, or passes the
 * deadline, gives one "damaged HDF5 file" error and the caller lives on; a
 * pipe carries data from the child while the parent reads it; a parent's
 * own error is reported when the child succeeded; a parent killed takes
 * its child along. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "error.h"
#include "hdf5/h5child.h"
#include "proc.h"
#include "testutil.h"

static int child_ok(void *arg, int fd, char *err)
{
	int *shared = arg;
	*shared = 42; /* seen by the parent: h5child_map memory */
	(void)fd;
	(void)err;
	return 0;
}

static int child_fails(void *arg, int fd, char *err)
{
	(void)arg, (void)fd;
	return err_set(err, ERR_SHAPE, "the child's own reason");
}

static int child_segv(void *arg, int fd, char *err)
{
	(void)arg, (void)fd, (void)err;
	raise(SIGSEGV);
	return 0;
}

static int child_killed(void *arg, int fd, char *err)
{
	(void)arg, (void)fd, (void)err;
	raise(SIGKILL);
	return 0;
}

static int child_hangs(void *arg, int fd, char *err)
{
	(void)arg, (void)fd, (void)err;
	for (;;)
		pause();
	return 0;
}

static int child_sends(void *arg, int fd, char *err)
{
	(void)arg, (void)err;
	static char big[1 << 20]; /* more than a pipe holds */
	memset(big, 'x', sizeof big);
	return h5child_write(fd, big, sizeof big);
}

static int parent_reads(void *arg, int fd, char *err)
{
	static char got[1 << 20];
	if (h5child_read(fd, got, sizeof got))
		return err_set(err, ERR_FORMAT, "short");
	*(int *)arg = got[0] == 'x' && got[sizeof got - 1] == 'x';
	return 0;
}

static int parent_fails(void *arg, int fd, char *err)
{
	(void)arg, (void)fd;
	return err_set(err, ERR_NOMEM, "the parent's own reason");
}

static void test_answers(void **state)
{
	(void)state;
	char err[ERR_LEN];
	int *shared = h5child_map(sizeof *shared), got = 0;

	assert_non_null(shared);
	assert_int_equal(h5child_run("f.h5", child_ok, NULL, shared, err), 0);
	assert_int_equal(*shared, 42);
	assert_int_equal(h5child_run("f.h5", child_fails, NULL, NULL, err), ERR_SHAPE);
	assert_string_equal(err, "the child's own reason");
	assert_int_equal(h5child_run("f.h5", child_sends, parent_reads, &got, err), 0);
	assert_int_equal(got, 1);
	assert_int_equal(h5child_run("f.h5", child_ok, parent_fails, shared, err), ERR_NOMEM);
	assert_string_equal(err, "the parent's own reason");
	/* The parent that stops reading early still drains the pipe: the
	 * child is not killed by SIGPIPE, its error or success stands. */
	assert_int_equal(h5child_run("f.h5", child_sends, parent_fails, NULL, err), ERR_NOMEM);
	h5child_unmap(shared, sizeof *shared);
}

static void test_crash_and_hang(void **state)
{
	(void)state;
	char err[ERR_LEN];

	assert_int_equal(h5child_run("w.h5", child_segv, NULL, NULL, err), ERR_FORMAT);
	assert_string_equal(err, "w.h5: damaged HDF5 file (libhdf5 died of SIGSEGV)");
	/* Killed from outside (the out-of-memory killer): not the file's
	 * fault, and not called damaged. */
	assert_int_equal(h5child_run("w.h5", child_killed, NULL, NULL, err), ERR_IO);
	assert_string_equal(err, "w.h5: reading it was stopped: its process was killed "
			    "(SIGKILL; out of memory?)");
	assert_int_equal(h5child_run_writer("w.h5", child_killed, NULL, err), ERR_IO);
	assert_non_null(strstr(err, "w.h5: writing it was stopped"));
	/* A writer that dies: the cause after the name, as any failed write
	 * says it (fsutil_dest_failed adds its note after). */
	assert_int_equal(h5child_run_writer("w.h5", child_segv, NULL, err), ERR_IO);
	assert_string_equal(err, "w.h5: writing failed: libhdf5 died of SIGSEGV");
	setenv("VGGFEAT_HDF5_TIMEOUT", "1", 1);
	double t = cli_now();
	assert_int_equal(h5child_run("w.h5", child_hangs, NULL, NULL, err), ERR_FORMAT);
	t = cli_now() - t;
	unsetenv("VGGFEAT_HDF5_TIMEOUT");
	assert_string_equal(err, "w.h5: damaged HDF5 file (libhdf5 gave no answer in 1 s)");
	assert_true(t >= 1 && t < 10);
	/* A parent waiting on the pipe is bound by the same deadline. */
	setenv("VGGFEAT_HDF5_TIMEOUT", "1", 1);
	int got = 0;
	assert_int_equal(h5child_run("w.h5", child_hangs, parent_reads, &got, err), ERR_FORMAT);
	unsetenv("VGGFEAT_HDF5_TIMEOUT");
	assert_non_null(strstr(err, "gave no answer"));
}

/* A parent killed (kill -9) takes its reader along: the child of a
 * process that reads through h5child_run, adopted by this test once its
 * parent is gone, ends by SIGKILL at once (it hung on, for ever here:
 * until its deadline, with no one left to enforce it). */
static void test_dies_with_parent(void **state)
{
	(void)state;
	pid_t kids[2];

	if (proc_adopt_orphans(1) != 0)
		skip(); /* not Linux */
	fflush(NULL);
	pid_t parent = fork();
	assert_true(parent >= 0);
	if (parent == 0) {
		char err[ERR_LEN];
		h5child_run("w.h5", child_hangs, NULL, NULL, err);
		_exit(0);
	}
	int n = 0;
	for (int i = 0; i < 1000 && (n = proc_children(parent, kids, 2)) == 0; i++)
		proc_sleep(0.01);
	assert_int_equal(kill(parent, SIGKILL), 0);
	assert_int_equal(proc_wait(parent), 128 + SIGKILL);
	int reader = n == 1 ? proc_wait_bounded(kids[0], 10.0) : -2;
	assert_int_equal(proc_adopt_orphans(0), 0);
	assert_int_equal(n, 1);
	assert_int_equal(reader, 128 + SIGKILL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_crash_and_hang),
		cmocka_unit_test(test_dies_with_parent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
