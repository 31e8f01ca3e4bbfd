/* test_featdb_tool.c - the real featdb program: info, export (read back with
 * the HDF5 library, every field checked), verify (finds damaged records,
 * the same report for any number of threads),
 * merge (two halves give the whole, byte for byte), remove (named records
 * or the damaged ones, so that the store verifies again), the model each
 * names (VGG16's fc2 or VGG-Face's fc7), the store as --db, a store on a
 * read-only file system, each command's own help, and usage errors as every
 * program reports them.  Stores are made here with featdb_write, so these
 * tests do not depend on extract, but for test_remove_then_extract, whose
 * promise is extract's next run. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <glob.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "e2e.h"
#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"
#include "hdf5/h5util.h"
#include "proc.h"
#include "testutil.h"

#define FEATDB proc_bin("featdb")
#define D 37 /* odd on purpose: nothing assumes 4096 */

/* The whole data set: 9 records of 3 people, every split. */
static const char *const all_keys[] = {
	"alice/1.jpg", "alice/2.jpg", "alice/3.jpg", "bob/1.jpg", "bob/2.jpg",
	"carol/1.jpg", "carol/2.jpg", "carol/sub/3.jpg", "dave/1.jpg",
};
static const int all_cls[] = {0, 0, 0, 1, 1, 2, 2, 2, 3};
static const int all_split[] = {0, 0, 1, 0, 2, 0, 1, 0, 0};
static const char *const all_classes[] = {"alice", "bob", "carol", "dave"};

static void vec_for(int i, float *v)
{
	for (int j = 0; j < D; j++)
		v[j] = (float)((i * 31 + j * 7) % 50) * 0.25f; /* ReLU-like, f16-exact */
}

/* Writes records `which` (indices into all_*) with the given class list,
 * as features of model (NULL: none given, as writers before VGG-Face, whose
 * vectors are VGG16's) with that model's preprocessing. */
static void make_store_model(const char *path, const int *which, int n,
			     const char *const *classes, int nclasses, int dtype,
			     const char *fingerprint, const char *model)
{
	featdb_t *db = NULL;
	featdb_meta_t m = {0};
	char err[ERR_LEN];
	const char *keys[16];
	const uint8_t *vals[16];
	size_t lens[16];
	float v[D];

	assert_int_equal(featdb_open(path, FEATDB_CREATE, &db, err), 0);
	int vggface = model && strcmp(model, model_info(MODEL_VGGFACE)->store_model) == 0;
	snprintf(m.model, sizeof m.model, "%s", model ? model : "");
	snprintf(m.fingerprint, sizeof m.fingerprint, "%s", fingerprint);
	snprintf(m.preprocess, sizeof m.preprocess, "%s",
		 model_info(vggface ? MODEL_VGGFACE : MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "test");
	m.dim = D;
	m.dtype = dtype;
	m.classes = (char **)classes;
	m.nclasses = nclasses;
	for (int k = 0; k < n; k++) {
		int i = which[k], cls = -1;
		for (int c = 0; c < nclasses; c++)
			if (strcmp(classes[c], all_classes[all_cls[i]]) == 0)
				cls = c;
		assert_true(cls >= 0);
		uint8_t *r = malloc(featdb_rec_size(dtype, D));
		vec_for(i, v);
		assert_int_equal(featdb_rec_encode(v, D, dtype, cls, all_split[i], r, err), 0);
		keys[k] = all_keys[i];
		vals[k] = r;
		lens[k] = featdb_rec_size(dtype, D);
	}
	int rc = featdb_write(db, &m, n, keys, vals, lens, err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	for (int k = 0; k < n; k++)
		free((void *)vals[k]);
	featdb_close(db);
}

static void make_store(const char *path, const int *which, int n,
		       const char *const *classes, int nclasses, int dtype,
		       const char *fingerprint)
{
	make_store_model(path, which, n, classes, nclasses, dtype, fingerprint, NULL);
}

static const int everyone[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};

/* Runs argv with its output to dir/log: the output (malloc'd), the exit
 * status in *status. */
static char *run(char *const argv[], int *status, const char *dir)
{
	char log[4200];
	snprintf(log, sizeof log, "%s/log", dir);
	*status = proc_run(argv, log);
	return tu_slurp(log);
}

static void test_info(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	char *argv[] = {FEATDB, "info", db, NULL};
	char *out = run(argv, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "records:     9"));
	assert_non_null(strstr(out, "people:      4"));
	assert_non_null(strstr(out, "dimension:   37"));
	assert_non_null(strstr(out, "fingerprint: feedfacecafebeef"));
	assert_non_null(strstr(out, "train 6, valid 2, test 1"));
	/* Per person and split: carol has 2 train, 1 valid. */
	const char *line = strstr(out, "\n2 ");
	assert_non_null(line);
	char name[64];
	unsigned long long tr, va, te;
	int cls;
	assert_int_equal(sscanf(line, "%d %63s %llu %llu %llu", &cls, name, &tr, &va, &te), 5);
	assert_string_equal(name, "carol");
	assert_true(tr == 2 && va == 1 && te == 0);
	/* No threshold until one is calibrated; then one line per metric,
	 * stale once the store has grown. */
	assert_null(strstr(out, "threshold:"));
	free(out);
	featdb_t *db_ = NULL;
	char err[ERR_LEN];
	featdb_threshold_t t = {.metric = "cosine", .value = 0.25, .far = 0.001,
				.tar = 0.875, .records = "valid", .count = 9};
	assert_int_equal(featdb_open(db, FEATDB_WRITE, &db_, err), 0);
	assert_int_equal(featdb_threshold_put(db_, &t, err), 0);
	featdb_close(db_);
	out = run(argv, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "threshold:   cosine 0.250000 (far 0.001, tar 0.8750 "
			       "on the pairs of valid records; calibrated at 9 records)\n"));
	t.count = 8;
	assert_int_equal(featdb_open(db, FEATDB_WRITE, &db_, err), 0);
	assert_int_equal(featdb_threshold_put(db_, &t, err), 0);
	featdb_close(db_);
	free(out);
	out = run(argv, &st, d);
	assert_non_null(strstr(out, "calibrated at 8 records, stale: verify --calibrate again)"));
	char *bad[] = {FEATDB, "info", "/nonexistent.lmdb", NULL};
	free(out);
	out = run(bad, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "/nonexistent.lmdb"));
	free(out);
	char *unknown[] = {FEATDB, "frobnicate", NULL};
	out = run(unknown, &st, d);
	assert_int_equal(st, 2);
	free(out);

	/* A name in UTF-8 keeps the table's columns: padded by characters. */
	static const char *const utf8[] = {"alice", "bob", "carol", "zo\xc3\xab"};
	char db2[4200];
	int some[9], n = 0;
	for (int i = 0; i < 9; i++)
		if (all_cls[i] != 3) /* dave's records: the fourth person is Zoë */
			some[n++] = i;
	snprintf(db2, sizeof db2, "%s/utf8.lmdb", d);
	make_store(db2, some, n, utf8, 4, FEATDB_F32, "feedfacecafebeef");
	char *argv2[] = {FEATDB, "info", db2, NULL};
	out = run(argv2, &st, d);
	assert_int_equal(st, 0);
	const char *row2 = strstr(out, "\n2      carol"), *row3 = strstr(out, "\n3      zo");
	assert_true(row2 && row3);
	/* The characters before each row's first count. */
	size_t col[2];
	for (int r = 0; r < 2; r++) {
		const char *ch = (r ? row3 : row2) + 1 + 7;
		col[r] = 7;
		for (; *ch < '0' || *ch > '9'; ch++)
			col[r] += ((unsigned char)*ch & 0xc0) != 0x80;
	}
	assert_int_equal(col[0], col[1]);
	free(out);
	tu_rm_rf(d);
}

/* Reads a variable-length string dataset. */
static char **read_strings(hid_t f, const char *name, hsize_t *n)
{
	hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
	assert_true(ds >= 0);
	hid_t sp = H5Dget_space(ds), t = H5Tcopy(H5T_C_S1);
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	*n = (hsize_t)H5Sget_simple_extent_npoints(sp);
	char **s = calloc(*n + 1, sizeof *s);
	assert_true(H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0);
	H5Tclose(t), H5Sclose(sp), H5Dclose(ds);
	return s;
}

static void read_numbers(hid_t f, const char *name, hid_t type, void *buf,
			 int rank, hsize_t d0, hsize_t d1)
{
	hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
	assert_true(ds >= 0);
	hid_t sp = H5Dget_space(ds);
	hsize_t dims[2];
	assert_int_equal(H5Sget_simple_extent_ndims(sp), rank);
	H5Sget_simple_extent_dims(sp, dims, NULL);
	assert_int_equal(dims[0], d0);
	if (rank == 2)
		assert_int_equal(dims[1], d1);
	assert_true(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	H5Sclose(sp), H5Dclose(ds);
}

static void check_export(int dtype)
{
	const char *d = tu_tmpdir();
	char db[4200], h5[4200];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(h5, sizeof h5, "%s/feats.h5", d);
	make_store(db, everyone, 9, all_classes, 4, dtype, "feedfacecafebeef");
	char *argv[] = {FEATDB, "export", db, "--out", h5, NULL};
	char *out = run(argv, &st, d);
	assert_int_equal(st, 0);
	free(out);

	hid_t f = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	hsize_t n, nc;
	char **keys = read_strings(f, "keys", &n);
	char **classes = read_strings(f, "classes", &nc);
	assert_int_equal(n, 9);
	assert_int_equal(nc, 4);
	for (int c = 0; c < 4; c++)
		assert_string_equal(classes[c], all_classes[c]);
	static float feats[9][D];
	int32_t labels[9];
	uint8_t split[9];
	read_numbers(f, "features", H5T_NATIVE_FLOAT, feats, 2, 9, D);
	read_numbers(f, "labels", H5T_NATIVE_INT32, labels, 1, 9, 0);
	read_numbers(f, "split", H5T_NATIVE_UINT8, split, 1, 9, 0);
	/* all_keys is in key (byte) order already. */
	for (int i = 0; i < 9; i++) {
		float v[D];
		assert_string_equal(keys[i], all_keys[i]);
		assert_int_equal(labels[i], all_cls[i]);
		assert_int_equal(split[i], all_split[i]);
		vec_for(i, v);
		assert_memory_equal(feats[i], v, sizeof v);
	}
	hid_t t = H5Dopen2(f, "features", H5P_DEFAULT), ft = H5Dget_type(t);
	assert_int_equal(H5Tget_class(ft), H5T_FLOAT);
	assert_int_equal(H5Tget_size(ft), 4);
	H5Tclose(ft), H5Dclose(t);
	for (hsize_t i = 0; i < n; i++)
		free(keys[i]);
	for (hsize_t i = 0; i < nc; i++)
		free(classes[i]);
	free(keys), free(classes);
	H5Fclose(f);

	/* A failed export leaves no file under the requested name. */
	char bad[4200];
	snprintf(bad, sizeof bad, "%s/nodir/feats.h5", d);
	char *argv2[] = {FEATDB, "export", db, "--out", bad, NULL};
	out = run(argv2, &st, d);
	assert_int_equal(st, 1);
	free(out);
	tu_rm_rf(d);
}

/* export replaces an earlier export, and nothing else: not a photo, not
 * an HDF5 file of the user's (a head, a model), not a folder; a refusal
 * leaves the file as it was. */
static void test_export_replaces_only_exports(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], h5[4200], photo[4200], other[4200], folder[4200];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(h5, sizeof h5, "%s/feats.h5", d);
	snprintf(photo, sizeof photo, "%s/me.jpg", d);
	snprintf(other, sizeof other, "%s/head.h5", d);
	snprintf(folder, sizeof folder, "%s/folder", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	char *argv[] = {FEATDB, "export", db, "--out", h5, NULL};
	free(run(argv, &st, d));
	assert_int_equal(st, 0);
	free(run(argv, &st, d));
	assert_int_equal(st, 0);

	FILE *f = fopen(photo, "wb");
	assert_non_null(f);
	fputs("\xff\xd8\xff\xe0 a photo", f);
	fclose(f);
	hid_t h = H5Fcreate(other, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	assert_true(h >= 0);
	H5Fclose(h);
	assert_int_equal(mkdir(folder, 0755), 0);
	const struct {
		const char *out, *why;
	} refused[] = {
		{photo, "me.jpg exists and is not a featdb export (not an HDF5 file); "
			"export replaces only a file it wrote: move that file away or "
			"give another --out\n"},
		{other, "head.h5 exists and is not a featdb export (an HDF5 file "
			"without an export's features, labels and fingerprint)"},
		{folder, "folder is a folder; --out names the export's file"},
	};
	for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
		char *bad[] = {FEATDB, "export", db, "--out", (char *)refused[i].out, NULL};
		char *out = run(bad, &st, d);
		assert_int_equal(st, 1);
		if (!strstr(out, refused[i].why))
			fail_msg("export over %s said:\n%s", refused[i].out, out);
		free(out);
	}
	char *text = tu_slurp(photo);
	assert_string_equal(text, "\xff\xd8\xff\xe0 a photo");
	free(text);
	tu_rm_rf(d);
}

/* A symbolic link as a path's name: lstat says it is still one. */
static int is_link(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

/* export --out through a symbolic link writes the file the link names and
 * keeps the link, as cp and a shell's > do (the export used to be renamed
 * over the link); a dangling link's file is made where it points; a link
 * to a photo is refused, the photo kept byte for byte. */
static void test_export_through_link(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], sub[4200], real[4300], link[4200], dangling[4200], later[4300];
	char photo[4300], tophoto[4200], want[9000];
	int st;

	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(sub, sizeof sub, "%s/sub", d);
	snprintf(real, sizeof real, "%s/real.h5", sub);
	snprintf(later, sizeof later, "%s/later.h5", sub);
	snprintf(photo, sizeof photo, "%s/me.jpg", sub);
	snprintf(link, sizeof link, "%s/link.h5", d);
	snprintf(dangling, sizeof dangling, "%s/dangling.h5", d);
	snprintf(tophoto, sizeof tophoto, "%s/tophoto.h5", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	assert_int_equal(mkdir(sub, 0755), 0);
	/* An earlier export of fewer records, replaced through the link. */
	char small[4200];
	snprintf(small, sizeof small, "%s/small.lmdb", d);
	make_store(small, everyone, 3, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	char *first[] = {FEATDB, "export", small, "--out", real, NULL};
	free(run(first, &st, d));
	assert_int_equal(st, 0);
	assert_int_equal(symlink("sub/real.h5", link), 0);
	char *through[] = {FEATDB, "export", db, "--out", link, NULL};
	char *said = run(through, &st, d);
	if (st != 0)
		fail_msg("export through a link: exit %d\n%s", st, said);
	free(said);
	assert_true(is_link(link));
	hid_t f = H5Fopen(real, H5F_ACC_RDONLY, H5P_DEFAULT);
	assert_true(f >= 0);
	hid_t ds = H5Dopen2(f, "labels", H5P_DEFAULT), sp = H5Dget_space(ds);
	assert_int_equal(H5Sget_simple_extent_npoints(sp), 9);
	H5Sclose(sp), H5Dclose(ds), H5Fclose(f);
	glob_t g;
	char pat[4400];
	snprintf(pat, sizeof pat, "%s/*.tmp.*", sub);
	assert_int_equal(glob(pat, 0, NULL, &g), GLOB_NOMATCH);
	snprintf(pat, sizeof pat, "%s/*.tmp.*", d);
	assert_int_equal(glob(pat, 0, NULL, &g), GLOB_NOMATCH);

	assert_int_equal(symlink("sub/later.h5", dangling), 0);
	char *to_dangling[] = {FEATDB, "export", db, "--out", dangling, NULL};
	free(run(to_dangling, &st, d));
	assert_int_equal(st, 0);
	assert_true(is_link(dangling));
	assert_true(tu_exists(later));

	static const char jpeg[] = "\xff\xd8\xff\xe0 a photo";
	assert_int_equal(tu_write_file(photo, jpeg, sizeof jpeg - 1), 0);
	assert_int_equal(symlink("sub/me.jpg", tophoto), 0);
	char *bad[] = {FEATDB, "export", db, "--out", tophoto, NULL};
	said = run(bad, &st, d);
	snprintf(want, sizeof want, "featdb: error: %s (a link to %s/sub/me.jpg) exists "
		 "and is not a featdb export (not an HDF5 file)", tophoto, d);
	if (st != 1 || !strstr(said, want))
		fail_msg("export through a link to a photo: exit %d\n%s", st, said);
	free(said);
	tu_assert_file_holds(photo, jpeg, sizeof jpeg - 1);
	assert_true(is_link(tophoto));
	tu_rm_rf(d);
}

static void test_export(void **state)
{
	(void)state;
	check_export(FEATDB_F32);
	check_export(FEATDB_F16);
}

/* featdb export of test_verify's store, its records bob/2.jpg (a CRC
 * mismatch), carol/1.jpg (a NaN) and dave/1.jpg (cut short) damaged: it
 * stops at the first in key order, in one line that says what to do, and
 * writes nothing; the NaN alone (the others removed) stops it too, where
 * it was exported as it was until 2026-12-07; the three removed, it
 * exports the other 6. */
static void damaged_export(const char *d, char *db)
{
	char h5[4200], want[9000];
	int st;
	snprintf(h5, sizeof h5, "%s/x.h5", d);
	char *export[] = {FEATDB, "export", db, "--out", h5, NULL};
	char *out = run(export, &st, d);
	snprintf(want, sizeof want, "featdb: error: record 'bob/2.jpg': CRC mismatch");
	if (st != 1 || strncmp(out, want, strlen(want)) != 0 ||
	    strchr(out, '\n') != out + strlen(out) - 1)
		fail_msg("exit %d:\n%s", st, out);
	snprintf(want, sizeof want, "; extract its image into %s again (extract "
		 "replaces a damaged record) or remove it (featdb remove %s --damaged), "
		 "then export again\n", db, db);
	if (!strstr(out, want))
		fail_msg("wanted '%s':\n%s", want, out);
	free(out);
	assert_false(tu_exists(h5));

	char *remove_two[] = {FEATDB, "remove", db, "bob/2.jpg", "dave/1.jpg", NULL};
	out = run(remove_two, &st, d);
	assert_int_equal(st, 0);
	free(out);
	out = run(export, &st, d);
	if (st != 1 || !strstr(out, "featdb: error: record 'carol/1.jpg': element 3 is "
			       "nan, not a ReLU output; extract its image"))
		fail_msg("exit %d:\n%s", st, out);
	free(out);
	assert_false(tu_exists(h5));

	char *remove_damaged[] = {FEATDB, "remove", db, "--damaged", NULL};
	out = run(remove_damaged, &st, d);
	assert_int_equal(st, 0);
	free(out);
	out = run(export, &st, d);
	if (st != 0 || !strstr(out, "exported 6 records"))
		fail_msg("exit %d:\n%s", st, out);
	free(out);
}

static void test_verify(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], err[ERR_LEN];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	char *argv[] = {FEATDB, "verify", db, NULL};
	char *out = run(argv, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "9 records, all good"));
	free(out);

	/* One flipped bit in a vector: the CRC no longer matches. */
	size_t len = featdb_rec_size(FEATDB_F32, D);
	uint8_t *r = malloc(len);
	float v[D];
	vec_for(4, v);
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, 1, 2, r, err), 0);
	r[FEATDB_HEADER + 9] ^= 0x10;
	if (e2e_raw_put(db, "bob/2.jpg", r, len, err))
		fail_msg("%s", err);
	/* A well-formed record the network cannot have written (NaN). */
	v[3] = NAN;
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, 2, 0, r, err), 0);
	if (e2e_raw_put(db, "carol/1.jpg", r, len, err))
		fail_msg("%s", err);
	/* A record of the wrong size. */
	if (e2e_raw_put(db, "dave/1.jpg", r, len - 4, err))
		fail_msg("%s", err);
	out = run(argv, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(out, "bad\tbob/2.jpg"));
	assert_non_null(strstr(out, "CRC"));
	assert_non_null(strstr(out, "bad\tcarol/1.jpg"));
	assert_non_null(strstr(out, "bad\tdave/1.jpg"));
	assert_null(strstr(out, "bad\talice"));
	assert_non_null(strstr(out, "3 of 9 records are bad"));
	free(out);
	free(r);
	damaged_export(d, db);
	tu_rm_rf(d);
}

/* verify's compute threads: a store of several blocks (featdb verify checks
 * 4096 records at a time) gives the same report, byte for byte, with 1, 2
 * or 3 threads, sound and then damaged at its first and last keys and at
 * two between; the bad keys come in key order. */
static void test_verify_threads(void **state)
{
	(void)state;
	enum { N = 5000, DV = 37 };
	const char *d = tu_tmpdir();
	char db[4200], err[ERR_LEN];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	if (e2e_make_store(db, N, DV, 7, err))
		fail_msg("%s", err);

	static const char *const nthreads[] = {"1", "2", "3"};
	char *first = NULL;
	for (int round = 0; round < 2; round++) {
		for (size_t t = 0; t < sizeof nthreads / sizeof *nthreads; t++) {
			char *argv[] = {FEATDB, "verify", "--threads", (char *)nthreads[t],
					db, NULL};
			char *out = run(argv, &st, d);
			assert_int_equal(st, round ? 1 : 0);
			if (!first) {
				first = out;
				continue;
			}
			assert_string_equal(out, first);
			free(out);
		}
		if (round == 0)
			assert_non_null(strstr(first, "5000 records, all good"));
		else {
			assert_non_null(strstr(first, "4 of 5000 records are bad"));
			assert_int_equal(tu_count(first, "bad\t"), 4);
			/* Key order: ann/000 < ann/4095 < bob/2500 < cy/998. */
			const char *at[] = {strstr(first, "bad\tann/000.jpg\t"),
					    strstr(first, "bad\tann/4095.jpg\t"),
					    strstr(first, "bad\tbob/2500.jpg\t"),
					    strstr(first, "bad\tcy/998.jpg\t")};
			for (int k = 0; k < 4; k++) {
				assert_non_null(at[k]);
				assert_true(k == 0 || at[k - 1] < at[k]);
			}
			assert_non_null(strstr(first, "CRC"));
			assert_non_null(strstr(first, "class 3, the store has 3"));
			assert_non_null(strstr(first, "not a ReLU output"));
			free(first);
			break;
		}
		free(first);
		first = NULL;

		/* The damage, each record at its own place in key order. */
		size_t len = featdb_rec_size(FEATDB_F32, DV);
		uint8_t *r = malloc(len);
		float v[DV];
		for (int j = 0; j < DV; j++)
			v[j] = (float)j;
		assert_int_equal(featdb_rec_encode(v, DV, FEATDB_F32, 0, 0, r, err), 0);
		r[FEATDB_HEADER + 5] ^= 0x01;
		if (e2e_raw_put(db, "ann/000.jpg", r, len, err))
			fail_msg("%s", err);
		assert_int_equal(featdb_rec_encode(v, DV, FEATDB_F32, 3, 0, r, err), 0);
		if (e2e_raw_put(db, "ann/4095.jpg", r, len, err))
			fail_msg("%s", err);
		if (e2e_raw_put(db, "bob/2500.jpg", r, len - 4, err))
			fail_msg("%s", err);
		v[DV - 1] = -1;
		assert_int_equal(featdb_rec_encode(v, DV, FEATDB_F32, 2, 0, r, err), 0);
		if (e2e_raw_put(db, "cy/998.jpg", r, len, err))
			fail_msg("%s", err);
		free(r);
	}

	/* A count of threads that is not one: usage errors, as elsewhere. */
	static const struct { const char *value, *want; } bad[] = {
		{"0", "featdb: --threads: 0 is out of range 1..256\n"},
		{"x", "featdb: --threads: 'x' is not an integer\n"},
		{"257", "featdb: --threads: 257 is out of range 1..256\n"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char *argv[] = {FEATDB, "verify", "--threads", (char *)bad[i].value, db, NULL};
		char *out = run(argv, &st, d), want[256];
		snprintf(want, sizeof want, "%sTry 'featdb --help'.\n", bad[i].want);
		assert_int_equal(st, 2);
		assert_string_equal(out, want);
		free(out);
	}
	/* The other commands take it (pipeline.sh may pass it to all). */
	char *info[] = {FEATDB, "info", "--threads=2", db, NULL};
	free(run(info, &st, d));
	assert_int_equal(st, 0);
	tu_rm_rf(d);
}

static void test_merge(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char whole[4200], a[4200], b[4200], out[4200], other[4200], cmd[4300],
	     why[ERR_LEN];
	int st;
	snprintf(whole, sizeof whole, "%s/whole.lmdb", d);
	snprintf(a, sizeof a, "%s/a.lmdb", d);
	snprintf(b, sizeof b, "%s/b.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	snprintf(other, sizeof other, "%s/other.lmdb", d);
	make_store(whole, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	/* Two machines, each with its own people and so its own numbering. */
	static const int ha[] = {0, 1, 2, 5, 6, 7}, hb[] = {3, 4, 8};
	static const char *const ca[] = {"alice", "carol"}, *const cb[] = {"bob", "dave"};
	make_store(a, ha, 6, ca, 2, FEATDB_F32, "feedfacecafebeef");
	make_store(b, hb, 3, cb, 2, FEATDB_F32, "feedfacecafebeef");
	char *argv[] = {FEATDB, "merge", out, a, b, NULL};
	char *log = run(argv, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, "9 records added"));
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);
	/* The merged store's metadata is the whole's. */
	featdb_t *f = NULL;
	featdb_meta_t m = {0};
	char err[ERR_LEN];
	assert_int_equal(featdb_open(out, FEATDB_RDONLY, &f, err), 0);
	assert_int_equal(featdb_meta_get(f, &m, err), 0);
	assert_int_equal(m.nclasses, 4);
	assert_int_equal(m.count, 9);
	assert_string_equal(m.classes[3], "dave");
	featdb_meta_free(&m);
	featdb_close(f);
	char *verify[] = {FEATDB, "verify", out, NULL};
	log = run(verify, &st, d);
	assert_int_equal(st, 0);
	free(log);

	/* Merging again adds nothing; the same records are recognised. */
	log = run(argv, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, "0 records added, 9 already there, 0 conflicts"));
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);

	/* Stores of other weights are refused before anything is written. */
	make_store(other, hb, 3, cb, 2, FEATDB_F32, "0000000000000001");
	char *mixed[] = {FEATDB, "merge", out, a, other, NULL};
	log = run(mixed, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "0000000000000001"));
	assert_non_null(strstr(log, "fingerprint"));
	free(log);
	snprintf(cmd, sizeof cmd, "%s/f16.lmdb", d);
	make_store(cmd, hb, 3, cb, 2, FEATDB_F16, "feedfacecafebeef");
	char *dt[] = {FEATDB, "merge", out, cmd, NULL};
	log = run(dt, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "dtype"));
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);
	/* OUT given again as an IN, however spelled: refused before anything
	 * is opened for writing. */
	char dot[4300], slash[4300], link[4300];
	snprintf(dot, sizeof dot, "%s/./out.lmdb", d);
	snprintf(slash, sizeof slash, "%s/", out);
	snprintf(link, sizeof link, "%s/link.lmdb", d);
	assert_int_equal(symlink(out, link), 0);
	const char *same[] = {out, dot, slash, link};
	for (int i = 0; i < 4; i++) {
		char *again[] = {FEATDB, "merge", out, a, (char *)same[i], NULL};
		log = run(again, &st, d);
		assert_int_equal(st, 1);
		if (!strstr(log, " is both OUT and IN"))
			fail_msg("merge OUT ... %s said: %s", same[i], log);
		free(log);
	}
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);
	/* A folder that holds other things is not made a store. */
	char *intofaces[] = {FEATDB, "merge", (char *)d, a, NULL};
	log = run(intofaces, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, " is a folder that is not a feature store (it holds '"));
	free(log);
	snprintf(cmd, sizeof cmd, "%s/data.mdb", d);
	assert_int_equal(access(cmd, F_OK), -1);
	tu_rm_rf(d);
}

static void test_merge_conflict(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char a[4200], b[4200], out[4200];
	int st;
	snprintf(a, sizeof a, "%s/a.lmdb", d);
	snprintf(b, sizeof b, "%s/b.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	static const int one[] = {0};
	static const char *const ca[] = {"alice"};
	make_store(a, one, 1, ca, 1, FEATDB_F32, "feedfacecafebeef");
	make_store(b, one, 1, ca, 1, FEATDB_F32, "feedfacecafebeef");
	/* b's alice/1.jpg is another vector under the same key. */
	char err[ERR_LEN];
	size_t len = featdb_rec_size(FEATDB_F32, D);
	uint8_t *r = malloc(len);
	float v[D];
	vec_for(5, v);
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, 0, 0, r, err), 0);
	if (e2e_raw_put(b, "alice/1.jpg", r, len, err))
		fail_msg("%s", err);
	free(r);
	char *argv[] = {FEATDB, "merge", out, a, b, NULL};
	char *log = run(argv, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "conflict: 'alice/1.jpg' differs from the record OUT "
				    "holds (OUT's own or an earlier input's); kept that one\n"));
	assert_non_null(strstr(log, "featdb: error: 1 record differs from those OUT held "
				    "(listed above): OUT's were kept\n"));
	free(log);
	/* With OUT's own record: the same, and OUT keeps it. */
	char *again[] = {FEATDB, "merge", a, b, NULL};
	log = run(again, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "conflict: 'alice/1.jpg' differs from the record OUT "
				    "holds"));
	free(log);
	tu_rm_rf(d);
}

/* OUT's records are compared with an input's by name, though OUT's are
 * numbered by its own list until the merge renumbers them: alice and carol
 * in OUT (carol 1), everyone in IN (carol 2). */
static void test_merge_renumbered_out(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char whole[4200], out[4200], why[ERR_LEN];
	int st;
	snprintf(whole, sizeof whole, "%s/whole.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	make_store(whole, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	static const int ac[] = {0, 1, 2, 5, 6, 7};
	static const char *const ca[] = {"alice", "carol"};
	make_store(out, ac, 6, ca, 2, FEATDB_F32, "feedfacecafebeef");
	char *argv[] = {FEATDB, "merge", out, whole, NULL};
	char *log = run(argv, &st, d);
	if (st != 0 || !strstr(log, "3 records added, 6 already there, 0 conflicts;"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);
	tu_rm_rf(d);
}

/* OUT a symbolic link to a folder that does not exist said only "OUT: No
 * such file or directory", and OUT (or export's --out) a link loop only
 * "Too many levels of symbolic links": each now says what it is and what
 * to do, in one line, exit 1, nothing made. */
static void test_bad_links_named(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], dangling[4200], loop[4200], want[9000];
	int st;

	snprintf(in, sizeof in, "%s/in.lmdb", d);
	snprintf(dangling, sizeof dangling, "%s/dangling.lmdb", d);
	snprintf(loop, sizeof loop, "%s/loop", d);
	make_store(in, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	assert_int_equal(symlink("gone.lmdb", dangling), 0);
	assert_int_equal(symlink("loop", loop), 0);

	char *merge[] = {FEATDB, "merge", dangling, in, NULL};
	char *log = run(merge, &st, d);
	snprintf(want, sizeof want, "featdb: error: %s is a symbolic link to gone.lmdb, "
		 "a folder that does not exist: make that folder, or name another "
		 "store\n", dangling);
	if (st != 1 || strcmp(log, want) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	char gone[4300];
	snprintf(gone, sizeof gone, "%s/gone.lmdb", d);
	assert_false(tu_exists(gone));

	char *into_loop[] = {FEATDB, "merge", loop, in, NULL};
	char *export[] = {FEATDB, "export", in, "--out", loop, NULL};
	char *const *argvs[] = {into_loop, export};
	for (int i = 0; i < 2; i++) {
		log = run((char *const *)argvs[i], &st, d);
		snprintf(want, sizeof want, "featdb: error: %s: Too many levels of "
			 "symbolic links; a symbolic link on the way leads back to "
			 "itself: fix the link or name another path\n", loop);
		if (st != 1 || strcmp(log, want) != 0)
			fail_msg("case %d: exit %d:\n%s", i, st, log);
		free(log);
	}
	tu_rm_rf(d);
}

/* put_damaged stores record i of all_* (its class in all_classes) in the
 * store at db, damaged: a flipped bit (how 0), a NaN under a right CRC (1),
 * cut short (2). */
static void put_damaged(const char *db, int i, int how)
{
	size_t len = featdb_rec_size(FEATDB_F32, D);
	uint8_t *r = malloc(len);
	char err[ERR_LEN];
	float v[D];

	assert_non_null(r);
	vec_for(i, v);
	if (how == 1)
		v[0] = NAN;
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, all_cls[i], all_split[i],
					   r, err), 0);
	if (how == 0)
		r[FEATDB_HEADER + 5] ^= 0x04;
	if (e2e_raw_put(db, all_keys[i], r, how == 2 ? len / 2 : len, err))
		fail_msg("%s", err);
	free(r);
}

/* A damaged record of OUT is replaced by an input's sound one; where the
 * input's is damaged, OUT's is kept, damaged or not; each is said, and in
 * the summary.  A record damaged in OUT and in the input fails the merge,
 * unless a later input replaces it.  A sound record of OUT and a sound
 * different one still conflict (test_merge_conflict). */
static void test_merge_damaged(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char whole[4200], out[4200], in[4200], in2[4200], why[ERR_LEN];
	int st;
	snprintf(whole, sizeof whole, "%s/whole.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	snprintf(in, sizeof in, "%s/in.lmdb", d);
	snprintf(in2, sizeof in2, "%s/in2.lmdb", d);
	make_store(whole, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	make_store(out, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	/* alice/1 damaged in OUT, bob/1 in both, carol/2 in IN. */
	static const int three[] = {0, 3, 6}, bob[] = {3};
	make_store(in, three, 3, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	make_store(in2, bob, 1, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	put_damaged(out, 0, 0);
	put_damaged(out, 3, 0);
	put_damaged(in, 3, 2);
	put_damaged(in, 6, 1);
	char *verify[] = {FEATDB, "verify", out, NULL};
	char *log = run(verify, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "2 of 9 records are bad"));
	free(log);

	char *argv[] = {FEATDB, "merge", out, in, NULL};
	log = run(argv, &st, d);
	char want[5][4800];
	snprintf(want[0], sizeof want[0], "featdb: 'alice/1.jpg': OUT's record is "
		 "damaged (CRC mismatch: stored ");
	snprintf(want[1], sizeof want[1], "); replaced by %s's\n", in);
	snprintf(want[2], sizeof want[2], "featdb: 'bob/1.jpg' is damaged in OUT (CRC "
		 "mismatch: stored ");
	snprintf(want[3], sizeof want[3], "featdb: 'carol/2.jpg' is damaged in %s "
		 "(element 0 is nan, not a ReLU output); kept OUT's, which is "
		 "sound\n", in);
	snprintf(want[4], sizeof want[4], "featdb: merged 1 store into %s: 0 records "
		 "added, 0 already there, 0 conflicts, 1 damaged record replaced, 1 "
		 "damaged record kept, 1 damaged record of the inputs passed over; "
		 "4 people\n", out);
	for (int i = 0; i < 5; i++)
		if (!strstr(log, want[i]))
			fail_msg("want '%s' in:\n%s", want[i], log);
	assert_non_null(strstr(log, "(record is 86 bytes, its header says 172 "));
	assert_non_null(strstr(log, "featdb: error: 1 record is damaged in OUT and in "
				    "the inputs that hold it (listed above): OUT's "
				    "kept; extract its image into OUT again (extract "
				    "replaces a damaged record)\n"));
	assert_int_equal(st, 1);
	free(log);
	log = run(verify, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "bad\tbob/1.jpg"));
	assert_non_null(strstr(log, "1 of 9 records are bad"));
	free(log);

	/* Again, with in2's sound bob/1 after: replaced, the merge a success,
	 * OUT the whole store. */
	char *again[] = {FEATDB, "merge", out, in, in2, NULL};
	log = run(again, &st, d);
	if (st != 0 || !strstr(log, ": 0 records added, 1 already there, 0 conflicts, "
			       "1 damaged record replaced, 1 damaged record of the "
			       "inputs passed over; 4 people\n"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	log = run(verify, &st, d);
	assert_int_equal(st, 0);
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);

	/* An input's damaged record of a key neither OUT nor an earlier input
	 * holds stops the merge, a NaN too (it used to be copied), before
	 * anything is written: an earlier input's people and records used to
	 * be in OUT by then (out2 as out2_was, byte for byte; a new OUT not
	 * made). */
	char out2[4200], out2_was[4200], in3[4200], in4[4200], none[4200];
	snprintf(out2, sizeof out2, "%s/out2.lmdb", d);
	snprintf(out2_was, sizeof out2_was, "%s/out2_was.lmdb", d);
	snprintf(in3, sizeof in3, "%s/in3.lmdb", d);
	snprintf(in4, sizeof in4, "%s/in4.lmdb", d);
	snprintf(none, sizeof none, "%s/none.lmdb", d);
	static const int alice1[] = {0}, alice1_bob1[] = {0, 3}, bob2_dave[] = {4, 8}, bob1[] = {3};
	static const char *const ac_names[] = {"alice", "carol"};
	static const char *const bd_names[] = {"bob", "dave"};
	make_store(out2, alice1, 1, ac_names, 2, FEATDB_F32, "feedfacecafebeef");
	make_store(in3, alice1_bob1, 2, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	make_store(in4, bob2_dave, 2, bd_names, 2, FEATDB_F32, "feedfacecafebeef");
	put_damaged(in3, 3, 1);
	char cp[8500], was[4300], now[4300];
	snprintf(cp, sizeof cp, "cp -a %s %s", out2, out2_was);
	assert_int_equal(system(cp), 0);
	char way[13000];
	snprintf(way, sizeof way, "%s: record 'bob/1.jpg': element 0 is nan, not a "
		 "ReLU output; extract its image into %s again (extract replaces a "
		 "damaged record) or remove it (featdb remove %s --damaged), then "
		 "merge again\n", in3, in3, in3);
	for (int fresh = 0; fresh < 2; fresh++) {
		char *nan_in[] = {FEATDB, "merge", fresh ? none : out2, in4, in3, NULL};
		log = run(nan_in, &st, d);
		if (st != 1 || !strstr(log, way))
			fail_msg("exit %d:\n%s", st, log);
		free(log);
	}
	assert_false(tu_exists(none));
	snprintf(was, sizeof was, "%s/data.mdb", out2_was);
	snprintf(now, sizeof now, "%s/data.mdb", out2);
	size_t was_len;
	uint8_t *was_bytes = tu_read_file(was, &was_len);
	assert_non_null(was_bytes);
	tu_assert_file_holds(now, was_bytes, was_len);
	char *verify2[] = {FEATDB, "verify", out2, NULL};
	log = run(verify2, &st, d);
	if (st != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	/* in3 before in4: bob/1 is then held by no input before it either. */
	char *order[] = {FEATDB, "merge", out2, in3, in4, NULL};
	log = run(order, &st, d);
	if (st != 1 || !strstr(log, way))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	tu_assert_file_holds(now, was_bytes, was_len);
	free(was_bytes);
	/* An earlier input that holds the key: the damaged record is passed
	 * over, as one OUT holds (in3 named twice: its second adds nothing). */
	char in5[4200];
	snprintf(in5, sizeof in5, "%s/in5.lmdb", d);
	make_store(in5, bob1, 1, bd_names, 2, FEATDB_F32, "feedfacecafebeef");
	char *passed[] = {FEATDB, "merge", out2, in4, in5, in3, in3, NULL};
	log = run(passed, &st, d);
	if (st != 0 || !strstr(log, ": 3 records added, 2 already there, 0 conflicts, 2 "
			       "damaged records of the inputs passed over; 4 people\n"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	log = run(verify2, &st, d);
	if (st != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);

	/* A record of OUT that decodes with a class outside OUT's list would
	 * pass for one of the people the merge adds: refused before anything
	 * is written. */
	static const int ac[] = {0, 5}, bd[] = {3, 8};
	static const char *const ca[] = {"alice", "carol"}, *const cb[] = {"bob", "dave"};
	snprintf(in2, sizeof in2, "%s/bd.lmdb", d);
	tu_rm_rf(out);
	make_store(out, ac, 2, ca, 2, FEATDB_F32, "feedfacecafebeef");
	make_store(in2, bd, 2, cb, 2, FEATDB_F32, "feedfacecafebeef");
	size_t len = featdb_rec_size(FEATDB_F32, D);
	uint8_t *r = malloc(len);
	float v[D];
	vec_for(1, v);
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, 3, 0, r, why), 0);
	if (e2e_raw_put(out, "alice/2.jpg", r, len, why))
		fail_msg("%s", why);
	free(r);
	char *adds[] = {FEATDB, "merge", out, in2, NULL};
	log = run(adds, &st, d);
	if (st != 1 || !strstr(log, "featdb: error: ") ||
	    !strstr(log, "record 'alice/2.jpg' has class 3, outside the 2 people the "
			 "store lists") ||
	    !strstr(log, "; extract its image into OUT again (extract replaces a "
			 "damaged record), then merge\n"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	featdb_meta_t m = {0};
	if (e2e_store_meta(out, &m, why))
		fail_msg("%s", why);
	assert_int_equal(m.nclasses, 2);
	assert_int_equal(m.count, 2);
	featdb_meta_free(&m);
	tu_rm_rf(d);
}

/* A record of OUT that decodes with a class outside OUT's list, in a
 * merge that adds people, is replaced by an input's sound one, as any
 * damaged record of OUT (test_merge_damaged): the first commit removes it
 * with the renumbering, the input's comes after.  It used to stop the
 * merge ('extract its image into OUT again'), though the input held it. */
static void test_merge_damaged_class_replaced(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char whole[4200], out[4200], want[2][4800], why[ERR_LEN];
	int st;
	snprintf(whole, sizeof whole, "%s/whole.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	make_store(whole, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	static const int ac[] = {0, 5};
	static const char *const ca[] = {"alice", "carol"};
	make_store(out, ac, 2, ca, 2, FEATDB_F32, "feedfacecafebeef");
	size_t len = featdb_rec_size(FEATDB_F32, D);
	uint8_t *r = malloc(len);
	float v[D];
	assert_non_null(r);
	vec_for(1, v);
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, 3, all_split[1], r, why), 0);
	if (e2e_raw_put(out, all_keys[1], r, len, why))
		fail_msg("%s", why);
	free(r);

	char *argv[] = {FEATDB, "merge", out, whole, NULL};
	char *log = run(argv, &st, d);
	snprintf(want[0], sizeof want[0], "featdb: '%s': OUT's record is damaged "
		 "(class 3, the store has 2); replaced by %s's\n", all_keys[1], whole);
	snprintf(want[1], sizeof want[1], "featdb: merged 1 store into %s: 6 records "
		 "added, 2 already there, 0 conflicts, 1 damaged record replaced; 4 "
		 "people\n", out);
	for (int i = 0; i < 2; i++)
		if (st != 0 || !strstr(log, want[i]))
			fail_msg("exit %d, want '%s' in:\n%s", st, want[i], log);
	free(log);
	char *verify[] = {FEATDB, "verify", out, NULL};
	log = run(verify, &st, d);
	if (st != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);

	/* An input before whole that holds the key damaged: passed over, and
	 * whole's replaces OUT's.  Only the first input holding the key was
	 * asked, so this merge stopped ('extract its image into OUT again'). */
	char early[4200];
	snprintf(early, sizeof early, "%s/early.lmdb", d);
	static const int a2[] = {1};
	make_store(early, a2, 1, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	put_damaged(early, 1, 0);
	tu_rm_rf(out);
	make_store(out, ac, 2, ca, 2, FEATDB_F32, "feedfacecafebeef");
	r = malloc(len);
	assert_non_null(r);
	assert_int_equal(featdb_rec_encode(v, D, FEATDB_F32, 3, all_split[1], r, why), 0);
	if (e2e_raw_put(out, all_keys[1], r, len, why))
		fail_msg("%s", why);
	free(r);
	char *both[] = {FEATDB, "merge", out, early, whole, NULL};
	log = run(both, &st, d);
	snprintf(want[0], sizeof want[0], "featdb: '%s' is damaged in %s (CRC mismatch: "
		 "stored ", all_keys[1], early);
	snprintf(want[1], sizeof want[1], "); OUT's, damaged too (class 3, the store "
		 "has 2), is replaced by %s's\n", whole);
	for (int i = 0; i < 2; i++)
		if (st != 0 || !strstr(log, want[i]))
			fail_msg("exit %d, want '%s' in:\n%s", st, want[i], log);
	if (!strstr(log, "6 records added, 2 already there, 0 conflicts, 1 damaged "
			 "record replaced, 1 damaged record of the inputs passed over; "
			 "4 people\n"))
		fail_msg("the summary:\n%s", log);
	free(log);
	log = run(verify, &st, d);
	if (st != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	if (e2e_same_store(whole, out, why))
		fail_msg("%s", why);
	tu_rm_rf(d);
}

/* info's report and verify's verdict are the answer: when the standard
 * output cannot take them (a full disk), the status says so. */
/* GNU conventions, as the other programs parse: --out=F, options after the
 * operands, "--" before an operand that looks like an option, -h as an
 * option only. */
/* The root attribute name of the HDF5 file path, a string. */
static char *export_attr(const char *path, const char *name)
{
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	h5util_strlist_t v = {0};
	char err[ERR_LEN], *s;
	int found;

	assert_true(f >= 0);
	if (h5util_attr_strings(f, name, &v, &found, path, err))
		fail_msg("%s", err);
	assert_true(found && v.n == 1);
	s = strdup(v.v[0]);
	h5util_strlist_free(&v);
	H5Fclose(f);
	return s;
}

/* A store says which model's vectors it holds: info and export name it (a
 * store written without one holds VGG16's), merge refuses to mix two, and
 * featdb_write refuses a model it does not know. */
static void test_model_named(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char v16[4200], face[4200], out[4200], h5[4200], err[ERR_LEN];
	int st;
	snprintf(v16, sizeof v16, "%s/v16.lmdb", d);
	snprintf(face, sizeof face, "%s/face.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	snprintf(h5, sizeof h5, "%s/face.h5", d);
	make_store(v16, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	make_store_model(face, everyone, 9, all_classes, 4, FEATDB_F32,
			 "feedfacecafebeef", model_info(MODEL_VGGFACE)->store_model);

	char *info[] = {FEATDB, "info", face, NULL};
	char *log = run(info, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, "\nmodel:       vggface-fc7\n"));
	assert_non_null(strstr(log, "preprocess:  keras-load_img-224-nearest;rgb2bgr;"
				    "mean-93.5940,104.7624,129.1863\n"));
	free(log);
	info[2] = v16;
	log = run(info, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, "\nmodel:       vgg16-fc2\n"));
	free(log);

	char *exp[] = {FEATDB, "export", face, "--out", h5, NULL};
	log = run(exp, &st, d);
	assert_int_equal(st, 0);
	free(log);
	char *a = export_attr(h5, "model"), *b = export_attr(h5, "preprocess");
	assert_string_equal(a, model_info(MODEL_VGGFACE)->store_model);
	assert_string_equal(b, model_info(MODEL_VGGFACE)->preprocess);
	free(a), free(b);
	exp[2] = v16;
	log = run(exp, &st, d);
	assert_int_equal(st, 0);
	free(log);
	a = export_attr(h5, "model");
	assert_string_equal(a, model_info(MODEL_VGG16)->store_model);
	free(a);

	/* The same weights fingerprint, other models: never one store. */
	char *merge[] = {FEATDB, "merge", out, v16, face, NULL};
	log = run(merge, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "differ in model"));
	assert_non_null(strstr(log, "vgg16-fc2/"));
	assert_non_null(strstr(log, "vggface-fc7/"));
	free(log);
	assert_int_equal(access(out, F_OK), -1);

	featdb_t *db = NULL;
	featdb_meta_t m = {.dim = D, .dtype = FEATDB_F32, .nclasses = 1,
			   .classes = (char *[]){"a"}};
	snprintf(m.model, sizeof m.model, "resnet50-avgpool");
	assert_int_equal(featdb_open(out, FEATDB_CREATE, &db, err), 0);
	assert_int_equal(featdb_write(db, &m, 0, NULL, NULL, NULL, err), ERR_ARG);
	assert_non_null(strstr(err, "model 'resnet50-avgpool' is not 'vgg16-fc2', "
			       "'vgg16-fc1', 'vgg16-block5_pool', "));
	assert_non_null(strstr(err, "'vggface-pool5-avg' or 'vggface-pool5-max'"));
	featdb_close(db);
	tu_rm_rf(d);
}

/* Sets the store's "conv" to conv through featdb_write, as extract --conv
 * writes it (with "conv_sums" fixed, as extract writes since 2026-12-07). */
static void set_conv(const char *path, const char *conv)
{
	featdb_t *db = NULL;
	featdb_meta_t m;
	char err[ERR_LEN];

	assert_int_equal(featdb_open(path, FEATDB_WRITE, &db, err), 0);
	assert_int_equal(featdb_meta_get(db, &m, err), 0);
	snprintf(m.conv, sizeof m.conv, "%s", conv);
	snprintf(m.conv_sums, sizeof m.conv_sums, "%s", FEATDB_SUMS_FIXED);
	assert_int_equal(featdb_write(db, &m, 0, NULL, NULL, NULL, err), 0);
	featdb_meta_free(&m);
	featdb_close(db);
}

/* A store says how its convolutions were computed (extract --conv): info
 * and export name it, a store written before the key existed reads as
 * winograd, and merge refuses to mix the two paths, whose vectors differ
 * in the last bits. */
static void test_conv_named(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char direct[4200], wino[4200], old[4200], out[4200], h5[4200], err[ERR_LEN];
	int st;
	snprintf(direct, sizeof direct, "%s/direct.lmdb", d);
	snprintf(wino, sizeof wino, "%s/wino.lmdb", d);
	snprintf(old, sizeof old, "%s/old.lmdb", d);
	snprintf(out, sizeof out, "%s/out.lmdb", d);
	snprintf(h5, sizeof h5, "%s/direct.h5", d);
	make_store(direct, everyone, 5, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	set_conv(direct, "direct");
	make_store(wino, everyone + 5, 4, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	make_store(old, everyone + 5, 4, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_raw_del_meta(old, "conv", err))
		fail_msg("%s", err);

	const struct { const char *db, *conv; } want[] = {
		{direct, "direct"}, {wino, "winograd"}, {old, "winograd"},
	};
	for (int i = 0; i < 3; i++) {
		char line[64];
		char *info[] = {FEATDB, "info", (char *)want[i].db, NULL};
		char *log = run(info, &st, d);
		assert_int_equal(st, 0);
		snprintf(line, sizeof line, "\nconv:        %s\n", want[i].conv);
		assert_non_null(strstr(log, line));
		free(log);
	}
	char *exp[] = {FEATDB, "export", direct, "--out", h5, NULL};
	char *log = run(exp, &st, d);
	assert_int_equal(st, 0);
	free(log);
	char *a = export_attr(h5, "conv");
	assert_string_equal(a, "direct");
	free(a);

	/* The same weights, model and preprocessing, two paths: never one
	 * store, whichever comes first, an old store's winograd included. */
	char *merge[] = {FEATDB, "merge", out, direct, wino, NULL};
	log = run(merge, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "differ in convolution path (extract --conv)"));
	assert_non_null(strstr(log, "/direct/37/f32 vs "));
	assert_non_null(strstr(log, "/winograd/37/f32)"));
	free(log);
	assert_int_equal(access(out, F_OK), -1);
	merge[3] = old;
	merge[4] = direct;
	log = run(merge, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "differ in convolution path"));
	free(log);
	assert_int_equal(access(out, F_OK), -1);
	/* Into an OUT of the other path: refused before anything is added. */
	merge[3] = wino;
	merge[4] = NULL;
	log = run(merge, &st, d);
	assert_int_equal(st, 0);
	free(log);
	merge[3] = direct;
	log = run(merge, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "differ in convolution path"));
	free(log);
	char *count[] = {FEATDB, "info", out, NULL};
	log = run(count, &st, d);
	assert_non_null(strstr(log, "records:     4\n"));
	assert_non_null(strstr(log, "\nconv:        winograd\n"));
	free(log);
	/* Stores of one path merge, and the result keeps it. */
	merge[3] = old;
	log = run(merge, &st, d);
	assert_int_equal(st, 0);
	free(log);

	/* A direct store from before 2026-12-07 (no "conv_sums": OpenBLAS'
	 * sums, the CPU's): info says so, and merge does not mix it with a
	 * direct store of fixed sums. */
	char olddirect[4200], out2[4200];
	snprintf(olddirect, sizeof olddirect, "%s/olddirect.lmdb", d);
	snprintf(out2, sizeof out2, "%s/out2.lmdb", d);
	make_store(olddirect, everyone + 5, 4, all_classes, 4, FEATDB_F32,
		   "feedfacecafebeef");
	set_conv(olddirect, "direct");
	if (e2e_raw_del_meta(olddirect, "conv_sums", err))
		fail_msg("%s", err);
	char *info[] = {FEATDB, "info", olddirect, NULL};
	log = run(info, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(log, "\nconv:        direct (made before 2026-12-07: "
				    "OpenBLAS' sums, whose last bits are the CPU's; "
				    "extract does not resume it)\n"));
	free(log);
	char *merge2[] = {FEATDB, "merge", out2, direct, olddirect, NULL};
	log = run(merge2, &st, d);
	assert_int_equal(st, 1);
	assert_non_null(strstr(log, "differ in convolution path (extract --conv)"));
	assert_non_null(strstr(log, "/direct (made before 2026-12-07, OpenBLAS' sums)/"));
	free(log);
	assert_int_equal(access(out2, F_OK), -1);
	tu_rm_rf(d);
}

static void test_options(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], dash[4200], h5[4200], out_eq[4300];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(dash, sizeof dash, "%s/-h", d);
	snprintf(h5, sizeof h5, "%s/a.h5", d);
	snprintf(out_eq, sizeof out_eq, "--out=%s", h5);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	char *eq[] = {FEATDB, "export", db, out_eq, NULL};
	free(run(eq, &st, d));
	assert_int_equal(st, 0);
	assert_int_equal(access(h5, F_OK), 0);
	char *before[] = {FEATDB, "export", "--out", h5, db, NULL};
	free(run(before, &st, d));
	assert_int_equal(st, 0);
	/* A store named -h: after "--" it is a store, not a request for help. */
	assert_int_equal(rename(db, dash), 0);
	char log[4300];
	snprintf(log, sizeof log, "%s/log", d);
	char *ddash[] = {FEATDB, "info", "--", "-h", NULL};
	assert_int_equal(proc_run_in(d, ddash, log), 0);
	char *out = tu_slurp(log);
	assert_non_null(strstr(out, "records:     9"));
	free(out);
	char *help[] = {FEATDB, "verify", "-h", NULL};
	out = run(help, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "usage: featdb verify DB"));
	free(out);
	char *bad[] = {FEATDB, "info", "--bogus", "-h", NULL};
	free(run(bad, &st, d));
	assert_int_equal(st, 2);
	char *wrong[] = {FEATDB, "verify", "--out", h5, "--", "-h", NULL};
	out = run(wrong, &st, d);
	assert_int_equal(st, 2);
	assert_non_null(strstr(out, "verify has no option --out"));
	free(out);
	tu_rm_rf(d);
}

/* The store as every other program names it: --db, for info, export and
 * verify; merge's OUT as export's output is named, --out. */
static void test_db_option(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], h5[4200], out_db[4200], why[ERR_LEN];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(h5, sizeof h5, "%s/a.h5", d);
	snprintf(out_db, sizeof out_db, "%s/out.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");

	char *info[] = {FEATDB, "info", "--db", db, NULL};
	char *out = run(info, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "records:     9"));
	free(out);
	char *before[] = {FEATDB, "--db", db, "verify", NULL};
	out = run(before, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "9 records, all good"));
	free(out);
	char *exp[] = {FEATDB, "export", "--db", db, "--out", h5, NULL};
	free(run(exp, &st, d));
	assert_int_equal(st, 0);
	assert_int_equal(access(h5, F_OK), 0);
	char *merge[] = {FEATDB, "merge", "--out", out_db, db, NULL};
	free(run(merge, &st, d));
	assert_int_equal(st, 0);
	if (e2e_same_store(db, out_db, why))
		fail_msg("%s", why);

	/* The store given twice, or where merge takes operands: usage errors. */
	char *twice[] = {FEATDB, "info", "--db", db, db, NULL};
	out = run(twice, &st, d);
	assert_int_equal(st, 2);
	assert_non_null(strstr(out, "info takes one store: --db "));
	free(out);
	char *mdb[] = {FEATDB, "merge", "--db", db, out_db, NULL};
	free(run(mdb, &st, d));
	assert_int_equal(st, 2);
	tu_rm_rf(d);
}

/* Usage errors, as in every program: what is wrong, then the way to the
 * help, status 2; an unknown option is named as an option wherever it
 * stands, even before the command. */
static void test_usage_errors(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	int st;
	static const struct { const char *args[4], *want; } cases[] = {
		{{"--bogus", "info", "x"}, "featdb: unknown option --bogus\n"},
		{{"info", "x", "--bogus"}, "featdb: unknown option --bogus\n"},
		{{NULL}, "featdb: a command is needed: info, export, verify, merge or "
			 "remove\n"},
		{{"frobnicate"}, "featdb: unknown command 'frobnicate' (info, export, "
				 "verify, merge or remove)\n"},
		{{"info"}, "featdb: info takes one store: featdb info DB\n"},
		{{"export", "x"}, "featdb: export needs --out FILE.h5: featdb export DB "
				  "--out FILE.h5\n"},
		{{"merge", "x"}, "featdb: merge needs OUT and at least one IN: featdb "
				 "merge OUT IN...\n"},
		{{"remove"}, "featdb: remove needs a store: featdb remove DB KEY... or "
			     "featdb remove DB --damaged\n"},
		{{"remove", "x"}, "featdb: remove needs the keys of the records to "
				  "remove (featdb remove DB KEY...), or --damaged\n"},
		{{"remove", "x", "--damaged", "k"}, "featdb: remove takes keys or "
						    "--damaged, not both ('k' with "
						    "--damaged)\n"},
		{{"verify", "x", "--damaged"}, "featdb: verify has no option --damaged\n"},
		{{"remove", "x", "k", "--out=y"}, "featdb: remove has no option --out\n"},
		{{"help", "frobnicate"}, "featdb: unknown command 'frobnicate' (info, "
					 "export, verify, merge or remove)\n"},
		{{"help", "merge", "info"}, "featdb: help takes one command: featdb help "
					    "COMMAND\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char *argv[6] = {FEATDB};
		for (int k = 0; k < 4 && cases[i].args[k]; k++)
			argv[k + 1] = (char *)cases[i].args[k];
		char *out = run(argv, &st, d), want[256];
		snprintf(want, sizeof want, "%sTry 'featdb --help'.\n", cases[i].want);
		assert_int_equal(st, 2);
		assert_string_equal(out, want);
		free(out);
	}
	/* --help lists the user's options, --help-dev the others. */
	char *help[] = {FEATDB, "--help", NULL};
	char *out = run(help, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "--db DB"));
	assert_non_null(strstr(out, "--help-dev"));
	free(out);
	char *dev[] = {FEATDB, "--help-dev", NULL};
	out = run(dev, &st, d);
	assert_int_equal(st, 0);
	assert_non_null(strstr(out, "featdb: for development and tests"));
	free(out);
	tu_rm_rf(d);
}

/* Runs argv: its standard output (malloc'd), which must come with status 0
 * and nothing on the standard error. */
static char *answer(char *const argv[], const char *dir)
{
	char out[4200], err[4200];
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(err, sizeof err, "%s/err", dir);
	int st = proc_run_split(argv, out, err);
	char *said = tu_slurp(err);
	if (st != 0 || *said)
		fail_msg("%s %s %s: exit %d, said on stderr: %s", argv[0], argv[1],
			 argv[2] ? argv[2] : "", st, said);
	free(said);
	return tu_slurp(out);
}

/* Each command has its own help, however it is asked for (--help or -h,
 * after the command or before it, featdb help COMMAND): its forms, the
 * options it takes and no other command's, an example; the overview lists
 * every command, and says where their own helps are. */
static void test_command_help(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	static const struct {
		const char *cmd, *forms[2], *options[3], *not_options[3];
	} cases[] = {
		{"info", {"usage: featdb info DB\n", "\n       featdb info --db DB\n"},
		 {"\n  --db DB ", "\n  --threads N "}, {"\n  --out ", "\n  --damaged "}},
		{"export", {"usage: featdb export DB --out F.h5\n",
			    "\n       featdb export --db DB --out F.h5\n"},
		 {"\n  --out F.h5 ", "\n  --db DB ", "\n  --threads N "},
		 {"\n  --damaged "}},
		{"verify", {"usage: featdb verify DB [--threads N]\n",
			    "\n       featdb verify --db DB [--threads N]\n"},
		 {"\n  --threads N ", "\n  --db DB "}, {"\n  --out ", "\n  --damaged "}},
		{"merge", {"usage: featdb merge OUT IN...\n",
			   "\n       featdb merge --out OUT IN...\n"},
		 {"\n  --out OUT ", "\n  --threads N "}, {"\n  --db ", "\n  --damaged "}},
		{"remove", {"usage: featdb remove DB KEY...\n",
			    "\n       featdb remove DB --damaged\n"},
		 {"\n  --damaged ", "\n  --db DB ", "\n  --threads N "}, {"\n  --out "}},
	};
	const size_t n = sizeof cases / sizeof *cases;
	for (size_t i = 0; i < n; i++) {
		char *cmd = (char *)cases[i].cmd, example[64];
		char *asked[][4] = {
			{FEATDB, cmd, "--help", NULL}, {FEATDB, "--help", cmd, NULL},
			{FEATDB, cmd, "-h", NULL}, {FEATDB, "help", cmd, NULL},
		};
		char *help = answer(asked[0], d);
		for (size_t k = 1; k < sizeof asked / sizeof *asked; k++) {
			char *again = answer(asked[k], d);
			assert_string_equal(again, help);
			free(again);
		}
		assert_true(strncmp(help, cases[i].forms[0], strlen(cases[i].forms[0])) == 0);
		assert_non_null(strstr(help, cases[i].forms[1]));
		for (int k = 0; k < 3 && cases[i].options[k]; k++)
			if (!strstr(help, cases[i].options[k]))
				fail_msg("featdb %s --help does not list '%s':\n%s", cmd,
					 cases[i].options[k] + 1, help);
		for (int k = 0; k < 3 && cases[i].not_options[k]; k++)
			if (strstr(help, cases[i].not_options[k]))
				fail_msg("featdb %s --help lists '%s', not its option:\n%s",
					 cmd, cases[i].not_options[k] + 1, help);
		assert_non_null(strstr(help, "\n  -h, --help "));
		snprintf(example, sizeof example, "\nexample: featdb %s ", cmd);
		assert_non_null(strstr(help, example));
		/* No other command's form or example. */
		static const char *const starts[] = {"usage: ", "\n       ", "\nexample: "};
		for (size_t k = 0; k < n; k++)
			for (size_t j = 0; k != i && j < 3; j++) {
				char other[64];
				snprintf(other, sizeof other, "%sfeatdb %s ", starts[j],
					 cases[k].cmd);
				if (strstr(help, other))
					fail_msg("featdb %s --help shows '%s':\n%s", cmd,
						 other, help);
			}
		free(help);
	}

	/* The overview: with no command, an unknown word, or featdb help. */
	char *overview[][4] = {
		{FEATDB, "--help", NULL}, {FEATDB, "frobnicate", "--help", NULL},
		{FEATDB, "help", NULL},
	};
	char *help = answer(overview[0], d);
	for (size_t k = 1; k < sizeof overview / sizeof *overview; k++) {
		char *again = answer(overview[k], d);
		assert_string_equal(again, help);
		free(again);
	}
	assert_true(strncmp(help, "usage: featdb COMMAND", 21) == 0);
	for (size_t i = 0; i < n; i++) {
		char line[64];
		snprintf(line, sizeof line, "\n  featdb %s ", cases[i].cmd);
		assert_non_null(strstr(help, line));
	}
	const char *pointer = "\nfeatdb COMMAND --help, or featdb help COMMAND, prints a "
			      "command's help.\n";
	size_t len = strlen(help);
	assert_true(len > strlen(pointer));
	assert_string_equal(help + len - strlen(pointer), pointer);
	free(help);
	tu_rm_rf(d);
}

static void test_stdout_write_failure(void **state)
{
	(void)state;
	FILE *full = fopen("/dev/full", "w");
	if (!full)
		skip();
	fclose(full);
	const char *d = tu_tmpdir();
	char store[4200];
	int st;
	snprintf(store, sizeof store, "%s/s.lmdb", d);
	make_store(store, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	char *info[] = {FEATDB, "info", store, NULL};
	char *verify[] = {FEATDB, "verify", store, NULL};
	free(run(info, &st, d));
	assert_int_equal(st, 0);
	assert_int_equal(proc_run(info, "/dev/full"), 1);
	free(run(verify, &st, d));
	assert_int_equal(st, 0);
	assert_int_equal(proc_run(verify, "/dev/full"), 1);
	tu_rm_rf(d);
}

/* Runs the command argv, its output thrown away: 0 when it exited 0. */
static int quietly(char *const argv[])
{
	return proc_run(argv, NULL);
}

/* A killed export's temporary file (its process gone) is removed by the
 * next export to the same name; a living run's is left. */
static void test_export_removes_stale(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char store[4200], out[4200], stale[4400], living[4400];
	int st;

	snprintf(store, sizeof store, "%s/s.lmdb", d);
	snprintf(out, sizeof out, "%s/e.h5", d);
	make_store(store, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	pid_t gone = fork();
	assert_true(gone >= 0);
	if (gone == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	/* This process' name is the living run's; the dead one's has its id. */
	assert_int_equal(fsutil_tmp_path(out, living, sizeof living), 0);
	snprintf(stale, sizeof stale, "%.*s%ld", (int)(strrchr(living, '.') + 1 - living),
		 living, (long)gone);
	assert_int_equal(tu_write_file(stale, "half an export", 14), 0);
	assert_int_equal(tu_write_file(living, "being written", 13), 0);
	char *argv[] = {FEATDB, "export", store, "--out", out, NULL};
	free(run(argv, &st, d));
	assert_int_equal(st, 0);
	assert_false(tu_exists(stale));
	assert_true(tu_exists(living));
	tu_rm_rf(d);
}

/* A full disk under the export: one error line with the reason and status
 * 1 (libhdf5, unable to close its file, used to take featdb down with
 * SIGSEGV at exit), naming --out as given (not the temporary file) and
 * saying the earlier export is unchanged, as it is byte for byte, and no
 * temporary file behind. */
static void test_export_full_disk(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char small[4200], big[4200], mnt[4200], out[4300], why[ERR_LEN];
	int st;

	snprintf(small, sizeof small, "%s/small.lmdb", d);
	snprintf(big, sizeof big, "%s/big.lmdb", d);
	snprintf(mnt, sizeof mnt, "%s/disk", d);
	snprintf(out, sizeof out, "%s/e.h5", mnt);
	make_store(small, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_make_store(big, 300, 4096, 5, why))
		fail_msg("%s", why);
	if (e2e_mount_tmpfs(mnt, "1m")) {
		tu_rm_rf(d);
		skip(); /* not root, or no mount(8) */
	}
	char *first[] = {FEATDB, "export", small, "--out", out, NULL};
	char *second[] = {FEATDB, "export", big, "--out", out, NULL};
	char *said = run(first, &st, d);
	int first_st = st;
	free(said);
	size_t before_len = 0, after_len = 0;
	uint8_t *before = tu_read_file(out, &before_len);
	said = run(second, &st, d);
	uint8_t *after = tu_read_file(out, &after_len);
	glob_t g;
	char pat[4400];
	snprintf(pat, sizeof pat, "%s/*", mnt);
	int left = glob(pat, 0, NULL, &g) == 0 ? (int)g.gl_pathc : 0;
	globfree(&g);
	assert_int_equal(e2e_umount(mnt), 0);

	assert_int_equal(first_st, 0);
	char named[4400], kept[9000];
	snprintf(named, sizeof named, "featdb: error: %s: ", out);
	snprintf(kept, sizeof kept, "No space left on device (the earlier %s is "
		 "unchanged)\n", out);
	if (st != 1 || tu_count(said, "\n") != 1 || strncmp(said, named, strlen(named)) ||
	    !strstr(said, kept) || strstr(said, ".tmp."))
		fail_msg("featdb export to a full disk: exit %d\n%s", st, said);
	assert_non_null(before);
	assert_non_null(after);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_int_equal(left, 1); /* e.h5 alone */
	free(said), free(before), free(after);
	tu_rm_rf(d);
}

/* A store on a read-only file system (a read-only mount, a disc, an image)
 * is read: LMDB keeps no table of readers where no writer can be, even
 * with no lock.mdb at all; writing to it (featdb merge, verify
 * --calibrate, before it measures) is refused, saying why.  A real
 * read-only mount needs root with mount(8): skipped elsewhere. */
static void test_read_only_media(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char store[4200], mnt[4200], copy[4300], h5[4200];
	snprintf(store, sizeof store, "%s/s.lmdb", d);
	snprintf(mnt, sizeof mnt, "%s/ro", d);
	snprintf(copy, sizeof copy, "%s/s.lmdb", mnt);
	snprintf(h5, sizeof h5, "%s/x.h5", d);
	make_store(store, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_mount_tmpfs(mnt, "4m")) {
		tu_rm_rf(d);
		skip(); /* not root, or no mount(8) */
	}
	/* With lock.mdb (a store copied whole), and without (data.mdb alone). */
	char *cp_all[] = {"/bin/cp", "-r", store, mnt, NULL};
	char *rm_lock[] = {"/bin/rm", "-f", NULL, NULL};
	char lock[4400];
	snprintf(lock, sizeof lock, "%s/lock.mdb", copy);
	rm_lock[2] = lock;
	char *ro[] = {"/bin/mount", "-o", "remount,ro", mnt, NULL};
	char *rw[] = {"/bin/mount", "-o", "remount,rw", mnt, NULL};
	char *info[] = {FEATDB, "info", copy, NULL};
	char *verify[] = {FEATDB, "verify", copy, NULL};
	char *export[] = {FEATDB, "export", copy, "--out", h5, NULL};
	char *merge[] = {FEATDB, "merge", copy, store, NULL};
	char *calibrate[] = {proc_bin("verify"), "--calibrate", "--db", copy, NULL};
	char *remove_key[] = {FEATDB, "remove", copy, "bob/2.jpg", NULL};
	char *remove_damaged[] = {FEATDB, "remove", copy, "--damaged", NULL};
	char *out[2][7] = {{0}};
	int st[2][7], setup = quietly(cp_all) || quietly(ro);

	for (int pass = 0; pass < 2 && !setup; pass++) {
		out[pass][0] = run(info, &st[pass][0], d);
		out[pass][1] = run(verify, &st[pass][1], d);
		out[pass][2] = run(export, &st[pass][2], d);
		out[pass][3] = run(merge, &st[pass][3], d);
		out[pass][4] = run(calibrate, &st[pass][4], d);
		out[pass][5] = run(remove_key, &st[pass][5], d);
		out[pass][6] = run(remove_damaged, &st[pass][6], d);
		if (pass == 0)
			setup = quietly(rw) || quietly(rm_lock) || quietly(ro);
	}
	/* The mount goes before any assertion can end the test. */
	assert_int_equal(e2e_umount(mnt), 0);
	assert_int_equal(setup, 0);
	for (int pass = 0; pass < 2; pass++) {
		const char *how = pass ? "without lock.mdb" : "with lock.mdb";
		if (st[pass][0] != 0 || !strstr(out[pass][0], "records:     9"))
			fail_msg("featdb info %s: exit %d\n%s", how, st[pass][0], out[pass][0]);
		if (st[pass][1] != 0 || !strstr(out[pass][1], "9 records, all good"))
			fail_msg("featdb verify %s: exit %d\n%s", how, st[pass][1], out[pass][1]);
		if (st[pass][2] != 0 || !strstr(out[pass][2], "exported 9 records"))
			fail_msg("featdb export %s: exit %d\n%s", how, st[pass][2], out[pass][2]);
		if (st[pass][3] != 1 || !strstr(out[pass][3], "cannot write the store: "
						 "Read-only file system"))
			fail_msg("featdb merge into it %s: exit %d\n%s", how, st[pass][3],
				 out[pass][3]);
		/* remove, both ways, as merge: one line, before it reads. */
		for (int k = 5; k < 7; k++)
			if (st[pass][k] != 1 ||
			    strchr(out[pass][k], '\n') != out[pass][k] + strlen(out[pass][k]) - 1 ||
			    !strstr(out[pass][k], "cannot write the store: Read-only file "
				    "system"))
				fail_msg("featdb remove%s on it %s: exit %d\n%s",
					 k == 6 ? " --damaged" : "", how, st[pass][k],
					 out[pass][k]);
		/* Refused before it measures anything it could not keep. */
		if (st[pass][4] != 1 || strncmp(out[pass][4], "verify: error: ", 15) != 0 ||
		    !strstr(out[pass][4], "Read-only file system"))
			fail_msg("verify --calibrate on it %s: exit %d\n%s", how, st[pass][4],
				 out[pass][4]);
		for (int k = 0; k < 7; k++)
			free(out[pass][k]);
	}
	tu_rm_rf(d);
}

/* The store's data.mdb as it is now (malloc'd, *len bytes): what a refused
 * command must leave byte for byte (tu_assert_file_holds). */
static uint8_t *data_mdb(const char *db, char *path, size_t size, size_t *len)
{
	snprintf(path, size, "%s/data.mdb", db);
	uint8_t *b = tu_read_file(path, len);
	assert_non_null(b);
	return b;
}

/* The store's count and class list as its metadata says. */
static void assert_meta(const char *db, uint64_t count, int nclasses)
{
	featdb_meta_t m = {0};
	char err[ERR_LEN];
	if (e2e_store_meta(db, &m, err))
		fail_msg("%s", err);
	assert_int_equal(m.count, count);
	assert_int_equal(m.nclasses, nclasses);
	for (int c = 0; c < nclasses && nclasses == 4; c++)
		assert_string_equal(m.classes[c], all_classes[c]);
	featdb_meta_free(&m);
}

/* featdb remove DB KEY... removes those records in one commit, the others
 * byte for byte as they were (the store then a store written without
 * them), the count rewritten, the class list kept: dave keeps his name
 * with no record left, as when his folder is removed.  A key named twice
 * is removed once; --db names the store as elsewhere. */
static void test_remove_keys(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], ref[4200], want[4400], why[ERR_LEN];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(ref, sizeof ref, "%s/ref.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	static const int seven[] = {0, 1, 2, 3, 5, 6, 8}, six[] = {0, 1, 2, 3, 5, 6};

	char *argv[] = {FEATDB, "remove", db, "bob/2.jpg", "carol/sub/3.jpg", NULL};
	char *log = run(argv, &st, d);
	snprintf(want, sizeof want, "featdb: removed 2 records from %s; 7 remain\n", db);
	if (st != 0 || strcmp(log, want) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	make_store(ref, seven, 7, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_same_store(ref, db, why))
		fail_msg("%s", why);
	assert_meta(db, 7, 4);
	char *verify[] = {FEATDB, "verify", db, NULL};
	log = run(verify, &st, d);
	if (st != 0 || !strstr(log, "7 records, all good"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);

	char *by_db[] = {FEATDB, "remove", "--db", db, "dave/1.jpg", "dave/1.jpg", NULL};
	log = run(by_db, &st, d);
	snprintf(want, sizeof want, "featdb: removed 1 record from %s; 6 remain\n", db);
	if (st != 0 || strcmp(log, want) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	tu_rm_rf(ref);
	make_store(ref, six, 6, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_same_store(ref, db, why))
		fail_msg("%s", why);
	assert_meta(db, 6, 4);
	log = run(verify, &st, d);
	assert_int_equal(st, 0);
	free(log);
	tu_rm_rf(d);
}

/* A key the store does not hold stops the removal before anything is
 * written: exit 1, the key named (and how many others are missing), the
 * store byte for byte as it was, the keys it holds included. */
static void test_remove_missing_key(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], data[4300], want[4400];
	size_t len;
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	uint8_t *before = data_mdb(db, data, sizeof data, &len);

	char *one[] = {FEATDB, "remove", db, "alice/1.jpg", "zed/1.jpg", NULL};
	char *log = run(one, &st, d);
	snprintf(want, sizeof want, "featdb: error: %s holds no record 'zed/1.jpg'; "
		 "nothing was removed\n", db);
	if (st != 1 || strcmp(log, want) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	tu_assert_file_holds(data, before, len);

	char *three[] = {FEATDB, "remove", db, "zed/1.jpg", "alice/1.jpg", "zed/2.jpg",
			 "bob/1.jpg", "alice/9.jpg", NULL};
	log = run(three, &st, d);
	snprintf(want, sizeof want, "featdb: error: %s holds no record 'zed/1.jpg' (2 "
		 "other keys named are missing too); nothing was removed\n", db);
	if (st != 1 || strcmp(log, want) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	tu_assert_file_holds(data, before, len);
	assert_meta(db, 9, 4);
	free(before);
	tu_rm_rf(d);
}

/* remove --damaged removes what featdb verify reports, a record with a
 * flipped bit and one cut short (their images gone: no extract can
 * replace them), listing each with why, as verify does; the store then
 * verifies and is the store of the sound records.  Nothing damaged: it
 * says so and writes nothing, but for a metadata count that disagrees
 * with the records, which it rewrites and says. */
static void test_remove_damaged(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], ref[4200], data[4300], want[3][9000], why[ERR_LEN];
	int st;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(ref, sizeof ref, "%s/ref.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	put_damaged(db, 4, 0);
	put_damaged(db, 6, 2);
	char *verify[] = {FEATDB, "verify", db, NULL};
	char *log = run(verify, &st, d);
	if (st != 1 || !strstr(log, "2 of 9 records are bad"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);

	char *argv[] = {FEATDB, "remove", db, "--damaged", NULL};
	log = run(argv, &st, d);
	snprintf(want[0], sizeof want[0], "removed\tbob/2.jpg\tCRC mismatch: stored ");
	snprintf(want[1], sizeof want[1], "removed\tcarol/2.jpg\trecord is 86 bytes, "
		 "its header says 172 ");
	snprintf(want[2], sizeof want[2], "featdb: removed 2 damaged records from %s; "
		 "7 remain\n", db);
	for (int i = 0; i < 3; i++)
		if (st != 0 || !strstr(log, want[i]))
			fail_msg("exit %d, want '%s' in:\n%s", st, want[i], log);
	assert_int_equal(tu_count(log, "\n"), 3);
	free(log);
	log = run(verify, &st, d);
	if (st != 0 || !strstr(log, "7 records, all good"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	static const int sound[] = {0, 1, 2, 3, 5, 7, 8};
	make_store(ref, sound, 7, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_same_store(ref, db, why))
		fail_msg("%s", why);
	assert_meta(db, 7, 4);

	/* Nothing damaged: said, nothing written. */
	size_t n0;
	uint8_t *before = data_mdb(db, data, sizeof data, &n0);
	log = run(argv, &st, d);
	snprintf(want[0], sizeof want[0], "featdb: %s holds no damaged record; 7 "
		 "records, nothing removed\n", db);
	if (st != 0 || strcmp(log, want[0]) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	tu_assert_file_holds(data, before, n0);
	free(before);

	/* A count that disagrees with the records (a writer stopped between
	 * them, or another program's): rewritten, and verify passes. */
	if (e2e_raw_put_meta(db, "count", "12", why))
		fail_msg("%s", why);
	log = run(verify, &st, d);
	if (st != 1 || !strstr(log, "the metadata counts 12 records, the store holds 7"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	log = run(argv, &st, d);
	snprintf(want[0], sizeof want[0], "featdb: %s: the metadata counted 12 records, "
		 "the store held 7: count rewritten\nfeatdb: %s holds no damaged "
		 "record; 7 records, nothing removed\n", db, db);
	if (st != 0 || strcmp(log, want[0]) != 0)
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	log = run(verify, &st, d);
	if (st != 0 || !strstr(log, "7 records, all good"))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	if (e2e_same_store(ref, db, why))
		fail_msg("%s", why);
	tu_rm_rf(d);
}

/* A store whose writer lock is held (an extract or a merge writing it) is
 * refused, named keys or --damaged, the store unchanged; once the writer is
 * done, the removal goes through. */
static void test_remove_locked(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char db[4200], data[4300], want[4400], err[ERR_LEN];
	size_t len;
	int st, fd;
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	make_store(db, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	put_damaged(db, 0, 0);
	uint8_t *before = data_mdb(db, data, sizeof data, &len);
	if (featdb_lock_writer(db, &fd, err))
		fail_msg("%s", err);

	char *keys[] = {FEATDB, "remove", db, "bob/1.jpg", NULL};
	char *damaged[] = {FEATDB, "remove", db, "--damaged", NULL};
	char *const *argvs[] = {keys, damaged};
	snprintf(want, sizeof want, "featdb: error: %s: another program (extract, "
		 "featdb merge or featdb remove) is writing to this store; wait for it "
		 "to finish\n", db);
	for (int i = 0; i < 2; i++) {
		char *log = run((char *const *)argvs[i], &st, d);
		if (st != 1 || strcmp(log, want) != 0)
			fail_msg("case %d: exit %d:\n%s", i, st, log);
		free(log);
		tu_assert_file_holds(data, before, len);
	}
	close(fd);
	char *log = run(damaged, &st, d);
	if (st != 0 || !strstr(log, "featdb: removed 1 damaged record from "))
		fail_msg("exit %d:\n%s", st, log);
	free(log);
	assert_meta(db, 8, 4);
	free(before);
	tu_rm_rf(d);
}

/* A record removed while its image is still in the folder is extracted
 * again by the next extract (its key missing, as a new image's), and the
 * store is then, records and metadata, the store a fresh extract makes:
 * the first extract in batches of 1 and the rerun too, the fresh one in
 * batches of 8. */
static void test_remove_then_extract(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char in[4200], db[4200], fresh[4200], log[4200], want[4400], why[ERR_LEN];
	int st;
	snprintf(in, sizeof in, "%s/faces", d);
	snprintf(db, sizeof db, "%s/s.lmdb", d);
	snprintf(fresh, sizeof fresh, "%s/fresh.lmdb", d);
	snprintf(log, sizeof log, "%s/extract.log", d);
	static const char *const imgs[] = {"ann/1.ppm", "ann/2.ppm", "bob/1.ppm",
					   "bob/2.pgm", "cy/1.ppm"};
	for (int i = 0; i < 5; i++)
		assert_int_equal(e2e_write_pnm(in, imgs[i], 40 + 7 * i, 50 - 3 * i, i == 3,
					       (uint64_t)i + 11), 0);
	assert_int_equal(e2e_extract(in, fresh, log, "--batch", "8", NULL), 0);
	assert_int_equal(e2e_extract(in, db, log, "--batch", "1", NULL), 0);
	if (e2e_same_store(fresh, db, why) || e2e_same_meta(fresh, db, why))
		fail_msg("%s", why);

	char *argv[] = {FEATDB, "remove", db, "bob/1.ppm", "cy/1.ppm", NULL};
	char *out = run(argv, &st, d);
	snprintf(want, sizeof want, "featdb: removed 2 records from %s; 3 remain\n", db);
	if (st != 0 || strcmp(out, want) != 0)
		fail_msg("exit %d:\n%s", st, out);
	free(out);
	/* cy keeps his name with no record. */
	featdb_meta_t m = {0};
	if (e2e_store_meta(db, &m, why))
		fail_msg("%s", why);
	assert_int_equal(m.count, 3);
	assert_int_equal(m.nclasses, 3);
	assert_string_equal(m.classes[2], "cy");
	featdb_meta_free(&m);
	assert_int_not_equal(e2e_same_store(fresh, db, why), 0);

	assert_int_equal(e2e_extract(in, db, log, "--batch", "1", NULL), 0);
	out = tu_slurp(log);
	if (!strstr(out, "extracted 2, already present 3, skipped 0"))
		fail_msg("extract's rerun said:\n%s", out);
	free(out);
	if (e2e_same_store(fresh, db, why) || e2e_same_meta(fresh, db, why))
		fail_msg("%s", why);
	tu_rm_rf(d);
}

/* A disk full at the removal's commit (LMDB writes the changed pages to new
 * places before the meta page that makes them the store): exit 1 in one
 * line that says so, the store its records and metadata as they were; with
 * space again, the same command goes through.  A real tmpfs: skipped where
 * mount(8) is not allowed. */
static void test_remove_full_disk(void **state)
{
	(void)state;
	const char *d = tu_tmpdir();
	char store[4200], mnt[4200], copy[4300], filler[4300], same[2][ERR_LEN];
	int st, again_st = -1, setup;
	snprintf(store, sizeof store, "%s/s.lmdb", d);
	snprintf(mnt, sizeof mnt, "%s/disk", d);
	snprintf(copy, sizeof copy, "%s/s.lmdb", mnt);
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	make_store(store, everyone, 9, all_classes, 4, FEATDB_F32, "feedfacecafebeef");
	if (e2e_mount_tmpfs(mnt, "1m")) {
		tu_rm_rf(d);
		skip(); /* not root, or no mount(8) */
	}
	char *cp[] = {"/bin/cp", "-r", store, mnt, NULL};
	char *argv[] = {FEATDB, "remove", copy, "bob/1.jpg", NULL};
	char *log = NULL, *again = NULL;
	setup = quietly(cp) || e2e_fill(mnt, filler, 0);
	if (!setup) {
		log = run(argv, &st, d);
		if (e2e_same_store(store, copy, same[0]) == 0)
			same[0][0] = 0;
		if (e2e_same_meta(store, copy, same[1]) == 0)
			same[1][0] = 0;
		unlink(filler);
		again = run(argv, &again_st, d);
	}
	/* The mount goes before any assertion can end the test. */
	assert_int_equal(e2e_umount(mnt), 0);
	assert_int_equal(setup, 0);
	char named[4400];
	snprintf(named, sizeof named, "featdb: error: %s: commit: ", copy);
	if (st != 1 || tu_count(log, "\n") != 1 || strncmp(log, named, strlen(named)) ||
	    !strstr(log, "No space left on device") ||
	    !strstr(log, "; nothing was removed\n"))
		fail_msg("featdb remove on a full disk: exit %d\n%s", st, log);
	for (int i = 0; i < 2; i++)
		if (same[i][0])
			fail_msg("after the full disk: %s", same[i]);
	if (again_st != 0 || !strstr(again, "featdb: removed 1 record from "))
		fail_msg("featdb remove with space again: exit %d\n%s", again_st, again);
	free(log), free(again);
	tu_rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_export),
		cmocka_unit_test(test_export_replaces_only_exports),
		cmocka_unit_test(test_export_through_link),
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_verify_threads),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_conflict),
		cmocka_unit_test(test_merge_renumbered_out),
		cmocka_unit_test(test_bad_links_named),
		cmocka_unit_test(test_merge_damaged),
		cmocka_unit_test(test_merge_damaged_class_replaced),
		cmocka_unit_test(test_remove_keys),
		cmocka_unit_test(test_remove_missing_key),
		cmocka_unit_test(test_remove_damaged),
		cmocka_unit_test(test_remove_locked),
		cmocka_unit_test(test_remove_then_extract),
		cmocka_unit_test(test_remove_full_disk),
		cmocka_unit_test(test_model_named),
		cmocka_unit_test(test_conv_named),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_db_option),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_command_help),
		cmocka_unit_test(test_stdout_write_failure),
		cmocka_unit_test(test_read_only_media),
		cmocka_unit_test(test_export_full_disk),
		cmocka_unit_test(test_export_removes_stale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
