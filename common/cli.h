/* cli.h - small helpers shared by the programs' main()s: they print the
 * error themselves (one line, prefixed with the program's name). */
#ifndef COMMON_CLI_H
#define COMMON_CLI_H

#include <stddef.h>
#include <stdio.h>

/* Exit statuses shared by every program. */
enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* The two kinds of failure every program reports, each in one form:
 *
 *   prog: <what is wrong with the command line>
 *   Try 'prog --help'.                              exit 2 (cli_usage)
 *
 *   prog: error: <why the run failed>               exit 1 (cli_error)
 *
 * cli_usage prints a usage error and returns CLI_USAGE; cli_error prints a
 * runtime error and returns CLI_ERROR. */
int cli_usage(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cli_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* cli_long parses the value of option opt as an integer in [lo, hi]:
 * 0 and *out set, or -1 after printing the usage error "prog: --opt: ..."
 * (cli_usage: with the Try line). */
int cli_long(const char *prog, const char *opt, const char *s, long lo,
	     long hi, long *out);

/* cli_double: the same for a finite real number in [lo, hi]. */
int cli_double(const char *prog, const char *opt, const char *s, double lo,
	       double hi, double *out);

/* cli_path takes the value s of option opt, a path: 0 and *out set, or
 * -1 after printing the usage error "prog: --opt: an empty path" (an
 * unset variable, --weights "$W", would otherwise name the current
 * folder or nothing, and fail later with a blank name). */
int cli_path(const char *prog, const char *opt, const char *s, const char **out);

/* cli_operands: 0 when none of the n operands is empty, else -1 after the
 * usage error "prog: an empty WHAT among the operands" (what: "image
 * path", "store name"). */
int cli_operands(const char *prog, const char *what, char *const *ops, int n);

/* cli_bad_option, for the '?' of getopt_long (with opterr = 0): prints
 * which option was unknown, lacked its value or was given one it does not
 * take, and the hint to --help; returns CLI_USAGE.  shorts is the short
 * options' string getopt_long was given.  Long-only options must have
 * values of 256 and up (the programs' O_* enums). */
int cli_bad_option(const char *prog, char **argv, const char *shorts);

/* cli_model parses --model's value s ("vgg16" or "vggface", weights.h's
 * models): 0 and *model set, or -1 after printing the usage error
 * "prog: --model: ...". */
int cli_model(const char *prog, const char *s, int *model);

/* cli_conv parses --conv's value s ("winograd" or "direct", net/vgg.h's
 * paths): 0 and *conv set, or -1 after printing the usage error
 * "prog: --conv: ...".  CLI_CONV_HELP is the option's help, the same in
 * every program that has it; each adds its default. */
int cli_conv(const char *prog, const char *s, int *conv);
#define CLI_CONV_HELP \
	"  --conv C         winograd (fast) or direct (the reference: each\n" \
	"                   output summed tap by tap, about 3 times slower):\n" \
	"                   how the 3x3 convolutions are computed; their\n" \
	"                   vectors differ in the last bits\n"

/* cli_layer, cli_pooling: one --layer or --pooling value checked alone,
 * as the option is read (so that its error comes before a --help after
 * it); the two together, and against --model, are cli_tap's.  0, or -1
 * after printing the usage error (model_tap_find's reason). */
int cli_layer(const char *prog, const char *layer);
int cli_pooling(const char *prog, const char *pooling);

/* cli_tap: the tap that --layer LAYER and --pooling P ask for (either NULL
 * when not given; model_tap_find) and the model whose layer name LAYER is
 * (*tap_model; MODEL_AUTO when layer is NULL), which must be --model's
 * (model; MODEL_AUTO when not given).  0 and *tap_model, *tap set, or
 * CLI_USAGE after printing the usage error ("prog: --pooling avg: Keras
 * pools block5_pool ...", "prog: --layer fc7 is VGG-Face's; ..."). */
int cli_tap(const char *prog, int model, const char *layer, const char *pooling,
	    int *tap_model, int *tap);

/* cli_weights_path puts into path (len bytes) the weights file a program
 * reads to give tap (model_tap_path: given, else model's default, VGG16's
 * for MODEL_AUTO; for a pool tap, the _notop file when Keras cached it).
 * 0 when that file exists; otherwise prints why, or for a file that is not
 * there where Keras keeps it and how to point to it (a runtime error,
 * "prog: error: ..."), and returns -1. */
int cli_weights_path(const char *prog, const char *given, int model, int tap,
		     char *path, size_t len);

/* cli_flush_stdout, before a program reports success: flushes the standard
 * output and checks that every write to it worked (a full disk, a closed
 * pipe); 0, or -1 after printing "prog: error: ...".  A program whose
 * output is its answer (predict's lines, featdb info, a sweep's table) must
 * not exit 0 having lost part of it. */
int cli_flush_stdout(const char *prog);

/* cli_flush_answer is cli_flush_stdout right after the writes of a
 * program's answer, given errno as they left it (set to 0 before them):
 * when one of them failed (an answer longer than stdout's buffer) and the
 * flush has nothing left to fail on, their reason is the one said. */
int cli_flush_answer(const char *prog, int write_errno);

/* cli_answer prints text, a program's --help, --help-dev or --version, to
 * the standard output and exits: 0, or 1 after cli_flush_stdout's error
 * when the text could not be written (a full disk, a closed pipe). */
_Noreturn void cli_answer(const char *prog, const char *text);

/* cli_put_tsv writes s to f as one field of a tab-separated line, in
 * PostgreSQL's COPY text format: a backslash, tab, newline or carriage
 * return becomes \\, \t, \n or \r, so that a path holding them never
 * breaks the one-line-per-result output. */
void cli_put_tsv(FILE *f, const char *s);

/* cli_stderr_redraws: 1 when the standard error is a terminal that takes
 * cursor controls (a tty, $TERM set and not "dumb"), so that a progress
 * line may be redrawn in place with \r and erased with ESC [ K; else
 * programs write plain lines, and no escape sequence reaches a file, a
 * pipe or a dumb terminal. */
int cli_stderr_redraws(void);

/* cli_now: monotonic seconds. */
double cli_now(void);

/* cli_noun: one when n is 1, else many ("1 image", "2 images"). */
const char *cli_noun(unsigned long long n, const char *one, const char *many);

/* cli_empty_names: how many of the n classes count[] leaves at 0, with
 * the first five of their names written into buf (len bytes) as "a, b"
 * and ", ..." after a sixth: the names a note about empty classes gives. */
int cli_empty_names(char *const *names, const size_t *count, int n, char *buf,
		    size_t len);

#endif
