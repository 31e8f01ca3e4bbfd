/* featdb - inspect, export, verify and merge feature stores (common/store/featdb.h):
 * the command line; each command lives in train/featdb/ (featdb_tool.h).
 *
 *   featdb info DB
 *   featdb export DB --out feats.h5
 *   featdb verify DB
 *   featdb merge OUT IN... */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"
#include "featdb/featdb_tool.h"

static const char usage[] =
	"usage: featdb COMMAND ...\n"
	"\n"
	"  featdb info DB               records, people per split, model,\n"
	"                               dimension, dtype, weights fingerprint,\n"
	"                               size on disk\n"
	"  featdb export DB --out F.h5  an HDF5 file for numpy/Keras users\n"
	"                               (--out=F.h5 too):\n"
	"                               /features (N,D) float32, /labels (N) int32,\n"
	"                               /keys (N), /classes (C) strings, /split (N)\n"
	"                               uint8 (0 train, 1 valid, 2 test), key order\n"
	"  featdb verify DB             read and check every record; exit 1 and\n"
	"                               list the bad keys if any is wrong\n"
	"  featdb merge OUT IN...       merge stores made with the same weights\n"
	"                               and settings into OUT (created if needed)\n"
	"\n"
	"  -h, --help                   this text\n"
	"  --version                    print the version\n"
	"\n"
	"Options may come before or after the operands; \"--\" ends them (a\n"
	"store named -h: featdb info -- -h).\n";

/* Parses the options of command cmd (argv[0]), GNU style: options before,
 * between or after the operands, --out F or --out=F, "--" ends them (so a
 * file may be named -h).  Sets *out for export.  Returns the index of the
 * first operand, or -1 after printing help (*status CLI_OK) or a usage
 * error (*status CLI_USAGE). */
static int parse_options(int argc, char **argv, const char **out, int *status)
{
	enum { O_OUT = 256 };
	static const struct option lo[] = {
		{"out", required_argument, 0, O_OUT},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const int export = strcmp(argv[0], "export") == 0;
	int c;

	optind = 0; /* GNU: start over, the program's own options included */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_OUT:
			if (!export) {
				fprintf(stderr, PROG ": %s has no option --out\nTry '" PROG
					" --help'.\n", argv[0]);
				*status = CLI_USAGE;
				return -1;
			}
			*out = optarg;
			break;
		default:
			*status = cli_bad_option(PROG, argv);
			return -1;
		case 'h':
			fputs(usage, stdout);
			*status = CLI_OK;
			return -1;
		}
	}
	return optind;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf(PROG " " VGGFEAT_VERSION "\n");
		return CLI_OK;
	}
	const char *out = NULL;
	int status = CLI_USAGE, first = parse_options(argc - 1, argv + 1, &out, &status);
	if (first < 0)
		return status;
	int nargs = argc - 1 - first;
	char **args = argv + 1 + first;
	if (strcmp(cmd, "info") == 0)
		status = fdb_info(nargs, args);
	else if (strcmp(cmd, "export") == 0)
		status = fdb_export(nargs, args, out);
	else if (strcmp(cmd, "verify") == 0)
		status = fdb_verify(nargs, args);
	else if (strcmp(cmd, "merge") == 0)
		status = fdb_merge(nargs, args);
	else {
		fprintf(stderr, PROG ": unknown command '%s'\nTry '" PROG " --help'.\n", cmd);
		return CLI_USAGE;
	}
	/* info's report and verify's verdict are the answer: one that did not
	 * reach the standard output is a failure. */
	if (status == CLI_OK && cli_flush_stdout(PROG))
		status = CLI_ERROR;
	return status;
}
