/* test_fsutil.c - fsutil.h, the fsyncs that make a finished file durable:
 * a file, the folder holding a name (nested, at the top of /, or the
 * current folder for a name without a slash), and errno when there is
 * nothing to sync; the temporary files' names, and the removal of only
 * those a killed run of this host left; the file a link names, written
 * with the link kept (dangling or not), and what may be replaced through
 * one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "error.h"
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

/* The id of a process that has ended (a child, reaped). */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void test_tmp_path(void **state)
{
	(void)state;
	char tmp[4200], host[256], want[4600];

	assert_int_equal(fsutil_tmp_path("d/head.h5", tmp, sizeof tmp), 0);
	assert_int_equal(gethostname(host, sizeof host), 0);
	for (char *c = host; *c; c++)
		if (*c == '.')
			*c = '_';
	snprintf(want, sizeof want, "d/head.h5.tmp.%s.%ld", host, (long)getpid());
	assert_string_equal(tmp, want);
	errno = 0;
	assert_int_equal(fsutil_tmp_path("d/head.h5", tmp, 12), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* Beside out: a killed run's temporary file (removed), and what must stay:
 * a living process' (this one's), another host's, another file's, a name
 * that only starts like one, and a folder named like one. */
static void test_remove_stale(void **state)
{
	(void)state;
	char out[4200], mine[4400], dead[4400], p[4600];
	pid_t gone = dead_pid();

	snprintf(out, sizeof out, "%s/head.h5", g_dir);
	assert_int_equal(fsutil_tmp_path(out, mine, sizeof mine), 0);
	/* The dead run's name: this process' with the dead id. */
	snprintf(dead, sizeof dead, "%.*s%ld", (int)(strrchr(mine, '.') + 1 - mine),
		 mine, (long)gone);
	char host[256];
	assert_int_equal(gethostname(host, sizeof host), 0);
	for (char *c = host; *c; c++)
		if (*c == '.')
			*c = '_';
	assert_int_equal(tu_write_file(dead, "x", 1), 0);
	assert_int_equal(tu_write_file(mine, "x", 1), 0);
	char kept[5][4600];
	snprintf(kept[0], sizeof kept[0], "%s", mine);
	snprintf(p, sizeof p, "%s/head.h5.tmp.otherhost.%ld", g_dir, (long)gone);
	snprintf(kept[1], sizeof kept[1], "%s", p);
	snprintf(kept[2], sizeof kept[2], "%s/other.h5.tmp.%s.%ld", g_dir, host, (long)gone);
	snprintf(kept[3], sizeof kept[3], "%s/head.h5.tmp.%s.%ldx", g_dir, host, (long)gone);
	snprintf(kept[4], sizeof kept[4], "%s/head.h5.tmp.%s.", g_dir, host);
	for (int i = 1; i < 5; i++)
		assert_int_equal(tu_write_file(kept[i], "x", 1), 0);
	/* A folder with a dead run's name is not a file the program wrote. */
	char folder[4600];
	snprintf(folder, sizeof folder, "%s/stale", g_dir);
	assert_int_equal(mkdir(folder, 0777), 0);
	snprintf(p, sizeof p, "%s/stale/head.h5", g_dir);
	char dead_dir[4800];
	assert_int_equal(fsutil_tmp_path(p, dead_dir, sizeof dead_dir), 0);
	snprintf(strrchr(dead_dir, '.') + 1, 16, "%ld", (long)gone);
	assert_int_equal(mkdir(dead_dir, 0777), 0);

	assert_int_equal(fsutil_remove_stale(out), 1);
	assert_false(tu_exists(dead));
	for (int i = 0; i < 5; i++)
		if (!tu_exists(kept[i]))
			fail_msg("%s was removed", kept[i]);
	assert_int_equal(fsutil_remove_stale(p), 0);
	assert_true(tu_exists(dead_dir));
	/* Again: nothing left to remove. */
	assert_int_equal(fsutil_remove_stale(out), 0);
}

/* A whole file: nothing at path until the commit, then all of it; the
 * temporary file gone either way; an abandoned one leaves path as it was. */
static void test_whole(void **state)
{
	(void)state;
	char path[4200], tmp[4400];
	fsutil_whole_t w;

	snprintf(path, sizeof path, "%s/history.csv", g_dir);
	assert_int_equal(tu_write_file(path, "old\n", 4), 0);
	assert_int_equal(fsutil_whole_open(&w, path), 0);
	assert_int_equal(w.direct, 0);
	snprintf(tmp, sizeof tmp, "%s", w.dest.tmp);
	fputs("epoch,loss\r\n0,1.5\r\n", w.f);
	assert_int_equal(fsutil_whole_flush(&w), 0);
	assert_int_equal(fsutil_whole_finish(&w), 0);
	char *now = tu_read_text(path);
	assert_string_equal(now, "old\n");
	free(now);
	assert_int_equal(fsutil_whole_commit(&w), 0);
	now = tu_read_text(path);
	assert_string_equal(now, "epoch,loss\r\n0,1.5\r\n");
	free(now);
	assert_false(tu_exists(tmp));
	/* Committed: ending it again is refused, and abandoning it is a no-op. */
	assert_int_equal(fsutil_whole_commit(&w), -1);
	fsutil_whole_abandon(&w);

	/* Finished (closed, no descriptor held), then abandoned: its
	 * temporary file goes too. */
	assert_int_equal(fsutil_whole_open(&w, path), 0);
	fputs("half", w.f);
	assert_int_equal(fsutil_whole_finish(&w), 0);
	assert_null(w.f);
	assert_true(tu_exists(w.dest.tmp));
	fsutil_whole_abandon(&w);
	now = tu_read_text(path);
	assert_string_equal(now, "epoch,loss\r\n0,1.5\r\n");
	free(now);
	assert_false(tu_exists(w.dest.tmp));
}

/* A link to a file: the file replaced, the link kept; so through a
 * dangling link, its file made.  Not a file
 * (/dev/null, /dev/full): written directly, never replaced, its failure
 * given with its errno. */
static void test_whole_link_and_device(void **state)
{
	(void)state;
	char target[4200], link[4200];
	fsutil_whole_t w;
	struct stat st;

	snprintf(target, sizeof target, "%s/real.csv", g_dir);
	snprintf(link, sizeof link, "%s/link.csv", g_dir);
	assert_int_equal(tu_write_file(target, "old", 3), 0);
	assert_int_equal(symlink("real.csv", link), 0);
	assert_int_equal(fsutil_whole_open(&w, link), 0);
	fputs("new", w.f);
	assert_int_equal(fsutil_whole_commit(&w), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	char *now = tu_read_text(target);
	assert_string_equal(now, "new");
	free(now);

	/* A dangling link: its file made whole at the commit, the link kept
	 * (it was written through, at once). */
	snprintf(target, sizeof target, "%s/later.csv", g_dir);
	snprintf(link, sizeof link, "%s/dangling.csv", g_dir);
	assert_int_equal(symlink("later.csv", link), 0);
	assert_int_equal(fsutil_whole_open(&w, link), 0);
	assert_int_equal(w.direct, 0);
	fputs("later", w.f);
	assert_int_equal(fsutil_whole_finish(&w), 0);
	assert_false(tu_exists(target));
	assert_int_equal(fsutil_whole_commit(&w), 0);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	now = tu_read_text(target);
	assert_string_equal(now, "later");
	free(now);

	assert_int_equal(fsutil_whole_open(&w, "/dev/null"), 0);
	assert_int_equal(w.direct, 1);
	fputs("nothing", w.f);
	assert_int_equal(fsutil_whole_commit(&w), 0);
	assert_int_equal(stat("/dev/null", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	if (access("/dev/full", W_OK) != 0)
		return;
	assert_int_equal(fsutil_whole_open(&w, "/dev/full"), 0);
	fputs("lost", w.f);
	errno = 0;
	assert_int_equal(fsutil_whole_commit(&w), -1);
	assert_int_equal(errno, ENOSPC);
	assert_int_equal(stat("/dev/full", &st), 0);
	assert_true(S_ISCHR(st.st_mode));
	/* Written directly: nothing there is said to be unchanged. */
	char err[ERR_LEN] = "/dev/full: writing failed: No space left on device";
	assert_int_equal(fsutil_whole_failed(&w, ERR_IO, err), ERR_IO);
	assert_string_equal(err, "/dev/full: writing failed: No space left on device");
}

/* A FIFO is written directly.  With no reader, fsutil_whole_open_now
 * fails at once with ENXIO (fsutil_whole_open would wait); with one, it
 * opens it, and what is written then waits for the reader as in any
 * pipe: the descriptor is not left non-blocking.  A socket's ENXIO stays
 * ENXIO: not a FIFO that waits. */
static void test_whole_fifo(void **state)
{
	(void)state;
	char fifo[4200], buf[16];
	fsutil_whole_t w;

	snprintf(fifo, sizeof fifo, "%s/h.fifo", g_dir);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	errno = 0;
	assert_int_equal(fsutil_whole_open_now(&w, fifo), -1);
	assert_int_equal(errno, EAGAIN);
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);
	assert_true(rd >= 0);
	assert_int_equal(fsutil_whole_open_now(&w, fifo), 0);
	assert_int_equal(w.direct, 1);
	assert_int_equal(fcntl(fileno(w.f), F_GETFL) & O_NONBLOCK, 0);
	fputs("epoch", w.f);
	assert_int_equal(fsutil_whole_commit(&w), 0);
	ssize_t n = read(rd, buf, sizeof buf);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "epoch", 5);
	close(rd);
	struct stat st;
	assert_int_equal(stat(fifo, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));

	char sock[4200];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sock, sizeof sock, "%s/h.sock", g_dir);
	if (strlen(sock) >= sizeof sa.sun_path)
		return; /* too long a folder for a socket's name */
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(sfd >= 0);
	assert_int_equal(bind(sfd, (struct sockaddr *)&sa, sizeof sa), 0);
	errno = 0;
	assert_int_equal(fsutil_whole_open_now(&w, sock), -1);
	assert_int_equal(errno, ENXIO);
	close(sfd);
}

/* at: g_dir/name, in one of a few static buffers. */
static const char *at(const char *name)
{
	static char bufs[16][4200];
	static int i;
	char *p = bufs[i++ % 16];
	snprintf(p, sizeof bufs[0], "%s/%s", g_dir, name);
	return p;
}

/* The file a link names: relative to the link's folder, through a chain
 * of links, absolute, dangling (no error: the file to create), and a loop
 * (ELOOP).  A path that is no link names itself. */
static void test_target(void **state)
{
	(void)state;
	char real[4200];

	assert_int_equal(mkdir(at("tg"), 0755), 0);
	assert_int_equal(symlink("tg/file", at("tg1")), 0);
	assert_int_equal(symlink("tg1", at("tg2")), 0);
	assert_int_equal(symlink("../tg3", at("tg/up")), 0);
	assert_int_equal(symlink("/no/such/abs", at("tg4")), 0);
	assert_int_equal(symlink("tg5b", at("tg5a")), 0);
	assert_int_equal(symlink("tg5a", at("tg5b")), 0);

	const struct { const char *path, *real; } cases[] = {
		{at("none.h5"), at("none.h5")},
		{at("tg1"), at("tg/file")},      /* dangling: its file to make */
		{at("tg2"), at("tg/file")},
		{at("tg/up"), at("tg/../tg3")},
		{at("tg4"), "/no/such/abs"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_int_equal(fsutil_target(cases[i].path, real, sizeof real), 0);
		assert_string_equal(real, cases[i].real);
	}
	assert_int_equal(tu_write_file(at("tg/file"), "x", 1), 0);
	assert_int_equal(fsutil_target(at("tg2"), real, sizeof real), 0);
	assert_string_equal(real, at("tg/file"));
	errno = 0;
	assert_int_equal(fsutil_target(at("tg5a"), real, sizeof real), -1);
	assert_int_equal(errno, ELOOP);
	errno = 0;
	assert_int_equal(fsutil_target(at("tg2"), real, 8), -1);
	assert_int_equal(errno, ENAMETOOLONG);
}

/* Through a link into another folder: the temporary file beside the file
 * the link names (a killed run's removed there), renamed over it, the
 * link kept; through a dangling link, its file made only at the commit. */
static void test_dest_through_link(void **state)
{
	(void)state;
	fsutil_dest_t d;
	struct stat st;
	char stale[4400];

	assert_int_equal(mkdir(at("dd"), 0755), 0);
	assert_int_equal(tu_write_file(at("dd/real.h5"), "old", 3), 0);
	assert_int_equal(symlink("dd/real.h5", at("dl.h5")), 0);
	assert_int_equal(fsutil_tmp_path(at("dd/real.h5"), stale, sizeof stale), 0);
	snprintf(strrchr(stale, '.') + 1, 16, "%ld", (long)dead_pid());
	assert_int_equal(tu_write_file(stale, "half", 4), 0);
	/* One beside the link's own name too: a killed run's from before the
	 * link was followed (a 537 MB model's, say), or from before the link
	 * was made.  Nothing else would ever remove it. */
	char beside[4400];
	assert_int_equal(fsutil_tmp_path(at("dl.h5"), beside, sizeof beside), 0);
	snprintf(strrchr(beside, '.') + 1, 16, "%ld", (long)dead_pid());
	assert_int_equal(tu_write_file(beside, "half", 4), 0);

	assert_int_equal(fsutil_dest_open(&d, at("dl.h5")), 0);
	assert_string_equal(d.given, at("dl.h5"));
	assert_string_equal(d.path, at("dd/real.h5"));
	assert_int_equal(strncmp(d.tmp, at("dd/real.h5.tmp."), strlen(at("dd/real.h5.tmp."))), 0);
	assert_false(tu_exists(stale));
	assert_false(tu_exists(beside));
	assert_int_equal(tu_write_file(d.tmp, "new", 3), 0);
	assert_int_equal(fsutil_dest_commit(&d), 0);
	assert_int_equal(lstat(at("dl.h5"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	char *now = tu_read_text(at("dd/real.h5"));
	assert_string_equal(now, "new");
	free(now);
	assert_false(tu_exists(d.tmp));

	assert_int_equal(symlink("dd/made.h5", at("dn.h5")), 0);
	assert_int_equal(fsutil_dest_open(&d, at("dn.h5")), 0);
	assert_string_equal(d.path, at("dd/made.h5"));
	assert_int_equal(tu_write_file(d.tmp, "made", 4), 0);
	assert_false(tu_exists(at("dd/made.h5")));
	assert_int_equal(fsutil_dest_commit(&d), 0);
	assert_int_equal(lstat(at("dn.h5"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	now = tu_read_text(at("dn.h5"));
	assert_string_equal(now, "made");
	free(now);

	/* Abandoned: the temporary file goes, the file stays. */
	assert_int_equal(fsutil_dest_open(&d, at("dl.h5")), 0);
	assert_int_equal(tu_write_file(d.tmp, "lost", 4), 0);
	fsutil_dest_abandon(&d);
	assert_false(tu_exists(d.tmp));
	now = tu_read_text(at("dd/real.h5"));
	assert_string_equal(now, "new");
	free(now);

	/* Failed: the temporary file goes, and the message says the earlier
	 * file, named as given, is unchanged; with none there, nothing. */
	char err[ERR_LEN], want[ERR_LEN];
	assert_int_equal(fsutil_dest_open(&d, at("dl.h5")), 0);
	assert_int_equal(tu_write_file(d.tmp, "half", 4), 0);
	assert_true(snprintf(err, sizeof err, "%s: writing failed: No space left on device",
			     d.given) < (int)sizeof err);
	assert_int_equal(fsutil_dest_failed(&d, ERR_IO, err), ERR_IO);
	assert_true(snprintf(want, sizeof want, "%s: writing failed: No space left on "
			     "device (the earlier %s is unchanged)", at("dl.h5"),
			     at("dl.h5")) < (int)sizeof want);
	assert_string_equal(err, want);
	assert_false(tu_exists(d.tmp));
	assert_int_equal(fsutil_dest_open(&d, at("dd/first.h5")), 0);
	snprintf(err, sizeof err, "first.h5: writing failed: No space left on device");
	assert_int_equal(fsutil_dest_failed(&d, ERR_IO, err), ERR_IO);
	assert_string_equal(err, "first.h5: writing failed: No space left on device");
	/* A reason that fills the buffer keeps its end. */
	memset(err, 'x', ERR_LEN - 2);
	err[ERR_LEN - 2] = '\0';
	assert_int_equal(fsutil_dest_failed(&d, ERR_IO, err), ERR_IO);
	assert_int_equal(strlen(err), ERR_LEN - 2);
	assert_int_equal(fsutil_dest_open(&d, at("dl.h5")), 0);
	assert_int_equal(fsutil_dest_failed(&d, ERR_IO, err), ERR_IO);
	assert_int_equal(strlen(err), ERR_LEN - 1);
}

/* fsutil_path_error: "PATH: REASON", and for a link loop, what to do. */
static void test_path_error(void **state)
{
	(void)state;
	char err[ERR_LEN];

	assert_int_equal(fsutil_path_error("out.h5", ENOENT, ERR_IO, err), ERR_IO);
	assert_string_equal(err, "out.h5: No such file or directory");
	assert_int_equal(fsutil_path_error("loop", ELOOP, ERR_ARG, err), ERR_ARG);
	assert_string_equal(err, "loop: Too many levels of symbolic links; a symbolic "
			    "link on the way leads back to itself: fix the link or "
			    "name another path");
}

/* A commit that fails (its descriptor closed under it: the flush fails)
 * leaves the file as it was, and fsutil_whole_failed says so, naming the
 * path as given (a link here), as fsutil_dest_failed does for a head; with
 * no file there, nothing is added. */
static void test_whole_failed(void **state)
{
	(void)state;
	char err[ERR_LEN], want[ERR_LEN];
	fsutil_whole_t w;

	assert_int_equal(tu_write_file(at("wf_real.csv"), "old", 3), 0);
	assert_int_equal(symlink("wf_real.csv", at("wf_link.csv")), 0);
	assert_int_equal(fsutil_whole_open(&w, at("wf_link.csv")), 0);
	fputs("new", w.f);
	assert_int_equal(close(fileno(w.f)), 0);
	assert_int_equal(fsutil_whole_commit(&w), -1);
	snprintf(err, sizeof err, "%s: writing failed: %s", at("wf_link.csv"),
		 strerror(errno));
	assert_int_equal(fsutil_whole_failed(&w, ERR_IO, err), ERR_IO);
	assert_true(snprintf(want, sizeof want, "%s: writing failed: %s (the earlier %s "
			     "is unchanged)", at("wf_link.csv"), strerror(EBADF),
			     at("wf_link.csv")) < (int)sizeof want);
	assert_string_equal(err, want);
	char *now = tu_read_text(at("wf_real.csv"));
	assert_string_equal(now, "old");
	free(now);
	assert_false(tu_exists(w.dest.tmp));

	assert_int_equal(fsutil_whole_open(&w, at("wf_new.csv")), 0);
	assert_int_equal(close(fileno(w.f)), 0);
	fputs("new", w.f);
	assert_int_equal(fsutil_whole_commit(&w), -1);
	snprintf(err, sizeof err, "wf_new.csv: writing failed");
	assert_int_equal(fsutil_whole_failed(&w, ERR_IO, err), ERR_IO);
	assert_string_equal(err, "wf_new.csv: writing failed");
	assert_false(tu_exists(at("wf_new.csv")));
}

/* fsutil_output_t's ours for the test: files that start with "ours". */
static int starts_ours(const char *path, char *why, size_t len)
{
	char *text = tu_read_text(path);
	int ok = text && strncmp(text, "ours", 4) == 0;

	free(text);
	if (!ok)
		snprintf(why, len, "not ours");
	return ok ? 0 : ERR_FORMAT;
}

/* fsutil_dest_id: two paths write one file when a link, "./" or a hard
 * link says so, whether the file is there yet or not; a device is no
 * such file (1), and a missing folder cannot be told (-1). */
static void test_dest_id(void **state)
{
	(void)state;
	fsutil_dest_id_t a, b;

	assert_int_equal(mkdir(at("id"), 0755), 0);
	assert_int_equal(symlink("id/new.csv", at("id-link")), 0);
	assert_int_equal(fsutil_dest_id(at("id/new.csv"), &a), 0);
	assert_false(a.exists);
	assert_int_equal(fsutil_dest_id(at("id-link"), &b), 0);
	assert_true(fsutil_same_dest(&a, &b));
	assert_int_equal(fsutil_dest_id(at("id/./new.csv"), &b), 0);
	assert_true(fsutil_same_dest(&a, &b));
	assert_int_equal(fsutil_dest_id(at("id/other.csv"), &b), 0);
	assert_false(fsutil_same_dest(&a, &b));

	assert_int_equal(tu_write_file(at("id/new.csv"), "x", 1), 0);
	assert_int_equal(link(at("id/new.csv"), at("id/hard.csv")), 0);
	assert_int_equal(fsutil_dest_id(at("id-link"), &a), 0);
	assert_true(a.exists);
	assert_int_equal(fsutil_dest_id(at("id/hard.csv"), &b), 0);
	assert_true(fsutil_same_dest(&a, &b));

	assert_int_equal(fsutil_dest_id("/dev/null", &a), 1);
	assert_int_equal(fsutil_dest_id(at("nowhere/x.csv"), &a), -1);
}

/* fsutil_dest_writable: a file can be made in a folder that exists, at
 * a new name, an old one, through a link (even a dangling one into an
 * existing folder), and at a device; not in a missing folder, through a
 * link that leads back to itself or through one into a missing folder,
 * each with its errno. */
static void test_dest_writable(void **state)
{
	(void)state;
	assert_int_equal(mkdir(at("wr"), 0755), 0);
	assert_int_equal(fsutil_dest_writable(at("wr/new.csv")), 0);
	assert_int_equal(tu_write_file(at("wr/old.csv"), "x", 1), 0);
	assert_int_equal(fsutil_dest_writable(at("wr/old.csv")), 0);
	assert_int_equal(symlink("wr/later.csv", at("wr-dangling")), 0);
	assert_int_equal(fsutil_dest_writable(at("wr-dangling")), 0);
	assert_int_equal(fsutil_dest_writable("/dev/null"), 0);

	errno = 0;
	assert_int_equal(fsutil_dest_writable(at("wr/missing/x.csv")), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(symlink("wr-loop", at("wr-loop")), 0);
	errno = 0;
	assert_int_equal(fsutil_dest_writable(at("wr-loop")), -1);
	assert_int_equal(errno, ELOOP);
	assert_int_equal(symlink("wr/missing/x.csv", at("wr-nowhere")), 0);
	errno = 0;
	assert_int_equal(fsutil_dest_writable(at("wr-nowhere")), -1);
	assert_int_equal(errno, ENOENT);
}

/* What a link names is what is judged: a link to a file of ours may be
 * replaced, one to a photo or a folder is refused and named as a link; a
 * dangling link has nothing to lose. */
static void test_replaceable_through_link(void **state)
{
	(void)state;
	static const fsutil_output_t o = {
		.what = "ours", .folder = "name a file", .example = "x.h5",
		.refusal = "move it away", .ours = starts_ours,
	};
	char err[ERR_LEN], want[ERR_LEN];

	assert_int_equal(mkdir(at("rr"), 0755), 0);
	assert_int_equal(tu_write_file(at("rr/ours.h5"), "ours", 4), 0);
	assert_int_equal(tu_write_file(at("rr/me.jpg"), "\xff\xd8\xff", 3), 0);
	assert_int_equal(symlink("rr/ours.h5", at("r_ours")), 0);
	assert_int_equal(symlink("rr/me.jpg", at("r_photo")), 0);
	assert_int_equal(symlink("rr", at("r_dir")), 0);
	assert_int_equal(symlink("rr/none.h5", at("r_none")), 0);

	assert_int_equal(fsutil_replaceable(at("r_ours"), &o, err), 0);
	assert_int_equal(fsutil_replaceable(at("r_none"), &o, err), 0);
	assert_int_equal(fsutil_replaceable(at("r_photo"), &o, err), ERR_ARG);
	snprintf(want, sizeof want, "%s (a link to %s) exists and is not ours (not "
		 "ours); move it away", at("r_photo"), at("rr/me.jpg"));
	assert_string_equal(err, want);
	assert_int_equal(fsutil_replaceable(at("r_dir"), &o, err), ERR_ARG);
	snprintf(want, sizeof want, "%s (a link to %s) is a folder; name a file "
		 "(%s/x.h5, say)", at("r_dir"), at("rr"), at("r_dir"));
	assert_string_equal(err, want);
	/* A path that is no link is named as given. */
	assert_int_equal(fsutil_replaceable(at("rr/me.jpg"), &o, err), ERR_ARG);
	snprintf(want, sizeof want, "%s exists and is not ours (not ours); move it away",
		 at("rr/me.jpg"));
	assert_string_equal(err, want);
}

/* An output named by a folder: a file inside it is suggested, but for a
 * store's folder (LMDB's data.mdb) a file beside it, which does not
 * travel with the store ("f.lmdb/head.h5" was suggested until
 * 2026-12-08). */
static void test_replaceable_folder(void **state)
{
	(void)state;
	static const fsutil_output_t o = {
		.what = "ours", .folder = "name a file", .example = "x.h5",
		.refusal = "move it away", .ours = starts_ours,
	};
	char err[ERR_LEN], want[ERR_LEN + 800], slash[700];

	assert_int_equal(mkdir(at("fo_plain"), 0755), 0);
	assert_int_equal(fsutil_replaceable(at("fo_plain"), &o, err), ERR_ARG);
	snprintf(want, sizeof want, "%s is a folder; name a file (%s/x.h5, say)",
		 at("fo_plain"), at("fo_plain"));
	assert_string_equal(err, want);

	assert_int_equal(mkdir(at("fo.lmdb"), 0755), 0);
	assert_int_equal(tu_write_file(at("fo.lmdb/data.mdb"), "", 0), 0);
	assert_int_equal(fsutil_replaceable(at("fo.lmdb"), &o, err), ERR_ARG);
	snprintf(want, sizeof want, "%s is a feature store's folder; name a file "
		 "(%s beside it, say)", at("fo.lmdb"), at("x.h5"));
	assert_string_equal(err, want);
	snprintf(slash, sizeof slash, "%s//", at("fo.lmdb"));
	assert_int_equal(fsutil_replaceable(slash, &o, err), ERR_ARG);
	snprintf(want, sizeof want, "%s is a feature store's folder; name a file "
		 "(%s beside it, say)", slash, at("x.h5"));
	assert_string_equal(err, want);

	/* A bare name: the file beside it is a bare name too. */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(at(".")), 0);
	assert_int_equal(fsutil_replaceable("fo.lmdb", &o, err), ERR_ARG);
	assert_string_equal(err, "fo.lmdb is a feature store's folder; name a file "
			    "(x.h5 beside it, say)");
	assert_int_equal(chdir(cwd), 0);
}

/* Whether a path, existing or not, lies inside a folder: the store
 * extract is to write inside the folder of people it reads. */
static void test_within(void **state)
{
	(void)state;
	char first[64], path[4300];

	assert_int_equal(mkdir(at("wi"), 0755), 0);
	assert_int_equal(mkdir(at("wi/faces"), 0755), 0);
	assert_int_equal(mkdir(at("wi/faces/ann"), 0755), 0);
	assert_int_equal(mkdir(at("wi/facesX"), 0755), 0);
	assert_int_equal(symlink("faces", at("wi/link")), 0);

	/* Inside: existing, or not yet (its names taken as written). */
	assert_int_equal(fsutil_within(at("wi/faces/ann"), at("wi/faces"), first,
				       sizeof first), 1);
	assert_string_equal(first, "ann");
	assert_int_equal(fsutil_within(at("wi/faces/feats.lmdb"), at("wi/faces"),
				       first, sizeof first), 1);
	assert_string_equal(first, "feats.lmdb");
	assert_int_equal(fsutil_within(at("wi/faces/new/deeper/x.lmdb//"),
				       at("wi/faces/"), first, sizeof first), 1);
	assert_string_equal(first, "new");
	assert_int_equal(fsutil_within(at("wi/faces/ann/../ann/x.lmdb"),
				       at("wi/faces"), first, sizeof first), 1);
	assert_string_equal(first, "ann");
	/* Through a link to the folder, either way round. */
	assert_int_equal(fsutil_within(at("wi/link/r/x.lmdb"), at("wi/faces"), first,
				       sizeof first), 1);
	assert_string_equal(first, "r");
	assert_int_equal(fsutil_within(at("wi/faces/x.lmdb"), at("wi/link"), first,
				       sizeof first), 1);
	assert_string_equal(first, "x.lmdb");
	/* The folder itself: inside, nothing below. */
	assert_int_equal(fsutil_within(at("wi/faces"), at("wi/link/"), first,
				       sizeof first), 1);
	assert_string_equal(first, "");

	/* Outside: beside it, a name it begins, its parent. */
	assert_int_equal(fsutil_within(at("wi/feats.lmdb"), at("wi/faces"), first,
				       sizeof first), 0);
	assert_int_equal(fsutil_within(at("wi/facesX/x.lmdb"), at("wi/faces"), first,
				       sizeof first), 0);
	assert_int_equal(fsutil_within(at("wi"), at("wi/faces"), first, sizeof first), 0);

	/* A bare name, relative to the current folder. */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir(at("wi/faces")), 0);
	assert_int_equal(fsutil_within("x.lmdb", ".", first, sizeof first), 1);
	assert_string_equal(first, "x.lmdb");
	assert_int_equal(fsutil_within("../x.lmdb", ".", first, sizeof first), 0);
	assert_int_equal(chdir(cwd), 0);

	/* A folder that is not there cannot be resolved. */
	snprintf(path, sizeof path, "%s", at("wi/none"));
	assert_int_equal(fsutil_within(at("wi/none/x"), path, first, sizeof first), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync_file),
		cmocka_unit_test(test_sync_dir_of),
		cmocka_unit_test(test_sync_dir_of_bare_name),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_tmp_path),
		cmocka_unit_test(test_remove_stale),
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_whole_link_and_device),
		cmocka_unit_test(test_whole_fifo),
		cmocka_unit_test(test_whole_failed),
		cmocka_unit_test(test_path_error),
		cmocka_unit_test(test_target),
		cmocka_unit_test(test_dest_through_link),
		cmocka_unit_test(test_dest_id),
		cmocka_unit_test(test_dest_writable),
		cmocka_unit_test(test_replaceable_through_link),
		cmocka_unit_test(test_replaceable_folder),
		cmocka_unit_test(test_within),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
