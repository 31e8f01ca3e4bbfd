/* test_pipeline.c - pipeline.sh as a program: its options as the C
 * programs take them (--opt value, --opt=value), --help and --version,
 * usage errors (status 2, one line and the Try line, before anything is
 * built or run), the options forwarded to the stages, the picture (whole
 * epochs on its axis, as gnuplot draws it, and a sweep's curves named by
 * their settings), and the packages it and `make` ask for: the pipeline's
 * own, never the tests' cmocka or `make install`'s help2man, and as one
 * apt-get line when not root. */
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
#include <unistd.h>

#include "testutil.h"
#include "version.h"

static char g_dir[64];

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

/* sh runs the shell command (printf-style) with its standard output and
 * error into g_dir/log; returns the exit status, the output in *out
 * (malloc'd). */
static int sh(char **out, const char *fmt, ...)
{
	char cmd[8192], full[8400], log[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	snprintf(log, sizeof log, "%s/log", g_dir);
	snprintf(full, sizeof full, "{ %s ; } > %s 2>&1", cmd, log);
	int st = system(full);
	*out = tu_read_text(log);
	if (!*out)
		*out = strdup("");
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A usage error of pipeline.sh: status 2, exactly msg and the Try line. */
static void expect_usage(const char *args, const char *msg)
{
	char *out, want[2048];
	int st = sh(&out, "./pipeline.sh %s", args);
	snprintf(want, sizeof want, "pipeline.sh: %s\nTry './pipeline.sh --help'.\n", msg);
	if (st != 2 || strcmp(out, want) != 0)
		fail_msg("./pipeline.sh %s: status %d, wanted 2 and:\n%sgot:\n%s", args, st,
			 want, out);
	free(out);
}

/* Parsed before anything else: no build, no package, no stage runs. */
static void test_options(void **state)
{
	(void)state;
	char *out;
	expect_usage("--bogus", "unknown option --bogus");
	expect_usage("--epochs", "option --epochs needs a value");
	expect_usage("--strict=yes", "option --strict takes no value");
	expect_usage("--report=r --bogus=3", "unknown option --bogus=3");
	expect_usage("faces1 faces2", "one FACES_DIR only ('faces1' and 'faces2')");
	expect_usage("faces1 --in faces2", "one FACES_DIR only ('faces1' and 'faces2')");

	/* Nothing the pipeline writes may lie inside FACES_DIR: the next
	 * extract read a report folder there as a person, its training.png as
	 * an image.  Refused before anything is written. */
	char faces[600], person[700], args[1600], msg[1600], cwd[4096];
	snprintf(faces, sizeof faces, "%s/pf", g_dir);
	snprintf(person, sizeof person, "%s/ann", faces);
	assert_int_equal(mkdir(faces, 0755), 0);
	assert_int_equal(mkdir(person, 0755), 0);
	snprintf(args, sizeof args, "%s --report %s/rep", faces, faces);
	snprintf(msg, sizeof msg, "--report %s/rep is inside FACES_DIR %s: the next run "
		 "would read it as a person's folder or images; give a path outside it",
		 faces, faces);
	expect_usage(args, msg);
	snprintf(args, sizeof args, "%s --report %s/rep --db %s/x.lmdb", faces, g_dir,
		 person);
	snprintf(msg, sizeof msg, "--db %s/x.lmdb is inside FACES_DIR %s: the next run "
		 "would read it as a person's folder or images; give a path outside it",
		 person, faces);
	expect_usage(args, msg);
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(sh(&out, "cd %s && %s/pipeline.sh .", faces, cwd), 2);
	assert_non_null(strstr(out, "pipeline.sh: --report pipeline-report is inside "
			       "FACES_DIR .: the next run would read it"));
	free(out);
	snprintf(args, sizeof args, "%s/rep", faces);
	assert_int_equal(access(args, F_OK), -1);
	snprintf(args, sizeof args, "%s/pipeline-report", faces);
	assert_int_equal(access(args, F_OK), -1);

	assert_int_equal(sh(&out, "./pipeline.sh --version"), 0);
	assert_string_equal(out, "pipeline.sh " VGGFEAT_VERSION "\n");
	free(out);
	/* One usage text: the stages' options, each once. */
	assert_int_equal(sh(&out, "./pipeline.sh --help"), 0);
	static const char *const opts[] = {
		"--report DIR", "--db PATH", "--out FILE", "--history FILE", "--weights FILE",
		"--model vgg16|vggface", "--batch N", "--decode-threads N", "--limit N", "--dtype",
		"--conv", "--follow-links", "--strict", "--epochs N", "--lr X", "--batch-size N",
		"--beta1", "--beta2", "--epsilon", "--l2", "--val-split F", "--keep F",
		"--seed N", "--top-k N", "--min-prob P", "--threads N", "-q, --quiet",
		"--version", "--hidden K", "--dropout X", "--label-smoothing X",
		"--class-weight W", "--lr-schedule S", "--patience N", "--monitor M",
		"--min-delta X", "--restore-best", "--reduce-lr F", "--reduce-lr-patience N",
		"--min-lr X", "--test-split F", "--confusion FILE",
	};
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
		if (tu_count(out, opts[i]) != 1)
			fail_msg("--help names '%s' %d times:\n%s", opts[i], tu_count(out, opts[i]),
				 out);
	assert_int_equal(tu_count(out, "usage: ./pipeline.sh"), 1);
	assert_null(strstr(out, "VGGFEAT_"));
	free(out);
	assert_int_equal(sh(&out, "./pipeline.sh --help-dev"), 0);
	assert_non_null(strstr(out, "extract --help-dev"));
	free(out);
}

/* The lines of the dumb terminal's drawing just above each "epoch" label:
 * the x axis' tic labels, every one an integer, 1 to epochs in order, in
 * each panel. */
static void expect_whole_epochs(const char *report, int epochs)
{
	char *out;
	int st = sh(&out, "cd %s && gnuplot -e 'set terminal dumb size 120,40' training.gp",
		    report);
	if (st != 0)
		fail_msg("gnuplot exited %d:\n%s", st, out);
	int panels = 0;
	char *prev = NULL;
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *word = line + strspn(line, " ");
		if (strncmp(word, "epoch", 5) == 0 && prev) {
			/* Both panels' labels share the line: 1..epochs, twice. */
			int want = 1, n = 0;
			char *save = NULL;
			for (char *t = strtok_r(prev, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
				char *end;
				long v = strtol(t, &end, 10);
				if (*end)
					fail_msg("a tic label '%s' is not a whole epoch", t);
				assert_int_equal(v, want);
				want = want == epochs ? 1 : want + 1;
				n++;
			}
			assert_int_equal(n, 2 * epochs);
			panels++;
			break;
		}
		prev = line;
	}
	assert_int_equal(panels, 1);
	free(out);
}

/* The demo, as README's first command runs it, with options in both forms:
 * --epochs=2 and --report DIR; --keep and --top-k reach train-head and
 * predict; the head, the history and the picture are where they say. */
static void test_demo(void **state)
{
	(void)state;
	TU_SKIP_SANITIZED("pipeline.sh builds and runs bin/'s plain programs");
	char report[128], *out, path[256];
	snprintf(report, sizeof report, "%s/report", g_dir);
	int st = sh(&out, "./pipeline.sh --epochs=2 --report %s --keep=0.9 --top-k 2 "
		    "--threads=2 --seed 3", report);
	if (st != 0)
		fail_msg("exit %d:\n%s", st, out);
	assert_non_null(strstr(out, "Epoch 2/2\n"));
	assert_null(strstr(out, "Epoch 3/"));
	/* train-head's suggestion names the --keep it was given. */
	assert_non_null(strstr(out, ", --keep 0.9) "));
	/* predict's two ranks of the demo's photo, one it did not train on. */
	assert_non_null(strstr(out, "/demo-photos/person_01.jpg\t2\t"));
	assert_null(strstr(out, "person_01.jpg\t3\t"));
	snprintf(path, sizeof path, "%s/demo-faces/person_01/013.jpg", report);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/demo-faces/person_01/012.jpg", report);
	assert_int_equal(access(path, F_OK), 0);
	char done[512];
	snprintf(done, sizeof done, "pipeline.sh: done: %s/head.h5 (the head), "
		 "%s/history.csv, %s/training.png\n", report, report, report);
	assert_non_null(strstr(out, done));
	free(out);
	static const char *const files[] = {"head.h5", "history.csv", "training.png",
					    "training.gp"};
	for (int i = 0; i < 4; i++) {
		struct stat sb;
		snprintf(path, sizeof path, "%s/%s", report, files[i]);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(sb.st_size > 0);
	}
	expect_whole_epochs(report, 2);
	snprintf(path, sizeof path, "%s/training.gp", report);
	char *gp = tu_read_text(path);
	assert_non_null(strstr(gp, "set xtics 1,1,2\n"));
	/* The best val_accuracy is marked, and named in the key. */
	assert_non_null(strstr(gp, "title 'best val_accuracy "));
	free(gp);

	/* A value a stage refuses: a usage error before any stage runs (the
	 * store, made above, is not touched). */
	st = sh(&out, "./pipeline.sh --report %s --epochs=abc", report);
	if (st != 2 || strcmp(out, "pipeline.sh: train-head: --epochs: 'abc' is not "
			      "an integer\nTry './pipeline.sh --help'.\n") != 0)
		fail_msg("--epochs=abc: exit %d:\n%s", st, out);
	free(out);
	/* So is a combination a stage refuses (train-head's, extract's),
	 * before extract has run on a single image. */
	st = sh(&out, "./pipeline.sh --report %s --restore-best", report);
	if (st != 2 || strcmp(out, "pipeline.sh: train-head: --restore-best is "
			      "EarlyStopping's restore_best_weights: give --patience\n"
			      "Try './pipeline.sh --help'.\n") != 0)
		fail_msg("--restore-best alone: exit %d:\n%s", st, out);
	free(out);
	st = sh(&out, "./pipeline.sh --report %s --pooling avg", report);
	if (st != 2 || !strstr(out, "pipeline.sh: extract: --pooling avg: "))
		fail_msg("--pooling without its layer: exit %d:\n%s", st, out);
	free(out);
	st = sh(&out, "./pipeline.sh --report %s --dtype f8", report);
	if (st != 2 || !strstr(out, "pipeline.sh: extract: --dtype: 'f8' is not f32 or f16\n"))
		fail_msg("--dtype f8: exit %d:\n%s", st, out);
	free(out);

	/* A sweep on the same store: one curve per run, named by the setting
	 * that varies, one history file each. */
	st = sh(&out, "./pipeline.sh --report %s --epochs 3 --lr 1e-3,1e-2 -q", report);
	if (st != 0)
		fail_msg("sweep: exit %d:\n%s", st, out);
	snprintf(done, sizeof done, "%s/history.run1.csv %s/history.run2.csv, ", report,
		 report);
	assert_non_null(strstr(out, done));
	free(out);
	snprintf(path, sizeof path, "%s/training.gp", report);
	gp = tu_read_text(path);
	assert_non_null(strstr(gp, "'history.run1.csv' using "));
	assert_non_null(strstr(gp, "title 'run 1: lr 0.001'"));
	assert_non_null(strstr(gp, "title 'run 2: lr 0.01'"));
	assert_non_null(strstr(gp, "title 'best val_accuracy "));
	free(gp);
	expect_whole_epochs(report, 3);

	/* train-head's tuning passes through (a flag among them), and a sweep
	 * of two options names both, as the table shows only what varies. */
	st = sh(&out, "./pipeline.sh --report %s --epochs 3 --lr 1e-3,1e-2 --dropout 0,0.5 "
		"--patience 1 --restore-best --test-split 0.2 -q", report);
	if (st != 0)
		fail_msg("sweep of two: exit %d:\n%s", st, out);
	free(out);
	gp = tu_read_text(path);
	assert_non_null(strstr(gp, "title 'run 1: lr 0.001, dropout 0'"));
	assert_non_null(strstr(gp, "title 'run 4: lr 0.01, dropout 0.5'"));
	free(gp);

	/* A stage that fails leaves no picture of an earlier run behind. */
	st = sh(&out, "./pipeline.sh --report %s --epochs 1 --class-weight "
		"/nonexistent/weights.json -q", report);
	if (st != 1 || !strstr(out, "pipeline.sh: error: train-head failed\n"))
		fail_msg("a failed train-head: exit %d:\n%s", st, out);
	free(out);
	snprintf(path, sizeof path, "%s/training.png", report);
	assert_int_equal(access(path, F_OK), -1);
	/* The demo's predict options on a real run: said to be ignored. */
	st = sh(&out, "mkdir -p %s/faces && ./pipeline.sh %s/faces --report %s "
		"--top-k 3 --epochs=abc", g_dir, g_dir, report);
	if (st != 2 || !strstr(out, "pipeline.sh: note: ignored: --top-k (for the "
			       "demo's predict; a run on FACES_DIR predicts nothing)\n"))
		fail_msg("--top-k with FACES_DIR: exit %d:\n%s", st, out);
	free(out);
	/* A FACES_DIR that is not there: said before anything is built or
	 * written, no report folder left behind. */
	snprintf(path, sizeof path, "%s/report2", g_dir);
	st = sh(&out, "./pipeline.sh %s/nonexistent --report %s", g_dir, path);
	if (st != 1 || !strstr(out, "/nonexistent: no such folder (FACES_DIR holds one "
			       "folder of images per person)\n"))
		fail_msg("a missing FACES_DIR: exit %d:\n%s", st, out);
	free(out);
	assert_int_equal(access(path, F_OK), -1);
}

/* fake_machine: a folder of stand-ins for dpkg-query (no package installed)
 * and id (not root), and a pkg-config folder without cmocka; returns the
 * shell's variable assignments for them. */
static const char *fake_machine(void)
{
	static char env[1024];
	char *out;
	assert_int_equal(sh(&out, "set -e; cd %s; mkdir -p fake pc; "
			 "printf '#!/bin/sh\\nexit 1\\n' > fake/dpkg-query; "
			 "printf '#!/bin/sh\\necho 1000\\n' > fake/id; chmod +x fake/*; "
			 "for d in $(pkg-config --variable pc_path pkg-config | tr : ' '); do "
			 "[ -d $d ] && ln -sf $d/*.pc pc/ 2>/dev/null || true; done; "
			 "rm -f pc/cmocka.pc; pkg-config --exists openblas", g_dir), 0);
	free(out);
	/* A make that runs this test (make test-asan's, say) passes its
	 * command line's variables (BUILD=build-asan) to every process below
	 * it, both as environment variables and through MAKEFLAGS: the fake
	 * machine's make starts without them. */
	snprintf(env, sizeof env, "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u BIN "
		 "-u OPT PATH=%s/fake:$PATH PKG_CONFIG_LIBDIR=%s/pc", g_dir, g_dir);
	return env;
}

/* Each command asks for its own packages: the pipeline for the build's
 * and gnuplot, `make` for the build's, `make test` for cmocka too; when
 * not root, as the one apt-get line to run. */
static void test_packages(void **state)
{
	(void)state;
	char *out, *build, *pipeline, want[1024];
	assert_int_equal(sh(&build, "bash .ci/deps.sh --list build"), 0);
	assert_int_equal(sh(&pipeline, "bash .ci/deps.sh --list pipeline"), 0);
	build[strcspn(build, "\n")] = 0;
	pipeline[strcspn(pipeline, "\n")] = 0;
	assert_non_null(strstr(build, "libopenblas-dev"));
	snprintf(want, sizeof want, "%s gnuplot-nox", build);
	assert_string_equal(pipeline, want);
	assert_null(strstr(pipeline, "cmocka"));
	assert_null(strstr(pipeline, "help2man"));
	assert_int_equal(sh(&out, "bash .ci/deps.sh --list test"), 0);
	assert_non_null(strstr(out, "libcmocka-dev"));
	free(out);
	assert_int_equal(sh(&out, "bash .ci/deps.sh --list install"), 0);
	assert_non_null(strstr(out, "help2man"));
	free(out);

	/* A machine where none is installed, and not as root. */
	const char *env = fake_machine();
	assert_int_equal(sh(&out, "%s bash .ci/deps.sh pipeline", env), 1);
	snprintf(want, sizeof want, "deps: missing packages; as root, run: apt-get "
		 "install -y %s\n", pipeline);
	assert_string_equal(out, want);
	free(out);
	assert_int_equal(sh(&out, "%s ./pipeline.sh --epochs 2", env), 1);
	snprintf(want, sizeof want, "deps: missing packages; as root, run: apt-get "
		 "install -y %s\npipeline.sh: error: missing packages (see above)\n", pipeline);
	assert_string_equal(out, want);
	free(out);

	/* `make` needs no cmocka (here pkg-config does not know it): it asks
	 * for nothing; a test program does. */
	int st = sh(&out, "%s make -n all", env);
	if (st != 0 || strstr(out, "deps:") || strstr(out, "cmocka"))
		fail_msg("make -n all without cmocka: exit %d\n%s", st, out);
	free(out);
	st = sh(&out, "%s make -n build/tests/test_cli", env);
	if (st != 2 || !strstr(out, "deps: missing packages; as root, run: apt-get install -y ") ||
	    !strstr(out, " libcmocka-dev\n"))
		fail_msg("make -n build/tests/test_cli without cmocka: exit %d\n%s", st, out);
	free(out);
	free(build);
	free(pipeline);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_packages),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
