/* h5child.c - see h5child.h. */
#include "hdf5/h5child.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

/* What the child leaves for the parent, in shared memory. */
typedef struct answer {
	int done; /* the child returned (rc and err are its) */
	int rc;
	char err[ERR_LEN];
} answer_t;

/* The current call's deadline on the monotonic clock (one call at a time:
 * the loaders run before any thread of the caller's reads a file). */
static double deadline;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double timeout_seconds(void)
{
	const char *s = getenv("VGGFEAT_HDF5_TIMEOUT");
	double t = s ? strtod(s, NULL) : 0;
	return t > 0 ? t : H5CHILD_TIMEOUT;
}

void *h5child_map(size_t bytes)
{
	void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void h5child_unmap(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes ? bytes : 1);
}

int h5child_write(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int h5child_read(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len) {
		struct pollfd pf = {fd, POLLIN, 0};
		int ms = (int)((deadline - now()) * 1000);
		if (ms <= 0)
			return -1;
		int r = poll(&pf, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads and drops what is left in the pipe, so that the child never dies
 * of SIGPIPE because the parent stopped reading. */
static void drain(int fd)
{
	char buf[4096];
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		int ms = (int)((deadline - now()) * 1000);
		if (ms <= 0 || poll(&pf, 1, ms) <= 0 || read(fd, buf, sizeof buf) <= 0)
			return;
	}
}

/* Waits for pid until the deadline, then kills it: its wait status, and
 * *late when it was killed. */
static int reap(pid_t pid, int *late)
{
	int st = 0;
	*late = 0;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return 0;
		if (now() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			*late = 1;
			return st;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* die_with makes the child die with its parent, whose id is parent (a
 * child's first call): a parent killed (kill -9, the out-of-memory killer)
 * left a writer writing its 537 MB file for no one, or a reader reading.
 * Linux sends the signal when the thread that forked ends, and the caller
 * waits for the child in that thread; a parent gone before the call is
 * seen by getppid.  Where the call is refused, or elsewhere than on
 * Linux, an orphan runs on to its answer, as it did. */
static void die_with(pid_t parent)
{
#ifdef __linux__
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
#else
	(void)parent;
#endif
}

/* run: h5child_run, and h5child_run_writer when writing is set (its
 * words for a child that died). */
static int run(const char *path, int writing, h5child_fn child,
	       h5child_fn parent, void *arg, char *err)
{
	answer_t *ans = h5child_map(sizeof *ans);
	int fds[2] = {-1, -1}, rc = 0, late, st;
	char perr[ERR_LEN] = "";

	if (!ans)
		return err_set(err, ERR_NOMEM, "%s: out of memory", path);
	if (pipe(fds) != 0) {
		rc = err_set(err, ERR_IO, "%s: pipe: %s", path, strerror(errno));
		goto out;
	}
	deadline = now() + timeout_seconds();
	pid_t me = getpid(), pid = fork();
	if (pid < 0) {
		rc = err_set(err, ERR_IO, "%s: fork: %s", path, strerror(errno));
		goto out;
	}
	if (pid == 0) {
		die_with(me);
		close(fds[0]);
		/* The parent reads the pipe until it closes; a parent gone
		 * makes writes fail, not kill. */
		signal(SIGPIPE, SIG_IGN);
		/* A fault dies as a fault, for the parent to see, whatever
		 * handler the caller had (a sanitizer's, a test framework's). */
		static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
		for (size_t i = 0; i < sizeof faults / sizeof *faults; i++)
			signal(faults[i], SIG_DFL);
		ans->rc = child(arg, fds[1], ans->err);
		ans->done = 1;
		_exit(0);
	}
	close(fds[1]);
	fds[1] = -1;
	int prc = parent ? parent(arg, fds[0], perr) : 0;
	drain(fds[0]);
	st = reap(pid, &late);
	if (late || WIFSIGNALED(st) || !ans->done) {
		char why[64];
		if (late)
			snprintf(why, sizeof why, "libhdf5 gave no answer in %.0f s",
				 timeout_seconds());
		else if (WIFSIGNALED(st))
			snprintf(why, sizeof why, "libhdf5 died of SIG%s",
				 sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?");
		else
			snprintf(why, sizeof why, "the %s exited early",
				 writing ? "writer" : "reader");
		/* SIGKILL is no fault of the file's: another process sent it
		 * (the kernel's out-of-memory killer, say). */
		if (!late && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			rc = err_set(err, ERR_IO, "%s: %s it was stopped: its process "
				     "was killed (SIGKILL; out of memory?)", path,
				     writing ? "writing" : "reading");
		else if (writing)
			rc = err_set(err, ERR_IO, "%s: writing failed: %s", path, why);
		else
			rc = err_set(err, ERR_FORMAT, "%s: damaged HDF5 file (%s)", path,
				     why);
	} else if (ans->rc) {
		rc = ans->rc;
		if (err)
			memcpy(err, ans->err, ERR_LEN);
	} else if (prc) {
		rc = prc;
		if (err)
			memcpy(err, perr, ERR_LEN);
	}
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	h5child_unmap(ans, sizeof *ans);
	return rc;
}

int h5child_run(const char *path, h5child_fn child, h5child_fn parent,
		void *arg, char *err)
{
	return run(path, 0, child, parent, arg, err);
}

int h5child_verdict(const char *path, h5child_fn child, char *why, size_t len)
{
	char err[ERR_LEN];
	int rc = h5child_run(path, child, NULL, (void *)path, err);

	if (rc)
		snprintf(why, len, "%s", err);
	return rc;
}

int h5child_run_writer(const char *path, h5child_fn child, void *arg,
		       char *err)
{
	return run(path, 1, child, NULL, arg, err);
}
