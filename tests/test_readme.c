/* test_readme.c - README.md's two commands, as written, on a fresh copy of
 * the repository (no build/, no bin/, no ../shared beside it): the demo
 * pipeline and the test suite must both succeed (the longest test programs
 * left to the outer run: NESTED_SKIP).  The copy's own test suite runs this
 * file too; VGGFEAT_NESTED stops the recursion there. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#define MAX_CMDS 8

static char copy[512];
static char *cmds[MAX_CMDS];
static int ncmds;

/* The commands of the first ```sh block after the heading "## The two
 * commands", each without its trailing comment. */
static void readme_commands(void)
{
	size_t len;
	uint8_t *raw = tu_read_file("README.md", &len);
	assert_non_null(raw);
	char *text = realloc(raw, len + 1);
	text[len] = 0;
	char *sec = strstr(text, "\n## The two commands");
	assert_non_null(sec);
	char *block = strstr(sec, "\n```sh\n");
	assert_non_null(block);
	block += 7;
	char *end = strstr(block, "\n```");
	assert_non_null(end);
	*end = 0;
	for (char *line = strtok(block, "\n"); line; line = strtok(NULL, "\n")) {
		char *hash = strstr(line, " #");
		if (hash)
			*hash = 0;
		while (*line == ' ')
			line++;
		size_t n = strlen(line);
		while (n && line[n - 1] == ' ')
			line[--n] = 0;
		if (n && line[0] != '#') {
			assert_true(ncmds < MAX_CMDS);
			cmds[ncmds++] = strdup(line);
		}
	}
	free(text);
}

static int setup(void **state)
{
	(void)state;
	if (getenv("VGGFEAT_NESTED"))
		return 0;
	snprintf(copy, sizeof copy, "%s/repo", tu_tmpdir());
	/* What a clone has: the tracked files and the new, not ignored ones. */
	char cmd[4096];
	snprintf(cmd, sizeof cmd,
		 "mkdir -p %s && (git ls-files -z --cached --others --exclude-standard "
		 "| tar --null -T - -cf - | tar -xf - -C %s)", copy, copy);
	return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (copy[0]) {
		char *slash = strrchr(copy, '/');
		*slash = 0;
		tu_rm_rf(copy);
	}
	for (int i = 0; i < ncmds; i++)
		free(cmds[i]);
	return 0;
}

/* The copy's `make test` leaves out the test programs that take 10 s or
 * more, those that run the network on many images (make's TEST_SKIP, from
 * the environment): the outer run, on the same sources, runs them; the copy
 * shows that the command builds from nothing and that its suite runs and
 * passes (CI's `make test` on a fresh clone shows the rest). */
#define NESTED_SKIP "build/tests/test_determinism build/tests/test_faults " \
	"build/tests/test_extract build/tests/test_mpi build/tests/test_vgg " \
	"build/tests/test_vggface build/tests/test_predict " \
	"build/tests/test_weights build/tests/test_winograd " \
	"build/tests/test_hostile build/tests/test_train_head " \
	"build/tests/test_pipeline build/tests/test_model_file " \
	"build/tests/test_verify build/tests/test_nearest " \
	"build/tests/test_taps build/tests/test_accuracy"

/* Runs a README command in the copy; its output goes to LOG.  The copy's
 * make test takes the real weights from this tree's folder (made or
 * skipped by this run's make test), rather than fetch them again. */
static int run_in_copy(const char *command, const char *log)
{
	const char *rw = getenv("REAL_WEIGHTS_DIR");
	char cmd[8192], real[4096], var[4200] = "";

	if (realpath(rw && *rw ? rw : "build/real-weights", real))
		snprintf(var, sizeof var, "REAL_WEIGHTS_DIR='%s' ", real);
	snprintf(cmd, sizeof cmd, "cd %s && VGGFEAT_NESTED=1 %sTEST_SKIP='" NESTED_SKIP
		 "' %s > %s 2>&1", copy, var, command, log);
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *tail_of(const char *path, size_t max)
{
	size_t len;
	uint8_t *b = tu_read_file(path, &len);
	if (!b)
		return strdup("(no output)");
	size_t from = len > max ? len - max : 0;
	char *s = malloc(len - from + 1);
	memcpy(s, b + from, len - from);
	s[len - from] = 0;
	free(b);
	return s;
}

/* Prints the lines of the log at path that tell why a run failed (a
 * failed test, a dead binary, make's or a program's error), which the
 * log's tail may not hold. */
static void print_failures(const char *path)
{
	size_t len;
	uint8_t *raw = tu_read_file(path, &len);
	if (!raw)
		return;
	char *text = realloc(raw, len + 1);
	text[len] = 0;
	int shown = 0;
	for (char *line = strtok(text, "\n"); line && shown < 60;
	     line = strtok(NULL, "\n"))
		if (strstr(line, "FAILED") || strstr(line, "died:") ||
		    strstr(line, "ERROR") || strstr(line, "make: ***") ||
		    strstr(line, "error:") || strstr(line, "No space")) {
			print_error("  %s\n", line);
			shown++;
		}
	print_error("(%d such lines in %s, %zu bytes)\n", shown, path, len);
	free(text);
}

static void test_readme_commands(void **state)
{
	(void)state;
	if (getenv("VGGFEAT_NESTED"))
		skip(); /* inside the copy that this very test made */
	readme_commands();
	assert_int_equal(ncmds, 2);
	assert_string_equal(cmds[0], "./pipeline.sh");
	assert_string_equal(cmds[1], "make test");

	char log[600], path[700];
	struct stat st;
	snprintf(log, sizeof log, "%s/../pipeline.log", copy);
	int rc = run_in_copy(cmds[0], log);
	char *t = tail_of(log, 3000);
	if (rc != 0)
		print_error("%s exited %d:\n%s\n", cmds[0], rc, t);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(t, "pipeline.sh: done:"));
	free(t);
	static const char *const report[] = {"head.h5", "history.csv", "training.png"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/pipeline-report/%s", copy, report[i]);
		assert_int_equal(stat(path, &st), 0);
		assert_true(st.st_size > 0);
	}

	snprintf(log, sizeof log, "%s/../make-test.log", copy);
	rc = run_in_copy(cmds[1], log);
	t = tail_of(log, 3000);
	if (rc != 0) {
		print_error("%s exited %d:\n%s\n", cmds[1], rc, t);
		print_failures(log);
	}
	assert_int_equal(rc, 0);
	/* The suite's summary, "N passed, 0 failed, N skipped": the last line
	 * of that form (a process a test left behind, such as an MPI daemon,
	 * may still write a line after it). */
	int passed = -1, failed = -1, skipped = -1;
	char *last = NULL;
	char *copy_of_t = strdup(t);
	for (char *line = strtok(copy_of_t, "\n"); line; line = strtok(NULL, "\n")) {
		int p, f, k;
		if (sscanf(line, "%d passed, %d failed, %d skipped", &p, &f, &k) == 3) {
			passed = p, failed = f, skipped = k;
			last = line;
		}
	}
	if (!last)
		print_error("no summary line in the copy's make test output:\n%s\n", t);
	assert_non_null(last);
	print_message("the copy's make test: %d passed, %d failed, %d skipped\n",
		      passed, failed, skipped);
	assert_true(passed > 50);
	assert_int_equal(failed, 0);
	free(copy_of_t);
	free(t);
}

/* README's `make install PREFIX=...`, in the copy (built by the test
 * above, or here): the four programs land in PREFIX/bin and run from
 * there. */
static void test_make_install(void **state)
{
	(void)state;
	if (getenv("VGGFEAT_NESTED"))
		skip();
	static const char *const progs[] = {"extract", "train-head", "predict", "featdb"};
	char prefix[600], log[600], cmd[2048];
	snprintf(prefix, sizeof prefix, "%s/../prefix", copy);
	snprintf(log, sizeof log, "%s/../install.log", copy);
	snprintf(cmd, sizeof cmd, "make install PREFIX=%s", prefix);
	int rc = run_in_copy(cmd, log);
	char *t = tail_of(log, 3000);
	if (rc != 0)
		print_error("%s exited %d:\n%s\n", cmd, rc, t);
	free(t);
	assert_int_equal(rc, 0);
	for (int i = 0; i < 4; i++) {
		snprintf(cmd, sizeof cmd, "%s/bin/%s --version", prefix, progs[i]);
		rc = run_in_copy(cmd, log);
		t = tail_of(log, 300);
		if (rc != 0 || !strstr(t, progs[i]))
			print_error("%s exited %d:\n%s\n", cmd, rc, t);
		assert_int_equal(rc, 0);
		assert_non_null(strstr(t, progs[i]));
		free(t);
		/* Its man page, installed and readable by man. */
		snprintf(cmd, sizeof cmd, "test -s %s/share/man/man1/%s.1 && "
			 "{ ! command -v man >/dev/null || "
			 "MANPATH=%s/share/man man %s | grep -q -- --help; }", prefix,
			 progs[i], prefix, progs[i]);
		rc = run_in_copy(cmd, log);
		if (rc != 0)
			print_error("%s exited %d:\n%s\n", cmd, rc, t = tail_of(log, 600)), free(t);
		assert_int_equal(rc, 0);
	}
	/* featdb's page holds each command's own help too, its dashes ASCII. */
	snprintf(cmd, sizeof cmd, "test -s %s/share/man/man1/featdb.1 && { ! command -v "
		 "man >/dev/null || { MANPATH=%s/share/man man featdb > man.txt && grep -q "
		 "-- '^ *featdb merge --out OUT IN' man.txt && grep -q -- '^ *example: "
		 "featdb remove' man.txt; }; }", prefix, prefix);
	rc = run_in_copy(cmd, log);
	if (rc != 0)
		print_error("%s exited %d\n", cmd, rc);
	assert_int_equal(rc, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_commands),
		cmocka_unit_test(test_make_install),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
