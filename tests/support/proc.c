#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* proc_spawn, in the folder dir when it is not NULL, the standard error
 * to err_path when it is not NULL. */
static pid_t spawn_in(const char *dir, char *const argv[], const char *out_path,
		      const char *err_path)
{
	/* The program named relative to this process' folder. */
	char *prog = dir ? realpath(argv[0], NULL) : NULL;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid != 0) {
		free(prog);
		return pid;
	}
	int fd = open(out_path ? out_path : "/dev/null",
		      O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		_exit(126);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	if (err_path) {
		if ((fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
			_exit(126);
		dup2(fd, 2);
		close(fd);
	}
	if (dir && (!prog || chdir(dir) != 0))
		_exit(126);
	execv(prog ? prog : argv[0], argv);
	_exit(127);
}

pid_t proc_spawn(char *const argv[], const char *out_path)
{
	return spawn_in(NULL, argv, out_path, NULL);
}

int proc_run_in(const char *dir, char *const argv[], const char *out_path)
{
	return proc_wait(spawn_in(dir, argv, out_path, NULL));
}

int proc_run_split(char *const argv[], const char *out_path, const char *err_path)
{
	return proc_wait(spawn_in(NULL, argv, out_path, err_path));
}

int proc_wait(pid_t pid)
{
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

int proc_run(char *const argv[], const char *out_path)
{
	return proc_wait(proc_spawn(argv, out_path));
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int proc_wait_bounded(pid_t pid, double seconds)
{
	double t0 = now();
	int st;

	if (pid < 0)
		return -1;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
		if (w < 0)
			return -1;
		if (now() - t0 >= seconds)
			break;
		proc_sleep(0.01);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

int proc_run_bounded(char *const argv[], const char *out_path, double seconds)
{
	return proc_wait_bounded(proc_spawn(argv, out_path), seconds);
}

/* stat_of reads pid's state and parent from /proc/PID/stat: 0, or -1
 * when there is no such process. */
static int stat_of(pid_t pid, char *state, pid_t *parent)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
	int ppid;

	if (f)
		fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ppid ...": comm may hold spaces and parentheses,
	 * the last ')' ends it. */
	const char *end = strrchr(buf, ')');
	if (!end || sscanf(end + 1, " %c %d", state, &ppid) != 2)
		return -1;
	*parent = (pid_t)ppid;
	return 0;
}

int proc_children(pid_t pid, pid_t *kids, int n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (found < n && (e = readdir(d))) {
		char *end, state;
		long id = strtol(e->d_name, &end, 10);
		pid_t parent;
		if (*end || id <= 0 || stat_of((pid_t)id, &state, &parent) != 0)
			continue;
		if (parent == pid)
			kids[found++] = (pid_t)id;
	}
	closedir(d);
	return found;
}

int proc_adopt_orphans(int on)
{
#ifdef __linux__
	return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) == 0 ? 0 : -1;
#else
	(void)on;
	return -1;
#endif
}

/* drained: 0 once nothing written to fd is left unread, -1 when a reader
 * has not taken it by the deadline. */
static int drained(int fd, double deadline)
{
	int left;

	while (ioctl(fd, FIONREAD, &left) == 0 && left > 0) {
		if (now() >= deadline)
			return -1;
		proc_sleep(0.01);
	}
	return 0;
}

/* write_all: 0 once the len bytes of buf are written to fd, else -1. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

pid_t proc_fifo_writer(const char *path, const void *buf, size_t len, double seconds)
{
	const unsigned char *b = buf;
	size_t half = len / 2;
	pid_t pid;
	int fd;

	/* Opened here, before the fork: the writer is there when this returns.
	 * Read-write: a FIFO's open for writing alone waits for a reader. */
	if (mkfifo(path, 0644) != 0 || (fd = open(path, O_RDWR | O_CLOEXEC)) < 0)
		return -1;
	fflush(NULL);
	if ((pid = fork()) != 0) {
		close(fd);
		return pid;
	}
	double deadline = now() + seconds;
	_exit(write_all(fd, b, half) || drained(fd, deadline) ||
	      write_all(fd, b + half, len - half) || drained(fd, deadline));
}

int proc_argv(char *argv[PROC_ARGV], char *prog, va_list ap)
{
	int n = 0;

	argv[n++] = prog;
	for (char *a; n < PROC_ARGV - 1 && (a = va_arg(ap, char *));)
		argv[n++] = a;
	argv[n] = NULL;
	return n;
}

/* One path per program, computed once: the pointers stay valid, so an argv
 * array built early may be used after any number of later calls. */
static char *in_dir(const char *env, const char *dflt, const char *prog)
{
	static struct {
		char prog[64];
		char path[1024];
	} known[32];
	static int n;
	const char *dir = getenv(env);

	for (int i = 0; i < n; i++)
		if (strcmp(known[i].prog, prog) == 0)
			return known[i].path;
	if (n == 32 || strlen(prog) >= sizeof known[0].prog)
		abort();
	snprintf(known[n].prog, sizeof known[n].prog, "%s", prog);
	snprintf(known[n].path, sizeof known[n].path, "%s/%s", dir && *dir ? dir : dflt,
		 prog);
	return known[n++].path;
}

char *proc_bin(const char *prog)
{
	return in_dir("VGGFEAT_BIN", "bin", prog);
}

char *proc_tool(const char *prog)
{
	return in_dir("VGGFEAT_TOOLS", "build/demo", prog);
}

int proc_programs(char progs[][PROC_NAME], int max, char *why, size_t len)
{
	static const char *const must[] = {"extract", "train-head", "predict",
					   "featdb", "verify", "nearest"};
	int seen[sizeof must / sizeof *must] = {0}, count = 0;
	glob_t g;

	if (glob("extract/*.c", 0, NULL, &g) != 0 ||
	    glob("train/*.c", GLOB_APPEND, NULL, &g) != 0) {
		snprintf(why, len, "no main file in extract/ and train/ (run from the "
			 "source tree)");
		globfree(&g);
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *base = strrchr(g.gl_pathv[i], '/') + 1;
		size_t n = strlen(base) - 2;

		if (count == max || n >= PROC_NAME) {
			snprintf(why, len, "%s: more programs than %d, or a longer name "
				 "than %d", g.gl_pathv[i], max, PROC_NAME - 1);
			globfree(&g);
			return -1;
		}
		char *prog = progs[count++];
		for (size_t k = 0; k < n; k++)
			prog[k] = base[k] == '_' ? '-' : base[k];
		prog[n] = 0;
		for (size_t k = 0; k < sizeof must / sizeof *must; k++)
			seen[k] |= strcmp(prog, must[k]) == 0;
	}
	globfree(&g);
	for (size_t k = 0; k < sizeof must / sizeof *must; k++)
		if (!seen[k]) {
			snprintf(why, len, "no main file makes %s (run from the source "
				 "tree)", must[k]);
			return -1;
		}
	return count;
}

void proc_sleep(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
}
