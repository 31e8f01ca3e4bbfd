/* test_cli.c - cli.h, the programs' shared option and output helpers:
 * the two forms of failure (a usage error with its Try line, a runtime
 * error), number parsing at its edges with the exact messages users see,
 * the unknown-option message, a standard output that fails (a full disk)
 * reported rather than lost, and the TSV escapes undone by a plain
 * reference reader; and one vocabulary across the real programs: every
 * program of bin/ takes --threads N, compute threads, and lists it in its
 * --help (issue 21). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"
#include "testutil.h"

/* What a call wrote to the standard error, while the real one was set
 * aside in g_dir/stderr.txt. */
static char g_stderr[4096], g_dir[64], g_path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	snprintf(g_path, sizeof g_path, "%s/stderr.txt", g_dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rm_rf(g_dir);
	return 0;
}

static void capture_begin(int *saved)
{
	fflush(stderr);
	*saved = dup(2);
	int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(*saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
}

static void capture_end(int saved)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char *s = tu_read_text(g_path);
	assert_non_null(s);
	snprintf(g_stderr, sizeof g_stderr, "%s", s);
	free(s);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	int saved;
	capture_begin(&saved);
	int rc = cli_long("prog", "--epochs", s, lo, hi, out);
	capture_end(saved);
	return rc;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	int saved;
	capture_begin(&saved);
	int rc = cli_double("prog", "--lr", s, lo, hi, out);
	capture_end(saved);
	return rc;
}

static void test_long(void **state)
{
	(void)state;
	long v = 0;
	assert_int_equal(parse_long("5", 1, 10, &v), 0);
	assert_int_equal(v, 5);
	assert_string_equal(g_stderr, "");
	assert_int_equal(parse_long("1", 1, 10, &v), 0);
	assert_int_equal(parse_long("10", 1, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_long("-3", -5, 0, &v), 0);
	assert_int_equal(v, -3);
	/* Blanks around the number, as Python's int() takes them. */
	assert_int_equal(parse_long(" 7\t", 1, 10, &v), 0);
	assert_int_equal(v, 7);

	v = 42;
	assert_int_equal(parse_long("11", 1, 10, &v), -1);
	assert_string_equal(g_stderr, "prog: --epochs: 11 is out of range 1..10\n"
			    "Try 'prog --help'.\n");
	assert_int_equal(v, 42); /* untouched on failure */
	assert_int_equal(parse_long("0", 1, 10, &v), -1);
	static const char *bad[] = {"", " ", "x", "5x", "5 x", "1.5", "0x10",
				    "99999999999999999999999"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[256];
		assert_int_equal(parse_long(bad[i], LONG_MIN, LONG_MAX, &v), -1);
		snprintf(want, sizeof want, "prog: --epochs: '%s' is not an integer\n"
			 "Try 'prog --help'.\n", bad[i]);
		assert_string_equal(g_stderr, want);
	}
	assert_int_equal(v, 42);
}

static void test_double(void **state)
{
	(void)state;
	double v = 0;
	assert_int_equal(parse_double("1e-4", 0, 1, &v), 0);
	assert_true(v == 1e-4);
	assert_int_equal(parse_double("0", 0, 1, &v), 0);
	assert_int_equal(parse_double("1", 0, 1, &v), 0);
	assert_true(v == 1);
	assert_int_equal(parse_double(" 0.5 ", 0, 1, &v), 0);
	assert_true(v == 0.5);

	v = 42;
	assert_int_equal(parse_double("1.5", 0, 1, &v), -1);
	assert_string_equal(g_stderr, "prog: --lr: 1.5 is out of range 0..1\n"
			    "Try 'prog --help'.\n");
	/* Just past a bound: named as typed (%g made it "1", the bound). */
	assert_int_equal(parse_double("1.0000001", 0, 1, &v), -1);
	assert_string_equal(g_stderr, "prog: --lr: 1.0000001 is out of range 0..1\n"
			    "Try 'prog --help'.\n");
	/* Not finite, overflowing, or not a whole number: refused as text. */
	static const char *bad[] = {"", "\t", "nan", "inf", "-inf", "1e999", "0.1x",
				    "1,5", "0.5 x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char want[256];
		assert_int_equal(parse_double(bad[i], -1e300, 1e300, &v), -1);
		snprintf(want, sizeof want, "prog: --lr: '%s' is not a number\n"
			 "Try 'prog --help'.\n", bad[i]);
		assert_string_equal(g_stderr, want);
	}
	assert_true(v == 42);
}

/* Every usage error ends with the Try line and status 2; every runtime
 * error reads "prog: error: ..." with status 1. */
static void test_usage_and_error(void **state)
{
	(void)state;
	int saved, rc, model = -1;

	capture_begin(&saved);
	rc = cli_usage("prog", "--in and --db are required");
	capture_end(saved);
	assert_int_equal(rc, CLI_USAGE);
	assert_string_equal(g_stderr, "prog: --in and --db are required\n"
			    "Try 'prog --help'.\n");
	capture_begin(&saved);
	rc = cli_error("prog", "%s: no such feature store", "x.lmdb");
	capture_end(saved);
	assert_int_equal(rc, CLI_ERROR);
	assert_string_equal(g_stderr, "prog: error: x.lmdb: no such feature store\n");
	capture_begin(&saved);
	rc = cli_model("prog", "facenet", &model);
	capture_end(saved);
	assert_int_equal(rc, -1);
	assert_int_equal(model, -1);
	assert_string_equal(g_stderr, "prog: --model: 'facenet' is not vgg16 or "
			    "vggface\nTry 'prog --help'.\n");
}

static void test_bad_option(void **state)
{
	(void)state;
	enum { O_EPOCHS = 256, O_VERSION };
	static const struct option longs[] = {
		{"epochs", required_argument, NULL, O_EPOCHS},
		{"version", no_argument, NULL, O_VERSION},
		{"out", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	static const struct { const char *arg, *want; } cases[] = {
		{"--nope", "prog: unknown option --nope\n"},
		{"--nope=3", "prog: unknown option --nope=3\n"},
		{"--epochs", "prog: option --epochs needs a value\n"},
		{"--version=2", "prog: option --version takes no value\n"},
		{"-q", "prog: unknown option -q\n"},
		{"-o", "prog: option -o needs a value\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char a0[] = "prog", a1[64];
		snprintf(a1, sizeof a1, "%s", cases[i].arg);
		char *argv[] = {a0, a1, NULL};
		optind = 0; /* glibc: start afresh */
		opterr = 0;
		int saved, rc;
		assert_int_equal(getopt_long(2, argv, "o:", longs, NULL), '?');
		capture_begin(&saved);
		rc = cli_bad_option("prog", argv, "o:");
		capture_end(saved);
		char want[256];
		snprintf(want, sizeof want, "%sTry 'prog --help'.\n", cases[i].want);
		assert_int_equal(rc, CLI_USAGE);
		assert_string_equal(g_stderr, want);
	}
}

/* In a child whose standard output is /dev/full: the exit status is
 * cli_flush_stdout's result (0 or 1), or cli_flush_answer's when answer,
 * its standard error goes to a file. */
static int flush_to_full(int unbuffered, int answer)
{
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (!freopen("/dev/full", "w", stdout) ||
		    !freopen(g_path, "w", stderr))
			_exit(3);
		if (unbuffered)
			setvbuf(stdout, NULL, _IONBF, 0);
		errno = 0;
		printf("an answer the user must not lose\n");
		int rc = answer ? cli_flush_answer("prog", errno)
				: cli_flush_stdout("prog");
		fflush(stderr); /* a reopened stderr is buffered */
		_exit(rc == 0 ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	char *s = tu_read_text(g_path);
	snprintf(g_stderr, sizeof g_stderr, "%s", s ? s : "");
	free(s);
	return WEXITSTATUS(status);
}

static void test_flush_stdout(void **state)
{
	(void)state;
	/* The write fails inside the flush... */
	assert_int_equal(flush_to_full(0, 0), 1);
	assert_string_equal(g_stderr, "prog: error: writing the standard "
			    "output failed: No space left on device\n");
	/* ...or earlier, unbuffered, leaving only stdout's error flag... */
	assert_int_equal(flush_to_full(1, 0), 1);
	assert_non_null(strstr(g_stderr, "prog: error: writing the standard "
			       "output failed: "));
	/* ...whose reason cli_flush_answer is given. */
	assert_int_equal(flush_to_full(1, 1), 1);
	assert_string_equal(g_stderr, "prog: error: writing the standard "
			    "output failed: No space left on device\n");
	/* A good standard output (this process's) passes. */
	assert_int_equal(cli_flush_stdout("prog"), 0);
}

/* The reference reader of PostgreSQL's COPY text escapes. */
static void tsv_unescape(const char *s, char *out)
{
	for (; *s; s++) {
		if (*s != '\\') {
			*out++ = *s;
			continue;
		}
		s++;
		*out++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
	}
	*out = 0;
}

static void test_put_tsv(void **state)
{
	(void)state;
	static const char *fields[] = {
		"faces/Zoë/01.jpg", "a\tb", "two\nlines", "cr\r", "back\\slash",
		"\\t is not a tab", "", "\t\n\r\\",
	};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		char *buf = NULL, back[256];
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		assert_non_null(f);
		cli_put_tsv(f, fields[i]);
		fclose(f);
		/* One field: no raw tab, newline or carriage return left. */
		assert_null(strpbrk(buf, "\t\n\r"));
		tsv_unescape(buf, back);
		assert_string_equal(back, fields[i]);
		free(buf);
	}
}

static void test_redraws_and_clock(void **state)
{
	(void)state;
	/* A file is no terminal, whatever TERM says. */
	int saved;
	setenv("TERM", "xterm", 1);
	capture_begin(&saved);
	int redraws = cli_stderr_redraws();
	capture_end(saved);
	assert_int_equal(redraws, 0);

	double a = cli_now(), b = cli_now();
	assert_true(a > 0 && b >= a);
	usleep(20000);
	assert_true(cli_now() - a >= 0.019);
}

/* runs argv, its output in g_dir/out.txt: the output (malloc'd) and the
 * exit status in *status. */
static char *run_program(char *const argv[], int *status)
{
	char out[160];
	snprintf(out, sizeof out, "%s/out.txt", g_dir);
	*status = proc_run(argv, out);
	return tu_slurp(out);
}

/* The programs the Makefile builds (proc_programs), their count returned;
 * fails the test when they cannot be listed. */
#define MAX_PROGRAMS 16
static int programs(char progs[MAX_PROGRAMS][PROC_NAME])
{
	char why[256];
	int count = proc_programs(progs, MAX_PROGRAMS, why, sizeof why);

	if (count < 0)
		fail_msg("%s", why);
	return count;
}

/* Every program takes --threads N as compute threads: listed in its
 * --help, a bad count refused as a usage error. */
static void test_programs_threads(void **state)
{
	(void)state;
	char progs[MAX_PROGRAMS][PROC_NAME];
	int count = programs(progs);

	for (int i = 0; i < count; i++) {
		const char *prog = progs[i];
		char want[256];
		int st;

		char *help[] = {proc_bin(prog), "--help", NULL};
		char *out = run_program(help, &st);
		if (st != 0 || !strstr(out, "\n  --threads N ") ||
		    !strstr(strstr(out, "\n  --threads N "), "compute threads"))
			fail_msg("%s --help (exit %d) does not list --threads N, "
				 "compute threads:\n%s", prog, st, out);
		free(out);

		char *zero[] = {proc_bin(prog), "--threads", "0", NULL};
		out = run_program(zero, &st);
		snprintf(want, sizeof want, "%.63s: --threads: 0 is out of range 1..", prog);
		if (st != 2 || strncmp(out, want, strlen(want)) != 0)
			fail_msg("%s --threads 0: exit %d, %s", prog, st, out);
		free(out);
		char *word[] = {proc_bin(prog), "--threads", "x", NULL};
		out = run_program(word, &st);
		snprintf(want, sizeof want, "%.63s: --threads: 'x' is not an integer\n"
			 "Try '%.63s --help'.\n", prog, prog);
		assert_int_equal(st, 2);
		assert_string_equal(out, want);
		free(out);
	}
}

/* A path given empty (an unset variable: --weights "$W") is a usage
 * error in every program, named by its option, or among the operands;
 * --weights "" said "VGG16 weights not found at " and how to download
 * them, featdb info "" "featdb_open: bad arguments", verify "" b ": No
 * such file or directory". */
static void test_programs_empty_paths(void **state)
{
	(void)state;
	static const struct {
		const char *prog, *args[6], *want;
	} cases[] = {
		{"extract", {"--in", "faces", "--db", "f.lmdb", "--weights", ""}, "--weights: an empty path"},
		{"extract", {"--in", "", "--db", "f.lmdb"}, "--in: an empty path"},
		{"extract", {"--in", "faces", "--db", ""}, "--db: an empty path"},
		{"train-head", {"--db", ""}, "--db: an empty path"},
		{"train-head", {"--db", "f.lmdb", "--history", ""}, "--history: an empty path"},
		{"train-head", {"--db", "f.lmdb", "--out", ""}, "--out: an empty path"},
		{"train-head", {"--db", "f.lmdb", "--confusion", ""}, "--confusion: an empty path"},
		{"predict", {"--head", "", "a.jpg"}, "--head: an empty path"},
		{"predict", {"--head", "h.h5", "--weights", "", "a.jpg"}, "--weights: an empty path"},
		{"predict", {"--head", "h.h5", "a.jpg", ""}, "an empty image path among the operands"},
		{"predict", {"--head", "h.h5", "--save-model", ""}, "--save-model: an empty path"},
		{"nearest", {"--db", "", "a.jpg"}, "--db: an empty path"},
		{"nearest", {"--query-db", "", "--db", "f.lmdb"}, "--query-db: an empty path"},
		{"nearest", {"--db", "f.lmdb", ""}, "an empty image path among the operands"},
		{"verify", {"a.jpg", "b.jpg", "--db", ""}, "--db: an empty path"},
		{"verify", {"", "b.jpg", "--db", "f.lmdb"}, "an empty image path among the operands"},
		{"featdb", {"info", "--db", ""}, "--db: an empty path"},
		{"featdb", {"info", ""}, "an empty store name among the operands"},
		{"featdb", {"merge", "", "f.lmdb"}, "an empty store name among the operands"},
		{"featdb", {"export", "f.lmdb", "--out", ""}, "--out: an empty path"},
		{"featdb", {"remove", "f.lmdb", ""}, "an empty store name or key among the operands"},
	};

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *argv[8] = {proc_bin(cases[i].prog)}, want[256];
		int n = 1, st;
		for (int j = 0; j < 6 && cases[i].args[j]; j++)
			argv[n++] = (char *)cases[i].args[j];
		argv[n] = NULL;
		char *out = run_program(argv, &st);
		snprintf(want, sizeof want, "%s: %s\nTry '%s --help'.\n", cases[i].prog,
			 cases[i].want, cases[i].prog);
		if (st != 2 || strcmp(out, want) != 0)
			fail_msg("case %zu, %s: exit %d, wanted 2 and:\n%sgot:\n%s", i,
				 cases[i].prog, st, want, out);
		free(out);
	}
}

/* --help, --help-dev and --version are answers too: every program whose
 * standard output cannot take them (a full disk) says so and exits 1. */
static void test_programs_answer_to_full(void **state)
{
	(void)state;
	if (access("/dev/full", W_OK) != 0)
		skip();
	static const char *const opts[] = {"--help", "--help-dev", "--version"};
	char progs[MAX_PROGRAMS][PROC_NAME], err[160];
	int count = programs(progs);

	snprintf(err, sizeof err, "%s/err.txt", g_dir);
	for (int i = 0; i < count; i++)
		for (size_t o = 0; o < sizeof opts / sizeof *opts; o++) {
			char *argv[] = {proc_bin(progs[i]), (char *)opts[o], NULL};
			char want[160];
			int st = proc_run_split(argv, "/dev/full", err);
			char *said = tu_slurp(err);

			snprintf(want, sizeof want, "%.63s: error: writing the standard "
				 "output failed: No space left on device\n", progs[i]);
			if (st != 1 || strcmp(said, want) != 0)
				fail_msg("%s %s > /dev/full: exit %d, said '%s'", progs[i],
					 opts[o], st, said);
			free(said);
		}
}

static void test_noun(void **state)
{
	(void)state;
	assert_string_equal(cli_noun(1, "image", "images"), "image");
	assert_string_equal(cli_noun(0, "query", "queries"), "queries");
	assert_string_equal(cli_noun(2, "class", "classes"), "classes");
}

/* The names a note about empty classes gives: five at most, then "...";
 * the count is all of them; a short buffer is cut, never overrun. */
static void test_empty_names(void **state)
{
	(void)state;
	char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	size_t none[8] = {0}, some[8] = {1, 0, 2, 0, 0, 0, 0, 0}, all[8] = {1, 1, 1, 1, 1, 1, 1, 1};
	char buf[64], tiny[4];

	assert_int_equal(cli_empty_names(names, all, 8, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(cli_empty_names(names, some, 6, buf, sizeof buf), 4);
	assert_string_equal(buf, "b, d, e, f");
	assert_int_equal(cli_empty_names(names, some, 8, buf, sizeof buf), 6);
	assert_string_equal(buf, "b, d, e, f, g, ...");
	assert_int_equal(cli_empty_names(names, none, 5, buf, sizeof buf), 5);
	assert_string_equal(buf, "a, b, c, d, e");
	assert_int_equal(cli_empty_names(names, none, 8, tiny, sizeof tiny), 8);
	assert_string_equal(tiny, "a, ");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_double),
		cmocka_unit_test(test_usage_and_error),
		cmocka_unit_test(test_bad_option),
		cmocka_unit_test(test_flush_stdout),
		cmocka_unit_test(test_put_tsv),
		cmocka_unit_test(test_redraws_and_clock),
		cmocka_unit_test(test_programs_threads),
		cmocka_unit_test(test_programs_empty_paths),
		cmocka_unit_test(test_programs_answer_to_full),
		cmocka_unit_test(test_noun),
		cmocka_unit_test(test_empty_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
