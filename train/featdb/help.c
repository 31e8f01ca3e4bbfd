/* help.c - featdb's help texts: each command's own (featdb COMMAND --help)
 * and the overview (featdb --help), whose line for each command is built
 * from that command's entry, its first form and its summary, so that the
 * two cannot drift apart. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "featdb_tool.h"

typedef struct command {
	const char *name;
	const char *forms;   /* its synopsis, one form a line; the overview
			      * shows the first */
	const char *summary; /* the overview's words for it, one line */
	const char *help;    /* the rest of its help: what it does, its
			      * options, an example */
} command_t;

static const command_t commands[] = {
	{"info",
	 "featdb info DB\n"
	 "featdb info --db DB\n",
	 "records, people per split, model, settings",
	 "Print what the store holds: its records, the people with their counts\n"
	 "per split, the model and tap (and the extract options that give it),\n"
	 "dimension, dtype, weights fingerprint, preprocessing, the convolution\n"
	 "path (extract's --conv), and its size on disk.\n"
	 "\n"
	 "options:\n"
	 "  --db DB        the store (instead of the operand), as the other\n"
	 "                 programs name it\n"
	 "  --threads N    compute threads: accepted, info runs on one\n"
	 "  -h, --help     this text\n"
	 "\n"
	 "example: featdb info feats.lmdb\n"},
	{"export",
	 "featdb export DB --out F.h5\n"
	 "featdb export --db DB --out F.h5\n",
	 "an HDF5 file for numpy and Keras users",
	 "Write the store's records, in key order, to an HDF5 file: /features\n"
	 "(N,D) float32, /labels (N) int32, /keys (N), /classes (C) strings,\n"
	 "/split (N) uint8 (0 train, 1 valid, 2 test).  The file appears whole\n"
	 "or not at all; one already at F.h5 is replaced only when an export\n"
	 "made it.  A record verify reports bad stops it, nothing written.\n"
	 "\n"
	 "options:\n"
	 "  --out F.h5     the HDF5 file to write (needed)\n"
	 "  --db DB        the store (instead of the operand)\n"
	 "  --threads N    compute threads: accepted, export runs on one\n"
	 "  -h, --help     this text\n"
	 "\n"
	 "example: featdb export feats.lmdb --out feats.h5\n"},
	{"verify",
	 "featdb verify DB [--threads N]\n"
	 "featdb verify --db DB [--threads N]\n",
	 "read and check every record",
	 "Read and check every record: CRC, size, dtype, class, finite\n"
	 "non-negative values.  Each bad one is listed with its reason, in key\n"
	 "order (\"bad<TAB>KEY<TAB>WHY\"), the same for any number of threads, and\n"
	 "the exit status is 1.  An extract run on the images' folder replaces\n"
	 "the bad records of its images; featdb remove DB --damaged removes them.\n"
	 "\n"
	 "options:\n"
	 "  --threads N    compute threads (default: one per CPU)\n"
	 "  --db DB        the store (instead of the operand)\n"
	 "  -h, --help     this text\n"
	 "\n"
	 "example: featdb verify feats.lmdb\n"},
	{"merge",
	 "featdb merge OUT IN...\n"
	 "featdb merge --out OUT IN...\n",
	 "merge stores made with the same settings",
	 "Merge stores made with the same model, tap, weights and settings (the\n"
	 "convolution path included) into OUT, created if needed; the people are\n"
	 "renumbered to the union.  A key whose record differs from the one OUT\n"
	 "holds is a conflict: reported, OUT's kept.  Records are checked as\n"
	 "verify checks them: a damaged record of OUT is replaced by an input's\n"
	 "sound one; an input's damaged record is passed over where OUT or an\n"
	 "earlier input holds the key, else it stops the merge before anything\n"
	 "is written.  Exit 1 when a conflict or a damaged record of OUT\n"
	 "remains.\n"
	 "\n"
	 "options:\n"
	 "  --out OUT      the store merged into (instead of the first operand)\n"
	 "  --threads N    compute threads: accepted, merge runs on one\n"
	 "  -h, --help     this text\n"
	 "\n"
	 "example: featdb merge all.lmdb part1.lmdb part2.lmdb\n"},
	{"remove",
	 "featdb remove DB KEY...\n"
	 "featdb remove DB --damaged\n",
	 "remove records by key, or every damaged one",
	 "Remove the records of the keys (the images' paths in the folder, as\n"
	 "verify and export list them) in one commit: all of them, or none when\n"
	 "the store lacks one (exit 1).  With --damaged, remove every record\n"
	 "verify reports bad, one line each, so that verify then passes.  The\n"
	 "metadata's count is rewritten; the class list is kept.  A store an\n"
	 "extract or a merge is writing is refused, unchanged.\n"
	 "\n"
	 "options:\n"
	 "  --damaged      the records verify reports bad, instead of keys\n"
	 "  --db DB        the store (instead of the first operand): featdb\n"
	 "                 remove --db feats.lmdb alice/1.jpg\n"
	 "  --threads N    compute threads: accepted, remove runs on one\n"
	 "  -h, --help     this text\n"
	 "\n"
	 "example: featdb remove feats.lmdb alice/3.jpg bob/1.jpg\n"},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static const char overview_options[] =
	"options:\n"
	"  --db DB        the store of info, export, verify and remove, as the\n"
	"                 other programs name it (featdb info --db feats.lmdb)\n"
	"  --out PATH     export's HDF5 file; merge's OUT\n"
	"  --damaged      remove's: the records verify reports bad\n"
	"  --threads N    compute threads (verify; default: one per CPU); info,\n"
	"                 export, merge and remove accept it and run on one\n"
	"                 thread\n"
	"  -h, --help     this text; with a command, that command's help\n"
	"  --help-dev     the options and variables for development and tests\n"
	"  --version      print the version\n"
	"\n"
	"Options may come before, between or after the command and its operands,\n"
	"as --out F.h5 or --out=F.h5; \"--\" ends them (a store named -h:\n"
	"featdb info -- -h).\n"
	"\n"
	"featdb COMMAND --help, or featdb help COMMAND, prints a command's help.\n";

const char fdb_help_dev[] =
	"featdb: for development and tests (docs/development.md)\n"
	"\n"
	"  featdb has no options or variables of that kind.\n";

/* The text fdb_help returns; the longest, the overview, is about 2 KB. */
static char text[8192];
static size_t len;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text + len, sizeof text - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n < sizeof text - len ? (size_t)n : sizeof text - len - 1;
}

static const command_t *find(const char *name)
{
	for (size_t i = 0; name && i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int fdb_is_command(const char *word)
{
	return find(word) != NULL;
}

const char *fdb_commands(void)
{
	static char list[256];
	size_t n = 0;

	for (size_t i = 0; i < NCOMMANDS && n < sizeof list; i++)
		n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", commands[i].name,
				      i + 2 < NCOMMANDS ? ", " : i + 1 < NCOMMANDS ? " or " : "");
	return list;
}

/* The length of a command's first form, its first line. */
static int first_form(const command_t *c)
{
	return (int)strcspn(c->forms, "\n");
}

static void put_overview(void)
{
	int width = 0;
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (first_form(&commands[i]) > width)
			width = first_form(&commands[i]);
	put("usage: featdb COMMAND [options] [operands]\n\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		put("  %-*.*s  %s\n", width, first_form(&commands[i]), commands[i].forms,
		    commands[i].summary);
	put("\n%s", overview_options);
}

/* "usage: " before the first form, its indent before the others. */
static void put_command(const command_t *c)
{
	const char *form = c->forms;
	for (int first = 1; *form; first = 0) {
		int n = (int)strcspn(form, "\n");
		put("%s%.*s\n", first ? "usage: " : "       ", n, form);
		form += n + (form[n] == '\n');
	}
	put("\n%s", c->help);
}

const char *fdb_help(const char *cmd)
{
	const command_t *c = find(cmd);
	len = 0;
	text[0] = 0;
	if (c)
		put_command(c);
	else
		put_overview();
	return text;
}
