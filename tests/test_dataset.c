/* test_dataset.c - scanning a face folder the way Keras' flow_from_directory
 * lists it: the files, their order and class indices against what Keras
 * itself listed (tests/golden/keras_walk.txt, by tests/ref/keras_walk.py),
 * with and without following links; extensions, hidden files, symbolic
 * links and loops (ROOT's and the class folder's included), the
 * train/valid/test layout; Keras' order of names (classes.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset/classes.h"
#include "dataset/dataset.h"
#include "e2e.h"
#include "error.h"
#include "store/featdb.h"
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
	assert_int_equal(dataset_scan(d, 0, &ds, err), 0);
	assert_false(ds.has_splits);
	/* Keras: every folder is a class, indices follow the sorted names. */
	assert_int_equal(ds.nclasses, 4);
	assert_string_equal(ds.classes[0], "adam");
	assert_string_equal(ds.classes[1], "bob");
	assert_string_equal(ds.classes[2], "empty");
	assert_string_equal(ds.classes[3], "zoe");
	assert_int_equal(ds.n, 6);
	/* Keras' order: a folder's own files before its subfolders'. */
	static const char *const order[] = {"adam/a.png", "adam/sub/deeper/b.PGM",
					    "bob/c.bmp", "bob/d.ppm", "zoe/1.jpg",
					    "zoe/2.JPEG"};
	for (size_t i = 0; i < ds.n; i++)
		assert_string_equal(ds.items[i].key, order[i]);
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
	assert_int_equal(dataset_scan(d, 0, &ds, err), 0);
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
	assert_int_equal(dataset_scan(d, 0, &ds, err), ERR_FORMAT);
	assert_non_null(strstr(err, "mixes split folders"));
	tu_rm_rf(d);
}

static int count_reason(const dataset_t *ds, const char *what)
{
	int n = 0;
	for (size_t i = 0; i < ds->nproblems; i++)
		n += strstr(ds->problems[i].reason, what) != NULL;
	return n;
}

static void test_symlinks(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	dataset_t ds;
	char err[ERR_LEN], a[4200], b[4200];

	mk(d, "ann/1.jpg");
	mk(d, "ann/sub/2.jpg");
	mk(d, "bob/3.jpg");
	snprintf(a, sizeof a, "%s/ann/sub/loop", d);
	assert_int_equal(symlink("..", a), 0); /* ann/sub/loop -> ann */
	snprintf(a, sizeof a, "%s/ann/old", d);
	assert_int_equal(symlink("..", a), 0); /* ann/old -> ROOT */
	snprintf(a, sizeof a, "%s/ann/broken.jpg", d);
	assert_int_equal(symlink("nowhere.jpg", a), 0);
	snprintf(a, sizeof a, "%s/ann/1.jpg", d);
	snprintf(b, sizeof b, "%s/ann/link.jpg", d);
	assert_int_equal(symlink(a, b), 0);

	/* By default (Keras' follow_links=False) links to folders are named,
	 * not entered: nothing of bob's lands under ann. */
	assert_int_equal(dataset_scan(d, 0, &ds, err), 0);
	assert_int_equal(ds.n, 4);
	assert_non_null(find(&ds, "ann/link.jpg"));
	assert_int_equal(find(&ds, "bob/3.jpg")->cls, 1);
	assert_int_equal(ds.nunfollowed, 2);
	assert_int_equal(count_reason(&ds, "loop"), 0);
	assert_int_equal(count_reason(&ds, "No such file"), 1);
	dataset_free(&ds);

	/* --follow-links: a link back to the class folder or to ROOT is a
	 * loop, not entered, so other people's images never come in. */
	assert_int_equal(dataset_scan(d, DATASET_FOLLOW_LINKS, &ds, err), 0);
	assert_int_equal(ds.n, 4);
	assert_int_equal(ds.nunfollowed, 0);
	assert_int_equal(count_reason(&ds, "loop"), 2);
	assert_null(find(&ds, "ann/old/bob/3.jpg"));
	dataset_free(&ds);

	/* A class folder that is itself a link is a class (Keras' isdir), and
	 * a link from it to a folder outside is followed on request. */
	mk(d, "../elsewhere/x/4.jpg");
	snprintf(a, sizeof a, "%s/../elsewhere", d);
	snprintf(b, sizeof b, "%s/cy", d);
	assert_int_equal(symlink(a, b), 0);
	assert_int_equal(dataset_scan(d, 0, &ds, err), 0);
	assert_int_equal(ds.nclasses, 3);
	assert_non_null(find(&ds, "cy/x/4.jpg"));
	assert_int_equal(find(&ds, "cy/x/4.jpg")->cls, 2);
	dataset_free(&ds);
	tu_rm_rf(d);
	tu_rm_rf(a);
}

/* The tree of tests/ref/keras_tree.txt, scanned with and without
 * following links: the classes, files, order and indices Keras listed. */
static void test_matches_keras(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char err[ERR_LEN], faces[4200];

	assert_int_equal(e2e_build_tree("tests/ref/keras_tree.txt", d, err), 0);
	snprintf(faces, sizeof faces, "%s/faces", d);
	for (int follow = 0; follow <= 1; follow++) {
		e2e_walk_t k;
		dataset_t ds;
		if (e2e_keras_walk("tests/golden/keras_walk.txt", follow, &k, err))
			fail_msg("%s", err);
		assert_int_equal(dataset_scan(faces, follow ? DATASET_FOLLOW_LINKS : 0,
					      &ds, err), 0);
		assert_int_equal(ds.nclasses, k.nclasses);
		for (int c = 0; c < k.nclasses; c++)
			assert_string_equal(ds.classes[c], k.classes[c]);
		for (size_t i = 0; i < ds.n && i < k.n; i++) {
			if (strcmp(ds.items[i].key, k.files[i]) != 0)
				fail_msg("follow %d: item %zu is '%s', Keras lists '%s'", follow, i,
					 ds.items[i].key, k.files[i]);
			assert_int_equal(ds.items[i].cls, k.cls[i]);
		}
		assert_int_equal(ds.n, k.n);
		assert_int_equal(ds.nunfollowed, follow ? 0 : 1);
		print_message("follow_links=%d: %zu files of %d classes, as Keras lists "
			      "them\n", follow, ds.n, ds.nclasses);
		dataset_free(&ds);
		e2e_walk_free(&k);
	}
	tu_rm_rf(d);
}

/* Python's order of str, where names that are not UTF-8 differ from the
 * order of their bytes. */
static void test_keras_name_order(void **state)
{
	(void)state;
	assert_true(classes_cmp("a", "b") < 0);
	assert_true(classes_cmp("ab", "a") > 0);
	assert_int_equal(classes_cmp("caf\xc3\xa9", "caf\xc3\xa9"), 0);
	/* U+DCFF (a lone 0xFF) before U+E000, which its bytes (EE 80 80) put
	 * first; U+DCF5 before U+1F600 (F0 9F 98 80). */
	assert_true(classes_cmp("\xff", "\xee\x80\x80") < 0);
	assert_true(classes_cmp("\xf5", "\xf0\x9f\x98\x80") < 0);
	/* An overlong form and an encoded surrogate are not UTF-8 to Python:
	 * each byte stands alone. */
	assert_true(classes_cmp("\xc0\xaf", "\xc3\xa9") > 0);
	assert_true(classes_cmp("\xed\xa0\x80", "\xee\x80\x80") < 0);
	/* A sequence cut short by the end of the name. */
	assert_true(classes_cmp("\xe2\x82", "\xe2\x82\xac") > 0);
	assert_int_equal(dataset_is_image_name("scanjpg"), 1);
	assert_int_equal(dataset_is_image_name("X.TIFF"), 1);
	assert_int_equal(dataset_is_image_name("a.pgm"), 1);
	assert_int_equal(dataset_is_image_name("a.gif"), 0);
	assert_int_equal(dataset_is_image_name("jp"), 0);
}

/* A folder given with a trailing slash (faces/p/) names its files with
 * one slash, as without it. */
static void test_trailing_slash(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	dataset_t ds;
	char err[ERR_LEN], root[4200], want[4300];

	mk(d, "p/1.jpg");
	snprintf(root, sizeof root, "%s/p/", d);
	assert_int_equal(dataset_scan_files(root, &ds, err), 0);
	assert_int_equal(ds.n, 1);
	assert_string_equal(ds.items[0].key, "1.jpg");
	snprintf(want, sizeof want, "%s/p/1.jpg", d);
	assert_string_equal(ds.items[0].path, want);
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
	assert_int_equal(dataset_scan(p, 0, &ds, err), ERR_MISSING);
	assert_non_null(strstr(err, "none"));
	assert_int_equal(dataset_scan(d, 0, &ds, err), ERR_FORMAT);
	assert_non_null(strstr(err, "no class folders"));
	assert_null(strstr(err, "one person's"));
	mk(d, "file.jpg");
	snprintf(p, sizeof p, "%s/file.jpg", d);
	assert_int_equal(dataset_scan(p, 0, &ds, err), ERR_IO);
	assert_non_null(strstr(err, "not a directory"));
	/* Images and no folder: a person's own folder, given for the folder
	 * of people. */
	assert_int_equal(dataset_scan(d, 0, &ds, err), ERR_FORMAT);
	assert_non_null(strstr(err, "no class folders (expected "));
	assert_non_null(strstr(err, "; the images in it are one person's? Give the "
				    "folder that holds a folder per person"));
	tu_rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_layout),
		cmocka_unit_test(test_split_layout),
		cmocka_unit_test(test_symlinks),
		cmocka_unit_test(test_matches_keras),
		cmocka_unit_test(test_keras_name_order),
		cmocka_unit_test(test_trailing_slash),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
