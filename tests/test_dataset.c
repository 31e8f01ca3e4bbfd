/* test_dataset.c - scanning a face folder the way Keras' flow_from_directory
 * lists it: class names, sorted class indices, extensions, hidden files,
 * subfolders, symbolic links (and loops), the train/valid/test layout. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "e2e.h"
#include "error.h"
#include "featdb.h"
#include "testutil.h"

/* Makes root/rel's folders, and the one-byte file rel unless it ends in '/'. */
static void mk(const char *root, const char *rel)
{
	char path[4096];
	e2e_mkdirs(root, rel);
	if (rel[strlen(rel) - 1] == '/')
		return;
	snprintf(path, sizeof path, "%s/%s", root, rel);
	assert_int_equal(tu_write_file(path, "x", 1), 0);
}

static const dataset_item_t *find(const dataset_t *ds, const char *key)
{
	for (size_t i = 0; i < ds->n; i++)
		if (strcmp(ds->items[i].key, key) == 0)
			return &ds->items[i];
	return NULL;
}

static void test_plain_layout(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	dataset_t ds;
	char err[ERR_LEN];

	mk(d, "zoe/1.jpg");
	mk(d, "zoe/2.JPEG");
	mk(d, "adam/a.png");
	mk(d, "adam/sub/deeper/b.PGM");
	mk(d, "adam/notes.txt");
	mk(d, "adam/.hidden.jpg");
	mk(d, ".git/x.jpg");
	mk(d, "bob/c.bmp");
	mk(d, "bob/d.ppm");
	mk(d, "empty/");
	mk(d, "loose.jpg");
	assert_int_equal(dataset_scan(d, &ds, err), 0);
	assert_false(ds.has_splits);
	/* Keras: every folder is a class, indices follow the sorted names. */
	assert_int_equal(ds.nclasses, 4);
	assert_string_equal(ds.classes[0], "adam");
	assert_string_equal(ds.classes[1], "bob");
	assert_string_equal(ds.classes[2], "empty");
	assert_string_equal(ds.classes[3], "zoe");
	assert_int_equal(ds.n, 6);
	for (size_t i = 1; i < ds.n; i++)
		assert_true(strcmp(ds.items[i - 1].key, ds.items[i].key) < 0);
	assert_int_equal(find(&ds, "adam/sub/deeper/b.PGM")->cls, 0);
	assert_int_equal(find(&ds, "bob/d.ppm")->cls, 1);
	assert_int_equal(find(&ds, "zoe/2.JPEG")->cls, 3);
	assert_int_equal(find(&ds, "zoe/2.JPEG")->split, FEATDB_TRAIN);
	assert_null(find(&ds, "adam/.hidden.jpg"));
	assert_int_equal(ds.nignored, 1);
	/* An image outside any class folder is reported, not used. */
	assert_int_equal(ds.nproblems, 1);
	assert_non_null(strstr(ds.problems[0].reason, "outside any class"));
	char want[4200];
	snprintf(want, sizeof want, "%s/zoe/1.jpg", d);
	assert_string_equal(find(&ds, "zoe/1.jpg")->path, want);
	dataset_free(&ds);
	tu_rm_rf(d);
}

static void test_split_layout(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	dataset_t ds;
	char err[ERR_LEN];

	mk(d, "train/bob/1.jpg");
	mk(d, "train/al/1.jpg");
	mk(d, "validation/bob/2.jpg");
	mk(d, "test/cy/3.jpg");
	assert_int_equal(dataset_scan(d, &ds, err), 0);
	assert_true(ds.has_splits);
	assert_int_equal(ds.nclasses, 3);
	assert_string_equal(ds.classes[0], "al");
	assert_int_equal(find(&ds, "train/bob/1.jpg")->split, FEATDB_TRAIN);
	assert_int_equal(find(&ds, "train/bob/1.jpg")->cls, 1);
	assert_int_equal(find(&ds, "validation/bob/2.jpg")->split, FEATDB_VALID);
	assert_int_equal(find(&ds, "validation/bob/2.jpg")->cls, 1);
	assert_int_equal(find(&ds, "test/cy/3.jpg")->split, FEATDB_TEST);
	dataset_free(&ds);
	assert_int_equal(dataset_split_of("val"), FEATDB_VALID);
	assert_int_equal(dataset_split_of("valid"), FEATDB_VALID);
	assert_int_equal(dataset_split_of("Train"), -1);

	mk(d, "carol/4.jpg");
	assert_int_equal(dataset_scan(d, &ds, err), ERR_FORMAT);
	assert_non_null(strstr(err, "mixes split folders"));
	tu_rm_rf(d);
}

static void test_symlinks(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	dataset_t ds;
	char err[ERR_LEN], a[4200], b[4200];

	mk(d, "ann/1.jpg");
	mk(d, "ann/sub/2.jpg");
	snprintf(a, sizeof a, "%s/ann/sub/loop", d);
	assert_int_equal(symlink("..", a), 0); /* ann/sub/loop -> ann */
	snprintf(a, sizeof a, "%s/ann/broken.jpg", d);
	assert_int_equal(symlink("nowhere.jpg", a), 0);
	snprintf(a, sizeof a, "%s/ann/1.jpg", d);
	snprintf(b, sizeof b, "%s/ann/link.jpg", d);
	assert_int_equal(symlink(a, b), 0);
	assert_int_equal(dataset_scan(d, &ds, err), 0);
	assert_non_null(find(&ds, "ann/1.jpg"));
	assert_non_null(find(&ds, "ann/sub/2.jpg"));
	assert_non_null(find(&ds, "ann/link.jpg"));
	assert_int_equal(ds.n, 3);
	int loop = 0, broken = 0;
	for (size_t i = 0; i < ds.nproblems; i++) {
		loop += strstr(ds.problems[i].reason, "loop") != NULL;
		broken += strstr(ds.problems[i].path, "broken.jpg") != NULL;
	}
	assert_int_equal(loop, 1);
	assert_int_equal(broken, 1);
	dataset_free(&ds);
	tu_rm_rf(d);
}

static void test_errors(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	dataset_t ds;
	char err[ERR_LEN], p[4200];

	snprintf(p, sizeof p, "%s/none", d);
	assert_int_equal(dataset_scan(p, &ds, err), ERR_MISSING);
	assert_non_null(strstr(err, "none"));
	assert_int_equal(dataset_scan(d, &ds, err), ERR_FORMAT);
	assert_non_null(strstr(err, "no class folders"));
	mk(d, "file.jpg");
	snprintf(p, sizeof p, "%s/file.jpg", d);
	assert_int_equal(dataset_scan(p, &ds, err), ERR_IO);
	assert_non_null(strstr(err, "not a directory"));
	tu_rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_layout),
		cmocka_unit_test(test_split_layout),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
