/* test_option_docs.c - the options the programs take and the options the
 * documentation names agree.  Each program (one per main file of extract/
 * and train/, pipeline.sh, and each command of featdb its --help lists) is
 * asked for its --help and its --help-dev; then
 *   - every option its --help lists is named in its section of
 *     docs/programs.md (from its "## <program>" heading to the next "## "),
 *     every option its --help-dev lists is named there or on a line of
 *     docs/development.md that names the program, and every variable its
 *     --help-dev lists on such a line;
 *   - every option that programs.md, README.md, or development.md's table of
 *     development-only options names is one that the program it belongs to
 *     lists, so that a removed or renamed option cannot linger in the docs;
 *   - every option a --help lists is one its program parses.
 * An option named in a code span or a code line belongs to the program
 * whose command it follows there (`predict --min-prob P`); otherwise, in
 * programs.md, to the section's program; otherwise to the programs named
 * on its line, or to any program when the line names none; a code span
 * after "extract's" (extract's `--conv`) belongs to extract too.  What other
 * commands take (.ci/deps.sh's --list) is set apart by name, below. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "testutil.h"

#define PROGRAMS_DOC "docs/programs.md"
#define README_DOC "README.md"
#define DEV_DOC "docs/development.md"
/* development.md's table whose options the check holds to the programs
 * (its other sections name make's and the scripts' options). */
#define DEV_TABLE "Development-only options and variables"

#define MAX_PROGS 32 /* one bit each in an owner set */
#define MAX_OPTS 96
#define NAME 48

/* Options programs.md documents once for every program, in its preamble
 * ("Every program has `--help`, `--version`, and `--help-dev`"), rather
 * than in each program's section. */
static const char *const every_program[] = {"help", "version", "help-dev"};

/* Commands of other tools that the docs show with their own options: an
 * option after one of them, in the same code span or line, is that tool's
 * and is not checked. */
static const char *const other_tools[] = {
	"deps.sh", /* `.ci/deps.sh --list pipeline`: the packages' installer */
};
static int other_tools_seen[sizeof other_tools / sizeof *other_tools];

/* Options the docs name as ones a program refuses, each checked to be
 * indeed absent from its --help and --help-dev. */
static const struct { const char *prog, *option; } refused_examples[] = {
	{"featdb", "bogus"}, /* "`featdb --bogus info x` is an unknown option" */
};

typedef struct optlist {
	int n;
	char name[MAX_OPTS][NAME]; /* without the dashes; variables as named */
} optlist_t;

typedef struct prog {
	char name[PROC_NAME];    /* "extract", "pipeline.sh", "featdb info" */
	char path[512];          /* what runs it */
	char cmd[PROC_NAME];     /* featdb's command, else "" */
	int parent;              /* a command's featdb, else -1 */
	int tool;                /* a demo generator: its options are checked
				  * where the docs name them, never required */
	optlist_t user, dev, env; /* --help's options, --help-dev's, its variables */
} prog_t;

static prog_t progs[MAX_PROGS];
static int nprogs;
static char g_dir[64];

/* ---- the programs and their help texts ---------------------------------- */

static int prog_index(const char *name)
{
	for (int i = 0; i < nprogs; i++)
		if (strcmp(progs[i].name, name) == 0)
			return i;
	return -1;
}

static prog_t *prog_add(const char *name, const char *path, const char *cmd, int parent)
{
	assert_true(nprogs < MAX_PROGS);
	prog_t *p = &progs[nprogs++];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	snprintf(p->path, sizeof p->path, "%s", path);
	snprintf(p->cmd, sizeof p->cmd, "%s", cmd);
	p->parent = parent;
	return p;
}

static void opt_add(optlist_t *l, const char *name, size_t len)
{
	for (int i = 0; i < l->n; i++)
		if (strlen(l->name[i]) == len && strncmp(l->name[i], name, len) == 0)
			return;
	assert_true(l->n < MAX_OPTS && len < NAME);
	memcpy(l->name[l->n], name, len);
	l->name[l->n++][len] = 0;
}

static int opt_has(const optlist_t *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->name[i], name) == 0)
			return 1;
	return 0;
}

static int accepts(const prog_t *p, const char *option)
{
	return opt_has(&p->user, option) || opt_has(&p->dev, option);
}

/* The long options s[0..n) names: "--name", "--name=X", "[--name]",
 * "--name[=S]", but not a lone "--" nor the inside of "a--b".  Each name
 * (without its dashes) goes to fn. */
typedef void option_fn(const char *name, size_t len, void *arg);
static void each_option(const char *s, size_t n, option_fn *fn, void *arg)
{
	for (size_t i = 0; i + 2 < n; i++) {
		if (s[i] != '-' || s[i + 1] != '-' || !isalnum((unsigned char)s[i + 2]) ||
		    (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '-')))
			continue;
		size_t k = i + 2;
		while (k < n && (isalnum((unsigned char)s[k]) || strchr("-_", s[k])))
			k++;
		size_t end = k;
		while (s[end - 1] == '-')
			end--;
		fn(s + i + 2, end - i - 2, arg);
		i = k - 1;
	}
}

static void add_to_list(const char *name, size_t len, void *list)
{
	opt_add(list, name, len);
}

/* help_options reads a --help or --help-dev text: the options of its
 * option lines (indented by 1 to 6 spaces, starting with '-'; the option
 * columns are those before the first column, two spaces apart, that does
 * not start with '-': "  --batch N, --batch-size N   images per ...",
 * pipeline.sh's "  --top-k N  --min-prob P  (and ...)") into opts, and
 * the variables of lines "  NAME=VALUE   ..." into env.  The prose, and
 * the description columns, name options of other programs too. */
static void help_options(const char *text, optlist_t *opts, optlist_t *env)
{
	for (const char *line = text; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		size_t ind = strspn(line, " ");
		const char *p = line + ind;
		if (ind >= 1 && ind <= 6 && *p == '-') {
			while (p < eol && *p == '-') {
				const char *q = strstr(p, "  ");
				if (!q || q > eol)
					q = eol;
				each_option(p, (size_t)(q - p), add_to_list, opts);
				p = q + strspn(q, " ");
				if (p > eol)
					p = eol;
			}
		} else if (ind >= 1 && ind <= 6 && isupper((unsigned char)*p)) {
			size_t n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
			if (p[n] == '=')
				opt_add(env, p, n);
		}
		line = *eol ? eol + 1 : eol;
	}
}

/* run runs argv, its standard output and error into one text (malloc'd),
 * its exit status in *status. */
static char *run(char *const argv[], int *status)
{
	char out[128];
	snprintf(out, sizeof out, "%s/out.txt", g_dir);
	*status = proc_run(argv, out);
	return tu_slurp(out);
}

/* ask runs p with its command and then opt ("--help"): the answer
 * (malloc'd), which must come with status 0. */
static char *ask(const prog_t *p, const char *opt)
{
	char *argv[4] = {(char *)p->path, NULL, NULL, NULL};
	int st, k = 1;
	if (*p->cmd)
		argv[k++] = (char *)p->cmd;
	argv[k] = (char *)opt;
	char *out = run(argv, &st);
	if (st != 0)
		fail_msg("%s %s: exit %d, expected 0:\n%s", p->name, opt, st, out);
	return out;
}

static void read_helps(prog_t *p)
{
	char *help = ask(p, "--help");
	if (p->tool) {
		/* The generators print a synopsis: every option it names. */
		each_option(help, strlen(help), add_to_list, &p->user);
	} else {
		help_options(help, &p->user, &p->env);
		char *dev = ask(p, "--help-dev");
		help_options(dev, &p->dev, &p->env);
		free(dev);
	}
	if (p->user.n == 0)
		fail_msg("%s --help lists no option:\n%s", p->name, help);
	free(help);
}

/* featdb's commands, from its help's lines "  featdb NAME ...". */
static void add_featdb_commands(int featdb)
{
	char *help = ask(&progs[featdb], "--help");
	int found = 0;
	for (char *line = strtok(help, "\n"); line; line = strtok(NULL, "\n")) {
		char cmd[PROC_NAME], name[2 * PROC_NAME];
		if (sscanf(line, "  featdb %63[a-z-]", cmd) != 1)
			continue;
		snprintf(name, sizeof name, "featdb %s", cmd);
		if (prog_index(name) < 0)
			prog_add(name, progs[featdb].path, cmd, featdb), found++;
	}
	free(help);
	if (found == 0)
		fail_msg("featdb --help lists no command (lines '  featdb NAME ...')");
}

static void find_programs(void)
{
	char names[MAX_PROGS][PROC_NAME], why[256];
	int n = proc_programs(names, MAX_PROGS, why, sizeof why);
	if (n < 0)
		fail_msg("%s", why);
	for (int i = 0; i < n; i++)
		prog_add(names[i], proc_bin(names[i]), "", -1);
	prog_add("pipeline.sh", "./pipeline.sh", "", -1);
	add_featdb_commands(prog_index("featdb"));

	glob_t g;
	assert_int_equal(glob("extract/demo/*.c", 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *base = strrchr(g.gl_pathv[i], '/') + 1;
		char name[PROC_NAME];
		snprintf(name, sizeof name, "%.*s", (int)strlen(base) - 2, base);
		prog_add(name, proc_tool(name), "", -1)->tool = 1;
	}
	globfree(&g);
	for (int i = 0; i < nprogs; i++)
		read_helps(&progs[i]);
}

/* ---- the options the docs name, and whose they are ---------------------- */

typedef uint32_t owners_t; /* a set of programs, bit i for progs[i] */
#define OWNER(i) ((owners_t)1 << (i))

typedef struct tok {
	char name[NAME];
	owners_t owners; /* the programs it may belong to */
	int line;
	char section[96]; /* its "## " heading ("" before the first) */
	char sub[96];     /* its "### " heading within that, or "" */
} tok_t;

typedef struct doc {
	const char *path;
	int by_section; /* programs.md: a program's section owns its options */
	tok_t *toks;
	int ntoks, cap;
	char headings[64][96]; /* its "## " headings */
	int nheadings;
} doc_t;

/* Where a scan stands in one code span, code line or stretch of prose. */
typedef struct ctx {
	doc_t *doc;
	int line;
	const char *section, *sub;
	owners_t owners;
	int strict;  /* a command: a program's name there takes what follows */
	int output;  /* a program's output ("train-head: ... --keep 0.95"):
		      * the programs it names share what follows */
	int words;
	int *possessor; /* prose: the program of a last word "extract's", or
			 * -1; the scan's, across lines */
} ctx_t;

static owners_t any_program(void)
{
	owners_t o = 0;
	for (int i = 0; i < nprogs; i++)
		if (!progs[i].tool)
			o |= OWNER(i);
	return o;
}

/* word_core: w[0..n) without the punctuation around a name ("(`extract:",
 * "extract's", "./pipeline.sh,") into core; *colon when a ':' ended it,
 * *poss when "'s" did. */
static void word_core(const char *w, size_t n, char *core, size_t size, int *colon,
		      int *poss)
{
	while (n && strchr("$([{`\"'*", *w))
		w++, n--;
	*colon = *poss = 0;
	for (int again = 1; again;) {
		again = 0;
		while (n && strchr(".,;:)]}`\"'*", w[n - 1])) {
			*colon |= w[n - 1] == ':';
			n--;
		}
		if (n > 2 && w[n - 2] == '\'' && w[n - 1] == 's')
			n -= 2, again = *poss = 1;
	}
	snprintf(core, size, "%.*s", (int)n, w);
}

/* Whether owners holds featdb (progs[parent]) or one of its commands. */
static int in_family(owners_t owners, int parent)
{
	for (int j = 0; j < nprogs; j++)
		if ((owners & OWNER(j)) && (j == parent || progs[j].parent == parent))
			return 1;
	return 0;
}

/* The program a word names ("extract", "bin/extract", "./pipeline.sh"), or
 * -1; a featdb command after featdb names that command. */
static int program_named(const char *core, owners_t after)
{
	const char *base = strrchr(core, '/') ? strrchr(core, '/') + 1 : core;
	for (int i = 0; i < nprogs; i++)
		if (progs[i].parent >= 0 && strcmp(progs[i].cmd, base) == 0 &&
		    in_family(after, progs[i].parent))
			return i;
	for (int i = 0; i < nprogs; i++)
		if (progs[i].parent < 0 && strcmp(progs[i].name, base) == 0)
			return i;
	return -1;
}

/* Whether a word names one of other_tools (counted in other_tools_seen). */
static int other_tool(const char *core)
{
	const char *base = strrchr(core, '/') ? strrchr(core, '/') + 1 : core;
	for (size_t i = 0; i < sizeof other_tools / sizeof *other_tools; i++)
		if (strcmp(base, other_tools[i]) == 0)
			return ++other_tools_seen[i];
	return 0;
}

/* The programs a line names, anywhere on it; any program when none. */
static owners_t line_owners(const char *line, size_t n)
{
	owners_t o = 0;
	for (size_t i = 0; i < n;) {
		i += strspn(line + i, " \t`|");
		size_t k = i;
		while (k < n && !strchr(" \t`|", line[k]))
			k++;
		if (k == i)
			break;
		char core[128];
		int colon, poss, p;
		word_core(line + i, k - i, core, sizeof core, &colon, &poss);
		if ((p = program_named(core, 0)) >= 0)
			o |= OWNER(p);
		i = k;
	}
	return o ? o : any_program();
}

static void tok_add(const char *name, size_t len, void *arg)
{
	ctx_t *c = arg;
	doc_t *d = c->doc;
	if (!c->owners)
		return; /* another tool's */
	if (d->ntoks == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 256;
		d->toks = realloc(d->toks, (size_t)d->cap * sizeof *d->toks);
		assert_non_null(d->toks);
	}
	tok_t *t = &d->toks[d->ntoks++];
	assert_true(len < NAME);
	snprintf(t->name, sizeof t->name, "%.*s", (int)len, name);
	t->owners = c->owners;
	t->line = c->line;
	snprintf(t->section, sizeof t->section, "%s", c->section);
	snprintf(t->sub, sizeof t->sub, "%s", c->sub);
}

static int has_letter(const char *s)
{
	for (; *s; s++)
		if (isalpha((unsigned char)*s))
			return 1;
	return 0;
}

/* ctx_word takes the word w[0..n): a program's name switches the owners
 * of what follows in a command (or joins them in an output), another
 * tool's sets what follows apart, "extract's" in prose is remembered for
 * the next span; its options are recorded. */
static void ctx_word(ctx_t *c, const char *w, size_t n)
{
	char core[128];
	int colon, poss, first = c->words++ == 0;
	word_core(w, n, core, sizeof core, &colon, &poss);
	if (!c->strict && c->possessor) {
		int p = program_named(core, 0);
		if (poss && p >= 0)
			*c->possessor = p;
		else if (strcmp(core, "and") != 0 && strcmp(core, "or") != 0 &&
			 has_letter(core))
			*c->possessor = -1;
	}
	if (c->strict) {
		int p = program_named(core, c->owners);
		if (p >= 0) {
			if (first && colon)
				c->output = 1, c->owners = OWNER(p);
			else if (c->output)
				c->owners |= OWNER(p);
			else
				c->owners = OWNER(p);
			return;
		}
		if (!c->output && other_tool(core)) {
			c->owners = 0;
			return;
		}
	}
	each_option(w, n, tok_add, c);
}

static void ctx_text(ctx_t *c, const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		i += strspn(s + i, " \t");
		size_t k = i;
		while (k < n && s[k] != ' ' && s[k] != '\t')
			k++;
		if (k > i)
			ctx_word(c, s + i, k - i);
		i = k;
	}
}

/* The heading text of a line "## name" (level hashes), or NULL. */
static const char *heading(const char *line, int level)
{
	for (int i = 0; i < level; i++)
		if (line[i] != '#')
			return NULL;
	return line[level] == ' ' ? line + level + 1 : NULL;
}

/* scan_doc reads text (the Markdown of d->path) into d->toks: every long
 * option outside its code blocks' lines and code spans, in them, and
 * whose it is. */
static void scan_doc(doc_t *d, const char *text)
{
	char section[96] = "", sub[96] = "";
	int fence = 0, lineno = 0, in_span = 0, possessor = -1;
	ctx_t span = {0};

	for (const char *line = text; *line;) {
		const char *eol = strchr(line, '\n');
		if (!eol)
			eol = line + strlen(line);
		size_t n = (size_t)(eol - line);
		const char *h;
		lineno++;
		int own = d->by_section ? prog_index(section) : -1;
		owners_t dflt = own >= 0 ? OWNER(own) : line_owners(line, n);
		ctx_t c = {d, lineno, section, sub, dflt, 0, 0, 0, &possessor};

		if (strncmp(line + strspn(line, " "), "```", 3) == 0) {
			fence = !fence;
			in_span = 0, possessor = -1;
		} else if (fence) {
			c.strict = 1;
			const char *s = line;
			if (strncmp(s, "$ ", 2) == 0)
				s += 2;
			ctx_text(&c, s, (size_t)(eol - s));
		} else if ((h = heading(line, 2))) {
			snprintf(section, sizeof section, "%.*s", (int)(eol - h), h);
			assert_true(d->nheadings < 64);
			snprintf(d->headings[d->nheadings++], sizeof d->headings[0], "%s",
				 section);
			sub[0] = 0;
			in_span = 0, possessor = -1;
		} else if (heading(line, 1)) {
			section[0] = sub[0] = 0; /* the preamble */
			in_span = 0, possessor = -1;
		} else if ((h = heading(line, 3))) {
			snprintf(sub, sizeof sub, "%.*s", (int)(eol - h), h);
			in_span = 0, possessor = -1;
		} else if (n == 0) {
			/* A span never crosses a blank line. */
			in_span = 0, possessor = -1;
		} else {
			for (const char *p = line; p < eol;) {
				const char *q = memchr(p, '`', (size_t)(eol - p));
				if (!q)
					q = eol;
				if (in_span) {
					span.line = lineno;
					ctx_text(&span, p, (size_t)(q - p));
				} else {
					ctx_text(&c, p, (size_t)(q - p));
				}
				if (q < eol) {
					in_span = !in_span;
					if (in_span) {
						span = c;
						span.strict = 1, span.words = 0;
						if (possessor >= 0)
							span.owners |= OWNER(possessor);
					}
				}
				p = q < eol ? q + 1 : eol;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
}

static doc_t programs_md, readme_md, development_md;

static void read_doc(doc_t *d, const char *path, int by_section)
{
	char *text = tu_slurp(path);
	d->path = path;
	d->by_section = by_section;
	scan_doc(d, text);
	free(text);
}

/* ---- the checks ------------------------------------------------------------ */

/* The names of the programs in owners, "extract, predict", or "any program". */
static const char *owner_names(owners_t owners, char *buf, size_t size)
{
	if (owners == any_program())
		return "any program";
	buf[0] = 0;
	for (int i = 0; i < nprogs; i++)
		if (owners & OWNER(i))
			snprintf(buf + strlen(buf), size - strlen(buf), "%s%s",
				 buf[0] ? ", " : "", progs[i].name);
	return buf;
}

/* The section of programs.md that documents p: its own heading, else its
 * featdb's. */
static const char *section_of(const prog_t *p)
{
	for (int i = 0; i < programs_md.nheadings; i++)
		if (strcmp(programs_md.headings[i], p->name) == 0)
			return p->name;
	return p->parent >= 0 ? progs[p->parent].name : p->name;
}

/* Whether d names option as p's: in p's section of programs.md, or (any
 * doc but programs.md) on a line naming p. */
static int documents(const doc_t *d, const prog_t *p, const char *option)
{
	int i = (int)(p - progs);
	owners_t mine = OWNER(i) | (p->parent >= 0 ? OWNER(p->parent) : 0);
	for (int k = 0; k < d->ntoks; k++) {
		const tok_t *t = &d->toks[k];
		if (strcmp(t->name, option) != 0 || !(t->owners & mine) ||
		    t->owners == any_program())
			continue;
		if (!d->by_section || strcmp(t->section, section_of(p)) == 0)
			return 1;
	}
	return 0;
}

static int every_program_option(const char *option)
{
	for (size_t i = 0; i < sizeof every_program / sizeof *every_program; i++)
		if (strcmp(option, every_program[i]) == 0)
			return 1;
	return 0;
}

/* Every option each program's --help lists is in its section of
 * programs.md; --help, --version and --help-dev in its preamble; each
 * featdb command in featdb's section. */
static void test_help_options_documented(void **state)
{
	(void)state;
	int problems = 0;

	for (size_t k = 0; k < sizeof every_program / sizeof *every_program; k++) {
		int named = 0;
		for (int i = 0; i < programs_md.ntoks; i++)
			named |= programs_md.toks[i].section[0] == 0 &&
				 strcmp(programs_md.toks[i].name, every_program[k]) == 0;
		if (!named) {
			print_error(PROGRAMS_DOC "'s preamble (before its first '## ') does "
				    "not name --%s, which it documents for every program\n",
				    every_program[k]);
			problems++;
		}
	}
	for (int i = 0; i < nprogs; i++) {
		const prog_t *p = &progs[i];
		if (p->tool)
			continue;
		for (int k = 0; k < p->user.n; k++) {
			const char *o = p->user.name[k];
			if (every_program_option(o) || documents(&programs_md, p, o))
				continue;
			print_error("%s --help lists --%s, but " PROGRAMS_DOC "'s section "
				    "'## %s' does not name it as %s's\n", p->name, o,
				    section_of(p), p->name);
			problems++;
		}
		if (p->parent >= 0) {
			char *text = tu_slurp(PROGRAMS_DOC), want[2 * PROC_NAME + 8];
			snprintf(want, sizeof want, "\n## %s\n", section_of(p));
			char *sec = strstr(text, want), *end;
			if (sec && (end = strstr(sec + 1, "\n## ")))
				*end = 0;
			if (!sec || !strstr(sec, p->name)) {
				print_error("featdb --help lists the command %s, but "
					    PROGRAMS_DOC "'s section '## %s' does not name "
					    "'%s'\n", p->cmd, section_of(p), p->name);
				problems++;
			}
			free(text);
		}
	}
	if (problems)
		fail_msg("%d options of the programs' --help are not documented (above)",
			 problems);
}

/* Whether line holds the variable name, whole. */
static int names_variable(const char *line, const char *name)
{
	size_t n = strlen(name);
	for (const char *at = strstr(line, name); at; at = strstr(at + 1, name))
		if ((at == line || !(isalnum((unsigned char)at[-1]) || at[-1] == '_')) &&
		    !(isalnum((unsigned char)at[n]) || at[n] == '_'))
			return 1;
	return 0;
}

/* Whether a line of development.md names the variable name and p. */
static int dev_doc_names_variable(const prog_t *p, const char *name)
{
	char *text = tu_slurp(DEV_DOC);
	owners_t mine = OWNER(p - progs) | (p->parent >= 0 ? OWNER(p->parent) : 0);
	int found = 0;
	for (char *line = strtok(text, "\n"); line && !found;
	     line = strtok(NULL, "\n")) {
		owners_t o = line_owners(line, strlen(line));
		found = names_variable(line, name) && o != any_program() && (o & mine);
	}
	free(text);
	return found;
}

/* Every option and variable each --help-dev lists is in the program's
 * section of programs.md or on a line of development.md naming it. */
static void test_dev_options_documented(void **state)
{
	(void)state;
	int problems = 0;

	for (int i = 0; i < nprogs; i++) {
		const prog_t *p = &progs[i];
		for (int k = 0; k < p->dev.n; k++) {
			const char *o = p->dev.name[k];
			if (documents(&programs_md, p, o) || documents(&development_md, p, o))
				continue;
			print_error("%s --help-dev lists --%s, but neither " PROGRAMS_DOC
				    "'s section '## %s' nor a line of " DEV_DOC " naming %s "
				    "names it\n", p->name, o, section_of(p), p->name);
			problems++;
		}
		for (int k = 0; k < p->env.n; k++) {
			const char *v = p->env.name[k];
			if (dev_doc_names_variable(p, v))
				continue;
			print_error("%s --help-dev lists the variable %s, but no line of "
				    DEV_DOC " names it with %s\n", p->name, v, p->name);
			problems++;
		}
	}
	if (problems)
		fail_msg("%d development-only options or variables are not documented "
			 "(above)", problems);
}

static int refused_example(const tok_t *t)
{
	for (size_t i = 0; i < sizeof refused_examples / sizeof *refused_examples; i++) {
		int p = prog_index(refused_examples[i].prog);
		if (strcmp(t->name, refused_examples[i].option) == 0 && p >= 0 &&
		    (t->owners & OWNER(p)))
			return 1;
	}
	return 0;
}

/* check_named: every option d names (in its section sub, when not NULL) is
 * one its owners list; returns the count of those that are not. */
static int check_named(const doc_t *d, const char *sub)
{
	int problems = 0;
	for (int k = 0; k < d->ntoks; k++) {
		const tok_t *t = &d->toks[k];
		int ok = 0;
		if (sub && strcmp(t->sub, sub) != 0)
			continue;
		for (int i = 0; i < nprogs && !ok; i++)
			ok = (t->owners & OWNER(i)) && accepts(&progs[i], t->name);
		if (ok || refused_example(t))
			continue;
		char names[512], why[700];
		if (t->owners == any_program())
			snprintf(why, sizeof why, "no program's --help or --help-dev lists it");
		else
			snprintf(why, sizeof why, "it is not an option of %s: %s --help and "
				 "--help-dev do not list it",
				 owner_names(t->owners, names, sizeof names),
				 t->owners & (t->owners - 1) ? "their" : "its");
		print_error("%s:%d: --%s (%s%s%s): %s\n", d->path, t->line, t->name,
			    t->section[0] ? "section '## " : "the preamble", t->section,
			    t->section[0] ? "'" : "", why);
		problems++;
	}
	return problems;
}

static void test_programs_md_options_exist(void **state)
{
	(void)state;
	int problems = check_named(&programs_md, NULL);
	if (problems)
		fail_msg("%d options " PROGRAMS_DOC " names are not the programs' (above)",
			 problems);
}

static void test_readme_options_exist(void **state)
{
	(void)state;
	int problems = check_named(&readme_md, NULL);
	if (problems)
		fail_msg("%d options " README_DOC " names are not the programs' (above)",
			 problems);
}

static void test_dev_table_options_exist(void **state)
{
	(void)state;
	int named = 0;
	for (int k = 0; k < development_md.ntoks; k++)
		named += strcmp(development_md.toks[k].sub, DEV_TABLE) == 0;
	if (named == 0)
		fail_msg(DEV_DOC " has no section '### " DEV_TABLE "' naming options");
	int problems = check_named(&development_md, DEV_TABLE);
	if (problems)
		fail_msg("%d options " DEV_DOC "'s '" DEV_TABLE "' names are not the "
			 "programs' (above)", problems);
}

/* The lists set apart above hold only what the docs need: each of
 * other_tools is named, each refused example is named as its program's
 * and is not an option of it. */
static void test_exceptions_needed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof other_tools / sizeof *other_tools; i++)
		if (!other_tools_seen[i])
			fail_msg("no doc names %s: drop it from other_tools", other_tools[i]);
	for (size_t i = 0; i < sizeof refused_examples / sizeof *refused_examples; i++) {
		int p = prog_index(refused_examples[i].prog), named = 0;
		assert_true(p >= 0);
		for (int k = 0; k < programs_md.ntoks; k++)
			named |= (programs_md.toks[k].owners & OWNER(p)) &&
				 strcmp(programs_md.toks[k].name, refused_examples[i].option) == 0;
		if (!named)
			fail_msg(PROGRAMS_DOC " no longer names --%s as %s's: drop it from "
				 "refused_examples", refused_examples[i].option, progs[p].name);
		if (accepts(&progs[p], refused_examples[i].option))
			fail_msg("the docs give --%s as an option %s refuses, but its --help "
				 "lists it", refused_examples[i].option, progs[p].name);
	}
}

/* Every option a --help or --help-dev lists is one the program parses:
 * given "--name=x" and then an option no program has, it stops on a usage
 * error (status 2) that is not "unknown option --name" (a value refused,
 * "takes no value", or the unknown one), before doing anything. */
static void test_listed_options_parsed(void **state)
{
	(void)state;
	int problems = 0;
	for (int i = 0; i < nprogs; i++) {
		const prog_t *p = &progs[i];
		if (p->tool)
			continue;
		for (int k = 0; k < p->user.n + p->dev.n; k++) {
			int dev = k >= p->user.n;
			const char *o = dev ? p->dev.name[k - p->user.n] : p->user.name[k];
			char given[NAME + 8], unknown[NAME + 32];
			snprintf(given, sizeof given, "--%s=x", o);
			snprintf(unknown, sizeof unknown, "unknown option --%s=x", o);
			char *argv[5] = {(char *)p->path, NULL, NULL, NULL, NULL};
			int st, a = 1;
			if (*p->cmd)
				argv[a++] = (char *)p->cmd;
			argv[a++] = given;
			argv[a] = "--vggfeat-no-such-option";
			char *out = run(argv, &st);
			if (st != 2 || strstr(out, unknown)) {
				print_error("%s --help%s lists --%s, but `%s %s "
					    "--vggfeat-no-such-option` exits %d (a usage error, "
					    "not about an unknown --%s, expected):\n%s", p->name,
					    dev ? "-dev" : "", o, p->name, given, st, o, out);
				problems++;
			}
			free(out);
		}
	}
	if (problems)
		fail_msg("%d options listed by a --help are not parsed (above)", problems);
}

/* ---- the scan itself, on a document made for it ---------------------------- */

static const tok_t *find_tok(const doc_t *d, const char *name, int nth)
{
	for (int k = 0; k < d->ntoks; k++)
		if (strcmp(d->toks[k].name, name) == 0 && nth-- == 0)
			return &d->toks[k];
	return NULL;
}

/* The owners of the nth option name in d, as the names of the programs. */
static const char *owners_of(const doc_t *d, const char *name, int nth)
{
	static char buf[512];
	const tok_t *t = find_tok(d, name, nth);
	if (!t)
		return "(not found)";
	return owner_names(t->owners, buf, sizeof buf);
}

static void test_scan(void **state)
{
	(void)state;
	static const char text[] =
		"# T\n"
		"Every program has `--help`;\n"
		"`--threads N` (extract, predict) too.\n"
		"## extract\n"
		"Run `extract --in DIR`, or `--db=X`; see `predict --top-k 3`;\n"
		"`--` ends them, `a--b` is no option, nor is `---`.\n"
		"```sh\n"
		"## not a heading\n"
		"$ mpirun -np 2 bin/extract --limit 5   # or [--strict]\n"
		"```\n"
		"```\n"
		"train-head: predict --min-prob 0.5 keeps (--keep 0.9)\n"
		"```\n"
		"`.ci/deps.sh --list x`, `featdb info -- -h`, `featdb merge O I | verify\n"
		"D [--threads N]`, `--tune[=S]`, and a span `predict --head h.h5\n"
		"--save-model m.h5` over two lines, then `--batch-size` again.\n"
		"\n"
		"### Sub\n"
		"`./pipeline.sh --epochs=3`, `build/demo/gen_weights --seed 1`\n"
		"## predict\n"
		"`--x-y-` and `extract's` `--conv`, train-head's\n"
		"(`--lr` and `--l2`), not `--top-k`\n";
	doc_t d = {0};
	int seen[sizeof other_tools / sizeof *other_tools];
	d.path = "test";
	d.by_section = 1;
	memcpy(seen, other_tools_seen, sizeof seen); /* the real docs' count */
	scan_doc(&d, text);
	memcpy(other_tools_seen, seen, sizeof seen);

	static const char *const names[] = {
		"help", "threads", "in", "db", "top-k", "limit", "strict", "min-prob",
		"keep", "threads", "tune", "head", "save-model", "batch-size", "epochs",
		"seed", "x-y", "conv", "lr", "l2", "top-k",
	};
	assert_int_equal(d.ntoks, (int)(sizeof names / sizeof *names));
	for (int k = 0; k < d.ntoks; k++)
		assert_string_equal(d.toks[k].name, names[k]);

	char any[512];
	assert_string_equal(owners_of(&d, "help", 0),
			    owner_names(any_program(), any, sizeof any));
	assert_string_equal(owners_of(&d, "threads", 0), "extract, predict");
	assert_string_equal(owners_of(&d, "in", 0), "extract");
	assert_string_equal(owners_of(&d, "db", 0), "extract");
	assert_string_equal(owners_of(&d, "top-k", 0), "predict");
	assert_string_equal(owners_of(&d, "limit", 0), "extract");
	assert_string_equal(owners_of(&d, "strict", 0), "extract");
	/* An output line: its program and those it names. */
	assert_string_equal(owners_of(&d, "keep", 0), owners_of(&d, "min-prob", 0));
	assert_non_null(strstr(owners_of(&d, "keep", 0), "train-head"));
	assert_non_null(strstr(owners_of(&d, "keep", 0), "predict"));
	assert_string_equal(owners_of(&d, "threads", 1), "featdb verify");
	assert_string_equal(owners_of(&d, "tune", 0), "extract");
	assert_string_equal(owners_of(&d, "save-model", 0), "predict");
	assert_int_equal(find_tok(&d, "save-model", 0)->line, 16);
	assert_string_equal(owners_of(&d, "batch-size", 0), "extract");
	assert_string_equal(owners_of(&d, "epochs", 0), "pipeline.sh");
	assert_string_equal(find_tok(&d, "epochs", 0)->sub, "Sub");
	assert_string_equal(owners_of(&d, "seed", 0), "gen_weights");
	assert_string_equal(owners_of(&d, "conv", 0), "predict");
	assert_string_equal(find_tok(&d, "conv", 0)->section, "predict");
	/* After "train-head's", the section's program's and train-head's. */
	assert_string_equal(owners_of(&d, "lr", 0), owners_of(&d, "l2", 0));
	assert_non_null(strstr(owners_of(&d, "lr", 0), "predict"));
	assert_non_null(strstr(owners_of(&d, "lr", 0), "train-head"));
	assert_string_equal(owners_of(&d, "top-k", 1), "predict");
	assert_string_equal(find_tok(&d, "help", 0)->section, "");
	free(d.toks);

	/* The help texts' option lines. */
	optlist_t opts = {0}, env = {0};
	help_options("usage: x --in DIR [--not-this]\n"
		     "  --batch N, --batch-size N   images per --nor-this\n"
		     "  -q, --quiet      no progress\n"
		     "  --tune[=S]       measure; later runs\n"
		     "                   --nor-a-continuation\n"
		     "  --top-k N  --min-prob P  (and --weights)\n"
		     "  VGGFEAT_ISA=NAME   the kernels\n"
		     "Options as --out F.h5 or --out=F.h5; \"--\" ends them\n",
		     &opts, &env);
	static const char *const listed[] = {"batch", "batch-size", "quiet", "tune",
					     "top-k", "min-prob"};
	assert_int_equal(opts.n, (int)(sizeof listed / sizeof *listed));
	for (int k = 0; k < opts.n; k++)
		assert_string_equal(opts.name[k], listed[k]);
	assert_int_equal(env.n, 1);
	assert_string_equal(env.name[0], "VGGFEAT_ISA");
}

static int setup(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
	find_programs();
	read_doc(&programs_md, PROGRAMS_DOC, 1);
	read_doc(&readme_md, README_DOC, 0);
	read_doc(&development_md, DEV_DOC, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(programs_md.toks);
	free(readme_md.toks);
	free(development_md.toks);
	tu_rm_rf(g_dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_help_options_documented),
		cmocka_unit_test(test_dev_options_documented),
		cmocka_unit_test(test_programs_md_options_exist),
		cmocka_unit_test(test_readme_options_exist),
		cmocka_unit_test(test_dev_table_options_exist),
		cmocka_unit_test(test_exceptions_needed),
		cmocka_unit_test(test_listed_options_parsed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
