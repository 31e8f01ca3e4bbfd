/* cli.h - small helpers shared by the programs' main()s: they print the
 * error themselves (one line, prefixed with the program's name). */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

/* Exit statuses shared by every program. */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* cli_long parses the value of option opt as an integer in [lo, hi]:
 * 0 and *out set, or -1 after printing "prog: --opt: ...". */
int cli_long(const char *prog, const char *opt, const char *s, long lo,
	     long hi, long *out);

/* cli_double: the same for a finite real number in [lo, hi]. */
int cli_double(const char *prog, const char *opt, const char *s, double lo,
	       double hi, double *out);

/* cli_now: monotonic seconds. */
double cli_now(void);

#endif
