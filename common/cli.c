#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "net/model.h"
#include "net/vgg.h"
#include "net/weights.h"

/* One write per message: ranks and threads that report at the same time
 * do not mix their lines. */
int cli_usage(const char *prog, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, msg, prog);
	return CLI_USAGE;
}

int cli_error(const char *prog, const char *fmt, ...)
{
	char msg[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: error: %s\n", prog, msg);
	return CLI_ERROR;
}

/* skip_blanks: s past its blanks.  strtol and strtod pass over those
 * before a number; the ones after it are passed over too, as Python's
 * int() and float() do ("1e-4, 1e-3" is a list a Python user writes). */
static const char *skip_blanks(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

int cli_long(const char *prog, const char *opt, const char *s, long lo,
	     long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *skip_blanks(end)) {
		cli_usage(prog, "%s: '%s' is not an integer", opt, s);
		return -1;
	}
	if (v < lo || v > hi) {
		cli_usage(prog, "%s: %ld is out of range %ld..%ld", opt, v, lo, hi);
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
	if (errno || end == s || *skip_blanks(end) || !isfinite(v)) {
		cli_usage(prog, "%s: '%s' is not a number", opt, s);
		return -1;
	}
	if (v < lo || v > hi) {
		/* As typed: %g would round 1.0000001 to the bound it passes. */
		cli_usage(prog, "%s: %s is out of range %g..%g", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int cli_path(const char *prog, const char *opt, const char *s, const char **out)
{
	if (!*s) {
		cli_usage(prog, "%s: an empty path", opt);
		return -1;
	}
	*out = s;
	return 0;
}

int cli_operands(const char *prog, const char *what, char *const *ops, int n)
{
	for (int i = 0; i < n; i++)
		if (!*ops[i]) {
			cli_usage(prog, "an empty %s among the operands", what);
			return -1;
		}
	return 0;
}

int cli_bad_option(const char *prog, char **argv, const char *shorts)
{
	/* getopt_long leaves in optopt the option's value: 0 for an unknown
	 * long option, the letter of a short one, or a long-only option's
	 * value (256 and up here), which must not be printed as a letter.
	 * Long options are never clustered, so argv[optind - 1] is the word
	 * the user typed. */
	const char *arg = argv[optind - 1];

	if (optopt == 0)
		return cli_usage(prog, "unknown option %s", arg);
	if (optopt > 255 && strchr(arg, '='))
		return cli_usage(prog, "option %.*s takes no value",
				 (int)(strchr(arg, '=') - arg), arg);
	if (optopt > 255)
		return cli_usage(prog, "option %s needs a value", arg);
	const char *o = optopt != ':' ? strchr(shorts, optopt) : NULL;
	if (o && o[1] == ':')
		return cli_usage(prog, "option -%c needs a value", optopt);
	return cli_usage(prog, "unknown option -%c", optopt);
}

int cli_model(const char *prog, const char *s, int *model)
{
	int m = model_parse(s);

	if (m < 0) {
		cli_usage(prog, "--model: '%s' is not %s or %s", s,
			  model_info(MODEL_VGG16)->name, model_info(MODEL_VGGFACE)->name);
		return -1;
	}
	*model = m;
	return 0;
}

/* check_tap checks layer and pooling as model_tap_find does, the tap
 * found unused. */
static int check_tap(const char *prog, const char *layer, const char *pooling)
{
	char err[ERR_LEN];
	int tap_model, tap;

	if (model_tap_find(layer, pooling, &tap_model, &tap, err)) {
		cli_usage(prog, "%s", err);
		return -1;
	}
	return 0;
}

int cli_conv(const char *prog, const char *s, int *conv)
{
	int c = vgg_conv_parse(s);

	if (c < 0) {
		cli_usage(prog, "--conv: '%s' is not %s or %s", s,
			  vgg_conv_name(VGG_CONV_WINOGRAD), vgg_conv_name(VGG_CONV_DIRECT));
		return -1;
	}
	*conv = c;
	return 0;
}

int cli_layer(const char *prog, const char *layer)
{
	return check_tap(prog, layer, NULL);
}

int cli_pooling(const char *prog, const char *pooling)
{
	/* Alone, a pooling is checked on the layer it pools. */
	return check_tap(prog, model_tap_layer(MODEL_VGG16, MODEL_TAP_POOL), pooling);
}

int cli_tap(const char *prog, int model, const char *layer, const char *pooling,
	    int *tap_model, int *tap)
{
	char err[ERR_LEN];

	if (model_tap_find(layer, pooling, tap_model, tap, err))
		return cli_usage(prog, "%s", err);
	if (model && *tap_model && model != *tap_model)
		return cli_usage(prog, "--layer %s is %s's; --model %s's is %s", layer,
				 model_info(*tap_model)->title, model_info(model)->name,
				 model_tap_layer(model, *tap));
	return 0;
}

int cli_weights_path(const char *prog, const char *given, int model, int tap,
		     char *path, size_t len)
{
	char err[ERR_LEN], help[2048];

	if (model_tap_path(given, model, tap, path, len, err)) {
		cli_error(prog, "%s", err);
		return -1;
	}
	/* Other failures (a folder that cannot be searched...) are the
	 * loader's to report, with their reason. */
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		model_missing_help(model, tap, path, help, sizeof help);
		cli_error(prog, "%s", help);
		return -1;
	}
	return 0;
}

int cli_flush_answer(const char *prog, int write_errno)
{
	int bad = ferror(stdout);

	errno = 0;
	if (fflush(stdout) == 0 && !bad)
		return 0;
	int e = errno ? errno : write_errno;
	cli_error(prog, "writing the standard output failed: %s",
		  e ? strerror(e) : "a write error");
	return -1;
}

int cli_flush_stdout(const char *prog)
{
	return cli_flush_answer(prog, 0);
}

void cli_answer(const char *prog, const char *text)
{
	errno = 0;
	fputs(text, stdout);
	exit(cli_flush_answer(prog, errno) ? CLI_ERROR : CLI_OK);
}

const char *cli_noun(unsigned long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cli_empty_names(char *const *names, const size_t *count, int n, char *buf,
		    size_t len)
{
	enum { SHOWN = 5 };
	size_t at = 0;
	int empty = 0;

	if (len)
		buf[0] = '\0';
	for (int k = 0; k < n; k++) {
		if (count[k])
			continue;
		if (++empty <= SHOWN + 1 && at < len)
			at += (size_t)snprintf(buf + at, len - at, "%s%s",
					       empty > 1 ? ", " : "",
					       empty > SHOWN ? "..." : names[k]);
	}
	return empty;
}

double cli_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_put_tsv(FILE *f, const char *s)
{
	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '\t' ? "\\t"
				: *s == '\n' ? "\\n" : *s == '\r' ? "\\r" : NULL;
		if (esc)
			fputs(esc, f);
		else
			putc(*s, f);
	}
}

int cli_stderr_redraws(void)
{
	const char *term = getenv("TERM");
	return isatty(2) && term && *term && strcmp(term, "dumb") != 0;
}
