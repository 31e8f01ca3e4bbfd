#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int cli_long(const char *prog, const char *opt, const char *s, long lo,
	     long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "%s: %s: '%s' is not an integer\n", prog, opt, s);
		return -1;
	}
	if (v < lo || v > hi) {
		fprintf(stderr, "%s: %s: %ld is out of range %ld..%ld\n", prog, opt,
			v, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_double(const char *prog, const char *opt, const char *s, double lo,
	       double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v)) {
		fprintf(stderr, "%s: %s: '%s' is not a number\n", prog, opt, s);
		return -1;
	}
	if (v < lo || v > hi) {
		fprintf(stderr, "%s: %s: %g is out of range %g..%g\n", prog, opt, v,
			lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
