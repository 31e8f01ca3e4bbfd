/* test_stopguard.c - base/stopguard.h: a process stopped by SIGINT, SIGTERM
 * or SIGHUP while the guard is armed removes the file and ends by that
 * signal; a signal it ignores stays ignored; disarmed, the signal does
 * what it did before (the file stays); the file named at the arming is
 * the one removed, not another of the same folder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/stopguard.h"
#include "testutil.h"

static char dir[4096];

enum { ARMED, IGNORED, DISARMED };

/* In a child: make file (and a neighbour), set the guard as `how` says,
 * raise sig; the child's exit status, as wait() gives it. */
static int stopped(const char *file, const char *other, int sig, int how)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (tu_write_file(file, "partial", 7) || tu_write_file(other, "kept", 4))
			_exit(3);
		/* The action this process had is not the test's: a run in the
		 * background (CI's) starts with SIGINT ignored. */
		signal(sig, how == IGNORED ? SIG_IGN : SIG_DFL);
		stopguard_arm(file);
		if (how == DISARMED)
			stopguard_disarm();
		raise(sig);
		_exit(0); /* only when sig is ignored */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void test_stops(void **state)
{
	(void)state;
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	char file[4200], other[4200];

	snprintf(file, sizeof file, "%s/model.h5.tmp.host.1", dir);
	snprintf(other, sizeof other, "%s/model.h5", dir);
	for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
		int st = stopped(file, other, sigs[i], ARMED);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != sigs[i])
			fail_msg("signal %d: the child did not end by it (status %d)",
				 sigs[i], st);
		assert_false(tu_exists(file));
		assert_true(tu_exists(other));

		/* Ignored before the arming (nohup): the run goes on, the file
		 * with it. */
		st = stopped(file, other, sigs[i], IGNORED);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		assert_true(tu_exists(file));

		/* Disarmed: the default action, the file left to the next run. */
		st = stopped(file, other, sigs[i], DISARMED);
		assert_true(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i]);
		assert_true(tu_exists(file));
		unlink(file);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stops),
	};
	snprintf(dir, sizeof dir, "%s", tu_tmpdir());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
