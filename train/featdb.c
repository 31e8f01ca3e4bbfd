/* featdb - inspect, export, verify, merge and mend feature stores
 * (common/store/featdb.h): the command line; each command lives in
 * train/featdb/ (featdb_tool.h), and its forms and help in help.c.
 *
 *   featdb COMMAND [options] [operands]     info, export, verify, merge, remove
 *   featdb [COMMAND] --help, featdb help [COMMAND] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "cli.h"
#include "version.h"
#include "featdb/featdb_tool.h"

/* The short options, getopt's and cli_bad_option's. */
#define SHORT_OPTS "h"

/* The command line: the command, its store (info, export, verify, remove),
 * export's file or merge's OUT, merge's inputs, remove's keys or --damaged,
 * verify's compute threads. */
typedef struct args {
	const char *cmd, *db, *out;
	char **in, **keys;
	int nin, nkeys, damaged;
	long threads; /* 0 until parsed: one per CPU */
} args_t;

/* store_operand: the one store of info, export and verify, from --db or
 * the operand ops[0..n). */
static int store_operand(args_t *a, char **ops, int n)
{
	if (a->db && n)
		return cli_usage(PROG, "%s takes one store: --db %s or %s, not both",
				 a->cmd, a->db, ops[0]);
	if (!a->db && n != 1)
		return cli_usage(PROG, "%s takes one store: featdb %s DB", a->cmd, a->cmd);
	if (!a->db)
		a->db = ops[0];
	return 0;
}

/* parse_args reads the options (GNU style: anywhere, --out F or --out=F,
 * "--" ends them, so that a store may be named -h), then the command and
 * its operands.  0, or -1 after printing a usage error, with *status its
 * exit status; --help, --help-dev, --version and the command help print
 * and exit (cli_answer).  --help answers for the command it comes with,
 * wherever it stands, so the options after it are read only to find that
 * command; an error before it is still one. */
static int parse_args(int argc, char **argv, args_t *a, int *status)
{
	enum { O_DB = 256, O_OUT, O_DAMAGED, O_THREADS, O_VERSION, O_HELP_DEV };
	static const struct option lo[] = {
		{"db", required_argument, 0, O_DB},
		{"out", required_argument, 0, O_OUT},
		{"damaged", no_argument, 0, O_DAMAGED},
		{"threads", required_argument, 0, O_THREADS},
		{"help", no_argument, 0, 'h'},
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{"version", no_argument, 0, O_VERSION},
		{0, 0, 0, 0},
	};
	int c, help = 0;

	*a = (args_t){0};
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORT_OPTS, lo, NULL)) != -1) {
		if (help)
			continue;
		switch (c) {
		case O_DB:
		case O_OUT:
			if (cli_path(PROG, c == O_DB ? "--db" : "--out", optarg,
				     c == O_DB ? &a->db : &a->out)) {
				*status = CLI_USAGE;
				return -1;
			}
			break;
		case O_DAMAGED: a->damaged = 1; break;
		case O_THREADS:
			if (cli_long(PROG, "--threads", optarg, 1, 256, &a->threads)) {
				*status = CLI_USAGE;
				return -1;
			}
			break;
		case 'h': help = 1; break;
		case O_HELP_DEV: cli_answer(PROG, fdb_help_dev);
		case O_VERSION: cli_answer(PROG, PROG " " VGGFEAT_VERSION "\n");
		default:
			*status = cli_bad_option(PROG, argv, SHORT_OPTS);
			return -1;
		}
	}
	char **ops = argv + optind;
	int n = argc - optind;
	if (help)
		cli_answer(PROG, fdb_help(n ? ops[0] : NULL));
	*status = CLI_USAGE;
	if (n == 0) {
		cli_usage(PROG, "a command is needed: %s", fdb_commands());
		return -1;
	}
	a->cmd = ops[0];
	ops++, n--;
	if (strcmp(a->cmd, "help") == 0) {
		if (n > 1) {
			cli_usage(PROG, "help takes one command: featdb help COMMAND");
			return -1;
		}
		if (n == 0 || fdb_is_command(ops[0]))
			cli_answer(PROG, fdb_help(n ? ops[0] : NULL));
		a->cmd = ops[0]; /* refused below, as any unknown command */
	}
	if (!fdb_is_command(a->cmd)) {
		cli_usage(PROG, "unknown command '%s' (%s)", a->cmd, fdb_commands());
		return -1;
	}
	int export = strcmp(a->cmd, "export") == 0, merge = strcmp(a->cmd, "merge") == 0,
	    remove = strcmp(a->cmd, "remove") == 0;
	if (cli_operands(PROG, remove ? "store name or key" : "store name", ops, n))
		return -1;
	if (a->out && !export && !merge) {
		cli_usage(PROG, "%s has no option --out", a->cmd);
		return -1;
	}
	if (a->damaged && !remove) {
		cli_usage(PROG, "%s has no option --damaged", a->cmd);
		return -1;
	}
	if (remove) {
		if (!a->db && n)
			a->db = ops[0], ops++, n--;
		if (!a->db) {
			cli_usage(PROG, "remove needs a store: featdb remove DB KEY... or "
				  "featdb remove DB --damaged");
			return -1;
		}
		if (a->damaged && n) {
			cli_usage(PROG, "remove takes keys or --damaged, not both ('%s' "
				  "with --damaged)", ops[0]);
			return -1;
		}
		if (!a->damaged && n == 0) {
			cli_usage(PROG, "remove needs the keys of the records to remove "
				  "(featdb remove DB KEY...), or --damaged");
			return -1;
		}
		a->keys = ops;
		a->nkeys = n;
	} else if (merge) {
		if (a->db) {
			cli_usage(PROG, "merge takes its stores as operands: featdb merge "
				  "OUT IN... (or --out OUT IN...)");
			return -1;
		}
		if (!a->out && n)
			a->out = ops[0], ops++, n--;
		if (!a->out || n == 0) {
			cli_usage(PROG, "merge needs OUT and at least one IN: featdb merge "
				  "OUT IN...");
			return -1;
		}
		a->in = ops;
		a->nin = n;
	} else if (store_operand(a, ops, n)) {
		return -1;
	} else if (export && !a->out) {
		cli_usage(PROG, "export needs --out FILE.h5: featdb export DB --out FILE.h5");
		return -1;
	}
	if (!a->threads)
		a->threads = workers_cpus();
	*status = CLI_OK;
	return 0;
}

int main(int argc, char **argv)
{
	args_t a;
	int status;

	if (parse_args(argc, argv, &a, &status))
		return status;
	if (strcmp(a.cmd, "info") == 0)
		status = fdb_info(a.db);
	else if (strcmp(a.cmd, "export") == 0)
		status = fdb_export(a.db, a.out);
	else if (strcmp(a.cmd, "verify") == 0)
		status = fdb_verify(a.db, (int)a.threads);
	else if (strcmp(a.cmd, "remove") == 0)
		status = fdb_remove(a.db, a.nkeys, a.keys, a.damaged);
	else
		status = fdb_merge(a.out, a.nin, a.in);
	/* info's report, verify's verdict and the records remove --damaged
	 * removed are the answer: one that did not reach the standard output is
	 * a failure. */
	if (status == CLI_OK && cli_flush_stdout(PROG))
		status = CLI_ERROR;
	return status;
}
