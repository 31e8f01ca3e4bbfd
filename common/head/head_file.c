/* head_file.c - the head's HDF5 file (head.h): head_save writes it in
 * Keras 2's save_weights layout, atomically; head_load reads it, or a
 * Keras file whose layers with weights are Dense, in a child process
 * (h5child.h). */
#include "head/head.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "base/fsutil.h"
#include "hdf5/h5child.h"
#include "hdf5/h5util.h"
#include "head/head_impl.h"
#include "hdf5/keras_h5.h"
#include "net/model_file.h"

/* Keras splits a list attribute larger than this into name0, name1, ... */
#define H5_ATTR_LIMIT 64512

/* A fixed-length, NUL-padded string type of size bytes, as h5py makes for
 * numpy bytes. */
static hid_t str_type(size_t size, int utf8)
{
	hid_t t = H5Tcopy(H5T_C_S1);
	if (t < 0)
		return t;
	if (H5Tset_size(t, size ? size : 1) < 0 ||
	    H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
	    H5Tset_cset(t, utf8 ? H5T_CSET_UTF8 : H5T_CSET_ASCII) < 0) {
		H5Tclose(t);
		return H5I_INVALID_HID;
	}
	return t;
}

/* attr_write writes v[0..n) as attribute name of obj: a scalar string when
 * scalar is set, else a list (split into name0, name1, ... when it exceeds
 * HDF5's object header, as Keras does). */
static int attr_write(hid_t obj, const char *name, const char *const *v,
		      size_t n, int scalar, int utf8)
{
	size_t size = 1, per, chunks;
	hid_t type = H5I_INVALID_HID;
	int rc = -1;
	char *buf = NULL;

	for (size_t i = 0; i < n; i++)
		if (strlen(v[i]) > size)
			size = strlen(v[i]);
	if (size > H5_ATTR_LIMIT || (type = str_type(size, utf8)) < 0)
		goto out;
	per = H5_ATTR_LIMIT / size;
	chunks = n > per ? (n + per - 1) / per : 1;
	if (!(buf = calloc(n ? n : 1, size)))
		goto out;
	for (size_t i = 0; i < n; i++)
		memcpy(buf + i * size, v[i], strlen(v[i]));
	/* Chunks as numpy.array_split makes them: sizes differ by at most 1. */
	for (size_t c = 0, i0 = 0; c < chunks; c++) {
		size_t cn = n / chunks + (c < n % chunks);
		hsize_t dim = cn;
		char aname[256];
		hid_t sp, a;
		if (chunks > 1)
			snprintf(aname, sizeof aname, "%s%zu", name, c);
		else
			snprintf(aname, sizeof aname, "%s", name);
		sp = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
		if (sp < 0)
			goto out;
		a = H5Acreate2(obj, aname, type, sp, H5P_DEFAULT, H5P_DEFAULT);
		H5Sclose(sp);
		if (a < 0)
			goto out;
		herr_t w = H5Awrite(a, type, buf + i0 * size);
		H5Aclose(a);
		if (w < 0)
			goto out;
		i0 += cn;
	}
	rc = 0;
out:
	free(buf);
	if (type >= 0)
		H5Tclose(type);
	return rc;
}

static int attr_str(hid_t obj, const char *name, const char *s)
{
	return attr_write(obj, name, &s, 1, 1, 1);
}

/* write_layer writes Dense layer L as Keras names it (name): the group
 * with its weight_names and the two datasets under it. */
static int write_layer(hid_t f, const char *name, const head_layer_t *L, hid_t lcpl)
{
	char kname[64], bname[64];
	const char *wnames[2] = {kname, bname};
	hsize_t kdims[2] = {(hsize_t)L->in, (hsize_t)L->out}, bdims[1] = {(hsize_t)L->out};
	hid_t g;
	int bad;

	snprintf(kname, sizeof kname, "%s/kernel:0", name);
	snprintf(bname, sizeof bname, "%s/bias:0", name);
	if ((g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
		return -1;
	/* The weight names are paths inside the layer's group, as h5py
	 * creates them: dense_1/dense_1/kernel:0. */
	bad = attr_write(g, "weight_names", wnames, 2, 0, 0) ||
	      h5util_write_dataset(g, kname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, kdims,
				   lcpl, H5P_DEFAULT, L->kernel) ||
	      h5util_write_dataset(g, bname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, bdims,
				   lcpl, H5P_DEFAULT, L->bias);
	return H5Gclose(g) < 0 || bad ? -1 : 0;
}

/* build_image lays the head file out in memory (HDF5's core driver, no
 * backing store) and returns its bytes: HDF5 then never writes to disk,
 * where a failed write leaves HDF5 1.10 with a file it cannot close. */
static int build_image(const head_t *h, const head_meta_t *meta, void **out,
		       size_t *len, char *err)
{
	hid_t fapl = H5I_INVALID_HID, f = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
	char names[HEAD_MAX_LAYERS][24], why[256];
	const char *layers[HEAD_MAX_LAYERS];
	void *buf = NULL;
	ssize_t n;
	int rc = 0;

	for (int l = 0; l < h->nlayers; l++) {
		snprintf(names[l], sizeof names[l], "dense_%d", l + 1);
		layers[l] = names[l];
	}
	if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
	    H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
	    (f = H5Fcreate("head.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
		goto h5fail;
	if (attr_write(f, "layer_names", layers, (size_t)h->nlayers, 0, 0) ||
	    attr_write(f, "backend", (const char *[]){"tensorflow"}, 1, 1, 0) ||
	    attr_write(f, "keras_version", (const char *[]){HEAD_KERAS_VERSION}, 1,
		       1, 0) ||
	    attr_str(f, "vggfeat_format", h->nlayers == 1 ? HEAD_FORMAT_1 : HEAD_FORMAT) ||
	    attr_write(f, "vggfeat_classes", (const char *const *)meta->classes,
		       (size_t)meta->nclasses, 0, 1) ||
	    attr_str(f, "vggfeat_model", meta->model) ||
	    attr_str(f, "vggfeat_fingerprint", meta->fingerprint) ||
	    attr_str(f, "vggfeat_preprocess", meta->preprocess) ||
	    attr_str(f, "vggfeat_conv", meta->conv[0] ? meta->conv : HEAD_CONV_OLD) ||
	    attr_str(f, "vggfeat_version", meta->version))
		goto h5fail;
	if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 ||
	    H5Pset_create_intermediate_group(lcpl, 1) < 0)
		goto h5fail;
	for (int l = 0; l < h->nlayers; l++)
		if (write_layer(f, names[l], &h->layer[l], lcpl))
			goto h5fail;
	if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(f, NULL, 0)) <= 0)
		goto h5fail;
	if (!(buf = malloc((size_t)n))) {
		rc = err_set(err, ERR_NOMEM, "out of memory for a %zd-byte head file", n);
		goto out;
	}
	if (H5Fget_file_image(f, buf, (size_t)n) != n)
		goto h5fail;
	*out = buf;
	*len = (size_t)n;
	buf = NULL;
	goto out;
h5fail:
	rc = err_set(err, ERR_NOMEM, "building the head file failed: %s",
		     h5util_reason(why, sizeof why));
out:
	free(buf);
	if (lcpl >= 0)
		H5Pclose(lcpl);
	if (f >= 0)
		H5Fclose(f);
	if (fapl >= 0)
		H5Pclose(fapl);
	return rc;
}

int head_save(const char *path, const head_t *h, const head_meta_t *meta,
	      char *err)
{
	fsutil_dest_t dest;
	h5util_quiet_t quiet;
	void *image = NULL;
	size_t len = 0;
	int rc, fd = -1;

	if (!path || !*path || !h || !h->params || !meta)
		return err_set(err, ERR_ARG, "head_save: missing argument");
	if (meta->nclasses != h->K || !meta->classes)
		return err_set(err, ERR_ARG, "head_save: %d class names for %d classes",
			       meta->nclasses, h->K);
	if (fsutil_dest_open(&dest, path))
		return fsutil_path_error(path, errno, ERR_IO, err);
	h5util_quiet(&quiet);
	rc = build_image(h, meta, &image, &len, err);
	H5Eclear2(H5E_DEFAULT);
	h5util_unquiet(&quiet);
	if (rc)
		return rc;

	if ((fd = open(dest.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)) < 0)
		goto fail;
	for (size_t done = 0; done < len;) {
		ssize_t w = write(fd, (const char *)image + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = EIO; /* a short write that gave no reason */
		if (w <= 0)
			goto fail;
		done += (size_t)w;
	}
	/* close's failure is a write that did not happen (NFS, quotas); the
	 * descriptor is gone either way. */
	rc = close(fd);
	fd = -1;
	if (rc != 0 || fsutil_dest_commit(&dest) != 0)
		goto fail;
	free(image);
	return 0;
fail:
	/* The user's name for the file, not the temporary file's, and the
	 * cause first. */
	rc = err_set(err, ERR_IO, "%s: writing failed: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(image);
	return fsutil_dest_failed(&dest, rc, err);
}

/* attr_text reads the optional scalar string name into buf (len bytes);
 * absent leaves buf empty. */
static int attr_text(hid_t obj, const char *name, char *buf, size_t len,
		     const char *path, char *err)
{
	h5util_strlist_t l = {0};
	int found, rc;

	buf[0] = '\0';
	if ((rc = h5util_attr_strings(obj, name, &l, &found, path, err)))
		goto out;
	if (found && l.n != 1)
		rc = err_set(err, ERR_FORMAT, "%s: attribute %s holds %zu strings, "
			     "expected one", path, name, l.n);
	else if (found && strlen(l.v[0]) >= len)
		rc = err_set(err, ERR_FORMAT, "%s: attribute %s is longer than %zu "
			     "bytes", path, name, len - 1);
	else if (found)
		memcpy(buf, l.v[0], strlen(l.v[0]) + 1);
out:
	h5util_strlist_free(&l);
	return rc;
}

/* Opens dataset name of g and checks it is a float array of rank dims. */
static int dset_open(hid_t g, const char *name, int rank, hsize_t *dims,
		     hid_t *out, const char *path, char *err)
{
	hid_t d, sp = H5I_INVALID_HID, ty = H5I_INVALID_HID;
	char why[256];
	int r = -1, rc = 0;

	if ((d = H5Dopen2(g, name, H5P_DEFAULT)) < 0)
		return err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)", path,
			       name, h5util_reason(why, sizeof why));
	if ((sp = H5Dget_space(d)) < 0 || (ty = H5Dget_type(d)) < 0 ||
	    (r = H5Sget_simple_extent_ndims(sp)) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)", path,
			     name, h5util_reason(why, sizeof why));
	} else if (H5Tget_class(ty) != H5T_FLOAT) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s is not floating point",
			     path, name);
	} else if (r != rank) {
		rc = err_set(err, ERR_SHAPE, "%s: dataset %s has %d dimensions, a "
			     "Dense %s has %d", path, name, r,
			     rank == 2 ? "kernel" : "bias", rank);
	} else if (H5Sget_simple_extent_dims(sp, dims, NULL) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: dataset %s unreadable (%s)", path,
			     name, h5util_reason(why, sizeof why));
	}
	if (ty >= 0)
		H5Tclose(ty);
	if (sp >= 0)
		H5Sclose(sp);
	if (rc)
		H5Dclose(d);
	else
		*out = d;
	return rc;
}

/* The Dense layers of a file, opened: each one's kernel and bias. */
typedef struct dense_sets {
	int n;
	hid_t kd[HEAD_MAX_LAYERS], bd[HEAD_MAX_LAYERS];
	hsize_t kdims[HEAD_MAX_LAYERS][2], bdims[HEAD_MAX_LAYERS];
} dense_sets_t;

static void dense_sets_close(dense_sets_t *ds)
{
	for (int l = 0; l < ds->n; l++) {
		H5Dclose(ds->kd[l]);
		H5Dclose(ds->bd[l]);
	}
	ds->n = 0;
}

/* open_dense finds the file's layers with weights (keras_h5.h) and opens
 * each one's kernel and bias. */
static int open_dense(hid_t f, const char *path, dense_sets_t *ds, char *err)
{
	keras_h5_layers_t layers = {0};
	hid_t root = H5I_INVALID_HID, g = H5I_INVALID_HID;
	char why[256];
	int rc;

	ds->n = 0;
	if ((rc = keras_h5_open_root(f, path, &root, err)) ||
	    (rc = keras_h5_layers(root, path, HEAD_MAX_LAYERS + 1, &layers, err)))
		goto out;
	if (layers.names.n == 0) {
		rc = err_set(err, ERR_MISSING, "%s: no layer with weights", path);
		goto out;
	}
	if (layers.names.n > HEAD_MAX_LAYERS) {
		/* The walk stopped past the limit: the file may hold far more
		 * (VGG16's 16), so its first names say what it is. */
		rc = err_set(err, ERR_SHAPE, "%s: more than %d layers with weights, "
			     "beginning %s, %s: not a head, which has at most %d",
			     path, HEAD_MAX_LAYERS, layers.names.v[0], layers.names.v[1],
			     HEAD_MAX_LAYERS);
		goto out;
	}
	for (size_t l = 0; l < layers.names.n; l++) {
		const h5util_strlist_t *names = &layers.weights[l];
		if (names->n != 2) {
			rc = err_set(err, ERR_SHAPE, "%s: layer %s has %zu weights; a "
				     "Dense layer has a kernel and a bias", path,
				     layers.names.v[l], names->n);
			goto out;
		}
		if ((g = H5Gopen2(root, layers.names.v[l], H5P_DEFAULT)) < 0) {
			rc = err_set(err, ERR_FORMAT, "%s: layer %s: group unreadable (%s)",
				     path, layers.names.v[l], h5util_reason(why, sizeof why));
			goto out;
		}
		int n = ds->n;
		if ((rc = dset_open(g, names->v[0], 2, ds->kdims[n], &ds->kd[n], path, err)))
			goto out;
		if ((rc = dset_open(g, names->v[1], 1, &ds->bdims[n], &ds->bd[n], path, err))) {
			H5Dclose(ds->kd[n]);
			goto out;
		}
		ds->n++;
		H5Gclose(g);
		g = H5I_INVALID_HID;
	}
out:
	if (rc)
		dense_sets_close(ds);
	keras_h5_layers_free(&layers);
	if (g >= 0)
		H5Gclose(g);
	if (root >= 0)
		H5Oclose(root);
	return rc;
}

/* dense_shape checks that the layers chain (each kernel's inputs the
 * previous one's outputs, each bias its kernel's outputs) and gives their
 * widths w (n + 1). */
static int dense_shape(const dense_sets_t *ds, const char *path, int *w, char *err)
{
	for (int l = 0; l < ds->n; l++) {
		const hsize_t *k = ds->kdims[l];
		if (k[0] < 1 || k[1] < 1 || k[0] > HEAD_MAX_DIM || k[1] > HEAD_MAX_DIM ||
		    ds->bdims[l] != k[1] || (l && k[0] != (hsize_t)w[l]))
			return err_set(err, ERR_SHAPE, "%s: kernel (%llu, %llu) and bias "
				       "(%llu) do not make a Dense layer%s", path,
				       (unsigned long long)k[0], (unsigned long long)k[1],
				       (unsigned long long)ds->bdims[l],
				       l ? " after the one before" : "");
		w[l] = (int)k[0];
		w[l + 1] = (int)k[1];
	}
	return 0;
}

/* head_read and head_load leave h and meta empty on any failure, the
 * argument check's included. */
static int out_reset(const char *path, head_t *h, head_meta_t *meta, char *err)
{
	if (h)
		memset(h, 0, sizeof *h);
	if (meta)
		memset(meta, 0, sizeof *meta);
	if (!path || !h || !meta)
		return err_set(err, ERR_ARG, "head_load: missing argument");
	return 0;
}

int head_read(const char *path, head_t *h, head_meta_t *meta, char *err)
{
	hid_t f = H5I_INVALID_HID;
	dense_sets_t ds = {0};
	h5util_quiet_t quiet;
	h5util_strlist_t classes = {0};
	char why[256], format[64];
	int w[HEAD_MAX_LAYERS + 1];
	struct stat st;
	int rc = 0, found;
	htri_t is;

	if ((rc = out_reset(path, h, meta, err)))
		return rc;
	if (stat(path, &st) != 0)
		return err_set(err, errno == ENOENT ? ERR_MISSING : ERR_IO, "%s: %s",
			       path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, ERR_IO, "%s: not a regular file", path);
	h5util_quiet(&quiet);

	if ((is = H5Fis_hdf5(path)) <= 0) {
		rc = err_set(err, ERR_FORMAT, "%s: not an HDF5 file", path);
		goto out;
	}
	if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: damaged HDF5 file (%s)", path,
			     h5util_reason(why, sizeof why));
		goto out;
	}
	if ((rc = attr_text(f, "vggfeat_format", format, sizeof format, path, err)))
		goto out;
	/* The whole model is what a Keras user calls the model, and its file
	 * comes out of the same program that takes --head. */
	if (strcmp(format, MODEL_FILE_FORMAT) == 0) {
		rc = err_set(err, ERR_UNSUPPORTED, "%s: a whole model (backbone and "
			     "head) as predict --save-model writes it, not a head, the "
			     "file train-head --out writes", path);
		goto out;
	}
	if (*format && strcmp(format, HEAD_FORMAT) != 0 && strcmp(format, HEAD_FORMAT_1) != 0) {
		rc = err_set(err, ERR_UNSUPPORTED, "%s: head format '%s', this program "
			     "reads '%s' and '%s'", path, format, HEAD_FORMAT_1, HEAD_FORMAT);
		goto out;
	}
	if ((rc = open_dense(f, path, &ds, err)) || (rc = dense_shape(&ds, path, w, err)) ||
	    (rc = head_alloc(ds.n, w, h, err)))
		goto out;
	for (int l = 0; l < ds.n; l++)
		if (H5Dread(ds.kd[l], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
			    h->layer[l].kernel) < 0 ||
		    H5Dread(ds.bd[l], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
			    h->layer[l].bias) < 0) {
			rc = err_set(err, ERR_FORMAT, "%s: weights unreadable (%s)", path,
				     h5util_reason(why, sizeof why));
			goto out;
		}
	if ((rc = h5util_attr_strings(f, "vggfeat_classes", &classes, &found, path, err)))
		goto out;
	if (found && classes.n != (size_t)h->K) {
		rc = err_set(err, ERR_SHAPE, "%s: %zu class names for %d classes", path,
			     classes.n, h->K);
		goto out;
	}
	if ((rc = attr_text(f, "vggfeat_model", meta->model, sizeof meta->model,
			    path, err)) ||
	    (rc = attr_text(f, "vggfeat_fingerprint", meta->fingerprint,
			    sizeof meta->fingerprint, path, err)) ||
	    (rc = attr_text(f, "vggfeat_preprocess", meta->preprocess,
			    sizeof meta->preprocess, path, err)) ||
	    (rc = attr_text(f, "vggfeat_conv", meta->conv, sizeof meta->conv,
			    path, err)) ||
	    (rc = attr_text(f, "vggfeat_version", meta->version,
			    sizeof meta->version, path, err)))
		goto out;
	/* Heads from before the attribute were all trained on Winograd
	 * features. */
	if (!meta->conv[0])
		snprintf(meta->conv, sizeof meta->conv, "%s", HEAD_CONV_OLD);
	if (found) {
		meta->classes = classes.v;
		meta->nclasses = (int)classes.n;
		memset(&classes, 0, sizeof classes);
	}
out:
	h5util_strlist_free(&classes);
	dense_sets_close(&ds);
	if (f >= 0 && H5Fclose(f) < 0 && rc == 0)
		rc = err_set(err, ERR_FORMAT, "%s: closing failed (%s)", path,
			     h5util_reason(why, sizeof why));
	if (rc) {
		head_free(h);
		head_meta_free(meta);
	}
	H5Eclear2(H5E_DEFAULT);
	h5util_unquiet(&quiet);
	return rc;
}

/* head_load's child reads the file and sends the head down the pipe:
 *   int32 nlayers, the widths, nclasses; the meta strings (their fixed
 *   sizes); per class name: uint32 length, the bytes; the nparams floats.
 * Native byte order: both ends are the same program on the same machine. */
typedef struct head_job {
	const char *path;
	head_t *h;
	head_meta_t *meta;
} head_job_t;

typedef struct head_wire {
	int32_t nlayers, w[HEAD_MAX_LAYERS + 1], nclasses;
	char model[64], fingerprint[64], preprocess[256], conv[16], version[64];
} head_wire_t;

static int send_head(void *arg, int fd, char *err)
{
	const head_job_t *j = arg;
	head_t h;
	head_meta_t m;
	int rc = head_read(j->path, &h, &m, err);
	if (rc)
		return rc;
	head_wire_t w;
	memset(&w, 0, sizeof w);
	w.nlayers = h.nlayers;
	w.w[0] = h.D;
	for (int l = 0; l < h.nlayers; l++)
		w.w[l + 1] = h.layer[l].out;
	w.nclasses = m.nclasses;
	memcpy(w.model, m.model, sizeof w.model);
	memcpy(w.fingerprint, m.fingerprint, sizeof w.fingerprint);
	memcpy(w.preprocess, m.preprocess, sizeof w.preprocess);
	memcpy(w.conv, m.conv, sizeof w.conv);
	memcpy(w.version, m.version, sizeof w.version);
	int bad = h5child_write(fd, &w, sizeof w);
	for (int i = 0; i < m.nclasses && !bad; i++) {
		uint32_t len = (uint32_t)strlen(m.classes[i]);
		bad = h5child_write(fd, &len, sizeof len) ||
		      h5child_write(fd, m.classes[i], len);
	}
	if (!bad)
		bad = h5child_write(fd, h.params, h.nparams * sizeof(float));
	head_free(&h);
	head_meta_free(&m);
	return bad ? err_set(err, ERR_IO, "%s: sending the head failed", j->path) : 0;
}

static int receive_head(void *arg, int fd, char *err)
{
	const head_job_t *j = arg;
	head_wire_t w;
	int rc;

	if (h5child_read(fd, &w, sizeof w))
		return err_set(err, ERR_FORMAT, "%s: no head came back", j->path);
	if (w.nlayers < 1 || w.nlayers > HEAD_MAX_LAYERS)
		return err_set(err, ERR_FORMAT, "%s: a malformed head came back", j->path);
	if ((rc = head_alloc(w.nlayers, w.w, j->h, err)))
		return rc;
	if (w.nclasses != 0 && w.nclasses != j->h->K)
		return err_set(err, ERR_FORMAT, "%s: a malformed head came back", j->path);
	memcpy(j->meta->model, w.model, sizeof w.model);
	memcpy(j->meta->fingerprint, w.fingerprint, sizeof w.fingerprint);
	memcpy(j->meta->preprocess, w.preprocess, sizeof w.preprocess);
	memcpy(j->meta->conv, w.conv, sizeof w.conv);
	memcpy(j->meta->version, w.version, sizeof w.version);
	j->meta->model[sizeof w.model - 1] = j->meta->fingerprint[sizeof w.fingerprint - 1] = 0;
	j->meta->preprocess[sizeof w.preprocess - 1] = j->meta->version[sizeof w.version - 1] = 0;
	j->meta->conv[sizeof w.conv - 1] = 0;
	if (w.nclasses && !(j->meta->classes = calloc((size_t)w.nclasses, sizeof(char *))))
		return err_set(err, ERR_NOMEM, "%s: out of memory", j->path);
	for (int i = 0; i < w.nclasses; i++, j->meta->nclasses++) {
		uint32_t len;
		if (h5child_read(fd, &len, sizeof len) || len > (1u << 20) ||
		    !(j->meta->classes[i] = calloc(len + 1, 1)) ||
		    h5child_read(fd, j->meta->classes[i], len))
			return err_set(err, ERR_FORMAT, "%s: a malformed head came back",
				       j->path);
	}
	if (h5child_read(fd, j->h->params, j->h->nparams * sizeof(float)))
		return err_set(err, ERR_FORMAT, "%s: the head came back cut short", j->path);
	return 0;
}

int head_load(const char *path, head_t *h, head_meta_t *meta, char *err)
{
	head_job_t j = {path, h, meta};
	int rc;

	if ((rc = out_reset(path, h, meta, err)))
		return rc;
	if ((rc = h5child_run(path, send_head, receive_head, &j, err))) {
		head_free(h);
		head_meta_free(meta);
	}
	return rc;
}

void head_meta_free(head_meta_t *meta)
{
	if (!meta)
		return;
	for (int i = 0; i < meta->nclasses; i++)
		free(meta->classes[i]);
	free(meta->classes);
	memset(meta, 0, sizeof *meta);
}
