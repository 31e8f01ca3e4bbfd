/* proc.h - running the real programs from the end-to-end tests. */
#ifndef TESTS_PROC_H
#define TESTS_PROC_H

#include <sys/types.h>

/* proc_spawn starts argv[0] with argv, stdout and stderr to out_path (or
 * /dev/null when NULL); returns the pid or -1. */
pid_t proc_spawn(char *const argv[], const char *out_path);

/* proc_wait waits for pid: its exit status, or 128 + signal. */
int proc_wait(pid_t pid);

/* proc_run = spawn + wait. */
int proc_run(char *const argv[], const char *out_path);

/* proc_sleep sleeps for s seconds. */
void proc_sleep(double s);

#endif
