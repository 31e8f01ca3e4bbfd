/* model_file.c - see model_file.h.  The model's layers are listed once
 * (backbone_layers from the registry and the weights, then the head's);
 * that one list gives both model_config (model_config.c) and the HDF5
 * groups and datasets (write_file, run in a child process). */
#include "net/model_file.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "version.h"
#include "base/fsutil.h"
#include "base/stopguard.h"
#include "hdf5/h5child.h"
#include "hdf5/h5util.h"
#include "net/model.h"
#include "net/model_file_impl.h"

/* The longest layer name taken: its weight names must fit a buffer. */
#define NAME_LIMIT 200

/* Keras splits a list attribute larger than HDF5's object header allows
 * into name0, name1, ...; a variable-length string takes 16 bytes of it
 * (its length and its place in the global heap). */
#define H5_ATTR_LIMIT 64512
#define VLEN_BYTES 16

/* The group Keras adds after the layers for the model's own weights. */
#define TOP_LEVEL "top_level_model_weights"

/* add appends a layer to l (whose cap layer_count gave). */
static model_file_entry_t *add(model_file_list_t *l, int cls, const char *name,
			       int trainable)
{
	model_file_entry_t *L = &l->v[l->n++];
	*L = (model_file_entry_t){.cls = cls, .name = name, .trainable = trainable};
	return L;
}

/* The most layers a model may have: the backbone's (every weighted layer
 * with a ReLU of its own, the pools, the flatten) and the head's. */
static int layer_count(int nhead)
{
	return 2 * WEIGHTS_NLAYERS + MODEL_NPOOLS + 1 + nhead;
}

/* ---- the layers -------------------------------------------------------- */

/* backbone_layers appends the backbone's layers, as the model's Keras code
 * builds them, up to end (frozen, as the seed freezes them), and gives in
 * *width the width of the output the head takes.  Every name and number
 * comes from the registry (model_info) and weights_spec; the weights are
 * w's.  The taps of issue 23 plug in here: an end after the last pool
 * (GlobalAveragePooling2D / GlobalMaxPooling2D, or the Flatten, of width
 * 512 or 25088) or after fc1 and its ReLU stops the walk there. */
static int backbone_layers(const weights_t *w, int end, model_file_list_t *l,
			   int *width, char *err)
{
	const model_info_t *mi = model_info(w->model);
	int pool = 0, dense = 0;

	if (w->model != MODEL_VGG16 && w->model != MODEL_VGGFACE)
		return err_set(err, ERR_ARG, "model_file_save: weights of no known model");
	if (end != MODEL_FILE_END_VECTOR)
		return err_set(err, ERR_ARG, "model_file_save: no backbone end %d", end);
	for (int i = 0; i < WEIGHTS_NLAYERS; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		model_file_entry_t *L;
		if (!s->is_conv && dense == 0)
			add(l, MODEL_FILE_FLATTEN, mi->flatten, 0);
		L = add(l, s->is_conv ? MODEL_FILE_CONV : MODEL_FILE_DENSE, mi->layers[i], 0);
		L->units = s->cout;
		L->kernel = w->kernel[i];
		L->bias = w->bias[i];
		if (s->is_conv) {
			L->activation = "relu";
			L->krank = 4;
			L->kdims[0] = L->kdims[1] = MODEL_FILE_CONV_SIZE;
			L->kdims[2] = (hsize_t)s->cin;
			L->kdims[3] = (hsize_t)s->cout;
		} else {
			const char *relu = mi->dense_relu[dense++];
			L->activation = relu ? "linear" : "relu";
			L->krank = 2;
			L->kdims[0] = (hsize_t)s->cin;
			L->kdims[1] = (hsize_t)s->cout;
			if (relu)
				add(l, MODEL_FILE_ACTIVATION, relu, 0)->activation = "relu";
		}
		if (s->pool_after)
			add(l, MODEL_FILE_POOL, mi->pools[pool++], 0);
	}
	*width = weights_spec[WEIGHTS_NLAYERS - 1].cout;
	return 0;
}

/* head_layers appends the head's layers (trainable), each taking the
 * width before it, and checks that the last is a Dense layer with one
 * output per class. */
static int head_layers(const model_file_t *m, int width, model_file_list_t *l,
		       char *err)
{
	const model_file_layer_t *last = NULL;

	if (!m->head || m->nhead < 1 || m->nhead > MODEL_FILE_MAX_HEAD)
		return err_set(err, ERR_ARG, "model_file_save: %d head layers, not "
			       "1 to %d", m->head ? m->nhead : 0, MODEL_FILE_MAX_HEAD);
	for (int i = 0; i < m->nhead; i++) {
		const model_file_layer_t *h = &m->head[i];
		model_file_entry_t *L;
		const char *name = h->name ? h->name : "(no name)";
		if (h->kind == MODEL_FILE_DENSE) {
			if (h->in != width)
				return err_set(err, ERR_ARG, "model_file_save: layer %s takes %d "
					       "inputs where %d come", name, h->in, width);
			if (h->units < 1 || !h->kernel || !h->bias || !h->activation ||
			    !*h->activation)
				return err_set(err, ERR_ARG, "model_file_save: Dense layer %s "
					       "without its units, activation or weights", name);
			L = add(l, MODEL_FILE_DENSE, h->name, 1);
			L->units = h->units;
			L->activation = h->activation;
			L->kernel = h->kernel;
			L->bias = h->bias;
			L->krank = 2;
			L->kdims[0] = (hsize_t)h->in;
			L->kdims[1] = (hsize_t)h->units;
			width = h->units;
			last = h;
		} else if (h->kind == MODEL_FILE_DROPOUT) {
			if (!(h->rate >= 0 && h->rate < 1))
				return err_set(err, ERR_ARG, "model_file_save: Dropout layer %s: "
					       "rate %g outside [0, 1)", name, h->rate);
			add(l, MODEL_FILE_DROPOUT, h->name, 1)->rate = h->rate;
			last = h;
		} else {
			return err_set(err, ERR_ARG, "model_file_save: head layer %d of "
				       "unknown kind %d", i + 1, h->kind);
		}
	}
	if (last->kind != MODEL_FILE_DENSE)
		return err_set(err, ERR_ARG, "model_file_save: the head ends with %s, not "
			       "a Dense layer", last->name ? last->name : "(no name)");
	if (!m->classes || m->nclasses != last->units)
		return err_set(err, ERR_ARG, "model_file_save: %d class names for the "
			       "%d outputs of %s", m->classes ? m->nclasses : 0,
			       last->units, last->name ? last->name : "(no name)");
	return 0;
}

/* name_ok: a layer name Keras' file can hold as a group path: 1..
 * NAME_LIMIT bytes, components neither empty nor "." or "..". */
static int name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_LIMIT)
		return 0;
	for (const char *c = s; c <= s + n;) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += len + 1;
	}
	return 1;
}

/* check_names: every name usable and given once (Keras' rule), none the
 * group Keras adds for the model's own weights. */
static int check_names(const model_file_list_t *l, const char *input, char *err)
{
	for (int i = 0; i < l->n; i++) {
		const char *a = l->v[i].name;
		if (!name_ok(a))
			return err_set(err, ERR_ARG, "model_file_save: layer %d's name '%.*s' "
				       "is not a name Keras' file can hold", i + 1,
				       NAME_LIMIT, a ? a : "");
		if (strcmp(a, TOP_LEVEL) == 0 || strcmp(a, input) == 0)
			return err_set(err, ERR_ARG, "model_file_save: the name %s is "
				       "taken", a);
		for (int k = 0; k < i; k++)
			if (strcmp(a, l->v[k].name) == 0)
				return err_set(err, ERR_ARG, "model_file_save: two layers "
					       "named %s", a);
	}
	return 0;
}

/* ---- the HDF5 file (in the child) -------------------------------------- */

/* The writer's state: property lists made once, and HDF5's reason for the
 * first failure, read as it happens (every HDF5 call, the cleanup's too,
 * clears HDF5's error stack). */
typedef struct writer {
	hid_t lcpl;      /* links: intermediate groups made ("fc6/relu") */
	hid_t gcpl, dcpl; /* groups, datasets: no timestamps, so that the
			   * same model gives the same bytes */
	char reason[256];
} writer_t;

static int failed(writer_t *w)
{
	if (!w->reason[0])
		h5util_reason(w->reason, sizeof w->reason);
	return -1;
}

/* A variable-length string type, UTF-8 (Python's str) or ASCII (bytes). */
static hid_t vlen_type(writer_t *w, int utf8)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0) {
		failed(w);
		if (t >= 0)
			H5Tclose(t);
		return H5I_INVALID_HID;
	}
	return t;
}

/* attr_put creates attribute name of obj, of type t, over space sp (which
 * it closes), and writes buf: 0 or -1. */
static int attr_put(writer_t *w, hid_t obj, const char *name, hid_t t, hid_t sp,
		    const void *buf)
{
	hid_t a = H5I_INVALID_HID;
	int rc = 0;

	if (sp < 0 || (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
	    H5Awrite(a, t, buf) < 0)
		rc = failed(w);
	if (a >= 0 && H5Aclose(a) < 0)
		rc = failed(w);
	if (sp >= 0)
		H5Sclose(sp);
	return rc;
}

/* attr_text: the scalar string attribute name = s. */
static int attr_text(writer_t *w, hid_t obj, const char *name, const char *s, int utf8)
{
	hid_t t = vlen_type(w, utf8);
	int rc = t >= 0 ? attr_put(w, obj, name, t, H5Screate(H5S_SCALAR), &s) : -1;

	if (t >= 0)
		H5Tclose(t);
	return rc;
}

/* attr_list: the list attribute name = v[0..n), as Keras'
 * save_attributes_to_hdf5_group stores it: an empty list as an empty
 * float64 array (np.asarray([])); a list past the object header's limit
 * in chunks name0, name1, ... whose sizes differ by one at most
 * (numpy.array_split). */
static int attr_list(writer_t *w, hid_t obj, const char *name,
		     const char *const *v, size_t n, int utf8)
{
	size_t per = H5_ATTR_LIMIT / VLEN_BYTES;
	size_t chunks = n > per ? (n + per - 1) / per : 1;
	hid_t t;
	int rc = 0;

	if (n == 0) {
		hsize_t zero = 0;
		double none = 0;
		return attr_put(w, obj, name, H5T_IEEE_F64LE,
				H5Screate_simple(1, &zero, NULL), &none);
	}
	if ((t = vlen_type(w, utf8)) < 0)
		return -1;
	for (size_t c = 0, i0 = 0; c < chunks && rc == 0; c++) {
		hsize_t cn = n / chunks + (c < n % chunks);
		char cname[256];
		if (chunks > 1)
			snprintf(cname, sizeof cname, "%s%zu", name, c);
		else
			snprintf(cname, sizeof cname, "%s", name);
		rc = attr_put(w, obj, cname, t, H5Screate_simple(1, &cn, NULL), v + i0);
		i0 += cn;
	}
	H5Tclose(t);
	return rc;
}

/* group makes the group name in loc: its id, or -1. */
static hid_t group(writer_t *w, hid_t loc, const char *name)
{
	hid_t g = H5Gcreate2(loc, name, w->lcpl, w->gcpl, H5P_DEFAULT);
	if (g < 0)
		failed(w);
	return g;
}

/* write_layer makes layer L's group under mw, its weight_names and its
 * datasets (<name>/kernel:0, <name>/bias:0 inside it). */
static int write_layer(writer_t *w, hid_t mw, const model_file_entry_t *L)
{
	char kname[NAME_LIMIT + 16], bname[NAME_LIMIT + 16];
	const char *names[2] = {kname, bname};
	hsize_t bdims[1] = {(hsize_t)L->units};
	hid_t g = group(w, mw, L->name);
	int rc = 0;

	if (g < 0)
		return -1;
	snprintf(kname, sizeof kname, "%s/kernel:0", L->name);
	snprintf(bname, sizeof bname, "%s/bias:0", L->name);
	if (!L->kernel)
		rc = attr_list(w, g, "weight_names", NULL, 0, 0);
	else if (attr_list(w, g, "weight_names", names, 2, 0) ||
		 h5util_write_dataset(g, kname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
				      L->krank, L->kdims, w->lcpl, w->dcpl, L->kernel) ||
		 h5util_write_dataset(g, bname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1,
				      bdims, w->lcpl, w->dcpl, L->bias))
		rc = failed(w);
	if (H5Gclose(g) < 0)
		rc = failed(w);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp((*(const model_file_entry_t *const *)a)->name,
		      (*(const model_file_entry_t *const *)b)->name);
}

/* What the child writes: the file at tmp, named path (the user's name)
 * in its messages. */
typedef struct job {
	const char *tmp, *path;
	const model_file_t *m;
	const model_file_list_t *l;
	const char *json;
} job_t;

/* write_all writes the file's contents into f. */
static int write_all(writer_t *w, hid_t f, const job_t *j,
		     const model_file_entry_t **sorted, const char **names, char *step,
		     size_t len)
{
	const model_file_t *m = j->m;
	const model_info_t *mi = model_info(m->w->model);
	hid_t mw, top;
	int rc = 0;

	snprintf(step, len, "writing its attributes");
	if (attr_text(w, f, "keras_version", MODEL_FILE_KERAS_VERSION, 1) ||
	    attr_text(w, f, "backend", "tensorflow", 1) ||
	    attr_text(w, f, "model_config", j->json, 0) ||
	    attr_text(w, f, "vggfeat_format", MODEL_FILE_FORMAT, 1) ||
	    attr_list(w, f, "vggfeat_classes", m->classes, (size_t)m->nclasses, 1) ||
	    attr_text(w, f, "vggfeat_model", mi->store_model, 1) ||
	    attr_text(w, f, "vggfeat_fingerprint", m->w->fingerprint, 1) ||
	    attr_text(w, f, "vggfeat_preprocess", mi->preprocess, 1) ||
	    attr_text(w, f, "vggfeat_version", VGGFEAT_VERSION, 1))
		return -1;
	snprintf(step, len, "writing model_weights");
	if ((mw = group(w, f, "model_weights")) < 0)
		return -1;
	if (attr_list(w, mw, "layer_names", names, (size_t)j->l->n, 0) ||
	    attr_text(w, mw, "backend", "tensorflow", 0) ||
	    attr_text(w, mw, "keras_version", MODEL_FILE_KERAS_VERSION, 0))
		rc = -1;
	for (int i = 0; i < j->l->n && rc == 0; i++) {
		snprintf(step, len, "writing layer %s", sorted[i]->name);
		rc = write_layer(w, mw, sorted[i]);
	}
	if (rc == 0) {
		snprintf(step, len, "writing " TOP_LEVEL);
		if ((top = group(w, mw, TOP_LEVEL)) < 0 ||
		    attr_list(w, top, "weight_names", NULL, 0, 0))
			rc = -1;
		if (top >= 0 && H5Gclose(top) < 0)
			rc = failed(w);
	}
	if (H5Gclose(mw) < 0)
		rc = failed(w);
	return rc;
}

/* write_file writes the whole file at j->tmp with libhdf5 (the child's
 * side of h5child_run_writer). */
static int write_file(void *arg, int fd, char *err)
{
	const job_t *j = arg;
	const model_file_entry_t **sorted = malloc((size_t)j->l->n * sizeof *sorted);
	const char **names = malloc((size_t)j->l->n * sizeof *names);
	writer_t w = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID, ""};
	h5util_quiet_t quiet;
	hid_t f = H5I_INVALID_HID;
	char step[NAME_LIMIT + 64] = "creating it";
	int rc = 0;

	(void)fd;
	if (!sorted || !names) {
		free(sorted), free(names);
		return err_set(err, ERR_NOMEM, "%s: out of memory", j->path);
	}
	/* The layers in model order for layer_names; their groups made in
	 * the order of their names, as Keras makes them ("fc6" before
	 * "fc6/relu"). */
	for (int i = 0; i < j->l->n; i++) {
		sorted[i] = &j->l->v[i];
		names[i] = j->l->v[i].name;
	}
	qsort(sorted, (size_t)j->l->n, sizeof *sorted, by_name);
	h5util_quiet(&quiet);
	if ((w.lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_create_intermediate_group(w.lcpl, 1) < 0 ||
	    (w.gcpl = H5Pcreate(H5P_GROUP_CREATE)) < 0 ||
	    H5Pset_obj_track_times(w.gcpl, 0) < 0 ||
	    (w.dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0 ||
	    H5Pset_obj_track_times(w.dcpl, 0) < 0 ||
	    (f = H5Fcreate(j->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0)
		rc = failed(&w);
	else
		rc = write_all(&w, f, j, sorted, names, step, sizeof step);
	if (f >= 0) {
		if (rc == 0)
			snprintf(step, sizeof step, "closing it");
		if (H5Fclose(f) < 0)
			rc = failed(&w);
	}
	if (rc)
		err_set(err, ERR_IO, "%s: %s failed: %s", j->path, step, w.reason);
	if (w.dcpl >= 0)
		H5Pclose(w.dcpl);
	if (w.gcpl >= 0)
		H5Pclose(w.gcpl);
	if (w.lcpl >= 0)
		H5Pclose(w.lcpl);
	H5Eclear2(H5E_DEFAULT);
	h5util_unquiet(&quiet);
	free(sorted);
	free(names);
	return rc ? ERR_IO : 0;
}

/* ---- what it may replace ----------------------------------------------- */

/* In a child: 0 when the file arg has the root attributes a whole-model
 * file has and a head or a Keras model of the user's has not both of. */
static int ours(void *arg, int fd, char *err)
{
	const char *path = arg;
	hid_t f;
	int ok;

	(void)fd;
	if (H5Fis_hdf5(path) <= 0)
		return err_set(err, ERR_FORMAT, "not an HDF5 file");
	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	ok = f >= 0 && H5Aexists(f, "vggfeat_format") > 0 &&
	     H5Aexists(f, "model_config") > 0;
	if (f >= 0)
		H5Fclose(f);
	return ok ? 0 : err_set(err, ERR_FORMAT, "an HDF5 file that is not a "
				"whole model predict --save-model wrote");
}

/* fsutil_output_t's ours: a whole model it wrote (ours, in a child). */
static int a_model(const char *path, char *why, size_t len)
{
	return h5child_verdict(path, ours, why, len);
}

/* check_name: Keras goes by the file's name, not its bytes: model.save
 * writes HDF5 only to a name ending in .h5 or .hdf5 (.keras gives its zip
 * format, another name a SavedModel folder), and Keras 3's load_model
 * reads HDF5 only under those names (it opens a .keras file as a zip, and
 * refuses any other).  So the file is written under no other; the name
 * offered in its place ends in .h5. */
static int check_name(const char *path, char *err)
{
	static const char *const ext[] = {".h5", ".hdf5"};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (n >= strlen(ext[i]) && strcmp(path + n - strlen(ext[i]), ext[i]) == 0)
			return 0;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	const char *dot = strrchr(base, '.');
	int stem = (int)(dot && dot > base ? (size_t)(dot - path) : n);
	return err_set(err, ERR_ARG, "%s: the model is written as HDF5, which Keras "
		       "reads only from a name ending in .h5 or .hdf5 (model.save and "
		       "load_model go by the name; .keras is Keras' zip format): name "
		       "it %.*s%s", path, stem, path, *base ? ".h5" : "face_model.h5");
}

int model_file_replaceable(const char *path, char *err)
{
	static const fsutil_output_t model = {
		.what = "a whole-model file",
		.folder = "name the model's file",
		.example = "face_model.h5",
		.refusal = "--save-model replaces only a model it wrote: move that "
			   "file away or name another",
		.ours = a_model,
	};
	int rc = fsutil_replaceable(path, &model, err);

	return rc ? rc : check_name(path, err);
}

/* ---- the atomic save --------------------------------------------------- */

/* still_replaceable asks again, before the rename, what the caller asked
 * before the weights were read and the file written, which takes seconds:
 * the path may now name another file (a link turned to a photo), or the
 * file there be another (a photo moved to its name), and the rename
 * replaces what is there now.  So: model_file_replaceable, and the path
 * still leads to d->path, the file the rename replaces.  0, or ERR_ARG
 * (ERR_IO) saying so, the model not saved. */
static int still_replaceable(const fsutil_dest_t *d, char *err)
{
	char now[4096];
	int rc = model_file_replaceable(d->given, err);

	if (rc == 0 && fsutil_target(d->given, now, sizeof now) != 0)
		rc = fsutil_path_error(d->given, errno, ERR_IO, err);
	else if (rc == 0 && strcmp(now, d->path) != 0)
		rc = err_set(err, ERR_ARG, "%s now leads to %s, not to %s, which the "
			     "model was written to replace", d->given, now, d->path);
	if (rc) {
		size_t n = strlen(err);
		snprintf(err + n, ERR_LEN - n, "; it changed while the model was "
			 "written: the model was not saved");
	}
	return rc;
}

int model_file_save(const char *path, const model_file_t *m, char *err)
{
	model_file_list_t l = {0};
	fsutil_dest_t dest;
	char *json = NULL;
	int rc, width = 0, guarded = 0;
	const char *input;

	if (!path || !*path || !m || !m->w || !m->w->block)
		return err_set(err, ERR_ARG, "model_file_save: missing argument");
	if ((rc = check_name(path, err)))
		return rc;
	if (fsutil_dest_open(&dest, path))
		return fsutil_path_error(path, errno, ERR_IO, err);
	input = model_info(m->w->model)->input;
	/* Room for the head's layers once their number is known to be sane
	 * (head_layers refuses it otherwise, before adding any). */
	l.cap = layer_count(m->nhead >= 1 && m->nhead <= MODEL_FILE_MAX_HEAD ? m->nhead : 0);
	if (!(l.v = calloc((size_t)l.cap, sizeof *l.v)))
		return err_set(err, ERR_NOMEM, "out of memory");
	if ((rc = backbone_layers(m->w, m->end, &l, &width, err)) ||
	    (rc = head_layers(m, width, &l, err)) ||
	    (rc = check_names(&l, input, err)) ||
	    (rc = model_file_config(&l, input, &json, err)))
		goto out;

	job_t job = {dest.tmp, path, m, &l, json};
	stopguard_arm(dest.tmp);
	guarded = 1;
	if ((rc = h5child_run_writer(path, write_file, &job, err)))
		goto fail;
	if ((rc = still_replaceable(&dest, err))) {
		fsutil_dest_abandon(&dest);
		goto out;
	}
	if (fsutil_dest_commit(&dest) != 0) {
		rc = err_set(err, ERR_IO, "%s: writing failed: %s", path, strerror(errno));
		goto fail;
	}
	goto out;
fail:
	fsutil_dest_failed(&dest, rc, err);
out:
	if (guarded)
		stopguard_disarm();
	free(json);
	free(l.v);
	return rc;
}
