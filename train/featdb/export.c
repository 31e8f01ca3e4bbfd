/* export.c - featdb export (featdb_tool.h).  A file already at --out is
 * replaced only when it is an export: never a head, a photo or a model of
 * the user's.  libhdf5 writes in a child process (h5child_run_writer): a
 * write that fails (a full disk) leaves libhdf5 1.10 with a file it cannot
 * close, and its exit handler then dies (SIGSEGV in H5F__close_cb), which
 * must not be featdb's death. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/stopguard.h"
#include "cli.h"
#include "error.h"
#include "hdf5/h5child.h"
#include "hdf5/h5util.h"
#include "featdb_tool.h"
#include "net/model.h"

/* What the child tells the parent, in memory shared before the fork. */
typedef struct export_done {
	unsigned long long rows;
	int nclasses;
} export_done_t;

typedef struct export {
	const char *db;    /* the store */
	const featdb_meta_t *meta;
	const char *out;   /* the requested file */
	fsutil_dest_t dest; /* dest.tmp written, renamed over out's file */
	export_done_t *done;
	int ready;         /* export_setup ran */
	hid_t f, dfeat, dlab, dkey, dsplit, strtype;
	hsize_t rows;  /* written so far */
	int n;         /* buffered */
	float *feat;   /* (FEATDB_TOOL_BATCH, D) */
	int32_t lab[FEATDB_TOOL_BATCH];
	uint8_t split[FEATDB_TOOL_BATCH];
	char *key[FEATDB_TOOL_BATCH];
	char *err;
} export_t;

/* Appends the n buffered rows to each (extensible) dataset. */
static int export_flush(export_t *x)
{
	struct { hid_t d; hid_t t; const void *buf; int two; } sets[] = {
		{x->dfeat, H5T_NATIVE_FLOAT, x->feat, 1},
		{x->dlab, H5T_NATIVE_INT32, x->lab, 0},
		{x->dkey, x->strtype, x->key, 0},
		{x->dsplit, H5T_NATIVE_UINT8, x->split, 0},
	};
	hsize_t D = (hsize_t)x->meta->dim;
	int rc = 0;

	if (x->n == 0)
		return 0;
	for (size_t i = 0; i < sizeof sets / sizeof *sets && rc == 0; i++) {
		hsize_t size[2] = {x->rows + (hsize_t)x->n, D};
		hsize_t start[2] = {x->rows, 0}, count[2] = {(hsize_t)x->n, D};
		hid_t fs = -1, ms = -1;
		errno = 0;
		if (H5Dset_extent(sets[i].d, size) < 0 ||
		    (fs = H5Dget_space(sets[i].d)) < 0 ||
		    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
		    (ms = H5Screate_simple(sets[i].two ? 2 : 1, count, NULL)) < 0 ||
		    H5Dwrite(sets[i].d, sets[i].t, ms, fs, H5P_DEFAULT, sets[i].buf) < 0)
			rc = err_set(x->err, ERR_IO, "%s: writing rows %llu.. failed: %s",
				     x->out, (unsigned long long)x->rows,
				     errno ? strerror(errno) : "disk full?");
		if (ms >= 0)
			H5Sclose(ms);
		if (fs >= 0)
			H5Sclose(fs);
	}
	for (int i = 0; i < x->n; i++) {
		free(x->key[i]);
		x->key[i] = NULL;
	}
	x->rows += (hsize_t)x->n;
	x->n = 0;
	return rc;
}

/* An extensible dataset of rank 1 (or 2 with D columns), chunked by rows:
 * FEATDB_TOOL_BATCH, or the store's records when it holds fewer (a chunk
 * is written whole: 256 rows for a store of 20 made a file 13 times its
 * data). */
static hid_t make_rows(hid_t f, const char *name, hid_t type, hsize_t D,
		       hsize_t rows)
{
	hsize_t dims[2] = {0, D}, max[2] = {H5S_UNLIMITED, D};
	hsize_t chunk[2] = {rows, D};
	int rank = D ? 2 : 1;
	hid_t sp = H5Screate_simple(rank, dims, max), pl = H5Pcreate(H5P_DATASET_CREATE);
	hid_t d = -1;
	if (sp >= 0 && pl >= 0 && H5Pset_chunk(pl, rank, chunk) >= 0)
		d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
	if (pl >= 0)
		H5Pclose(pl);
	if (sp >= 0)
		H5Sclose(sp);
	return d;
}

/* write_tap writes the attributes layer and pooling: where the store's
 * vectors were taken ("block5_pool", "avg"; "none" without pooling, the
 * pool layer's Flatten). */
static int write_tap(export_t *x)
{
	const char *pooling;
	int model, tap;

	if (model_store_parse(x->meta->model, &model, &tap))
		return -1;
	pooling = model_tap_info(tap)->pooling;
	return h5util_attr_write_text(x->f, "layer", model_tap_layer(model, tap)) ||
	       h5util_attr_write_text(x->f, "pooling", pooling ? pooling : "none");
}

/* Creates the file and its layout once the metadata is known: at the first
 * record, or after the walk when the store holds none. */
static int export_setup(export_t *x)
{
	size_t bytes;
	hsize_t rows = x->meta->count < FEATDB_TOOL_BATCH ? x->meta->count : FEATDB_TOOL_BATCH;

	if (rows == 0)
		rows = 1;
	if (x->ready)
		return 0;
	x->ready = 1;
	if (err_mul3_size(FEATDB_TOOL_BATCH, (size_t)x->meta->dim, sizeof *x->feat,
			  &bytes) || !(x->feat = malloc(bytes)))
		return err_set(x->err, ERR_NOMEM, "out of memory");
	errno = 0;
	x->f = H5Fcreate(x->dest.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (x->f < 0)
		return err_set(x->err, ERR_IO, "%s: creating it failed: %s", x->out,
			       strerror(errno ? errno : EIO));
	if ((x->strtype = H5Tcopy(H5T_C_S1)) < 0 ||
	    H5Tset_size(x->strtype, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(x->strtype, H5T_CSET_UTF8) < 0 ||
	    (x->dfeat = make_rows(x->f, "features", H5T_IEEE_F32LE,
				  (hsize_t)x->meta->dim, rows)) < 0 ||
	    (x->dlab = make_rows(x->f, "labels", H5T_STD_I32LE, 0, rows)) < 0 ||
	    (x->dkey = make_rows(x->f, "keys", x->strtype, 0, rows)) < 0 ||
	    (x->dsplit = make_rows(x->f, "split", H5T_STD_U8LE, 0, rows)) < 0 ||
	    h5util_write_dataset(x->f, "classes", x->strtype, x->strtype, 1,
				 (hsize_t[]){(hsize_t)x->meta->nclasses}, H5P_DEFAULT,
				 H5P_DEFAULT, x->meta->classes) ||
	    h5util_attr_write_text(x->f, "fingerprint", x->meta->fingerprint) ||
	    h5util_attr_write_text(x->f, "preprocess", x->meta->preprocess) ||
	    h5util_attr_write_text(x->f, "conv", x->meta->conv) ||
	    h5util_attr_write_text(x->f, "model", x->meta->model) ||
	    write_tap(x))
		return err_set(x->err, ERR_IO, "%s: writing the HDF5 layout failed: %s", x->out,
			       errno ? strerror(errno) : "disk full?");
	return 0;
}

static int export_one(void *ctx, const char *key, size_t keylen,
		      const featdb_rec_t *rec, const char *why)
{
	export_t *x = ctx;
	int rc = export_setup(x);

	if (rc)
		return rc;
	/* A damaged record stops the export (a NaN, or a class past the list,
	 * in a user's numpy array is worse than no array), with the way on. */
	char fault[ERR_LEN], way[ERR_LEN];
	float *vec = x->feat + (size_t)x->n * (size_t)x->meta->dim;
	if (!rec)
		snprintf(fault, sizeof fault, "%s", why);
	if (!rec || featdb_rec_sound(x->meta, rec, vec, fault))
		return err_set(x->err, ERR_FORMAT, "record '%.*s': %s; %s", (int)keylen, key,
			       fault, fdb_damaged_way(x->db, "export", way, sizeof way));
	x->lab[x->n] = rec->cls;
	x->split[x->n] = (uint8_t)rec->split;
	if (!(x->key[x->n] = strndup(key, keylen)))
		return err_set(x->err, ERR_NOMEM, "out of memory");
	if (++x->n == FEATDB_TOOL_BATCH)
		return export_flush(x);
	return 0;
}

/* In a child process (h5child.h: a damaged file must not take featdb
 * down): 0 when the file arg holds what export_setup writes. */
static int export_layout(void *arg, int fd, char *err)
{
	const char *path = arg;
	hid_t f;
	int ok;

	(void)fd;
	if (H5Fis_hdf5(path) <= 0)
		return err_set(err, ERR_FORMAT, "not an HDF5 file");
	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	ok = f >= 0 && h5util_link_exists(f, "features") == 1 &&
	     h5util_link_exists(f, "labels") == 1 && H5Aexists(f, "fingerprint") > 0;
	if (f >= 0)
		H5Fclose(f);
	return ok ? 0 : err_set(err, ERR_FORMAT, "an HDF5 file without an export's "
				"features, labels and fingerprint");
}

/* fsutil_output_t's ours: an earlier export (export_layout, in a child). */
static int an_export(const char *path, char *why, size_t len)
{
	return h5child_verdict(path, export_layout, why, len);
}

static const fsutil_output_t export_file = {
	.what = "a featdb export",
	.folder = "--out names the export's file",
	.example = "feats.h5",
	.refusal = "export replaces only a file it wrote: move that file away or "
		   "give another --out",
	.ours = an_export,
};

/* export_write, the child's side of h5child_run_writer: the store read
 * and the whole file written at x->dest.tmp, closed; what it holds told back
 * through x->done. */
static int export_write(void *arg, int fd, char *err)
{
	export_t *x = arg;
	featdb_meta_t meta = {0};
	int rc;

	(void)fd;
	x->meta = &meta;
	x->err = err;
	if ((rc = fdb_scan(x->db, &meta, export_one, x, err)) == 0 &&
	    (rc = export_setup(x)) == 0)
		rc = export_flush(x);
	if (rc == 0) {
		errno = 0;
		rc = H5Dclose(x->dfeat) | H5Dclose(x->dlab) | H5Dclose(x->dkey) |
		     H5Dclose(x->dsplit) | H5Tclose(x->strtype);
		x->dfeat = x->dlab = x->dkey = x->dsplit = x->strtype = -1;
		rc |= H5Fclose(x->f);
		x->f = -1;
		rc = rc < 0 ? err_set(err, ERR_IO, "%s: closing the HDF5 file failed: %s",
				      x->out, errno ? strerror(errno) : "disk full?") : 0;
	}
	x->done->rows = x->rows;
	x->done->nclasses = meta.nclasses;
	for (int i = 0; i < x->n; i++)
		free(x->key[i]);
	free(x->feat);
	featdb_meta_free(&meta);
	return rc;
}

int fdb_export(const char *dbpath, const char *out)
{
	char err[ERR_LEN];
	export_done_t *done = h5child_map(sizeof *done);
	export_t x = {.db = dbpath, .out = out, .done = done, .f = -1, .dfeat = -1,
		      .dlab = -1, .dkey = -1, .dsplit = -1, .strtype = -1};
	h5util_quiet_t quiet;
	int status = CLI_ERROR, rc;

	if (!done)
		return cli_error(PROG, "out of memory");
	h5util_quiet(&quiet);
	if (fsutil_replaceable(out, &export_file, err)) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	/* Written beside the target and renamed at the end, so a failed export
	 * never leaves a half file under the requested name. */
	if (fsutil_dest_open(&x.dest, out)) {
		fsutil_path_error(out, errno, ERR_IO, err);
		cli_error(PROG, "%s", err);
		goto out;
	}
	/* The messages name out, the user's name, not the temporary file's.
	 * Stopped while it writes (Ctrl-C), the temporary file goes too. */
	stopguard_arm(x.dest.tmp);
	rc = h5child_run_writer(out, export_write, &x, err);
	if (rc == 0 && fsutil_dest_commit(&x.dest) != 0)
		rc = err_set(err, ERR_IO, "%s: writing failed: %s", out, strerror(errno));
	if (rc)
		fsutil_dest_failed(&x.dest, rc, err);
	stopguard_disarm();
	if (rc) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	fprintf(stderr, PROG ": exported %llu records of %d people to %s\n",
		done->rows, done->nclasses, out);
	status = CLI_OK;
out:
	h5util_unquiet(&quiet);
	h5child_unmap(done, sizeof *done);
	return status;
}
