/* proc.h - running the real programs from the end-to-end tests. */
#ifndef TESTS_PROC_H
#define TESTS_PROC_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/* proc_spawn starts argv[0] with argv, stdout and stderr to out_path (or
 * /dev/null when NULL); returns the pid or -1. */
pid_t proc_spawn(char *const argv[], const char *out_path);

/* proc_run_in = proc_run with the program started in the folder dir (its
 * own path and out_path are taken relative to this process' folder). */
int proc_run_in(const char *dir, char *const argv[], const char *out_path);

/* proc_wait waits for pid: its exit status, or 128 + signal. */
int proc_wait(pid_t pid);

/* proc_run = spawn + wait. */
int proc_run(char *const argv[], const char *out_path);

/* proc_wait_bounded = proc_wait, but a process still running after seconds
 * is killed (SIGKILL) and reaped, and the answer is -1: a test of what must
 * not hang fails instead of hanging with it.  proc_run_bounded = spawn +
 * that wait. */
int proc_wait_bounded(pid_t pid, double seconds);
int proc_run_bounded(char *const argv[], const char *out_path, double seconds);

/* proc_children puts into kids (room for n) the ids of pid's children,
 * found by their parent in /proc/ID/stat: how many there are (at most n),
 * 0 when none or no /proc. */
int proc_children(pid_t pid, pid_t *kids, int n);

/* proc_adopt_orphans(1) makes this process the parent of its
 * descendants orphaned from now on (Linux's PR_SET_CHILD_SUBREAPER), so
 * that a test can wait for a grandchild whose parent it killed and see
 * how it ended; proc_adopt_orphans(0) stops.  0, or -1 where it is not
 * available. */
int proc_adopt_orphans(int on);

/* proc_fifo_writer makes a FIFO at path and forks a slow writer into it:
 * it writes the first half of buf (len bytes), waits until a reader has
 * taken all of it, writes the rest and exits 0 once that is taken too (1
 * when no reader took it within seconds).  It holds the FIFO open for
 * reading as well, so that it neither waits for a reader to open nor dies
 * of SIGPIPE, and a reader that opens path while it runs finds a writer:
 * that reader gets all len bytes only if it waits for the second half.
 * Returns the writer's pid (proc_wait_bounded it), or -1. */
pid_t proc_fifo_writer(const char *path, const void *buf, size_t len, double seconds);

/* proc_run_split = proc_run with the standard error apart, to err_path:
 * for a test of what a program says when its standard output fails. */
int proc_run_split(char *const argv[], const char *out_path, const char *err_path);

/* proc_argv fills argv (room for PROC_ARGV entries) with prog, then the
 * char * arguments of ap up to their NULL (at most PROC_ARGV - 2 of them),
 * then NULL; returns the count before the NULL.  For a test's varargs
 * runner of one program. */
#define PROC_ARGV 40
int proc_argv(char *argv[PROC_ARGV], char *prog, va_list ap);

/* proc_sleep sleeps for s seconds. */
void proc_sleep(double s);

/* proc_bin returns the path of program prog ("extract", "featdb", ...):
 * $VGGFEAT_BIN/prog, by default bin/prog, so that `make test-asan` runs the
 * sanitized programs.  proc_tool does the same for the demo's generators
 * ("gen_faces", "gen_weights", extract/demo/): $VGGFEAT_TOOLS/prog, by
 * default build/demo/prog.  Static storage, one string per program for the whole
 * run (the names of programs and generators never collide). */
char *proc_bin(const char *prog);
char *proc_tool(const char *prog);

/* proc_programs fills progs with the names of the programs the Makefile
 * builds, one per main file in extract/ and train/ (train_head.c making
 * train-head), in the order of their files, and returns their count; -1,
 * with why (len bytes), when there are more than max, or when one of the
 * six (extract, train-head, predict, featdb, verify, nearest) is not among
 * them (the process is not in the source tree). */
#define PROC_NAME 64
int proc_programs(char progs[][PROC_NAME], int max, char *why, size_t len);

#endif
