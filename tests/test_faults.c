/* test_faults.c - extract and train-head under faults, through the real
 * programs on generated data (issue 7):
 *  - kill -9 at more than 20 points of extract runs, most of them at a write
 *    to data.mdb (inside a commit), each followed by a rerun; after every
 *    kill the store opens, verifies and holds only records an uninterrupted
 *    run writes, byte for byte, and the last rerun completes it to exactly
 *    that store;
 *  - a full disk (a small tmpfs in a private mount namespace): one clear
 *    error, a store that verifies, and after space is freed a rerun that
 *    completes it;
 *  - featdb info, featdb verify and train-head reading while extract writes;
 *  - two extracts on one store: the second refuses clearly, nothing is lost;
 *  - train-head --out killed while writing, or writing to a full or a
 *    read-only file system: the old head file stays as it was.
 * Kill points come from inotify: the test watches the store's folder and
 * sends SIGKILL at the k-th write to data.mdb (or to the head's temporary
 * file), so they land inside commits without any help from the programs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "e2e.h"
#include "error.h"
#include "store/featdb.h"
#include "head/head.h"
#include "proc.h"
#include "testutil.h"

#define NIMG 6          /* images of the shared face folder */
#define MIN_KILLS 22
#define CHILD_SKIP 77   /* a namespace child: no right to mount here */

/* The face folder every test extracts, and the store an uninterrupted run
 * makes of it, in the default batches of 8 (the runs killed below commit
 * every image: --batch 1; an image's record does not depend on its batch). */
static char g_dir[256], g_faces[512], g_ref[512];
static e2e_dump_t g_refdump;
static double g_full; /* seconds of the uninterrupted run */

static int setup(void **state)
{
	char log[600], why[ERR_LEN];
	(void)state;
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	snprintf(g_faces, sizeof g_faces, "%s/faces", g_dir);
	snprintf(g_ref, sizeof g_ref, "%s/ref.lmdb", g_dir);
	snprintf(log, sizeof log, "%s/ref.log", g_dir);
	/* Every person has a record after the third commit: readers can train
	 * a head while the last three images are still to come. */
	static const char *const rel[NIMG] = {
		"ann/1.ppm", "bob/1.pgm", "cy/1.ppm", "cy/2.ppm", "cy/3.ppm", "cy/4.ppm",
	};
	for (int i = 0; i < NIMG; i++)
		if (e2e_write_pnm(g_faces, rel[i], 20 + 3 * i, 24 - i, i == 1,
				  100 + (uint64_t)i))
			return -1;
	double t = cli_now();
	if (e2e_extract(g_faces, g_ref, log, NULL) != 0)
		return -1;
	g_full = cli_now() - t;
	if (e2e_dump(g_ref, &g_refdump, why)) {
		fprintf(stderr, "%s\n", why);
		return -1;
	}
	return g_refdump.n == NIMG ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	e2e_dump_free(&g_refdump);
	tu_rm_rf(g_dir);
	return 0;
}

static int decode_status(int st)
{
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Runs argv (output to log) and kills it with SIGKILL: when k > 0, at the
 * k-th inotify event (a modification, or the creation of the file) on a
 * file of folder dir whose name starts with prefix, after a further busy
 * wait of jitter seconds; when k == 0, after delay seconds.  Returns the exit
 * status, 128 + 9 when the kill came first. */
static int run_and_kill(char *const argv[], const char *log, const char *dir,
			const char *prefix, int k, double delay, double jitter)
{
	int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), st, seen = 0;
	assert_true(ifd >= 0);
	if (k > 0)
		assert_true(inotify_add_watch(ifd, dir, IN_MODIFY | IN_CREATE |
					      IN_MOVED_TO) >= 0);
	pid_t pid = proc_spawn(argv, log);
	assert_true(pid > 0);
	double t0 = cli_now();
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		assert_true(w >= 0);
		if (w == pid) {
			close(ifd);
			return decode_status(st);
		}
		if (k == 0 && cli_now() - t0 >= delay)
			break;
		struct pollfd p = {ifd, POLLIN, 0};
		if (poll(&p, 1, k ? 5 : 1) <= 0)
			continue;
		char buf[4096] __attribute__((aligned(8)));
		ssize_t n = read(ifd, buf, sizeof buf);
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *e = (const void *)(buf + off);
			if (e->len && strncmp(e->name, prefix, strlen(prefix)) == 0)
				seen++;
			off += (ssize_t)(sizeof *e + e->len);
		}
		if (seen >= k)
			break;
	}
	for (double t = cli_now(); cli_now() - t < jitter;)
		;
	kill(pid, SIGKILL);
	close(ifd);
	return proc_wait(pid);
}

/* featdb verify DB: its exit status; its output in log. */
static int verify(const char *db, const char *log)
{
	char *argv[] = {proc_bin("featdb"), "verify", (char *)db, NULL};
	return proc_run(argv, log);
}

/* After a kill: a store that exists is readable, verifies, and holds only
 * records of the uninterrupted run, byte for byte.  Returns its records, or
 * -1 when the kill came before the store had any metadata. */
static long check_partial(const char *db, const char *log)
{
	featdb_t *f = NULL;
	featdb_meta_t m = {0};
	e2e_dump_t d;
	char err[ERR_LEN];
	int rc = featdb_open(db, FEATDB_RDONLY, &f, err);

	if (rc == ERR_MISSING || (rc == ERR_FORMAT && strstr(err, "is empty")))
		return -1; /* no data.mdb yet, or not even its first transaction */
	if (rc)
		print_error("after a kill: %s\n", err);
	assert_int_equal(rc, 0);
	rc = featdb_meta_get(f, &m, err);
	featdb_meta_free(&m);
	featdb_close(f);
	if (rc == ERR_MISSING)
		return -1;
	assert_int_equal(rc, 0);
	if (e2e_dump(db, &d, err))
		print_error("after a kill: %s\n", err);
	assert_int_equal(d.bad, 0);
	if (e2e_subset(&d, &g_refdump, err)) {
		print_error("after a kill: %s\n", err);
		fail();
	}
	long n = (long)d.n;
	e2e_dump_free(&d);
	int st = verify(db, log);
	if (st != 0) {
		char *out = tu_slurp(log);
		print_error("featdb verify after a kill: exit %d\n%s\n", st, out);
		free(out);
	}
	assert_int_equal(st, 0);
	return n;
}

static void assert_complete(const char *db)
{
	e2e_dump_t d;
	char why[ERR_LEN];
	if (e2e_dump(db, &d, why))
		print_error("%s\n", why);
	assert_int_equal(d.bad, 0);
	if (e2e_same(&d, &g_refdump, why)) {
		print_error("%s: %s\n", db, why);
		fail();
	}
	e2e_dump_free(&d);
}

/* Cycles of kill -9 on a fresh store, each run a rerun of the last one's
 * store, until a run completes it; then the store must equal the reference.
 * One kill in four comes after a random delay (loading the weights, decoding,
 * the network); the others at the k-th write to data.mdb (k = 1..6, with up
 * to 2 ms more), that is inside or between the steps of a commit. */
static void test_kill_and_rerun(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[600], log[600], vlog[600];
	snprintf(db, sizeof db, "%s/crash.lmdb", d);
	snprintf(log, sizeof log, "%s/log", d);
	snprintf(vlog, sizeof vlog, "%s/verify.log", d);
	char *argv[] = {proc_bin("extract"), "--in", g_faces, "--db", db,
			"--weights", (char *)tu_weights_path(), "--batch", "1", "-q", NULL};
	rng_t r = {2024};
	int kills = 0, timed = 0, at_write = 0, cycles = 0, runs = 0;
	long before_meta = 0, partial = 0;

	while (kills < MIN_KILLS) {
		assert_true(cycles < 12);
		tu_rm_rf(db);
		assert_int_equal(mkdir(db, 0777), 0);
		for (int i = 0;; i++) {
			int k = 0, st;
			double delay = 0, jitter = 0;
			if (i % 4 == 3) {
				delay = g_full * rng_uniform(&r);
			} else {
				k = 1 + (int)(rng_next(&r) % 6);
				jitter = 0.002 * rng_uniform(&r);
			}
			st = run_and_kill(argv, log, db, "data.mdb", k, delay, jitter);
			runs++;
			if (st == 0)
				break;
			if (st != 128 + SIGKILL) {
				char *out = tu_slurp(log);
				print_error("extract exited %d:\n%s\n", st, out);
				free(out);
				fail();
			}
			kills++;
			timed += k == 0;
			at_write += k > 0;
			long n = check_partial(db, vlog);
			before_meta += n < 0;
			partial += n > 0 && n < NIMG;
			assert_true(i < 40);
		}
		assert_complete(db);
		assert_int_equal(verify(db, vlog), 0);
		cycles++;
	}
	print_message("%d kills in %d runs, %d cycles: %d at a write to data.mdb, "
		      "%d after a delay; %ld left no metadata yet, %ld a partial "
		      "store; each cycle ended equal to the uninterrupted run\n",
		      kills, runs, cycles, at_write, timed, before_meta, partial);
	assert_true(at_write >= MIN_KILLS / 2);
	assert_true(partial >= 3);
	tu_rm_rf(d);
}

/* Makes dir a tmpfs of size bytes in a private mount namespace (the calling
 * process's, and its children's).  0, or -1 when not allowed. */
static int private_tmpfs(const char *dir, const char *size)
{
	char opt[64];
	snprintf(opt, sizeof opt, "size=%s", size);
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, opt) != 0)
		return -1;
	return 0;
}

/* The children below run without cmocka: they report on stderr and say
 * what failed by their exit status. */
#define CHECK(cond, ...)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "line %d: ", __LINE__);                \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			return __LINE__ % 70 + 1;                              \
		}                                                              \
	} while (0)

static int full_disk_child(const char *mnt)
{
	char db[600], log[600], vlog[600], filler[600], why[ERR_LEN];
	e2e_dump_t d;
	if (private_tmpfs(mnt, "1m"))
		return CHILD_SKIP;
	snprintf(db, sizeof db, "%s/feats.lmdb", mnt);
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	snprintf(log, sizeof log, "%s/extract.log", g_dir);
	snprintf(vlog, sizeof vlog, "%s/verify.log", g_dir);

	/* A disk with no room at all: a new store cannot even begin. */
	CHECK(e2e_fill(mnt, filler, 0) == 0, "fill");
	int st = e2e_extract(g_faces, db, log, "--batch", "1", NULL);
	char *out = tu_read_text(log);
	CHECK(st == 1 && strstr(out, "No space left on device") &&
	      tu_count(out, "error:") == 1, "empty disk: exit %d:\n%s", st, out);
	free(out);
	unlink(filler);

	/* Room for the readers' table and half of LMDB's first write (its two
	 * meta pages): the store is left with one page and no commit, which a
	 * reader calls so, and which a rerun with room starts again (it was
	 * refused as truncated, for good). */
	char data[700];
	struct stat ds;
	snprintf(data, sizeof data, "%s/data.mdb", db);
	CHECK(e2e_fill(mnt, filler, 8192 + 4096) == 0, "fill");
	st = e2e_extract(g_faces, db, log, "--batch", "1", NULL);
	out = tu_read_text(log);
	CHECK(st == 1 && strstr(out, "No space left on device") &&
	      tu_count(out, "error:") == 1, "half a page: exit %d:\n%s", st, out);
	free(out);
	CHECK(stat(data, &ds) == 0 && ds.st_size > 0 && ds.st_size < 8192,
	      "data.mdb is %lld bytes, not part of its first two pages",
	      (long long)ds.st_size);
	st = verify(db, vlog);
	out = tu_read_text(vlog);
	CHECK(st == 1 && strstr(out, "holds no record: the extract that made it "
				    "stopped before its first commit"),
	      "verify on the unborn store: exit %d\n%s", st, out);
	free(out);
	unlink(filler);

	/* Room for a few records: the run stops at the first commit that does
	 * not fit, with one error line. */
	CHECK(e2e_fill(mnt, filler, 3 * 20480 + 65536) == 0, "fill");
	st = e2e_extract(g_faces, db, log, "--batch", "1", NULL);
	out = tu_read_text(log);
	CHECK(st == 1 && strstr(out, "No space left on device") &&
	      tu_count(out, "error:") == 1, "full disk: exit %d:\n%s", st, out);
	fprintf(stderr, "full disk: %s", strstr(out, "extract: error"));
	free(out);
	/* The store is readable and verifies, with a part of the records. */
	st = verify(db, vlog);
	out = tu_read_text(vlog);
	CHECK(st == 0, "verify on the full disk: exit %d\n%s", st, out);
	free(out);
	CHECK(e2e_dump(db, &d, why) == 0, "%s", why);
	CHECK(e2e_subset(&d, &g_refdump, why) == 0, "%s", why);
	CHECK(d.n > 0 && d.n < NIMG, "%zu records stored", d.n);
	fprintf(stderr, "full disk: %zu of %d records committed\n", d.n, NIMG);
	e2e_dump_free(&d);

	/* Space freed, a rerun (in other batches) completes the store. */
	unlink(filler);
	st = e2e_extract(g_faces, db, log, "--batch", "4", NULL);
	CHECK(st == 0, "rerun: exit %d", st);
	CHECK(e2e_dump(db, &d, why) == 0, "%s", why);
	CHECK(e2e_same(&d, &g_refdump, why) == 0, "%s", why);
	e2e_dump_free(&d);
	CHECK(verify(db, vlog) == 0, "verify after the rerun");
	return 0;
}

static void run_child(int (*fn)(const char *), const char *dir)
{
	int status;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(dir));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == CHILD_SKIP)
		skip(); /* no right to mount a tmpfs here */
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_full_disk(void **state)
{
	(void)state;
	const char *mnt = tu_tmpdir();
	run_child(full_disk_child, mnt);
	tu_rm_rf(mnt);
}

/* featdb info, featdb verify and train-head, over and over while extract
 * writes: each succeeds or, while the store has too little in it, fails
 * with one clear line; none crashes, and the store ends complete.  Once
 * every person has a record, extract is also stopped (SIGSTOP) wherever it
 * is, perhaps inside a commit, and the three must then all succeed. */
static void test_readers_while_writing(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[600], log[600], rlog[600], head[600];
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log, sizeof log, "%s/extract.log", d);
	snprintf(rlog, sizeof rlog, "%s/reader.log", d);
	snprintf(head, sizeof head, "%s/head.h5", d);
	char *ext[] = {proc_bin("extract"), "--in", g_faces, "--db", db, "--weights",
		       (char *)tu_weights_path(), "--batch", "1", "-q", NULL};
	char *info[] = {proc_bin("featdb"), "info", db, NULL};
	char *ver[] = {proc_bin("featdb"), "verify", db, NULL};
	char *train[] = {proc_bin("train-head"), "--db", db, "--epochs", "2",
			 "--val-split", "0", "--out", head, "-q", NULL};
	/* What a reader may say while the store is still being born.  People
	 * without a record yet are no refusal: train-head trains on what is
	 * there. */
	static const char *const early[] = {
		"no such feature store", "no data.mdb", "an empty store",
		"the store is empty", "is empty, not a feature store",
		"people were added while",
	};
	int ok[3] = {0}, refused[3] = {0}, rounds = 0, stopped = 0;

	pid_t pid = proc_spawn(ext, log);
	assert_true(pid > 0);
	for (;;) {
		int st, done = waitpid(pid, &st, WNOHANG) == pid;
		char *const *which[3] = {info, ver, train};
		long n = done || stopped ? -1 : e2e_store_count(db);
		if (n >= 3 && n < NIMG) {
			assert_int_equal(kill(pid, SIGSTOP), 0);
			stopped = 1;
		}
		for (int r = 0; r < 3; r++) {
			int rs = proc_run(which[r], rlog);
			char *out = tu_slurp(rlog);
			int known = 0;
			for (size_t e = 0; e < sizeof early / sizeof *early; e++)
				known |= strstr(out, early[e]) != NULL;
			if (rs == 0) {
				ok[r]++;
			} else if (rs == 1 && known && tu_count(out, "error:") == 1 &&
				   stopped != 1) {
				refused[r]++;
			} else {
				print_error("%s exited %d while extract wrote:\n%s\n",
					    which[r][0], rs, out);
				fail();
			}
			free(out);
		}
		if (stopped == 1) {
			assert_int_equal(kill(pid, SIGCONT), 0);
			stopped = 2;
		}
		rounds++;
		if (done) {
			assert_int_equal(decode_status(st), 0);
			break;
		}
	}
	print_message("%d rounds while extract wrote (one with extract stopped "
		      "midway): info %d ok, %d refused (early); verify %d ok, %d "
		      "refused; train-head %d ok, %d refused\n", rounds, ok[0],
		      refused[0], ok[1], refused[1], ok[2], refused[2]);
	assert_int_equal(stopped, 2);
	assert_true(ok[0] >= 1 && ok[1] >= 1 && ok[2] >= 1);
	assert_complete(db);
	tu_rm_rf(d);
}

/* Whether a process holds the exclusive lock extract takes. */
static int lock_held(const char *db)
{
	char path[700];
	snprintf(path, sizeof path, "%s/extract.lock", db);
	int fd = open(path, O_RDONLY | O_CLOEXEC), held = 0;
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
		held = errno == EWOULDBLOCK;
	else
		flock(fd, LOCK_UN);
	close(fd);
	return held;
}

static void test_two_extracts(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[600], log1[600], log2[600];
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(log1, sizeof log1, "%s/1.log", d);
	snprintf(log2, sizeof log2, "%s/2.log", d);
	char *ext[] = {proc_bin("extract"), "--in", g_faces, "--db", db, "--weights",
		       (char *)tu_weights_path(), "--batch", "1", "-q", NULL};
	static const char msg[] = "another program (extract, featdb merge or featdb "
				  "remove) is writing to this store; wait for it to "
				  "finish";

	/* The second starts while the first works (stopped, so that it cannot
	 * finish first): it refuses. */
	pid_t a = proc_spawn(ext, log1);
	double t0 = cli_now();
	while (!lock_held(db)) {
		assert_true(cli_now() - t0 < 120);
		proc_sleep(0.005);
	}
	assert_int_equal(kill(a, SIGSTOP), 0);
	int sb = proc_run(ext, log2);
	/* Nor does featdb merge write into it meanwhile. */
	char other[600], why[ERR_LEN];
	snprintf(other, sizeof other, "%s/other.lmdb", d);
	if (e2e_make_store(other, 3, 8, 5, why))
		fail_msg("%s", why);
	char *merge[] = {proc_bin("featdb"), "merge", db, other, NULL};
	char log3[700];
	snprintf(log3, sizeof log3, "%s/3.log", d);
	int sm = proc_run(merge, log3);
	assert_int_equal(kill(a, SIGCONT), 0);
	assert_int_equal(sb, 1);
	char *out = tu_slurp(log2);
	assert_non_null(strstr(out, msg));
	assert_int_equal(tu_count(out, "error:"), 1);
	free(out);
	assert_int_equal(sm, 1);
	out = tu_slurp(log3);
	assert_non_null(strstr(out, msg));
	free(out);
	assert_int_equal(proc_wait(a), 0);
	assert_complete(db);

	/* Both at once on a new store: one works, the other refuses (or, if
	 * it came after, has nothing to do); the store is whole either way. */
	tu_rm_rf(db);
	a = proc_spawn(ext, log1);
	pid_t b = proc_spawn(ext, log2);
	int sa = proc_wait(a);
	sb = proc_wait(b);
	print_message("two extracts started together: exit %d and %d\n", sa, sb);
	assert_true((sa == 0 && (sb == 0 || sb == 1)) || (sa == 1 && sb == 0));
	if (sa || sb) {
		out = tu_slurp(sa ? log1 : log2);
		assert_non_null(strstr(out, msg));
		free(out);
	}
	assert_complete(db);
	tu_rm_rf(d);
}

/* ---- train-head --out ---------------------------------------------------- */

/* A store of 3 people, 10 records each, of 4096-d ReLU-like vectors. */
static void make_train_store(const char *path)
{
	char why[ERR_LEN];
	int rc = e2e_make_store(path, 30, 4096, 77, why);
	if (rc)
		print_error("%s\n", why);
	assert_int_equal(rc, 0);
}

/* train-head --db db --out out --seed seed, output to log. */
static int train(const char *db, const char *out, const char *seed, const char *log)
{
	char *argv[] = {proc_bin("train-head"), "--db", (char *)db, "--out",
			(char *)out, "--epochs", "1", "--val-split", "0", "--seed",
			(char *)seed, "-q", NULL};
	return proc_run(argv, log);
}

static int same_file(const char *a, const char *b)
{
	size_t la, lb;
	uint8_t *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
	int same = x && y && la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

/* Whether two head files hold the same head (HDF5 stamps objects with
 * their creation time, so two writes of one head differ in a few bytes). */
static int same_head(const char *a, const char *b)
{
	head_t ha = {0}, hb = {0};
	head_meta_t ma = {0}, mb = {0};
	char err[ERR_LEN];
	int same = head_load(a, &ha, &ma, err) == 0 && head_load(b, &hb, &mb, err) == 0 &&
		   head_same_shape(&ha, &hb) && ma.nclasses == mb.nclasses &&
		   memcmp(ha.params, hb.params, ha.nparams * sizeof(float)) == 0 &&
		   strcmp(ma.fingerprint, mb.fingerprint) == 0;
	for (int c = 0; same && c < ma.nclasses; c++)
		same = strcmp(ma.classes[c], mb.classes[c]) == 0;
	head_free(&ha);
	head_free(&hb);
	head_meta_free(&ma);
	head_meta_free(&mb);
	return same;
}

/* kill -9 at the k-th write of the new head (its creation, its bytes, the
 * rename): head.h5 is the old file, untouched, or the whole new one. */
static void test_head_out_killed(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[600], dir[600], head[700], old[600], new_[600], log[600];
	snprintf(db, sizeof db, "%s/feats.lmdb", d);
	snprintf(dir, sizeof dir, "%s/out", d);
	snprintf(head, sizeof head, "%s/head.h5", dir);
	snprintf(old, sizeof old, "%s/old.h5", d);
	snprintf(new_, sizeof new_, "%s/new.h5", d);
	snprintf(log, sizeof log, "%s/log", d);
	make_train_store(db);
	assert_int_equal(mkdir(dir, 0777), 0);
	assert_int_equal(train(db, old, "1", log), 0);
	assert_int_equal(train(db, new_, "2", log), 0);
	assert_false(same_head(old, new_));

	char *argv[] = {proc_bin("train-head"), "--db", db, "--out", head,
			"--epochs", "1", "--val-split", "0", "--seed", "2", "-q", NULL};
	int kills = 0, kept = 0, replaced = 0;
	for (int k = 1; k <= 8; k++) {
		char cmd[1500];
		snprintf(cmd, sizeof cmd, "cp %s %s", old, head);
		assert_int_equal(system(cmd), 0);
		/* "head.h5" matches the temporary file and the rename. */
		int st = run_and_kill(argv, log, dir, "head.h5", k, 0, 0);
		kills += st == 128 + SIGKILL;
		assert_true(st == 0 || st == 128 + SIGKILL);
		if (same_file(head, old))
			kept++;
		else if (same_head(head, new_))
			replaced++;
		else
			fail_msg("after a kill at write %d, head.h5 is neither file", k);
	}
	print_message("%d kills: head.h5 kept %d times, replaced whole %d times\n",
		      kills, kept, replaced);
	assert_true(kills >= 3);
	tu_rm_rf(d);
}

static int head_child(const char *mnt)
{
	char db[600], head[700], old[600], filler[700], log[600];
	snprintf(db, sizeof db, "%s/feats.lmdb", g_dir);
	snprintf(old, sizeof old, "%s/old.h5", g_dir);
	snprintf(log, sizeof log, "%s/head.log", g_dir);
	if (private_tmpfs(mnt, "1m"))
		return CHILD_SKIP;
	snprintf(head, sizeof head, "%s/head.h5", mnt);
	snprintf(filler, sizeof filler, "%s/filler", mnt);

	/* A full file system: the new head cannot be written. */
	char cmd[2000];
	snprintf(cmd, sizeof cmd, "cp %s %s", old, head);
	CHECK(system(cmd) == 0, "cp");
	CHECK(e2e_fill(mnt, filler, 0) == 0, "fill");
	int st = train(db, head, "2", log);
	char *out = tu_read_text(log);
	CHECK(st == 1 && strstr(out, "No space left on device") &&
	      tu_count(out, "error:") == 1, "full: exit %d\n%s", st, out);
	free(out);
	CHECK(same_file(head, old), "full: head.h5 changed");
	snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 2", mnt);
	CHECK(system(cmd) == 0, "full: a temporary file was left behind");

	/* A read-only file system. */
	unlink(filler);
	CHECK(mount("none", mnt, "none", MS_REMOUNT | MS_RDONLY, NULL) == 0, "remount: %s",
	      strerror(errno));
	st = train(db, head, "2", log);
	out = tu_read_text(log);
	CHECK(st == 1 && strstr(out, "Read-only file system") &&
	      tu_count(out, "error:") == 1, "read-only: exit %d\n%s", st, out);
	free(out);
	CHECK(same_file(head, old), "read-only: head.h5 changed");
	return 0;
}

static void test_head_out_unwritable(void **state)
{
	(void)state;
	char db[600], old[600], log[600];
	snprintf(db, sizeof db, "%s/feats.lmdb", g_dir);
	snprintf(old, sizeof old, "%s/old.h5", g_dir);
	snprintf(log, sizeof log, "%s/head.log", g_dir);
	tu_rm_rf(db);
	make_train_store(db);
	assert_int_equal(train(db, old, "1", log), 0);
	const char *mnt = tu_tmpdir();
	run_child(head_child, mnt);
	tu_rm_rf(mnt);
	tu_rm_rf(db);
	unlink(old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_and_rerun),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_readers_while_writing),
		cmocka_unit_test(test_two_extracts),
		cmocka_unit_test(test_head_out_killed),
		cmocka_unit_test(test_head_out_unwritable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
