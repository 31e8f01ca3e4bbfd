/* test_weights.c - the Keras HDF5 weights loader, and how it tells VGG16
 * from VGG-Face (by the layer names, never by the shapes).
 *
 * Full-size files come from build/demo/gen_weights in its layouts (VGG16's
 * three, keras-vggface's and the _notop files, official and Keras 2
 * layouts; each written once, in the
 * group setup, since one is 553 MB; DeepFace's is small); the values
 * are checked against an independent recomputation of the generator's
 * documented number stream.  Damaged and odd files are written here with the
 * HDF5 API: small ones, whose datasets have their real shapes but no storage
 * (HDF5 returns the fill value when they are read). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "net/model.h"
#include "net/vgg.h"
#include "proc.h"
#include "testutil.h"
#include "net/weights.h"

#define GEN proc_tool("gen_weights")
#define SEED 1
/* fingerprint of `gen_weights --seed 1`: it changes only when the
 * generator's numbers or the fingerprint's definition change, and feature
 * files record it, so either change must be deliberate. */
#define SEED1_FINGERPRINT "ef36cdfec5dc3ee5"
#define TINY_FILL 0.25f

typedef struct files {
	const char *dir;
	char official[256], keras2[256], model[256], notop[256];
	char vggface[256], vggface_notop[256], deepface[256], keras2_notop[256];
} files_t;

/* ---- helpers ----------------------------------------------------------- */

static void path_in(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", dir, name);
	assert_true(n > 0 && (size_t)n < len);
}

static int is_empty(const weights_t *w)
{
	for (int i = 0; i < WEIGHTS_NLAYERS; i++)
		if (w->kernel[i] || w->bias[i])
			return 0;
	return w->fingerprint[0] == '\0';
}

/* load_fail loads path, expects code, and returns the message (static). */
static const char *load_fail(const char *path, int code)
{
	static char err[ERR_LEN];
	weights_t w;
	int rc;

	err[0] = '\0';
	rc = weights_load(path, &w, err);
	if (rc != code)
		fail_msg("%s: expected %s, got %s: %s", path, err_name(code),
			 err_name(rc), err);
	assert_true(is_empty(&w));
	assert_non_null(strstr(err, path));
	assert_null(strchr(err, '\n'));
	return err;
}

static void expect_in(const char *msg, const char *part)
{
	if (!strstr(msg, part))
		fail_msg("message lacks \"%s\": %s", part, msg);
}

/* ---- the generator's number stream, recomputed -------------------------- */

/* stream_at returns a generator positioned at the start of layer i's
 * kernel (i < WEIGHTS_NLAYERS, so predictions never comes before it): every kernel value and every bias value takes one uniform (the
 * kernels all have an even count, so Box-Muller pairs never straddle). */
static rng_t stream_at(int layer)
{
	rng_t r = { SEED };
	size_t skip = 0;

	for (int i = 0; i < layer; i++)
		skip += weights_kernel_count(i) + (size_t)weights_spec[i].cout;
	for (size_t k = 0; k < skip; k++)
		rng_next(&r);
	return r;
}

/* expect_layer_head checks the first n values of layer i's kernel and all
 * of its bias against the generator's description. */
static void expect_layer_head(const weights_t *w, int i, size_t n)
{
	const weights_layer_spec_t *s = &weights_spec[i];
	double fan_in = s->is_conv ? 9.0 * s->cin : s->cin;
	double sd = sqrt(2.0 / fan_in);
	size_t count = weights_kernel_count(i);
	rng_t r = stream_at(i);

	for (size_t k = 0; k < n; k += 2) {
		double u1 = rng_uniform(&r), u2 = rng_uniform(&r);
		double rad = sqrt(-2.0 * log(1.0 - u1)), t = 2.0 * M_PI * u2;
		float z0 = (float)(sd * (rad * cos(t)));
		float z1 = (float)(sd * (rad * sin(t)));
		assert_float_equal(w->kernel[i][k], z0, 1e-6 * fabs(z0) + 1e-30);
		assert_float_equal(w->kernel[i][k + 1], z1,
				   1e-6 * fabs(z1) + 1e-30);
	}
	for (size_t k = n; k < count; k++)
		rng_next(&r);
	for (int k = 0; k < s->cout; k++) {
		float b = (float)(-0.05 + 0.1 * rng_uniform(&r));
		assert_true(w->bias[i][k] == b);
	}
}

/* ---- group with generated files ----------------------------------------- */

enum { NGEN = 8 };

static int gen_setup(void **state)
{
	static files_t f;
	static const char *const layouts[NGEN] = { "official", "keras2", "model",
						   "official", "vggface", "vggface",
						   "deepface", "keras2" };
	static const int notop[NGEN] = { 0, 0, 0, 1, 0, 1, 0, 1 };
	char *paths[NGEN] = { f.official, f.keras2, f.model, f.notop, f.vggface,
			      f.vggface_notop, f.deepface, f.keras2_notop };
	static const char *const names[NGEN] = { "official.h5", "keras2.h5",
		"model.h5", "notop.h5", "vggface.h5", "vggface_notop.h5",
		"deepface.h5", "keras2_notop.h5" };
	char log[NGEN][300];
	pid_t pid[NGEN];
	int bad = 0;

	f.dir = tu_tmpdir();
	for (int k = 0; k < NGEN; k++)
		path_in(paths[k], sizeof f.official, f.dir, names[k]);
	/* They run side by side: each is bound by its own number
	 * generation. */
	for (int k = 0; k < NGEN; k++) {
		char *argv[] = { GEN, "--seed", "1", "--out", paths[k],
				 "--layout", (char *)layouts[k],
				 notop[k] ? "--notop" : NULL, NULL };
		snprintf(log[k], sizeof log[k], "%s.log", paths[k]);
		pid[k] = proc_spawn(argv, log[k]);
	}
	for (int k = 0; k < NGEN; k++)
		if (proc_wait(pid[k]) != 0) {
			fprintf(stderr, "%s failed for %s (see %s)\n", GEN,
				paths[k], log[k]);
			bad = 1;
		}
	*state = &f;
	return bad ? -1 : 0;
}

static int gen_teardown(void **state)
{
	files_t *f = *state;
	if (f && f->dir)
		tu_rm_rf(f->dir);
	return 0;
}

static void test_layouts_agree(void **state)
{
	files_t *f = *state;
	const char *others[] = { f->keras2, f->model };
	weights_t a, b;
	char err[ERR_LEN];

	if (weights_load(f->official, &a, err))
		fail_msg("%s", err);
	assert_int_equal(strlen(a.fingerprint), 16);
	assert_int_equal(strspn(a.fingerprint, "0123456789abcdef"), 16);
	assert_string_equal(a.fingerprint, SEED1_FINGERPRINT);
	for (int k = 0; k < 2; k++) {
		if (weights_load(others[k], &b, err))
			fail_msg("%s", err);
		assert_string_equal(a.fingerprint, b.fingerprint);
		for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
			assert_memory_equal(a.kernel[i], b.kernel[i],
					    weights_kernel_count(i) *
						    sizeof(float));
			assert_memory_equal(a.bias[i], b.bias[i],
					    (size_t)weights_spec[i].cout *
						    sizeof(float));
		}
		weights_free(&b);
	}
	weights_free(&a);
}

static void test_values_match_generator(void **state)
{
	files_t *f = *state;
	weights_t w;
	char err[ERR_LEN];

	if (weights_load(f->official, &w, err))
		fail_msg("%s", err);
	/* First and last conv, and both dense layers: the stream runs
	 * through all of them, so the whole file order is checked. */
	expect_layer_head(&w, 0, 64);
	expect_layer_head(&w, 12, 64);
	expect_layer_head(&w, 13, 64);
	expect_layer_head(&w, 14, 64);
	weights_free(&w);
}

/* expect_notop loads a _notop file of model: its 13 convolutions, the
 * numbers of full's (the same seed), no dense layer; its fingerprint is
 * full's over the 13 convolutions, and there is none over more. */
static void expect_notop(const char *path, int model, const weights_t *full)
{
	weights_t w;
	char err[ERR_LEN];

	if (weights_load(path, &w, err))
		fail_msg("%s", err);
	assert_int_equal(w.model, model);
	assert_int_equal(w.nlayers, WEIGHTS_NCONV);
	for (int i = 0; i < WEIGHTS_NCONV; i++) {
		assert_memory_equal(w.kernel[i], full->kernel[i],
				    weights_kernel_count(i) * sizeof(float));
		assert_memory_equal(w.bias[i], full->bias[i],
				    (size_t)weights_spec[i].cout * sizeof(float));
	}
	for (int i = WEIGHTS_NCONV; i < WEIGHTS_NLAYERS; i++)
		assert_true(!w.kernel[i] && !w.bias[i]);
	assert_string_equal(weights_fingerprint(&w, WEIGHTS_NCONV),
			    weights_fingerprint(full, WEIGHTS_NCONV));
	assert_string_equal(w.fingerprint, weights_fingerprint(&w, WEIGHTS_NCONV));
	assert_null(weights_fingerprint(&w, WEIGHTS_NCONV + 1));
	assert_null(weights_fingerprint(&w, WEIGHTS_NLAYERS));
	assert_null(weights_fingerprint(&w, WEIGHTS_NCONV - 1));
	weights_free(&w);
	/* In this process too. */
	if (weights_read(path, &w, err))
		fail_msg("%s", err);
	assert_int_equal(w.nlayers, WEIGHTS_NCONV);
	assert_string_equal(w.fingerprint, weights_fingerprint(full, WEIGHTS_NCONV));
	weights_free(&w);
}

/* VGG16's _notop file, in the official and Keras 2 layouts: the pool taps'
 * file.  The fingerprint runs layer after layer: over the 15 layers it is
 * the one stores had before the taps; over 13, the full and the _notop
 * file's are one. */
static void test_notop(void **state)
{
	files_t *f = *state;
	weights_t full;
	char err[ERR_LEN];

	if (weights_load(f->official, &full, err))
		fail_msg("%s", err);
	assert_int_equal(full.nlayers, WEIGHTS_NLAYERS);
	assert_string_equal(weights_fingerprint(&full, WEIGHTS_NLAYERS),
			    SEED1_FINGERPRINT);
	assert_string_equal(full.fingerprint, SEED1_FINGERPRINT);
	for (int n = WEIGHTS_NCONV; n < WEIGHTS_NLAYERS; n++) {
		const char *fp = weights_fingerprint(&full, n);
		assert_int_equal(strspn(fp, "0123456789abcdef"), 16);
		assert_string_not_equal(fp, weights_fingerprint(&full, n + 1));
	}
	expect_notop(f->notop, MODEL_VGG16, &full);
	expect_notop(f->keras2_notop, MODEL_VGG16, &full);
	weights_free(&full);
}

/* The taps each file gives: the full file every one; a _notop file the
 * pool taps, and for fc1 or fc2 an error that names the file, what it is
 * and the taps it gives. */
static void test_notop_taps(void **state)
{
	files_t *f = *state;
	weights_t full, a, b;
	char err[ERR_LEN];

	if (weights_load(f->official, &full, err) || weights_load(f->notop, &a, err) ||
	    weights_load(f->vggface_notop, &b, err))
		fail_msg("%s", err);
	for (int t = 0; t < MODEL_NTAPS; t++) {
		int pool = model_tap_info(t)->nlayers == WEIGHTS_NCONV;
		assert_int_equal(weights_check_tap(&full, t, f->official, err), 0);
		assert_int_equal(weights_check_tap(&a, t, f->notop, err),
				 pool ? 0 : ERR_MISSING);
		assert_int_equal(weights_check_tap(&b, t, f->vggface_notop, err),
				 pool ? 0 : ERR_MISSING);
	}
	assert_int_equal(weights_check_tap(&a, MODEL_TAP_FC2, f->notop, err), ERR_MISSING);
	expect_in(err, f->notop);
	expect_in(err, "VGG16's _notop file (13 convolutions, no fc1 or fc2)");
	expect_in(err, "it gives block5_pool (avg- or max-pooled, or flattened), not fc2");
	assert_int_equal(weights_check_tap(&a, MODEL_TAP_FC1, f->notop, err), ERR_MISSING);
	expect_in(err, "not fc1");
	assert_int_equal(weights_check_tap(&b, MODEL_TAP_FC2, f->vggface_notop, err),
			 ERR_MISSING);
	expect_in(err, f->vggface_notop);
	expect_in(err, "VGG-Face's _notop file (13 convolutions, no fc6 or fc7)");
	expect_in(err, "it gives pool5 (avg- or max-pooled, or flattened), not fc7");
	/* So does the network, before it allocates anything. */
	vgg_opts_t o;
	vgg_t *net = NULL;
	vgg_opts_init(&o, 1);
	o.tap = MODEL_TAP_FC1;
	assert_int_equal(vgg_create_opts(&a, &o, &net, err), ERR_ARG);
	assert_null(net);
	expect_in(err, "fc1 needs 14 layers with weights, the file has 13");
	weights_free(&full);
	weights_free(&a);
	weights_free(&b);
}

/* A record's fingerprint is the weights' over the layers its tap needs:
 * the full file's over 15 for fc2, over 13 for a pool tap (its _notop
 * file's too); another is refused naming both files and both
 * fingerprints, and weights without the tap's layers say so. */
static void test_check_fingerprint(void **state)
{
	files_t *f = *state;
	weights_t full, notop;
	char err[ERR_LEN], pool_fp[17];

	if (weights_load(f->official, &full, err) || weights_load(f->notop, &notop, err))
		fail_msg("%s", err);
	snprintf(pool_fp, sizeof pool_fp, "%s", weights_fingerprint(&full, WEIGHTS_NCONV));
	assert_int_equal(weights_check_fingerprint(&full, MODEL_TAP_FC2,
						   SEED1_FINGERPRINT, f->official,
						   "a.lmdb", "holds vectors", err), 0);
	assert_int_equal(weights_check_fingerprint(&full, MODEL_TAP_POOL_AVG, pool_fp,
						   f->official, "a.lmdb",
						   "holds vectors", err), 0);
	assert_int_equal(weights_check_fingerprint(&notop, MODEL_TAP_POOL, pool_fp,
						   f->notop, "a.lmdb", "holds vectors",
						   err), 0);
	/* The full file's fingerprint over 15 layers is not a pool tap's. */
	assert_int_equal(weights_check_fingerprint(&full, MODEL_TAP_POOL,
						   SEED1_FINGERPRINT, f->official,
						   "a.lmdb", "holds vectors", err),
			 ERR_MISMATCH);
	assert_int_equal(weights_check_fingerprint(&full, MODEL_TAP_FC2,
						   "0123456789abcdef", f->official,
						   "/x/h.h5", "was trained on features",
						   err), ERR_MISMATCH);
	expect_in(err, "/x/h.h5 was trained on features of VGG16 weights with "
		  "fingerprint 0123456789abcdef, but ");
	expect_in(err, f->official);
	expect_in(err, " has fingerprint " SEED1_FINGERPRINT "; use the weights "
		  "extract used");
	assert_int_equal(weights_check_fingerprint(&notop, MODEL_TAP_FC2,
						   SEED1_FINGERPRINT, f->notop,
						   "a.lmdb", "holds vectors", err),
			 ERR_MISSING);
	expect_in(err, "VGG16's _notop file (13 convolutions, no fc1 or fc2)");
	weights_free(&full);
	weights_free(&notop);
}

/* keras-vggface's file: told by its layer names (its activations nested
 * groups without weights), read through its nested datasets; with this
 * seed its numbers are VGG16's, to the bit, and so is the fingerprint: the
 * names alone say which model it is.  VGG16's layouts stay VGG16. */
static void test_vggface_detected(void **state)
{
	files_t *f = *state;
	const char *vgg16[] = { f->official, f->keras2, f->model };
	weights_t a, b;
	char err[ERR_LEN];

	for (int k = 0; k < 3; k++) {
		if (weights_load(vgg16[k], &a, err))
			fail_msg("%s", err);
		assert_int_equal(a.model, MODEL_VGG16);
		if (k < 2)
			weights_free(&a);
	}
	if (weights_load(f->vggface, &b, err))
		fail_msg("%s", err);
	assert_int_equal(b.model, MODEL_VGGFACE);
	assert_string_equal(b.fingerprint, SEED1_FINGERPRINT);
	for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
		assert_memory_equal(a.kernel[i], b.kernel[i],
				    weights_kernel_count(i) * sizeof(float));
		assert_memory_equal(a.bias[i], b.bias[i],
				    (size_t)weights_spec[i].cout * sizeof(float));
	}
	/* --model: agreeing or absent passes, the other model is refused. */
	assert_int_equal(weights_check_model(&b, MODEL_AUTO, f->vggface, err), 0);
	assert_int_equal(weights_check_model(&b, MODEL_VGGFACE, f->vggface, err), 0);
	assert_int_equal(weights_check_model(&b, MODEL_VGG16, f->vggface, err),
			 ERR_MISMATCH);
	expect_in(err, f->vggface);
	expect_in(err, "VGG-Face weights");
	expect_in(err, "--model vgg16");
	assert_int_equal(weights_check_model(&a, MODEL_VGGFACE, f->model, err),
			 ERR_MISMATCH);
	expect_in(err, "VGG16 weights");
	expect_in(err, "--model vggface");
	weights_free(&a);
	weights_free(&b);
	/* weights_read, in this process, tells the model too. */
	if (weights_read(f->vggface, &b, err))
		fail_msg("%s", err);
	assert_int_equal(b.model, MODEL_VGGFACE);
	weights_free(&b);
}

/* keras-vggface's _notop file: VGG-Face's 13 convolutions, told by their
 * names; with this seed, VGG16's numbers. */
static void test_vggface_notop(void **state)
{
	files_t *f = *state;
	weights_t full;
	char err[ERR_LEN];

	if (weights_load(f->vggface, &full, err))
		fail_msg("%s", err);
	expect_notop(f->vggface_notop, MODEL_VGGFACE, &full);
	weights_free(&full);
}

/* DeepFace's VGG-Face file (fc6 a 7x7 convolution, layers conv2d_N): not a
 * layout we read, refused by its names before any dataset is read, naming
 * what it holds. */
static void test_deepface_refused(void **state)
{
	files_t *f = *state;
	const char *msg = load_fail(f->deepface, ERR_UNSUPPORTED);

	expect_in(msg, "neither VGG16 nor VGG-Face");
	expect_in(msg, "conv2d_1, conv2d_2");
	expect_in(msg, "conv2d_15");
	expect_in(msg, "block1_conv1 .. fc2");
	expect_in(msg, "conv1_1 .. fc7");
}

static void test_truncated(void **state)
{
	files_t *f = *state;
	char path[300];
	size_t len = 0, cut[8];
	struct stat st;
	hid_t file, ds;
	haddr_t fc2;

	/* Where fc2's kernel data sits: a cut inside a late layer's data. */
	assert_true((file = H5Fopen(f->official, H5F_ACC_RDONLY,
				    H5P_DEFAULT)) >= 0);
	assert_true((ds = H5Dopen2(file, "fc2/fc2_W_1:0", H5P_DEFAULT)) >= 0);
	fc2 = H5Dget_offset(ds);
	H5Dclose(ds);
	H5Fclose(file);
	assert_true(fc2 != HADDR_UNDEF);
	assert_int_equal(stat(f->official, &st), 0);
	len = (size_t)st.st_size;
	cut[0] = len - 1;
	cut[1] = len - 1024;
	cut[2] = (size_t)fc2 + 4096u * 4096u * 2u;
	cut[3] = (size_t)fc2;
	cut[4] = len / 2;
	cut[5] = 65536;
	cut[6] = 1024;
	cut[7] = 100;

	/* HDF5 compares the end-of-file address in the superblock with the
	 * file's size when opening, so every cut must fail there, with
	 * "truncated" in the reason, before any data is read (a dataset
	 * that fails while being read is test_bad_structure's checksum case).
	 * One copy is cut shorter and shorter in place. */
	path_in(path, sizeof path, f->dir, "cut.h5");
	{
		FILE *in = fopen(f->official, "rb"), *out = fopen(path, "wb");
		static char buf[1 << 20];
		size_t n;
		assert_non_null(in);
		assert_non_null(out);
		while ((n = fread(buf, 1, sizeof buf, in)) > 0)
			assert_int_equal(fwrite(buf, 1, n, out), n);
		fclose(in);
		assert_int_equal(fclose(out), 0);
	}
	for (int k = 0; k < 8; k++) {
		const char *msg;
		assert_true(k == 0 || cut[k] < cut[k - 1]);
		assert_int_equal(truncate(path, (off_t)cut[k]), 0);
		msg = load_fail(path, ERR_FORMAT);
		expect_in(msg, "truncated");
	}
	unlink(path);
}

/* ---- small hand-written files ------------------------------------------- */

/* What a tiny file does differently from a good one, at layer `at`
 * (an index into weights_spec). */
typedef struct tiny {
	int at;
	int rank;              /* non-zero: the kernel has this shape */
	hsize_t dims[4];
	int bias_len;          /* non-zero: the bias has this length */
	int no_weight_names;   /* the layer has no weight_names */
	int bare_input;        /* input_1 has no weight_names */
	int three_weights;     /* weight_names lists a third dataset */
	int no_group;          /* listed in layer_names, no group */
	int no_dataset;        /* weight_names names a missing kernel */
	int f64;               /* the kernel is float64, with values */
	int fletcher;          /* the kernel is chunked with a checksum */
	int chunked_names;     /* layer_names split as layer_names0/1 */
	int renamed;           /* the layer has another name */
	int theano;            /* the root says backend = "theano" */
} tiny_t;

static double tiny_f64_value(size_t i)
{
	return 1.0 / 3.0 + 0.001 * (double)i;
}

static void tiny_strings(hid_t obj, const char *name, const char *const *v,
			 size_t n)
{
	hsize_t dims[1] = { n };
	hid_t type = H5Tcopy(H5T_C_S1), space, attr;

	assert_true(H5Tset_size(type, H5T_VARIABLE) >= 0);
	assert_true((space = H5Screate_simple(1, dims, NULL)) >= 0);
	assert_true((attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT,
				       H5P_DEFAULT)) >= 0);
	if (n)
		assert_true(H5Awrite(attr, type, v) >= 0);
	H5Aclose(attr);
	H5Sclose(space);
	H5Tclose(type);
}

/* tiny_dataset makes an unwritten float32 dataset whose reads give
 * TINY_FILL, or a written one (float64 / checksummed) when asked. */
static void tiny_dataset(hid_t g, const char *name, int rank,
			 const hsize_t *dims, const tiny_t *t, int special)
{
	hid_t space, dcpl = H5Pcreate(H5P_DATASET_CREATE), ds;
	hid_t ftype = special && t->f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
	float fill = TINY_FILL;
	size_t n = 1;

	for (int d = 0; d < rank; d++)
		n *= (size_t)dims[d];
	assert_true((space = H5Screate_simple(rank, dims, NULL)) >= 0);
	assert_true(H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fill) >= 0);
	if (special && t->fletcher) {
		assert_true(H5Pset_chunk(dcpl, rank, dims) >= 0);
		assert_true(H5Pset_fletcher32(dcpl) >= 0);
	}
	assert_true((ds = H5Dcreate2(g, name, ftype, space, H5P_DEFAULT, dcpl,
				     H5P_DEFAULT)) >= 0);
	if (special && (t->f64 || t->fletcher)) {
		double *v = malloc(n * sizeof *v);
		assert_non_null(v);
		for (size_t i = 0; i < n; i++)
			v[i] = tiny_f64_value(i);
		assert_true(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
				     H5P_DEFAULT, v) >= 0);
		free(v);
	}
	H5Dclose(ds);
	H5Pclose(dcpl);
	H5Sclose(space);
}

/* tiny_write writes input_1 then the 15 layers of VGG16 in the Keras 1
 * layout, with t's defect at layer t->at. */
static void tiny_write(const char *path, const tiny_t *t)
{
	const char *names[1 + WEIGHTS_NLAYERS];
	hid_t file;

	assert_true((file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT,
				      H5P_DEFAULT)) >= 0);
	if (t->theano) {
		const char *backend = "theano";
		tiny_strings(file, "backend", &backend, 1);
	}
	names[0] = "input_1";
	for (int i = 0; i < WEIGHTS_NLAYERS; i++)
		names[1 + i] = t->renamed && i == t->at ? "renamed_conv" :
			       weights_spec[i].name;
	if (t->chunked_names) {
		tiny_strings(file, "layer_names0", names, 5);
		tiny_strings(file, "layer_names1", names + 5,
			     WEIGHTS_NLAYERS + 1 - 5);
	} else {
		tiny_strings(file, "layer_names", names, WEIGHTS_NLAYERS + 1);
	}
	{
		hid_t g = H5Gcreate2(file, "input_1", H5P_DEFAULT, H5P_DEFAULT,
				     H5P_DEFAULT);
		assert_true(g >= 0);
		if (!t->bare_input)
			tiny_strings(g, "weight_names", NULL, 0);
		H5Gclose(g);
	}
	for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		const char *name = names[1 + i];
		int here = i == t->at;
		char k[64], b[64], x[64];
		const char *wn[3] = { k, b, x };
		hsize_t kd[4] = { 3, 3, (hsize_t)s->cin, (hsize_t)s->cout };
		hsize_t dd[2] = { (hsize_t)s->cin, (hsize_t)s->cout };
		hsize_t bd[1] = { (hsize_t)s->cout };
		const hsize_t *dims = s->is_conv ? kd : dd;
		int rank = s->is_conv ? 4 : 2;
		hid_t g;

		if (here && t->no_group)
			continue;
		assert_true((g = H5Gcreate2(file, name, H5P_DEFAULT,
					    H5P_DEFAULT, H5P_DEFAULT)) >= 0);
		snprintf(k, sizeof k, "%s_W_1:0", name);
		snprintf(b, sizeof b, "%s_b_1:0", name);
		snprintf(x, sizeof x, "%s_extra:0", name);
		if (!(here && t->no_weight_names))
			tiny_strings(g, "weight_names", wn,
				     here && t->three_weights ? 3 : 2);
		if (here && t->rank) {
			rank = t->rank;
			dims = t->dims;
		}
		if (here && t->bias_len)
			bd[0] = (hsize_t)t->bias_len;
		if (!(here && t->no_dataset))
			tiny_dataset(g, k, rank, dims, t, here);
		tiny_dataset(g, b, 1, bd, t, 0);
		H5Gclose(g);
	}
	assert_true(H5Fclose(file) >= 0);
}

/* tiny_path makes a file for t in a fresh directory (removed by the
 * caller with tu_rm_rf on the returned dir). */
static const char *tiny_path(const tiny_t *t, char *path, size_t len)
{
	const char *dir = tu_tmpdir();
	path_in(path, len, dir, "tiny.h5");
	tiny_write(path, t);
	return dir;
}

static void test_tiny_loads(void **state)
{
	tiny_t t = { .at = 0, .chunked_names = 1 };
	char path[300], err[ERR_LEN];
	const char *dir = tiny_path(&t, path, sizeof path);
	weights_t w;

	/* layer_names split in chunks, variable-length strings, an empty
	 * string-typed weight_names: all as Keras reads them. */
	if (weights_load(path, &w, err))
		fail_msg("%s", err);
	assert_true(w.kernel[13][weights_kernel_count(13) - 1] == TINY_FILL);
	assert_true(w.bias[14][4095] == TINY_FILL);
	weights_free(&w);
	tu_rm_rf(dir);
}

/* A layer without weights may lack weight_names altogether: Keras reads
 * that as an empty list (keras_h5.h), and so does the loader. */
static void test_bare_layer_skipped(void **state)
{
	tiny_t t = { .at = 0, .bare_input = 1 };
	char path[300], err[ERR_LEN];
	const char *dir = tiny_path(&t, path, sizeof path);
	weights_t w;

	if (weights_load(path, &w, err))
		fail_msg("%s", err);
	assert_int_equal(w.model, MODEL_VGG16);
	assert_true(w.kernel[0][0] == TINY_FILL);
	weights_free(&w);
	tu_rm_rf(dir);
}

static void test_float64_converted(void **state)
{
	tiny_t t = { .at = 0, .f64 = 1 };
	char path[300], err[ERR_LEN];
	const char *dir = tiny_path(&t, path, sizeof path);
	weights_t w;

	tiny_t plain = { .at = 0 };
	char fp[17];

	if (weights_load(path, &w, err))
		fail_msg("%s", err);
	for (size_t i = 0; i < weights_kernel_count(0); i++)
		assert_true(w.kernel[0][i] == (float)tiny_f64_value(i));
	assert_true(w.kernel[1][0] == TINY_FILL);
	memcpy(fp, w.fingerprint, sizeof fp);
	weights_free(&w);
	/* Other numbers in one layer, another fingerprint. */
	tiny_write(path, &plain);
	if (weights_load(path, &w, err))
		fail_msg("%s", err);
	assert_string_not_equal(fp, w.fingerprint);
	weights_free(&w);
	tu_rm_rf(dir);
}

static void test_wrong_shape(void **state)
{
	struct {
		tiny_t t;
		const char *parts[4];
	} cases[] = {
		{ { .at = 0, .rank = 4, .dims = { 3, 3, 4, 64 } },
		  { "layer block1_conv1", "block1_conv1_W_1:0",
		    "(3, 3, 4, 64)", "(3, 3, 3, 64)" } },
		{ { .at = 13, .rank = 2, .dims = { 4096, 4096 } },
		  { "layer fc1", "fc1_W_1:0", "(4096, 4096)",
		    "(25088, 4096)" } },
		{ { .at = 0, .rank = 4, .dims = { 64, 3, 3, 3 },
		    .renamed = 1 },
		  { "renamed_conv (VGG16's block1_conv1)", "(64, 3, 3, 3)",
		    "(3, 3, 3, 64)", "renamed_conv_W_1:0" } },
		{ { .at = 14, .bias_len = 1000 },
		  { "layer fc2", "fc2_b_1:0", "(1000,)", "(4096,)" } },
		{ { .at = 1, .rank = 3, .dims = { 3, 3, 64 } },
		  { "layer block1_conv2", "(3, 3, 64)", "(3, 3, 64, 64)",
		    "has shape" } },
	};

	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		char path[300];
		const char *dir = tiny_path(&cases[c].t, path, sizeof path);
		const char *msg = load_fail(path, ERR_SHAPE);
		for (int p = 0; p < 4; p++)
			expect_in(msg, cases[c].parts[p]);
		tu_rm_rf(dir);
	}
}

/* Right shapes, a wrong name: shapes alone never make a model.  The
 * message names the layer and both models' names. */
static void test_renamed_refused(void **state)
{
	tiny_t t = { .at = 13, .renamed = 1 };
	char path[300];
	const char *dir = tiny_path(&t, path, sizeof path);
	const char *msg = load_fail(path, ERR_UNSUPPORTED);

	expect_in(msg, "layer renamed_conv where VGG16 has fc1");
	expect_in(msg, "neither VGG16's (block1_conv1 .. fc2)");
	expect_in(msg, "VGG-Face's (conv1_1 .. fc7)");
	tu_rm_rf(dir);
}

static void test_bad_structure(void **state)
{
	struct {
		tiny_t t;
		int code;
		const char *parts[2];
	} cases[] = {
		/* Keras reads a missing weight_names as no weights: fc2 is
		 * skipped, which leaves 14 layers with weights. */
		{ { .at = 14, .no_weight_names = 1 }, ERR_MISSING,
		  { "14 layers with weights", "VGG16 needs 15" } },
		{ { .at = 5, .three_weights = 1 }, ERR_FORMAT,
		  { "layer block3_conv2", "3 weights" } },
		{ { .at = 2, .no_group = 1 }, ERR_MISSING,
		  { "layer block2_conv1", "no such group" } },
		{ { .at = 14, .no_dataset = 1 }, ERR_MISSING,
		  { "layer fc2", "fc2_W_1:0" } },
		{ { .at = 0, .fletcher = 1 }, ERR_FORMAT,
		  { "layer block1_conv1", "reading dataset" } },
		{ { .at = 0, .theano = 1 }, ERR_UNSUPPORTED,
		  { "Theano", MODEL_VGG16_FILE } },
	};

	for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
		char path[300];
		const char *dir = tiny_path(&cases[c].t, path, sizeof path);
		const char *msg;

		if (cases[c].t.fletcher) {
			/* Damage one byte of the checksummed kernel: the
			 * read itself must fail, and say which layer. */
			size_t len, n = weights_kernel_count(0);
			uint8_t *bytes = tu_read_file(path, &len), *hit;
			float head[4];
			assert_non_null(bytes);
			for (int i = 0; i < 4; i++)
				head[i] = (float)tiny_f64_value((size_t)i);
			hit = memmem(bytes, len, head, sizeof head);
			assert_non_null(hit);
			assert_true(hit + n * sizeof(float) <= bytes + len);
			hit[100] ^= 0x40;
			assert_int_equal(tu_write_file(path, bytes, len), 0);
			free(bytes);
		}
		msg = load_fail(path, cases[c].code);
		for (int p = 0; p < 2; p++)
			expect_in(msg, cases[c].parts[p]);
		tu_rm_rf(dir);
	}
}

/* ---- not HDF5 at all ---------------------------------------------------- */

static void test_missing_file(void **state)
{
	const char *dir = tu_tmpdir();
	char path[300];
	const char *msg;

	path_in(path, sizeof path, dir, "nope.h5");
	msg = load_fail(path, ERR_MISSING);
	expect_in(msg, "No such file");
	load_fail(dir, ERR_IO);
	tu_rm_rf(dir);
}

static void test_not_hdf5(void **state)
{
	const char *dir = tu_tmpdir();
	static const char text[] = "block1_conv1 is not here\n";
	uint8_t noise[4096];
	rng_t r = { 7 };
	char path[300];

	for (size_t i = 0; i < sizeof noise; i++)
		noise[i] = (uint8_t)rng_next(&r);
	path_in(path, sizeof path, dir, "text.h5");
	assert_int_equal(tu_write_file(path, text, sizeof text - 1), 0);
	expect_in(load_fail(path, ERR_FORMAT), "not an HDF5 file");
	assert_int_equal(tu_write_file(path, noise, sizeof noise), 0);
	expect_in(load_fail(path, ERR_FORMAT), "not an HDF5 file");
	assert_int_equal(tu_write_file(path, "", 0), 0);
	load_fail(path, ERR_FORMAT);
	/* An HDF5 file that is not a Keras one. */
	{
		hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT,
				    H5P_DEFAULT);
		assert_true(f >= 0);
		H5Fclose(f);
	}
	expect_in(load_fail(path, ERR_FORMAT), "no layer_names");
	tu_rm_rf(dir);
}

/* ---- the rest of the interface ----------------------------------------- */

static void test_spec(void **state)
{
	size_t total = 0;

	for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
		total += weights_kernel_count(i) + (size_t)weights_spec[i].cout;
		if (i > 0 && i != WEIGHTS_NCONV)
			assert_int_equal(weights_spec[i].cin,
					 weights_spec[i - 1].cout);
	}
	/* Keras' VGG16 summary: 138,357,544 parameters, of which
	 * predictions has 4096 * 1000 + 1000. */
	assert_int_equal(total, 138357544 - 4097000);
	assert_int_equal(weights_spec[WEIGHTS_NCONV].cin, 7 * 7 * 512);
	assert_int_equal(weights_kernel_count(-1), 0);
	assert_int_equal(weights_kernel_count(WEIGHTS_NLAYERS), 0);
	weights_free(NULL);
}

static void test_gen_cli(void **state)
{
	char *help[] = { GEN, "--help", NULL };
	char *unknown[] = { GEN, "--seed", "1", "--out", "/dev/null", "--bogus",
			    NULL };
	char *no_out[] = { GEN, "--seed", "1", NULL };
	char *bad_layout[] = { GEN, "--seed", "1", "--out", "/dev/null",
			       "--layout", "theano", NULL };
	char *bad_seed[] = { GEN, "--seed", "x1", "--out", "/dev/null", NULL };
	char *deepface_notop[] = { GEN, "--seed", "1", "--out", "/dev/null",
				   "--layout", "deepface", "--notop", NULL };

	assert_int_equal(proc_run(help, NULL), 0);
	assert_int_equal(proc_run(unknown, NULL), 1);
	assert_int_equal(proc_run(no_out, NULL), 1);
	assert_int_equal(proc_run(bad_layout, NULL), 1);
	assert_int_equal(proc_run(bad_seed, NULL), 1);
	assert_int_equal(proc_run(deepface_notop, NULL), 1);
}

int main(void)
{
	const struct CMUnitTest generated[] = {
		cmocka_unit_test(test_layouts_agree),
		cmocka_unit_test(test_values_match_generator),
		cmocka_unit_test(test_notop),
		cmocka_unit_test(test_notop_taps),
		cmocka_unit_test(test_check_fingerprint),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_vggface_detected),
		cmocka_unit_test(test_vggface_notop),
		cmocka_unit_test(test_deepface_refused),
	};
	const struct CMUnitTest small[] = {
		cmocka_unit_test(test_tiny_loads),
		cmocka_unit_test(test_bare_layer_skipped),
		cmocka_unit_test(test_float64_converted),
		cmocka_unit_test(test_wrong_shape),
		cmocka_unit_test(test_renamed_refused),
		cmocka_unit_test(test_bad_structure),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_not_hdf5),
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_gen_cli),
	};
	int failed = 0;

	/* The test's own HDF5 calls assert; their stack dumps are noise. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	failed += cmocka_run_group_tests_name("weights_small", small, NULL,
					      NULL);
	failed += cmocka_run_group_tests_name("weights_generated", generated,
					      gen_setup, gen_teardown);
	return failed ? 1 : 0;
}
