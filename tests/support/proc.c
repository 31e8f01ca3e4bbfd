#include "proc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void proc_sleep(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) != 0)
		;
}
