/* make_seeds - writes the seed corpus of the fuzz targets that cannot take
 * plain files from tests/fixtures:
 *   DIR/fuzz_featdb_rec/  records of both dtypes, odd dims, damaged ones;
 *   DIR/fuzz_head/        heads as head_save writes them, and the ways one
 *                         can be wrong (shapes, names, types, layouts);
 *   DIR/fuzz_weights/     small files in Keras' three layouts with wrong
 *                         shapes, missing layers or names, other types, and
 *                         one whose datasets have VGG16's shapes but no
 *                         storage (HDF5 reads their fill value), so that the
 *                         whole loader runs on a 10 KB file;
 *   DIR/fuzz_tiff/hostile_* TIFF fixtures made hostile: a 60000 x 60000
 *                         header, an IFD that loops to itself, a tag of
 *                         2^30 values, strips past the end and of 4 GiB,
 *                         CMYK, a big-endian BigTIFF header (the fixtures
 *                         themselves are plain copies, as for fuzz_img).
 * The corpus is kept in tests/fuzz/corpus/; `make fuzz-seeds` rewrites it
 * (run from the repository's root: the TIFF seeds start from fixtures).
 *
 *   make_seeds DIR */
#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "img/img.h"
#include "head/head.h"
#include "net/weights.h"

static const char *g_dir;

static void die(const char *what)
{
	fprintf(stderr, "make_seeds: %s failed\n", what);
	exit(1);
}

static char *seed_path(const char *target, const char *name)
{
	static char p[4096];
	snprintf(p, sizeof p, "%s/%s", g_dir, target);
	mkdir(p, 0777);
	snprintf(p, sizeof p, "%s/%s/%s", g_dir, target, name);
	return p;
}

static void write_bytes(const char *target, const char *name, const void *b, size_t n)
{
	FILE *f = fopen(seed_path(target, name), "wb");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
		die(name);
}

/* ---- records ------------------------------------------------------------ */

static void record(const char *name, int dim, int dtype, int cls, int split,
		   void (*damage)(uint8_t *, size_t))
{
	float v[64];
	uint8_t buf[FEATDB_HEADER + 64 * 4];
	size_t n = featdb_rec_size(dtype, dim);
	char err[ERR_LEN];

	for (int i = 0; i < dim; i++)
		v[i] = (float)i * 0.75f - 3;
	if (dim > 2)
		v[2] = 1e-9f; /* subnormal in half precision */
	if (featdb_rec_encode(v, dim, dtype, cls, split, buf, err))
		die(err);
	if (damage)
		damage(buf, n);
	write_bytes("fuzz_featdb_rec", name, buf, n);
}

static void flip_crc(uint8_t *b, size_t n)
{
	b[n - 1] ^= 0x40;
}

static void bad_version(uint8_t *b, size_t n)
{
	b[4] = 2;
}

static void make_records(void)
{
	record("f32_dim7", 7, FEATDB_F32, 2, FEATDB_TRAIN, NULL);
	record("f16_dim9", 9, FEATDB_F16, 0, FEATDB_VALID, NULL);
	record("f32_dim1_test", 1, FEATDB_F32, -5, FEATDB_TEST, NULL);
	record("f16_dim64", 64, FEATDB_F16, 123456, FEATDB_TRAIN, NULL);
	record("bad_crc", 5, FEATDB_F32, 1, FEATDB_TRAIN, flip_crc);
	record("bad_version", 5, FEATDB_F16, 1, FEATDB_TRAIN, bad_version);
	write_bytes("fuzz_featdb_rec", "header_only", "VGGF\1\0\1\0\0\0\0\0", 12);
}

/* ---- HDF5 helpers --------------------------------------------------------- */

/* A string attribute: fixed-length (NUL-padded) unless vlen, one string when
 * n is 0 (scalar), else a list of n. */
static void attr_strings(hid_t obj, const char *name, const char *const *s, int n,
			 int vlen)
{
	hsize_t dims[1] = {(hsize_t)(n ? n : 1)};
	hid_t t = H5Tcopy(H5T_C_S1), sp = n ? H5Screate_simple(1, dims, NULL)
					    : H5Screate(H5S_SCALAR);
	size_t width = 1;
	int count = n ? n : 1;
	char *fixed = NULL;

	for (int i = 0; i < count; i++)
		if (strlen(s[i]) + 1 > width)
			width = strlen(s[i]) + 1;
	if (vlen) {
		H5Tset_size(t, H5T_VARIABLE);
	} else {
		H5Tset_size(t, width);
		H5Tset_strpad(t, H5T_STR_NULLPAD);
		fixed = calloc((size_t)count, width);
		for (int i = 0; i < count; i++)
			memcpy(fixed + (size_t)i * width, s[i], strlen(s[i]));
	}
	hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
	if (a < 0 || H5Awrite(a, t, vlen ? (const void *)s : fixed) < 0)
		die(name);
	H5Aclose(a);
	H5Sclose(sp);
	H5Tclose(t);
	free(fixed);
}

/* An empty weight_names, as Keras writes it for a layer without weights: a
 * float64 array of length 0. */
static void attr_empty(hid_t obj, const char *name)
{
	hsize_t zero[1] = {0};
	hid_t sp = H5Screate_simple(1, zero, NULL);
	hid_t a = H5Acreate2(obj, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
	if (a < 0)
		die(name);
	H5Aclose(a);
	H5Sclose(sp);
}

/* A float32 dataset of the given shape: written with small numbers when
 * data is set, else left without storage (reads give the fill value). */
static void dataset(hid_t loc, const char *name, int rank, const hsize_t *dims,
		    hid_t type, int data)
{
	hid_t sp = H5Screate_simple(rank, dims, NULL);
	hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
	H5Pset_create_intermediate_group(lcpl, 1);
	hid_t d = H5Dcreate2(loc, name, type, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	if (d < 0)
		die(name);
	if (data) {
		size_t n = 1;
		for (int i = 0; i < rank; i++)
			n *= (size_t)dims[i];
		float *v = malloc(n * sizeof *v);
		for (size_t i = 0; i < n; i++)
			v[i] = (float)((i * 7) % 13) * 0.01f;
		if (H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)
			die(name);
		free(v);
	}
	H5Dclose(d);
	H5Pclose(lcpl);
	H5Sclose(sp);
}

static hid_t create(const char *target, const char *name)
{
	hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
	/* The oldest format, as h5py writes by default: small files. */
	H5Pset_libver_bounds(fapl, H5F_LIBVER_EARLIEST, H5F_LIBVER_LATEST);
	hid_t f = H5Fcreate(seed_path(target, name), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	H5Pclose(fapl);
	if (f < 0)
		die(name);
	return f;
}

/* ---- weights --------------------------------------------------------------- */

enum { OFFICIAL, KERAS2, MODEL };

typedef struct wopts {
	int layout, nlayers, vlen, full, theano, chunked, int_kernel, drop_names;
	int scale; /* channel divisor for small shapes */
} wopts_t;

static void make_weights(const char *name, wopts_t o)
{
	hid_t f = create("fuzz_weights", name), root = f;
	const char *layer_names[WEIGHTS_NLAYERS + 2];
	int n = 0;

	if (o.layout == MODEL)
		root = H5Gcreate2(f, "model_weights", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	layer_names[n++] = "input_1";
	for (int i = 0; i < o.nlayers; i++) {
		layer_names[n++] = weights_spec[i].name;
		if (i == WEIGHTS_NCONV - 1)
			layer_names[n++] = "flatten";
	}
	if (o.chunked) {
		/* Keras splits a list too big for an object header. */
		attr_strings(root, "layer_names0", layer_names, n / 2, o.vlen);
		attr_strings(root, "layer_names1", layer_names + n / 2, n - n / 2, o.vlen);
	} else {
		attr_strings(root, "layer_names", layer_names, n, o.vlen);
	}
	const char *backend[1] = {o.theano ? "theano" : "tensorflow"};
	if (o.layout != OFFICIAL || o.theano)
		attr_strings(root, "backend", backend, 0, 0);
	for (int k = 0; k < n; k++) {
		hid_t g = H5Gcreate2(root, layer_names[k], H5P_DEFAULT, H5P_DEFAULT,
				     H5P_DEFAULT);
		int i = -1;
		for (int j = 0; j < WEIGHTS_NLAYERS; j++)
			if (strcmp(weights_spec[j].name, layer_names[k]) == 0)
				i = j;
		if (i < 0) {
			attr_empty(g, "weight_names");
			H5Gclose(g);
			continue;
		}
		const weights_layer_spec_t *s = &weights_spec[i];
		char kn[128], bn[128];
		if (o.layout == OFFICIAL) {
			snprintf(kn, sizeof kn, "%s_W_1:0", s->name);
			snprintf(bn, sizeof bn, "%s_b_1:0", s->name);
		} else {
			snprintf(kn, sizeof kn, "%s/kernel:0", s->name);
			snprintf(bn, sizeof bn, "%s/bias:0", s->name);
		}
		const char *wn[2] = {kn, bn};
		if (!o.drop_names || i != 1)
			attr_strings(g, "weight_names", wn, 2, o.vlen);
		int div = s->is_conv ? o.scale : o.scale * 16;
		int cin = o.full ? s->cin : (s->cin + div - 1) / div;
		int cout = o.full ? s->cout : (s->cout + div - 1) / div;
		hsize_t kd[4] = {3, 3, (hsize_t)cin, (hsize_t)cout};
		hsize_t dd[2] = {(hsize_t)cin, (hsize_t)cout}, bd[1] = {(hsize_t)cout};
		hid_t kt = o.int_kernel && i == 0 ? H5T_STD_I32LE : H5T_IEEE_F32LE;
		dataset(g, kn, s->is_conv ? 4 : 2, s->is_conv ? kd : dd, kt, !o.full);
		dataset(g, bn, 1, bd, H5T_IEEE_F32LE, !o.full);
		H5Gclose(g);
	}
	if (root != f)
		H5Gclose(root);
	if (H5Fclose(f) < 0)
		die(name);
}

static void make_all_weights(void)
{
	const wopts_t base = {.layout = OFFICIAL, .nlayers = WEIGHTS_NLAYERS, .scale = 64};
	wopts_t o;

	make_weights("official_small", base);
	o = base, o.layout = KERAS2, o.vlen = 1;
	make_weights("keras2_vlen_small", o);
	o = base, o.layout = MODEL;
	make_weights("model_small", o);
	o = base, o.nlayers = WEIGHTS_NCONV;
	make_weights("notop_small", o);
	o = base, o.theano = 1;
	make_weights("theano_small", o);
	o = base, o.chunked = 1, o.nlayers = 3;
	make_weights("chunked_names", o);
	o = base, o.int_kernel = 1, o.nlayers = 2;
	make_weights("int_kernel", o);
	o = base, o.drop_names = 1, o.nlayers = 3;
	make_weights("no_weight_names", o);
	o = base, o.full = 1;
	make_weights("official_full_shapes_no_storage", o);
}

/* ---- heads ------------------------------------------------------------------ */

static void make_head(const char *name, int D, int H, int K)
{
	head_t h;
	head_meta_t m = {0};
	char err[ERR_LEN], *names[8];
	static const char *const who[8] = {"ann", "bob", "cy", "dee", "ed", "flo",
					   "gus", "hal"};

	if (head_create(D, H ? 1 : 0, &H, K, 7, &h, err))
		die(err);
	for (int i = 0; i < K; i++)
		names[i] = (char *)who[i];
	m.nclasses = K;
	m.classes = names;
	snprintf(m.model, sizeof m.model, "%s", model_info(MODEL_VGG16)->store_model);
	snprintf(m.fingerprint, sizeof m.fingerprint, "0123456789abcdef");
	snprintf(m.preprocess, sizeof m.preprocess, "%s",
		 model_info(MODEL_VGG16)->preprocess);
	snprintf(m.version, sizeof m.version, "make_seeds");
	if (head_save(seed_path("fuzz_head", name), &h, &m, err))
		die(err);
	head_free(&h);
}

/* A Keras save_weights file of one Dense layer, written here so that its
 * shapes and names can be wrong in each way head_load must refuse. */
static void make_keras_head(const char *name, int krank, int bias_len, int nnames,
			    int vlen)
{
	hid_t f = create("fuzz_head", name);
	const char *layers[1] = {HEAD_LAYER};
	const char *wn[2] = {HEAD_LAYER "/kernel:0", HEAD_LAYER "/bias:0"};
	const char *classes[4] = {"a", "b", "c", "d"};
	hsize_t kd[3] = {5, 3, 2}, bd[1] = {(hsize_t)bias_len};

	attr_strings(f, "layer_names", layers, 1, vlen);
	attr_strings(f, "backend", (const char *[]){"tensorflow"}, 0, 0);
	if (nnames)
		attr_strings(f, "vggfeat_classes", classes, nnames, vlen);
	hid_t g = H5Gcreate2(f, HEAD_LAYER, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	attr_strings(g, "weight_names", wn, 2, vlen);
	dataset(g, wn[0], krank, kd, H5T_IEEE_F32LE, 1);
	dataset(g, wn[1], 1, bd, H5T_IEEE_F64LE, 1);
	H5Gclose(g);
	if (H5Fclose(f) < 0)
		die(name);
}

static void make_heads(void)
{
	make_head("head_D4_K3", 4, 0, 3);
	make_head("head_D1_K1", 1, 0, 1);
	make_head("head_D16_K8", 16, 0, 8);
	make_head("head_D16_H5_K3", 16, 5, 3);
	make_keras_head("keras_plain", 2, 3, 0, 0);
	make_keras_head("keras_vlen_names", 2, 3, 3, 1);
	make_keras_head("kernel_3d", 3, 3, 0, 0);
	make_keras_head("bias_short", 2, 2, 0, 0);
	make_keras_head("names_mismatch", 2, 3, 4, 0);
}

/* ---- TIFFs -------------------------------------------------------------- */

static uint8_t *read_fixture(const char *name, size_t *n)
{
	char p[256];
	FILE *f;
	long size;
	uint8_t *b;

	snprintf(p, sizeof p, "tests/fixtures/%s", name);
	f = fopen(p, "rb");
	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET))
		die(p);
	b = malloc((size_t)size);
	if (!b || fread(b, 1, (size_t)size, f) != (size_t)size)
		die(p);
	fclose(f);
	*n = (size_t)size;
	return b;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* The value field of a tag in a little-endian classic TIFF's first IFD. */
static uint8_t *tif_value(uint8_t *b, unsigned tag)
{
	size_t ifd = b[4] | (size_t)b[5] << 8 | (size_t)b[6] << 16 | (size_t)b[7] << 24;
	unsigned n = b[ifd] | b[ifd + 1] << 8;

	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = b + ifd + 2 + 12 * i;
		if ((unsigned)(e[0] | e[1] << 8) == tag)
			return e + 8;
	}
	die("a TIFF tag lookup");
	return NULL;
}

static void make_tiffs(void)
{
	size_t n;
	uint8_t *b = read_fixture("tif_gray8_none_37x29.tif", &n);

	put_le32(b + 118, 8); /* the IFD after the first: itself */
	write_bytes("fuzz_tiff", "hostile_ifd_loop.tif", b, n);
	put_le32(b + 118, 0);
	put_le32(tif_value(b, 256), 60000);
	put_le32(tif_value(b, 257), 60000);
	write_bytes("fuzz_tiff", "hostile_huge.tif", b, n);
	free(b);
	b = read_fixture("tif_gray8_none_37x29.tif", &n);
	b[10] = 0xE8, b[11] = 0xFD; /* ImageWidth becomes tag 65000 ... */
	put_le32(b + 14, 1u << 30); /* ... of 2^30 LONGs */
	write_bytes("fuzz_tiff", "hostile_tag_count.tif", b, n);
	free(b);
	b = read_fixture("tif_rgba8_assoc_none_37x29.tif", &n);
	*tif_value(b, 262) = 5;
	write_bytes("fuzz_tiff", "hostile_cmyk.tif", b, n);
	free(b);
	b = read_fixture("tif_rgb8_orient6_lzw_23x17.tif", &n);
	put_le32(tif_value(b, 273), 0x7FFFFFFF);
	write_bytes("fuzz_tiff", "hostile_offset_lzw.tif", b, n);
	put_le32(tif_value(b, 273), 8);
	put_le32(tif_value(b, 279), 0xFFFFFFF0);
	write_bytes("fuzz_tiff", "hostile_bytecount_lzw.tif", b, n);
	free(b);
	b = read_fixture("tif_rgb8_bigtiff_lzw_37x29.tif", &n);
	memcpy(b, "MM\0+", 4);
	write_bytes("fuzz_tiff", "hostile_bigtiff_mm.tif", b, n);
	free(b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	g_dir = argv[1];
	if (mkdir(g_dir, 0777) != 0 && errno != EEXIST)
		die(g_dir);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	make_records();
	make_all_weights();
	make_heads();
	make_tiffs();
	return 0;
}
