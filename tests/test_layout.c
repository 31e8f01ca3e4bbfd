/* test_layout.c - the layout table (LAYOUT_DOC) matches the tree: every source
 * file of extract/, train/ and common/ is named there, and every name
 * there exists.  A row's first cell names files in backquotes; a name
 * without a '/' lives in the folder of the row's first name ("`common/
 * fc.c`, `fc.h`"), a name ending in '/' covers its folder, and a '*'
 * stands for the files it matches. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

/* Where the table lives: its section "## Layout". */
#define LAYOUT_DOC "docs/development.md"
#define MAX_NAMES 512

static char *names[MAX_NAMES]; /* the table's names, folders end in '/' */
static int nnames;
static int uncovered;

static void add_name(const char *dir, const char *tok, size_t len)
{
	char buf[512];
	int n = memchr(tok, '/', len) ? snprintf(buf, sizeof buf, "%.*s", (int)len, tok)
				       : snprintf(buf, sizeof buf, "%s%.*s", dir,
						  (int)len, tok);
	assert_true(n > 0 && (size_t)n < sizeof buf);
	assert_true(nnames < MAX_NAMES);
	names[nnames++] = strdup(buf);
}

/* The names of one row's first cell. */
static void parse_row(const char *row)
{
	const char *end = strchr(row + 1, '|'), *p = row + 1;
	char dir[256] = "";

	assert_non_null(end);
	while ((p = memchr(p, '`', (size_t)(end - p))) != NULL) {
		const char *q = memchr(p + 1, '`', (size_t)(end - p - 1));
		assert_non_null(q);
		if (!*dir) {
			const char *slash = p + 1, *s;
			while ((s = memchr(slash, '/', (size_t)(q - slash))) != NULL &&
			       s + 1 < q)
				slash = s + 1;
			snprintf(dir, sizeof dir, "%.*s", (int)(slash - (p + 1)), p + 1);
		}
		add_name(dir, p + 1, (size_t)(q - p - 1));
		p = q + 1;
	}
}

static void read_table(void)
{
	size_t len;
	uint8_t *raw = tu_read_file(LAYOUT_DOC, &len);
	assert_non_null(raw);
	char *text = realloc(raw, len + 1);
	assert_non_null(text);
	text[len] = 0;
	char *sec = strstr(text, "\n## Layout\n");
	assert_non_null(sec);
	char *row = strstr(sec, "\n| `");
	assert_non_null(row);
	while (row && strncmp(row, "\n| `", 4) == 0) {
		parse_row(row + 1);
		row = strchr(row + 1, '\n');
	}
	free(text);
	assert_true(nnames > 20);
}

static int covered(const char *path)
{
	for (int i = 0; i < nnames; i++) {
		size_t n = strlen(names[i]);
		if (strcmp(names[i], path) == 0 ||
		    (names[i][n - 1] == '/' && strncmp(names[i], path, n) == 0))
			return 1;
		if (strchr(names[i], '*')) {
			glob_t g;
			int hit = 0;
			if (glob(names[i], 0, NULL, &g) == 0)
				for (size_t k = 0; k < g.gl_pathc && !hit; k++)
					hit = strcmp(g.gl_pathv[k], path) == 0;
			globfree(&g);
			if (hit)
				return 1;
		}
	}
	return 0;
}

static int visit(const char *path, const struct stat *st, int type, struct FTW *f)
{
	size_t n = strlen(path);
	if (type == FTW_F && n > 2 && path[n - 2] == '.' &&
	    (path[n - 1] == 'c' || path[n - 1] == 'h') && !covered(path)) {
		print_message(LAYOUT_DOC "'s layout table lacks %s\n", path);
		uncovered++;
	}
	return 0;
}

static void test_every_source_file_is_named(void **state)
{
	(void)state;
	uncovered = 0;
	assert_int_equal(nftw("extract", visit, 16, FTW_PHYS), 0);
	assert_int_equal(nftw("train", visit, 16, FTW_PHYS), 0);
	assert_int_equal(nftw("common", visit, 16, FTW_PHYS), 0);
	assert_int_equal(uncovered, 0);
}

static void test_every_name_exists(void **state)
{
	int missing = 0;

	(void)state;
	for (int i = 0; i < nnames; i++) {
		struct stat st;
		glob_t g;
		int ok = strchr(names[i], '*')
				 ? glob(names[i], 0, NULL, &g) == 0 && g.gl_pathc > 0
				 : stat(names[i], &st) == 0;
		if (strchr(names[i], '*'))
			globfree(&g);
		if (!ok) {
			print_message(LAYOUT_DOC "'s layout table names %s, which does "
				      "not exist\n", names[i]);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* The check itself: a file the table does not name is found. */
static void test_a_missing_row_is_seen(void **state)
{
	(void)state;
	assert_true(covered("common/store/featdb.c"));
	assert_true(covered("extract/dist/dist_serial.c"));
	assert_true(covered("tests/test_layout.c"));
	assert_false(covered("common/no_such_module.c"));
	assert_false(covered("extract/run/nothing.c"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_missing_row_is_seen),
		cmocka_unit_test(test_every_source_file_is_named),
		cmocka_unit_test(test_every_name_exists),
	};
	read_table();
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	return rc;
}
