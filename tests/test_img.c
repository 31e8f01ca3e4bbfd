/* test_img.c - img_* against Pillow 9.4, which is what Keras' load_img runs.
 *
 * The expected pixels come from Pillow itself, an independent
 * implementation, through tests/ref/pillow_ref.py and the files it writes:
 * tests/golden/pillow_fixtures.h5 (every file in tests/fixtures, changed
 * copies of them, resize index maps, preprocess_input values) and
 * tests/golden/pillow_shared.h5 (hashes for ../shared/data, used when that
 * folder exists).  Bad inputs that need no reference are made here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "e2e.h"
#include "error.h"
#include "img/img.h"
#include "proc.h"
#include "testutil.h"
#include "net/model.h"
#include "net/vgg.h"

#define FIXTURES "tests/fixtures"
#define GOLDEN_FIXTURES "tests/golden/pillow_fixtures.h5"
#define GOLDEN_SHARED "tests/golden/pillow_shared.h5"
#define NAME_LEN 64
#define PATH_LEN 96
#define VGG_BYTES ((size_t)VGG_IN * VGG_IN * 3)

/* ---- helpers ---------------------------------------------------------- */

/* One dataset read whole, converted to mem_type; dims has room for 3. */
static void *h5_read(hid_t f, const char *path, hid_t mem_type, hsize_t *dims,
		     int *rank)
{
	hid_t ds = H5Dopen2(f, path, H5P_DEFAULT), sp;
	size_t n = 1, el = H5Tget_size(mem_type);
	void *buf;
	int i;

	if (ds < 0)
		fail_msg("%s: no dataset %s (rerun tests/ref/pillow_ref.py)",
			 GOLDEN_FIXTURES, path);
	sp = H5Dget_space(ds);
	*rank = H5Sget_simple_extent_ndims(sp);
	assert_in_range(*rank, 1, 3);
	H5Sget_simple_extent_dims(sp, dims, NULL);
	for (i = 0; i < *rank; i++)
		n *= dims[i];
	buf = malloc(n * el);
	assert_non_null(buf);
	assert_true(H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
	H5Sclose(sp);
	H5Dclose(ds);
	return buf;
}

/* A whole 1-D dataset; *n is its length. */
static void *h5_vec(hid_t f, const char *path, hid_t mem_type, size_t *n)
{
	hsize_t dims[3];
	int rank;
	void *buf = h5_read(f, path, mem_type, dims, &rank);

	*n = (size_t)dims[0];
	return buf;
}

static uint64_t fnv1a64(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h;
}

/* What load_img returns: the decoded image, resized only when needed. */
static int vgg224(const img_t *img, img_t *out, char *err)
{
	if (img->w == VGG_IN && img->h == VGG_IN) {
		out->w = out->h = VGG_IN;
		out->rgb = malloc(VGG_BYTES);
		assert_non_null(out->rgb);
		memcpy(out->rgb, img->rgb, VGG_BYTES);
		return 0;
	}
	return img_resize_nearest(img, VGG_IN, VGG_IN, out, err);
}

/* Prints the first differing pixel; returns 1 when a and b differ. */
static int pixels_differ(const char *what, const uint8_t *a, const uint8_t *b,
			 int w, int h)
{
	size_t i, n = (size_t)w * h * 3;

	for (i = 0; i < n; i++) {
		if (a[i] != b[i]) {
			size_t px = i / 3;
			print_error("%s: pixel (x %zu, y %zu) channel %zu: ours %u, Pillow %u\n",
				    what, px % w, px / w, i % 3, a[i], b[i]);
			return 1;
		}
	}
	return 0;
}

/* Failure messages are one line that starts with the file's name. */
static void assert_reason(const char *err, const char *name)
{
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	if (strncmp(err, name, strlen(name)) != 0)
		fail_msg("message does not name %s: %s", name, err);
}

static uint8_t *read_fixture(const char *name, size_t *len)
{
	char path[512];
	uint8_t *buf;

	snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
	buf = tu_read_file(path, len);
	if (!buf)
		fail_msg("cannot read %s", path);
	return buf;
}

static hid_t open_golden(const char *path)
{
	hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);

	if (f < 0)
		fail_msg("cannot open %s", path);
	return f;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- against Pillow --------------------------------------------------- */

/* Every fixture decodes to Pillow's pixels, before and after the resize,
 * and img_load_input turns them into Keras' input. */
static void test_fixtures_match_pillow(void **state)
{
	const float *mean = model_info(MODEL_VGG16)->mean_bgr;
	hid_t f = open_golden(GOLDEN_FIXTURES);
	hsize_t dims[3];
	int rank, bad = 0;
	uint8_t *names = h5_read(f, "fixtures/names", H5T_NATIVE_UINT8, dims, &rank);
	size_t n = (size_t)dims[0], i, ndir = 0;
	char *listed[256];
	float *vgg = malloc(VGG_BYTES * sizeof(float));
	DIR *d = opendir(FIXTURES);
	struct dirent *e;

	(void)state;
	assert_non_null(vgg);
	assert_non_null(d);
	assert_int_equal(dims[1], NAME_LEN);
	/* The golden file must describe exactly the fixtures on disk. */
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		assert_true(ndir < 256);
		listed[ndir++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(listed, ndir, sizeof listed[0], cmp_names);
	if (ndir != n)
		fail_msg("%zu files in %s, %zu in %s: rerun tests/ref/pillow_ref.py",
			 ndir, FIXTURES, n, GOLDEN_FIXTURES);

	for (i = 0; i < n; i++) {
		const char *name = (const char *)names + i * NAME_LEN;
		char key[128], path[256], err[ERR_LEN];
		img_t img, out = { 0, 0, NULL };
		uint8_t *buf, *want;
		size_t len, k;
		int rc;

		assert_string_equal(name, listed[i]);
		buf = read_fixture(name, &len);
		rc = img_decode(buf, len, name, &img, err);
		if (rc) {
			print_error("%s: %s\n", name, err);
			bad++;
			free(buf);
			continue;
		}
		snprintf(key, sizeof key, "fixtures/%s/decoded", name);
		want = h5_read(f, key, H5T_NATIVE_UINT8, dims, &rank);
		if (img.w != (int)dims[1] || img.h != (int)dims[0]) {
			print_error("%s: ours %dx%d, Pillow %dx%d\n", name, img.w,
				    img.h, (int)dims[1], (int)dims[0]);
			bad++;
		} else {
			bad += pixels_differ(name, img.rgb, want, img.w, img.h);
		}
		free(want);

		snprintf(key, sizeof key, "fixtures/%s/vgg224", name);
		want = h5_read(f, key, H5T_NATIVE_UINT8, dims, &rank);
		assert_int_equal(vgg224(&img, &out, err), 0);
		bad += pixels_differ(key, out.rgb, want, VGG_IN, VGG_IN);

		snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
		assert_int_equal(tu_load_input(path, MODEL_VGG16, vgg, err), 0);
		for (k = 0; k < VGG_BYTES; k += 3) {
			if (vgg[k] != (float)want[k + 2] - mean[0] ||
			    vgg[k + 1] != (float)want[k + 1] - mean[1] ||
			    vgg[k + 2] != (float)want[k] - mean[2]) {
				print_error("%s: img_load_input differs at %zu\n", name, k / 3);
				bad++;
				break;
			}
		}
		free(want);
		img_free(&out);
		img_free(&img);
		free(buf);
	}
	print_message("%zu fixtures decoded and resized as Pillow does, %d differences\n",
		      n, bad);
	assert_int_equal(bad, 0);
	for (i = 0; i < ndir; i++)
		free(listed[i]);
	free(names);
	free(vgg);
	H5Fclose(f);
}

/* Fixtures cut short or with a byte flipped: refused where Pillow refuses,
 * the same pixels where it does not (a PNG's image-data CRC, a JPEG that
 * only lost its EOI marker, a BMP that lost the last row's padding). */
static void test_variants_match_pillow(void **state)
{
	hid_t f = open_golden(GOLDEN_FIXTURES);
	hsize_t dims[3];
	int rank, bad = 0, refused = 0;
	size_t n, m, i;
	uint8_t *src = h5_read(f, "variants/source", H5T_NATIVE_UINT8, dims, &rank);
	int32_t *kind = h5_vec(f, "variants/kind", H5T_NATIVE_INT32, &n);
	int64_t *arg = h5_vec(f, "variants/arg", H5T_NATIVE_INT64, &m);
	uint8_t *ref = h5_vec(f, "variants/refused", H5T_NATIVE_UINT8, &m);
	int32_t *w = h5_vec(f, "variants/width", H5T_NATIVE_INT32, &m);
	int32_t *h = h5_vec(f, "variants/height", H5T_NATIVE_INT32, &m);
	uint64_t *hash = h5_vec(f, "variants/hash224", H5T_NATIVE_UINT64, &m);

	(void)state;
	assert_int_equal(dims[0], n);
	for (i = 0; i < n; i++) {
		const char *name = (const char *)src + i * NAME_LEN;
		char err[ERR_LEN], label[128];
		img_t img, out = { 0, 0, NULL };
		size_t len;
		uint8_t *buf = read_fixture(name, &len);
		int rc;

		snprintf(label, sizeof label, "%s %s %lld", name,
			 kind[i] ? "xor at" : "cut to", (long long)arg[i]);
		assert_true(arg[i] >= 0 && (size_t)arg[i] < len);
		if (kind[i] == 0)
			len = (size_t)arg[i];
		else
			buf[arg[i]] ^= 0xFF;
		rc = img_decode(buf, len, label, &img, err);
		if (ref[i]) {
			refused++;
			if (rc == 0) {
				print_error("%s: Pillow refuses it, we decode it\n", label);
				bad++;
			} else {
				assert_reason(err, label);
			}
		} else if (rc) {
			print_error("%s: Pillow decodes it, we refuse: %s\n", label, err);
			bad++;
		} else {
			assert_int_equal(vgg224(&img, &out, err), 0);
			if (img.w != w[i] || img.h != h[i] ||
			    fnv1a64(out.rgb, VGG_BYTES) != hash[i]) {
				print_error("%s: pixels differ from Pillow's\n", label);
				bad++;
			}
		}
		img_free(&out);
		img_free(&img);
		free(buf);
	}
	print_message("%zu changed fixtures (%d refused) handled as Pillow does, %d differences\n",
		      n, refused, bad);
	assert_int_equal(bad, 0);
	free(src);
	free(kind);
	free(arg);
	free(ref);
	free(w);
	free(h);
	free(hash);
	H5Fclose(f);
}

/* An n-pixel image whose pixel i holds i in 24 bits (R low byte). */
static void index_image(img_t *img, int w, int h)
{
	size_t i, n = (size_t)w * h;

	img->w = w;
	img->h = h;
	img->rgb = malloc(n * 3);
	assert_non_null(img->rgb);
	for (i = 0; i < n; i++) {
		img->rgb[3 * i] = (uint8_t)i;
		img->rgb[3 * i + 1] = (uint8_t)(i >> 8);
		img->rgb[3 * i + 2] = (uint8_t)(i >> 16);
	}
}

static int pixel_index(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16;
}

/* Pillow's own NEAREST index maps, along x and along y, including the
 * sizes where its accumulated step differs from (i + 0.5) * step and
 * widths past 2^24, where Pillow's float box rounds the input size. */
static void test_resize_matches_pillow(void **state)
{
	hid_t f = open_golden(GOLDEN_FIXTURES);
	size_t n, total, i, off = 0;
	int32_t *in = h5_vec(f, "resize/in", H5T_NATIVE_INT32, &n);
	int32_t *out = h5_vec(f, "resize/out", H5T_NATIVE_INT32, &n);
	int32_t *index = h5_vec(f, "resize/index", H5T_NATIVE_INT32, &total);
	int bad = 0;

	(void)state;
	for (i = 0; i < n; i++) {
		img_t src, wide = { 0, 0, NULL }, tall = { 0, 0, NULL };
		char err[ERR_LEN];
		int k;

		index_image(&src, in[i], 1);
		assert_int_equal(img_resize_nearest(&src, out[i], 1, &wide, err), 0);
		src.w = 1;
		src.h = in[i];
		assert_int_equal(img_resize_nearest(&src, 1, out[i], &tall, err), 0);
		for (k = 0; k < out[i]; k++) {
			int want = index[off + k];
			if (pixel_index(wide.rgb + 3 * k) != want ||
			    pixel_index(tall.rgb + 3 * k) != want) {
				print_error("%d -> %d: output %d reads %d (x) / %d (y), Pillow %d\n",
					    in[i], out[i], k, pixel_index(wide.rgb + 3 * k),
					    pixel_index(tall.rgb + 3 * k), want);
				bad++;
				break;
			}
		}
		off += (size_t)out[i];
		img_free(&src);
		img_free(&wide);
		img_free(&tall);
	}
	assert_int_equal(off, total);
	assert_int_equal(bad, 0);
	free(in);
	free(out);
	free(index);
	H5Fclose(f);
}

/* Whether index got agrees with the plain formulation floor(num / den):
 * 1 when equal, 2 when one less at a whole-number coordinate (Pillow's
 * accumulated double fell just short of it), 0 otherwise. */
static int plain_match(int got, uint64_t num, uint64_t den)
{
	if ((uint64_t)got == num / den)
		return 1;
	if (num % den == 0 && (uint64_t)got + 1 == num / den)
		return 2;
	return 0;
}

/* Against the plain formulation src = floor((i + 0.5) * in / out), in exact
 * integers, on odd sizes up and down (see plain_match). */
static void test_resize_plain_formulation(void **state)
{
	static const int sizes[][4] = {
		{ 61, 47, 224, 224 }, { 1, 1, 224, 224 }, { 250, 250, 224, 224 },
		{ 500, 333, 97, 13 }, { 3, 5, 1, 1 }, { 64, 128, 224, 224 },
		{ 7, 3, 5, 11 }, { 224, 224, 224, 224 }, { 13, 601, 3, 224 },
	};
	size_t s;
	int shortfalls = 0;

	(void)state;
	for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		int iw = sizes[s][0], ih = sizes[s][1], ow = sizes[s][2], oh = sizes[s][3];
		img_t src, dst = { 0, 0, NULL };
		char err[ERR_LEN];
		int x, y;

		index_image(&src, iw, ih);
		assert_int_equal(img_resize_nearest(&src, ow, oh, &dst, err), 0);
		assert_int_equal(dst.w, ow);
		assert_int_equal(dst.h, oh);
		for (y = 0; y < oh; y++) {
			for (x = 0; x < ow; x++) {
				int got = pixel_index(dst.rgb + 3 * ((size_t)y * ow + x));
				uint64_t nx = (2 * (uint64_t)x + 1) * iw, dx = 2 * (uint64_t)ow;
				uint64_t ny = (2 * (uint64_t)y + 1) * ih, dy = 2 * (uint64_t)oh;
				int mx = plain_match(got % iw, nx, dx);
				int my = plain_match(got / iw, ny, dy);

				if (!mx || !my)
					fail_msg("%dx%d -> %dx%d: (%d, %d) reads (%d, %d), plain (%d, %d)",
						 iw, ih, ow, oh, x, y, got % iw, got / iw,
						 (int)(nx / dx), (int)(ny / dy));
				shortfalls += (mx == 2) + (my == 2);
			}
		}
		img_free(&src);
		img_free(&dst);
	}
	/* 64 -> 224 has whole-number coordinates where it falls short. */
	assert_true(shortfalls > 0);
}

/* preprocess_input's values as Keras' numpy code computes them. */
static void test_vgg_input_matches_keras(void **state)
{
	hid_t f = open_golden(GOLDEN_FIXTURES);
	hsize_t dims[3];
	int rank;
	uint8_t *rgb = h5_read(f, "vgg/rgb", H5T_NATIVE_UINT8, dims, &rank);
	float *want = h5_read(f, "vgg/out", H5T_NATIVE_FLOAT, dims, &rank);
	float *out = malloc(VGG_BYTES * sizeof(float));
	img_t img;
	size_t i, n = (size_t)VGG_IN * VGG_IN;

	(void)state;
	assert_int_equal(dims[0], 256);
	assert_non_null(out);
	img.w = img.h = VGG_IN;
	img.rgb = malloc(VGG_BYTES);
	assert_non_null(img.rgb);
	for (i = 0; i < n; i++)
		memcpy(img.rgb + 3 * i, rgb + 3 * (i % 256), 3);
	img_preprocess(&img, model_info(MODEL_VGG16)->mean_bgr, out);
	for (i = 0; i < n; i++) {
		if (memcmp(out + 3 * i, want + 3 * (i % 256), 3 * sizeof(float)))
			fail_msg("pixel %zu: ours %.9g %.9g %.9g, Keras %.9g %.9g %.9g", i,
				 out[3 * i], out[3 * i + 1], out[3 * i + 2],
				 want[3 * (i % 256)], want[3 * (i % 256) + 1],
				 want[3 * (i % 256) + 2]);
	}
	/* Channel order is B, G, R. */
	assert_true(out[0] == (float)img.rgb[2] - model_info(MODEL_VGG16)->mean_bgr[0]);
	assert_true(out[2] == (float)img.rgb[0] - model_info(MODEL_VGG16)->mean_bgr[2]);
	img_free(&img);
	free(out);
	free(rgb);
	free(want);
	H5Fclose(f);
}

/* Every image of ../shared/data/<sub> gives Pillow's 224 x 224 pixels. */
static void check_shared(const char *sub)
{
	char root[4096], prefix[64];
	const char *dir = tu_shared_data(sub);
	hid_t f;
	hsize_t dims[3];
	int rank, bad = 0, checked = 0, refused = 0;
	uint8_t *paths, *ref;
	int32_t *w, *h;
	uint64_t *hash;
	size_t n, i, on_disk = 0;
	DIR *d;
	struct dirent *e;

	if (!dir || !tu_shared_data(".")) {
		print_message("no shared data folder %s ($SHARED_DATA or ../shared/data): skipped\n",
			      sub);
		skip();
	}
	snprintf(root, sizeof root, "%s", tu_shared_data("."));
	snprintf(prefix, sizeof prefix, "%s/", sub);
	f = open_golden(GOLDEN_SHARED);
	paths = h5_read(f, "path", H5T_NATIVE_UINT8, dims, &rank);
	assert_int_equal(dims[1], PATH_LEN);
	ref = h5_vec(f, "refused", H5T_NATIVE_UINT8, &n);
	w = h5_vec(f, "width", H5T_NATIVE_INT32, &n);
	h = h5_vec(f, "height", H5T_NATIVE_INT32, &n);
	hash = h5_vec(f, "hash224", H5T_NATIVE_UINT64, &n);

	for (i = 0; i < n; i++) {
		const char *rel = (const char *)paths + i * PATH_LEN;
		char path[8192], err[ERR_LEN];
		img_t img, out = { 0, 0, NULL };
		int rc;

		if (strncmp(rel, prefix, strlen(prefix)) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", root, rel);
		rc = img_load(path, &img, err);
		checked++;
		if (ref[i]) {
			refused++;
			if (rc == 0) {
				print_error("%s: Pillow refuses it, we decode it\n", rel);
				bad++;
			}
		} else if (rc) {
			print_error("%s\n", err);
			bad++;
		} else {
			assert_int_equal(vgg224(&img, &out, err), 0);
			if (img.w != w[i] || img.h != h[i] ||
			    fnv1a64(out.rgb, VGG_BYTES) != hash[i]) {
				print_error("%s: pixels differ from Pillow's\n", rel);
				bad++;
			}
		}
		img_free(&out);
		img_free(&img);
	}

	/* New files would go unchecked: the golden must list them all. */
	snprintf(root + strlen(root), sizeof root - strlen(root), "/%s", sub);
	d = opendir(root);
	assert_non_null(d);
	while ((e = readdir(d))) {
		char sdir[8192];
		DIR *sd;
		struct dirent *se;

		if (e->d_name[0] == '.' || !strncmp(e->d_name, "README", 6))
			continue;
		snprintf(sdir, sizeof sdir, "%s/%s", root, e->d_name);
		sd = opendir(sdir);
		if (!sd) {
			on_disk++;
			continue;
		}
		while ((se = readdir(sd)))
			on_disk += se->d_name[0] != '.';
		closedir(sd);
	}
	closedir(d);
	print_message("%d images of %s checked against Pillow (%d refused), %d differences\n",
		      checked, sub, refused, bad);
	if (on_disk != (size_t)checked)
		fail_msg("%zu files under %s, %d in %s: rerun tests/ref/pillow_ref.py",
			 on_disk, root, checked, GOLDEN_SHARED);
	assert_int_equal(bad, 0);
	free(paths);
	free(ref);
	free(w);
	free(h);
	free(hash);
	H5Fclose(f);
}

static void test_shared_lfw_match_pillow(void **state)
{
	(void)state;
	check_shared("lfw-dev");
}

static void test_shared_orl_match_pillow(void **state)
{
	(void)state;
	check_shared("orl");
}

/* ---- bad input -------------------------------------------------------- */

static void expect_load(const char *path, int code, const char *words)
{
	char err[ERR_LEN] = "";
	img_t img = { 1, 1, (uint8_t *)1 }; /* must come back empty */

	assert_int_equal(img_load(path, &img, err), code);
	assert_reason(err, path);
	if (!strstr(err, words))
		fail_msg("'%s' lacks '%s'", err, words);
	assert_null(img.rgb);
}

static void test_load_bad_files(void **state)
{
	const char *dir = tu_tmpdir();
	char path[256], err[ERR_LEN];
	img_t img;

	(void)state;
	snprintf(path, sizeof path, "%s/empty.jpg", dir);
	assert_int_equal(tu_write_file(path, "", 0), 0);
	expect_load(path, ERR_FORMAT, "empty file");

	expect_load(dir, ERR_IO, strerror(EISDIR));

	snprintf(path, sizeof path, "%s/missing.png", dir);
	expect_load(path, ERR_MISSING, strerror(ENOENT));

	snprintf(path, sizeof path, "%s/notes.jpg", dir);
	assert_int_equal(tu_write_file(path, "hello, this is text\n", 20), 0);
	expect_load(path, ERR_FORMAT, "not a JPEG, PNG, netpbm, BMP or TIFF file");

	/* The name does not matter, the bytes do: a PNG called .jpg. */
	snprintf(path, sizeof path, "%s/really_a_png.jpg", dir);
	{
		size_t len;
		uint8_t *buf = read_fixture("png_rgb8_1x1.png", &len);
		assert_int_equal(tu_write_file(path, buf, len), 0);
		free(buf);
	}
	assert_int_equal(img_load(path, &img, err), 0);
	assert_int_equal(img.w, 1);
	assert_int_equal(img.rgb[1], 200);
	img_free(&img);
	img_free(&img);
	img_free(NULL);

	assert_int_equal(img_decode(NULL, 3, "x", &img, err), ERR_ARG);
	assert_int_equal(img_decode((const uint8_t *)"abc", 3, "x", NULL, err), ERR_ARG);
	assert_int_equal(img_load(NULL, &img, err), ERR_ARG);
	tu_rm_rf(dir);
}

static void test_load_unreadable(void **state)
{
	const char *dir;
	char path[256];

	(void)state;
	if (geteuid() == 0) {
		print_message("running as root, which reads any file: skipped\n");
		skip();
	}
	dir = tu_tmpdir();
	snprintf(path, sizeof path, "%s/locked.jpg", dir);
	assert_int_equal(tu_write_file(path, "\xFF\xD8\xFF", 3), 0);
	assert_int_equal(chmod(path, 0), 0);
	expect_load(path, ERR_IO, strerror(EACCES));
	tu_rm_rf(dir);
}

/* A FIFO with nothing writing to it: img_load says so at once (its open
 * once waited for a writer, forever), in a child so that a hang fails the
 * test.  One whose writer is slow: every byte is read, the reads waiting
 * for the second half, and the image is the file's. */
static void test_load_fifo(void **state)
{
	const char *dir = tu_tmpdir();
	char path[256], fifo[256];
	img_t want, got;
	size_t len;

	(void)state;
	snprintf(path, sizeof path, "%s/nobody.ppm", dir);
	assert_int_equal(mkfifo(path, 0644), 0);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char err[ERR_LEN] = "";
		int rc = img_load(path, &want, err), ok = rc == ERR_IO &&
			 strstr(err, path) && strstr(err, "a FIFO or pipe with nothing "
						       "written to it");
		if (!ok)
			fprintf(stderr, "img_load: %d, '%s'\n", rc, err);
		_exit(!ok);
	}
	assert_int_equal(proc_wait_bounded(pid, 60), 0);

	/* 200 x 150 x 3 bytes: more than a pipe holds (64 KiB). */
	assert_int_equal(e2e_write_pnm(dir, "face.ppm", 200, 150, 0, 3), 0);
	snprintf(path, sizeof path, "%s/face.ppm", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo.ppm", dir);
	uint8_t *bytes = tu_read_file(path, &len);
	assert_non_null(bytes);
	pid = proc_fifo_writer(fifo, bytes, len, 60);
	assert_true(pid > 0);
	char err[ERR_LEN];
	if (img_load(fifo, &got, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(proc_wait_bounded(pid, 60), 0);
	assert_int_equal(img_load(path, &want, err), 0);
	assert_int_equal(got.w, 200);
	assert_int_equal(got.h, 150);
	assert_memory_equal(got.rgb, want.rgb, (size_t)200 * 150 * 3);
	img_free(&got);
	img_free(&want);
	free(bytes);
	tu_rm_rf(dir);
}

/* Bytes of a format's signature followed by noise: refused, never a crash. */
static void test_decode_random_bytes(void **state)
{
	static const struct {
		const char *b;
		size_t n;
	} heads[] = { { "", 0 }, { "\xFF\xD8\xFF", 3 }, { "\x89PNG\r\n\x1A\n", 8 },
		      { "BM", 2 }, { "P6\n", 3 }, { "P5 ", 3 }, { "P4\n", 3 },
		      { "II*\0", 4 }, { "MM\0*", 4 }, { "II+\0\x08\0\0\0", 8 } };
	rng_t rng = { 42 };
	uint8_t buf[600];
	size_t h, k;
	int trial;

	(void)state;
	for (h = 0; h < sizeof heads / sizeof heads[0]; h++) {
		size_t hl = heads[h].n;
		for (trial = 0; trial < 300; trial++) {
			size_t len = hl + 1 + rng_next(&rng) % (sizeof buf - hl - 1);
			char err[ERR_LEN] = "";
			img_t img;
			int rc;

			memcpy(buf, heads[h].b, hl);
			for (k = hl; k < len; k++)
				buf[k] = (uint8_t)rng_next(&rng);
			if (hl == 0)
				buf[0] = 0; /* no signature by chance */
			rc = img_decode(buf, len, "noise.bin", &img, err);
			if (rc == 0)
				fail_msg("noise after signature %zu (%zu bytes) decoded", h, len);
			assert_reason(err, "noise.bin");
			assert_null(img.rgb);
		}
	}
}

/* A few of the reasons, word for word. */
static void test_error_messages(void **state)
{
	char err[ERR_LEN];
	img_t img;
	size_t len, k;
	uint8_t *buf = read_fixture("jpg_420_77x59.jpg", &len);

	(void)state;
	assert_int_equal(img_decode(buf, len / 2, "faces/a.jpg", &img, err), ERR_FORMAT);
	assert_string_equal(err, "faces/a.jpg: truncated JPEG (Premature end of JPEG file)");
	free(buf);

	buf = read_fixture("png_rgb8_1x1.png", &len);
	buf[29] ^= 0xFF; /* the IHDR chunk's CRC */
	assert_int_equal(img_decode(buf, len, "a.png", &img, err), ERR_FORMAT);
	assert_string_equal(err, "a.png: corrupt PNG (IHDR: CRC error)");
	free(buf);

	buf = read_fixture("bmp_p4_37x29.bmp", &len);
	buf[30] = 1; /* compression: RLE8 */
	assert_int_equal(img_decode(buf, len, "a.bmp", &img, err), ERR_UNSUPPORTED);
	assert_string_equal(err, "a.bmp: RLE-compressed BMP");
	free(buf);

	/* A gray ramp as the palette makes Pillow read 4-bit data as 8-bit
	 * (checked by hand: its pixels are garbage), so we decline. */
	buf = read_fixture("bmp_p4_37x29.bmp", &len);
	for (k = 0; k < 16; k++)
		memset(buf + 54 + 4 * k, (int)k, 3);
	assert_int_equal(img_decode(buf, len, "b.bmp", &img, err), ERR_UNSUPPORTED);
	assert_string_equal(err, "b.bmp: 4-bit BMP with a gray palette of 16 colours (Pillow 9.4 misreads it)");
	free(buf);

	assert_int_equal(img_decode((const uint8_t *)"P3\n1 1\n255\n1 2 3\n", 17, NULL, &img, err),
			 ERR_UNSUPPORTED);
	assert_string_equal(err, "image: plain (ASCII) P3 netpbm files are not supported");
}

/* ---- headers that claim too much -------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* A little-endian TIFF of one strip (9 tags: size, BitsPerSample bps,
 * Compression comp, PhotometricInterpretation photo, SamplesPerPixel spp,
 * the strip), then the strip's n bytes.  buf has room for TIFF_HEAD + n
 * bytes; returns the file's size. */
#define TIFF_HEAD 122
static size_t tiff_make(uint8_t *buf, uint32_t w, uint32_t h, unsigned bps,
			unsigned comp, unsigned photo, unsigned spp,
			const void *data, size_t n)
{
	const uint32_t e[9][3] = {
		{ 256, 4, w }, { 257, 4, h }, { 258, 3, bps }, { 259, 3, comp },
		{ 262, 3, photo }, { 273, 4, TIFF_HEAD }, { 277, 3, spp },
		{ 278, 4, h }, { 279, 4, (uint32_t)n },
	};
	size_t i;

	memset(buf, 0, TIFF_HEAD);
	memcpy(buf, "II*\0", 4);
	put_le32(buf + 4, 8);
	buf[8] = 9;
	for (i = 0; i < 9; i++) {
		uint8_t *p = buf + 10 + 12 * i;
		p[0] = (uint8_t)e[i][0];
		p[1] = (uint8_t)(e[i][0] >> 8);
		p[2] = (uint8_t)e[i][1];
		put_le32(p + 4, 1);
		put_le32(p + 8, e[i][2]);
	}
	memcpy(buf + TIFF_HEAD, data, n);
	return TIFF_HEAD + n;
}

static uint32_t crc32_png(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;
	int k;

	while (n--) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c >> 1 ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

static long vm_data_bytes(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	assert_non_null(f);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmData: %ld kB", &kb) == 1)
			break;
	fclose(f);
	assert_true(kb > 0);
	return kb * 1024;
}

/* The decoder must refuse from the header: with the data segment capped at
 * 64 MB above its current size, any attempt at the gigabytes of pixels
 * fails, and the answer comes in well under a second. */
static void expect_too_big(const uint8_t *buf, size_t len, const char *name)
{
	struct rlimit old, cap;
	struct timespec t0, t1;
	char err[ERR_LEN];
	img_t img;
	int rc;

	assert_int_equal(getrlimit(RLIMIT_DATA, &old), 0);
	cap = old;
	cap.rlim_cur = (rlim_t)vm_data_bytes() + (64u << 20);
	if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < cap.rlim_cur)
		cap.rlim_cur = old.rlim_cur;
	assert_int_equal(setrlimit(RLIMIT_DATA, &cap), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = img_decode(buf, len, name, &img, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(setrlimit(RLIMIT_DATA, &old), 0);
	if (rc != ERR_TOO_BIG)
		fail_msg("%s: got %s (%s), want too-big", name, err_name(rc), err);
	assert_reason(err, name);
	assert_true((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9 < 1.0);
}

static void test_too_big_headers(void **state)
{
	/* SOI, SOF0 (8 bit, h, w, 3 components), SOS, a little data, EOI. */
	uint8_t jpg[] = {
		0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0xEA, 0x60, 0xEA, 0x60, 3,
		1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0,
		0xFF, 0xDA, 0, 12, 3, 1, 0, 2, 0, 3, 0, 0, 63, 0,
		0x12, 0x34, 0x56, 0xFF, 0xD9,
	};
	uint8_t png[8 + 25 + 12 + 4], bmp[54 + 16], hdr[17];
	/* 13378 x 13377 is the smallest square-ish image past the limit. */
	uint32_t sizes[][2] = { { 60000, 60000 }, { 178956971, 1 }, { 13378, 13377 } };
	size_t s;

	(void)state;
	expect_too_big(jpg, sizeof jpg, "big.jpg");

	for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		char pnm[64] = "";
		int n;

		memset(png, 0, sizeof png);
		memcpy(png, "\x89PNG\r\n\x1A\n", 8);
		put_be32(png + 8, 13);
		memcpy(png + 12, "IHDR", 4);
		put_be32(png + 16, sizes[s][0]);
		put_be32(png + 20, sizes[s][1]);
		png[24] = 8;
		png[25] = 2;
		put_be32(png + 29, crc32_png(png + 12, 17));
		put_be32(png + 33, 4);
		memcpy(png + 37, "IDAT", 4);
		expect_too_big(png, sizeof png, "big.png");

		memset(bmp, 0, sizeof bmp);
		memcpy(bmp, "BM", 2);
		put_le32(bmp + 10, 54);
		put_le32(bmp + 14, 40);
		put_le32(bmp + 18, sizes[s][0]);
		put_le32(bmp + 22, sizes[s][1]);
		bmp[26] = 1;
		bmp[28] = 24;
		expect_too_big(bmp, sizeof bmp, "big.bmp");

		n = snprintf(pnm, sizeof pnm, "P6\n%u %u\n255\n", sizes[s][0], sizes[s][1]);
		expect_too_big((const uint8_t *)pnm, (size_t)n + 8, "big.ppm");
	}

	/* A zero side is refused the same way (BMP, netpbm: no library
	 * between us and the header). */
	memcpy(hdr, "P5\n0 7\n255\n\0\0\0\0\0", 16);
	expect_too_big(hdr, 16, "zero.pgm");
	{
		uint8_t tif[TIFF_HEAD + 16];

		for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
			tiff_make(tif, sizes[s][0], sizes[s][1], 8, 1, 1, 1, hdr, 16);
			expect_too_big(tif, sizeof tif, "big.tif");
			/* LZW: refused before libtiff sees it. */
			tiff_make(tif, sizes[s][1], sizes[s][0], 8, 5, 2, 3, hdr, 16);
			expect_too_big(tif, sizeof tif, "big_lzw.tif");
		}
		tiff_make(tif, 0, 7, 8, 1, 1, 1, hdr, 16);
		expect_too_big(tif, sizeof tif, "zero.tif");
	}
	put_le32(bmp + 18, 0);
	expect_too_big(bmp, sizeof bmp, "zero.bmp");
	/* At the limit the size is fine; these bytes are just too few (netpbm
	 * checks the length before allocating). */
	{
		const char *pnm = "P6\n13377 13377\n255\n\0\0\0\0";
		char err[ERR_LEN];
		img_t img;

		assert_int_equal(img_decode((const uint8_t *)pnm, strlen(pnm) + 4,
					    "edge.ppm", &img, err), ERR_FORMAT);
	}
}

/* ---- TIFF -------------------------------------------------------------- */

static void expect_reason(const uint8_t *buf, size_t len, const char *name,
			  int code, const char *want)
{
	char err[ERR_LEN];
	img_t img;
	int rc = img_decode(buf, len, name, &img, err);

	if (rc != code || strcmp(err, want))
		fail_msg("%s: got %s '%s', want %s '%s'", name, err_name(rc),
			 rc ? err : "", err_name(code), want);
	assert_null(img.rgb);
}

/* TIFF's reasons, word for word: what Pillow does not read, what libtiff
 * finds wrong (its message, which never reaches stderr). */
static void test_tiff_reasons(void **state)
{
	uint8_t buf[TIFF_HEAD + 64], px[24] = { 0 };
	size_t n;

	(void)state;
	n = tiff_make(buf, 3, 2, 8, 1, 5, 4, px, 24);
	expect_reason(buf, n, "c.tif", ERR_UNSUPPORTED,
		      "c.tif: unsupported TIFF (CMYK, BitsPerSample 8,8,8,8, 0 extra samples, FillOrder 1, little-endian)");
	n = tiff_make(buf, 3, 2, 8, 34925, 1, 1, px, 6);
	expect_reason(buf, n, "l.tif", ERR_UNSUPPORTED,
		      "l.tif: TIFF with LZMA compression");
	n = tiff_make(buf, 3, 2, 8, 6, 6, 3, px, 18);
	expect_reason(buf, n, "o.tif", ERR_UNSUPPORTED,
		      "o.tif: TIFF with old-style JPEG (OJPEG) compression");
	n = tiff_make(buf, 5, 3, 8, 1, 1, 1, px, 10);
	expect_reason(buf, n, "t.tif", ERR_FORMAT,
		      "t.tif: truncated TIFF (15 bytes of pixels at byte 122, the file has 132)");
	n = tiff_make(buf, 5, 3, 8, 5, 1, 1, "\x80\x00\x20", 3);
	expect_reason(buf, n, "z.tif", ERR_FORMAT,
		      "z.tif: corrupt TIFF (LZWDecode: LZWDecode: Strip 0 not terminated with EOI code)");
	n = tiff_make(buf, 5, 3, 8, 5, 1, 1, "\0\0\0\0\0\0\0\0", 8);
	expect_reason(buf, n, "u.tif", ERR_FORMAT,
		      "u.tif: corrupt TIFF (Using code not yet in table)");
	put_le32(buf + 4, 1000);
	expect_reason(buf, n, "p.tif", ERR_FORMAT,
		      "p.tif: truncated TIFF (its first IFD, at byte 1000, is past the end)");
	expect_reason((const uint8_t *)"MM\0+\0\x08\0\0\0\0\0\0\0\0\0\x10", 16,
		      "b.tif", ERR_UNSUPPORTED,
		      "b.tif: big-endian BigTIFF (Pillow 9.4 misreads its header)");
}

/* Every TIFF fixture, and damaged copies of them (cut short, a byte
 * flipped), decoded with stderr going to a file: libtiff's errors and
 * warnings reach the decode's message, never the terminal. */
static void test_tiff_quiet(void **state)
{
	const char *dir = tu_tmpdir();
	char path[512];
	DIR *d = opendir(FIXTURES);
	struct dirent *e;
	int saved, fd, files = 0, failures = 0;
	struct stat st;

	(void)state;
	assert_non_null(d);
	snprintf(path, sizeof path, "%s/stderr", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fd, 2) == 2);
	while ((e = readdir(d))) {
		size_t len, k;
		uint8_t *buf;

		if (strncmp(e->d_name, "tif_", 4))
			continue;
		buf = read_fixture(e->d_name, &len);
		for (k = 0; k < 40; k++) {
			size_t at = len * k / 40;
			char err[ERR_LEN];
			img_t img;

			if (img_decode(buf, k ? at : len, e->d_name, &img, err))
				failures++;
			img_free(&img);
			buf[at] ^= 0x5A;
			if (img_decode(buf, len, e->d_name, &img, err))
				failures++;
			img_free(&img);
			buf[at] ^= 0x5A;
		}
		free(buf);
		files++;
	}
	closedir(d);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	if (st.st_size != 0) {
		char *text = tu_slurp(path);
		fail_msg("decoding wrote to stderr: %.300s", text);
	}
	print_message("%d TIFF fixtures, cut and flipped 80 ways each (%d refusals): nothing on stderr\n",
		      files, failures);
	assert_true(files >= 40 && failures > files);
	tu_rm_rf(dir);
}

/* Threads decoding TIFFs at once (extract does) get the pixels and the
 * reasons they get alone: libtiff's messages go to their own decode. */
#define TIFF_THREADS 4

typedef struct tiff_case {
	uint8_t *buf;
	size_t len;
	int rc;
	uint64_t hash;
	char reason[ERR_LEN];  /* after "<name>: " */
} tiff_case_t;

typedef struct tiff_worker {
	tiff_case_t *cases;
	size_t n;
	int id, bad;
	pthread_t thread;
} tiff_worker_t;

static int tiff_case_run(const tiff_case_t *c, const char *name, int *rc,
			 uint64_t *hash, char *err)
{
	img_t img;

	*rc = img_decode(c->buf, c->len, name, &img, err);
	*hash = *rc ? 0 : fnv1a64(img.rgb, (size_t)img.w * img.h * 3);
	img_free(&img);
	return *rc;
}

static void *tiff_worker_run(void *arg)
{
	tiff_worker_t *w = arg;
	size_t i;
	int round;

	for (round = 0; round < 5; round++) {
		for (i = 0; i < w->n; i++) {
			const tiff_case_t *c = &w->cases[(i + (size_t)w->id * 7) % w->n];
			char name[32], err[ERR_LEN];
			uint64_t hash;
			int rc;

			snprintf(name, sizeof name, "thread%d", w->id);
			tiff_case_run(c, name, &rc, &hash, err);
			if (rc != c->rc || hash != c->hash ||
			    (rc && (strncmp(err, name, strlen(name)) ||
				    strcmp(err + strlen(name) + 2, c->reason))))
				w->bad++;
		}
	}
	return NULL;
}

static void test_tiff_threads(void **state)
{
	tiff_case_t cases[256];
	tiff_worker_t workers[TIFF_THREADS];
	DIR *d = opendir(FIXTURES);
	struct dirent *e;
	size_t n = 0, i;
	int t, bad = 0, refused = 0;

	(void)state;
	assert_non_null(d);
	while ((e = readdir(d)) && n + 2 <= sizeof cases / sizeof cases[0]) {
		size_t len, k;
		uint8_t *buf;

		if (strncmp(e->d_name, "tif_", 4))
			continue;
		buf = read_fixture(e->d_name, &len);
		/* The image, and a copy whose middle byte is flipped. */
		for (k = 0; k < 2; k++) {
			tiff_case_t *c = &cases[n++];
			char err[ERR_LEN];

			c->buf = malloc(len);
			assert_non_null(c->buf);
			memcpy(c->buf, buf, len);
			c->len = len;
			if (k)
				c->buf[len / 2] ^= 0xFF;
			if (tiff_case_run(c, "alone", &c->rc, &c->hash, err)) {
				snprintf(c->reason, sizeof c->reason, "%s", err + 7);
				refused++;
			}
		}
		free(buf);
	}
	closedir(d);
	for (t = 0; t < TIFF_THREADS; t++) {
		workers[t] = (tiff_worker_t){ cases, n, t, 0, 0 };
		assert_int_equal(pthread_create(&workers[t].thread, NULL,
						tiff_worker_run, &workers[t]), 0);
	}
	for (t = 0; t < TIFF_THREADS; t++) {
		assert_int_equal(pthread_join(workers[t].thread, NULL), 0);
		bad += workers[t].bad;
	}
	print_message("%d threads decoded %zu TIFFs (%d refused) 5 times each: %d differences\n",
		      TIFF_THREADS, n, refused, bad);
	assert_int_equal(bad, 0);
	assert_true(refused > 0);
	for (i = 0; i < n; i++)
		free(cases[i].buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_match_pillow),
		cmocka_unit_test(test_variants_match_pillow),
		cmocka_unit_test(test_resize_matches_pillow),
		cmocka_unit_test(test_resize_plain_formulation),
		cmocka_unit_test(test_vgg_input_matches_keras),
		cmocka_unit_test(test_shared_lfw_match_pillow),
		cmocka_unit_test(test_shared_orl_match_pillow),
		cmocka_unit_test(test_load_bad_files),
		cmocka_unit_test(test_load_unreadable),
		cmocka_unit_test(test_load_fifo),
		cmocka_unit_test(test_decode_random_bytes),
		cmocka_unit_test(test_error_messages),
		cmocka_unit_test(test_too_big_headers),
		cmocka_unit_test(test_tiff_reasons),
		cmocka_unit_test(test_tiff_quiet),
		cmocka_unit_test(test_tiff_threads),
	};

	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
