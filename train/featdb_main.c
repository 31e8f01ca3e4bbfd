/* featdb - inspect, export, verify and merge feature stores (common/featdb.h).
 *
 *   featdb info DB
 *   featdb export DB --out feats.h5
 *   featdb verify DB
 *   featdb merge OUT IN... */
#include <errno.h>
#include <getopt.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "classes.h"
#include "error.h"
#include "featdb.h"
#include "fsutil.h"
#include "h5util.h"
#include "version.h"

#define PROG "featdb"
/* Records per transaction when merging; rows per HDF5 write when exporting. */
#define FEATDB_TOOL_BATCH 256

static const char usage[] =
	"usage: featdb COMMAND ...\n"
	"\n"
	"  featdb info DB               records, people per split, model,\n"
	"                               dimension, dtype, weights fingerprint,\n"
	"                               size on disk\n"
	"  featdb export DB --out F.h5  an HDF5 file for numpy/Keras users\n"
	"                               (--out=F.h5 too):\n"
	"                               /features (N,D) float32, /labels (N) int32,\n"
	"                               /keys (N), /classes (C) strings, /split (N)\n"
	"                               uint8 (0 train, 1 valid, 2 test), key order\n"
	"  featdb verify DB             read and check every record; exit 1 and\n"
	"                               list the bad keys if any is wrong\n"
	"  featdb merge OUT IN...       merge stores made with the same weights\n"
	"                               and settings into OUT (created if needed)\n"
	"\n"
	"  -h, --help                   this text\n"
	"  --version                    print the version\n"
	"\n"
	"Options may come before or after the operands; \"--\" ends them (a\n"
	"store named -h: featdb info -- -h).\n";

/* Parses the options of command cmd (argv[0]), GNU style: options before,
 * between or after the operands, --out F or --out=F, "--" ends them (so a
 * file may be named -h).  Sets *out for export.  Returns the index of the
 * first operand, or -1 after printing help (*status CLI_OK) or a usage
 * error (*status CLI_USAGE). */
static int parse_options(int argc, char **argv, const char **out, int *status)
{
	enum { O_OUT = 256 };
	static const struct option lo[] = {
		{"out", required_argument, 0, O_OUT},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const int export = strcmp(argv[0], "export") == 0;
	int c;

	optind = 0; /* GNU: start over, the program's own options included */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_OUT:
			if (!export) {
				fprintf(stderr, PROG ": %s has no option --out\nTry '" PROG
					" --help'.\n", argv[0]);
				*status = CLI_USAGE;
				return -1;
			}
			*out = optarg;
			break;
		default:
			*status = cli_bad_option(PROG, argv);
			return -1;
		case 'h':
			fputs(usage, stdout);
			*status = CLI_OK;
			return -1;
		}
	}
	return optind;
}

/* Opens DB read-only with its metadata, printing the error. */
static int open_store(const char *path, featdb_t **db, featdb_meta_t *meta)
{
	char err[ERR_LEN];
	int rc = featdb_open(path, FEATDB_RDONLY, db, err);
	if (rc == 0 && (rc = featdb_meta_get(*db, meta, err)) == ERR_MISSING)
		snprintf(err, sizeof err, "%s: an empty store (no metadata yet)", path);
	if (rc) {
		fprintf(stderr, PROG ": error: %s\n", err);
		featdb_close(*db);
		*db = NULL;
	}
	return rc;
}

/* Reads the metadata and every record of DB (opened read-only here) in one
 * snapshot, so that they agree while an extract writes; fn reports its own
 * failures in err.  Prints the error and returns non-zero on failure. */
static int scan_store(const char *path, featdb_meta_t *meta, featdb_foreach_fn fn,
		      void *ctx, char *err)
{
	featdb_t *db = NULL;
	int rc = featdb_open(path, FEATDB_RDONLY, &db, err);

	if (rc == 0 && (rc = featdb_scan(db, meta, fn, ctx, err)) == ERR_MISSING)
		snprintf(err, ERR_LEN, "%s: an empty store (no metadata yet)", path);
	if (rc)
		fprintf(stderr, PROG ": error: %s\n", err);
	featdb_close(db);
	return rc;
}

/* info ----------------------------------------------------------------- */

typedef struct info {
	const featdb_meta_t *meta;
	uint64_t (*count)[3]; /* (C, split) */
	uint64_t total, bad, out_of_range;
	char *err;
} info_t;

static int info_alloc(info_t *in)
{
	if (!in->count &&
	    !(in->count = calloc((size_t)in->meta->nclasses + 1, sizeof *in->count)))
		return err_set(in->err, ERR_NOMEM, "out of memory");
	return 0;
}

static int info_one(void *ctx, const char *key, size_t keylen,
		    const featdb_rec_t *rec, const char *why)
{
	info_t *in = ctx;
	int rc = info_alloc(in);

	if (rc)
		return rc;
	in->total++;
	if (!rec) {
		in->bad++;
		return 0;
	}
	if (rec->cls < 0 || rec->cls >= in->meta->nclasses || rec->split > 2) {
		in->out_of_range++;
		return 0;
	}
	in->count[rec->cls][rec->split]++;
	return 0;
}

static uint64_t dir_bytes(const char *db, const char *file, int allocated)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", db, file);
	if (stat(p, &st) != 0)
		return 0;
	return allocated ? (uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size;
}

static int cmd_info(int argc, char **argv)
{
	featdb_meta_t meta = {0};
	char err[ERR_LEN];
	info_t in = {.meta = &meta, .err = err};
	int status = CLI_ERROR;

	if (argc != 1) {
		fprintf(stderr, PROG ": usage: featdb info DB\n");
		return CLI_USAGE;
	}
	if (scan_store(argv[0], &meta, info_one, &in, err))
		goto out;
	if (info_alloc(&in)) {
		fprintf(stderr, PROG ": error: %s\n", err);
		goto out;
	}
	printf("store:       %s\n", argv[0]);
	printf("records:     %llu\n", (unsigned long long)in.total);
	printf("people:      %d\n", meta.nclasses);
	printf("model:       %s\n", meta.model);
	printf("dimension:   %d\n", meta.dim);
	printf("dtype:       %s\n", featdb_dtype_name(meta.dtype));
	printf("fingerprint: %s\n", meta.fingerprint);
	printf("preprocess:  %s\n", meta.preprocess);
	printf("written by:  %s\n", meta.version);
	printf("size:        %.1f MB on disk (data.mdb %.1f MB allocated)\n",
	       (dir_bytes(argv[0], "data.mdb", 1) + dir_bytes(argv[0], "lock.mdb", 1)) / 1e6,
	       dir_bytes(argv[0], "data.mdb", 1) / 1e6);
	if (in.bad || in.out_of_range)
		printf("damaged:     %llu records (run featdb verify)\n",
		       (unsigned long long)(in.bad + in.out_of_range));
	uint64_t split_total[3] = {0};
	for (int c = 0; c < meta.nclasses; c++)
		for (int s = 0; s < 3; s++)
			split_total[s] += in.count[c][s];
	printf("splits:      train %llu, valid %llu, test %llu\n",
	       (unsigned long long)split_total[0], (unsigned long long)split_total[1],
	       (unsigned long long)split_total[2]);
	printf("\n%-6s %-32s %7s %7s %7s\n", "class", "person", "train", "valid", "test");
	for (int c = 0; c < meta.nclasses; c++)
		printf("%-6d %-32s %7llu %7llu %7llu\n", c, meta.classes[c],
		       (unsigned long long)in.count[c][0], (unsigned long long)in.count[c][1],
		       (unsigned long long)in.count[c][2]);
	status = CLI_OK;
out:
	free(in.count);
	featdb_meta_free(&meta);
	return status;
}

/* verify --------------------------------------------------------------- */

typedef struct verify {
	const featdb_meta_t *meta;
	uint64_t total, bad;
	float *vec; /* (meta->dim) */
	char *err;
} verify_t;

static void verify_bad(verify_t *v, const char *key, size_t keylen, const char *why)
{
	v->bad++;
	printf("bad\t%.*s\t%s\n", (int)keylen, key, why);
}

static int verify_one(void *ctx, const char *key, size_t keylen,
		      const featdb_rec_t *rec, const char *why)
{
	verify_t *v = ctx;
	char msg[ERR_LEN];

	if (!v->vec && !(v->vec = malloc((size_t)v->meta->dim * sizeof *v->vec)))
		return err_set(v->err, ERR_NOMEM, "out of memory");
	v->total++;
	if (!rec) {
		verify_bad(v, key, keylen, why);
		return 0;
	}
	if (rec->dim != v->meta->dim || rec->dtype != v->meta->dtype) {
		snprintf(msg, sizeof msg, "%d-d %s, the store says %d-d %s", rec->dim,
			 featdb_dtype_name(rec->dtype), v->meta->dim, featdb_dtype_name(v->meta->dtype));
		verify_bad(v, key, keylen, msg);
		return 0;
	}
	if (rec->cls < 0 || rec->cls >= v->meta->nclasses) {
		snprintf(msg, sizeof msg, "class %d, the store has %d", (int)rec->cls,
			 v->meta->nclasses);
		verify_bad(v, key, keylen, msg);
		return 0;
	}
	featdb_rec_vector(rec, v->vec);
	for (int i = 0; i < rec->dim; i++)
		if (!isfinite(v->vec[i]) || v->vec[i] < 0) {
			/* fc2 ends with a ReLU: a NaN, an infinity or a negative
			 * value cannot come from the network. */
			snprintf(msg, sizeof msg, "element %d is %g, not a ReLU output", i,
				 v->vec[i]);
			verify_bad(v, key, keylen, msg);
			return 0;
		}
	return 0;
}

static int cmd_verify(int argc, char **argv)
{
	featdb_meta_t meta = {0};
	char err[ERR_LEN];
	verify_t v = {.meta = &meta, .err = err};
	int status = CLI_ERROR;

	if (argc != 1) {
		fprintf(stderr, PROG ": usage: featdb verify DB\n");
		return CLI_USAGE;
	}
	if (scan_store(argv[0], &meta, verify_one, &v, err))
		goto out;
	if (v.total != meta.count) {
		printf("bad\t(store)\tthe metadata counts %llu records, the store holds %llu\n",
		       (unsigned long long)meta.count, (unsigned long long)v.total);
		v.bad++;
	}
	if (v.bad) {
		fprintf(stderr, PROG ": %s: %llu of %llu records are bad\n", argv[0],
			(unsigned long long)v.bad, (unsigned long long)v.total);
		goto out;
	}
	printf("%s: %llu records, all good\n", argv[0], (unsigned long long)v.total);
	status = CLI_OK;
out:
	free(v.vec);
	featdb_meta_free(&meta);
	return status;
}

/* export --------------------------------------------------------------- */

typedef struct export {
	const featdb_meta_t *meta;
	const char *out;   /* the requested file */
	char tmp[4200];    /* written here, renamed to out at the end */
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
		if (H5Dset_extent(sets[i].d, size) < 0 ||
		    (fs = H5Dget_space(sets[i].d)) < 0 ||
		    H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
		    (ms = H5Screate_simple(sets[i].two ? 2 : 1, count, NULL)) < 0 ||
		    H5Dwrite(sets[i].d, sets[i].t, ms, fs, H5P_DEFAULT, sets[i].buf) < 0)
			rc = err_set(x->err, ERR_IO, "%s: writing rows %llu.. failed (disk full?)",
				     x->out, (unsigned long long)x->rows);
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

/* An extensible dataset of rank 1 (or 2 with D columns), chunked by rows. */
static hid_t make_rows(hid_t f, const char *name, hid_t type, hsize_t D)
{
	hsize_t dims[2] = {0, D}, max[2] = {H5S_UNLIMITED, D};
	hsize_t chunk[2] = {FEATDB_TOOL_BATCH, D};
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

/* Creates the file and its layout once the metadata is known: at the first
 * record, or after the walk when the store holds none. */
static int export_setup(export_t *x)
{
	size_t bytes;

	if (x->ready)
		return 0;
	x->ready = 1;
	if (err_mul3_size(FEATDB_TOOL_BATCH, (size_t)x->meta->dim, sizeof *x->feat,
			  &bytes) || !(x->feat = malloc(bytes)))
		return err_set(x->err, ERR_NOMEM, "out of memory");
	errno = 0;
	x->f = H5Fcreate(x->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (x->f < 0)
		return err_set(x->err, ERR_IO, "%s: cannot create (%s)", x->out,
			       strerror(errno ? errno : EIO));
	if ((x->strtype = H5Tcopy(H5T_C_S1)) < 0 ||
	    H5Tset_size(x->strtype, H5T_VARIABLE) < 0 ||
	    H5Tset_cset(x->strtype, H5T_CSET_UTF8) < 0 ||
	    (x->dfeat = make_rows(x->f, "features", H5T_IEEE_F32LE,
				  (hsize_t)x->meta->dim)) < 0 ||
	    (x->dlab = make_rows(x->f, "labels", H5T_STD_I32LE, 0)) < 0 ||
	    (x->dkey = make_rows(x->f, "keys", x->strtype, 0)) < 0 ||
	    (x->dsplit = make_rows(x->f, "split", H5T_STD_U8LE, 0)) < 0 ||
	    h5util_write_dataset(x->f, "classes", x->strtype, x->strtype, 1,
				 (hsize_t[]){(hsize_t)x->meta->nclasses}, H5P_DEFAULT,
				 H5P_DEFAULT, x->meta->classes) ||
	    h5util_attr_write_text(x->f, "fingerprint", x->meta->fingerprint) ||
	    h5util_attr_write_text(x->f, "preprocess", x->meta->preprocess) ||
	    h5util_attr_write_text(x->f, "model", x->meta->model))
		return err_set(x->err, ERR_IO, "%s: cannot write the HDF5 layout", x->out);
	return 0;
}

static int export_one(void *ctx, const char *key, size_t keylen,
		      const featdb_rec_t *rec, const char *why)
{
	export_t *x = ctx;
	int rc = export_setup(x);

	if (rc)
		return rc;
	if (!rec)
		return err_set(x->err, ERR_FORMAT, "record '%.*s': %s (run featdb verify)",
			       (int)keylen, key, why);
	if (rec->dim != x->meta->dim)
		return err_set(x->err, ERR_FORMAT, "record '%.*s' is %d-d, the store %d-d",
			       (int)keylen, key, rec->dim, x->meta->dim);
	featdb_rec_vector(rec, x->feat + (size_t)x->n * (size_t)x->meta->dim);
	x->lab[x->n] = rec->cls;
	x->split[x->n] = (uint8_t)rec->split;
	if (!(x->key[x->n] = strndup(key, keylen)))
		return err_set(x->err, ERR_NOMEM, "out of memory");
	if (++x->n == FEATDB_TOOL_BATCH)
		return export_flush(x);
	return 0;
}

static int cmd_export(int argc, char **argv, const char *out)
{
	const char *dbpath = NULL;
	featdb_meta_t meta = {0};
	char err[ERR_LEN];
	export_t x = {.meta = &meta, .err = err, .out = out, .f = -1, .dfeat = -1,
		      .dlab = -1, .dkey = -1, .dsplit = -1, .strtype = -1};
	h5util_quiet_t quiet;
	int status = CLI_ERROR, rc;

	if (argc == 1)
		dbpath = argv[0];
	if (!dbpath || !x.out) {
		fprintf(stderr, PROG ": usage: featdb export DB --out FILE.h5\n");
		return CLI_USAGE;
	}
	/* Written next to the target and renamed at the end, so a failed export
	 * never leaves a half file under the requested name. */
	if ((size_t)snprintf(x.tmp, sizeof x.tmp, "%s.tmp.%d", x.out, (int)getpid()) >=
	    sizeof x.tmp) {
		fprintf(stderr, PROG ": error: %s: path too long\n", x.out);
		return CLI_ERROR;
	}
	h5util_quiet(&quiet);
	if (scan_store(dbpath, &meta, export_one, &x, err))
		goto out;
	if ((rc = export_setup(&x)) == 0)
		rc = export_flush(&x);
	if (rc) {
		fprintf(stderr, PROG ": error: %s\n", err);
		goto out;
	}
	rc = H5Dclose(x.dfeat) | H5Dclose(x.dlab) | H5Dclose(x.dkey) | H5Dclose(x.dsplit);
	x.dfeat = x.dlab = x.dkey = x.dsplit = -1;
	rc |= H5Fclose(x.f);
	x.f = -1;
	/* The bytes on the disk before the rename, as head_save does: a crash
	 * must not leave the requested name on an empty or partial file. */
	if (rc < 0 || fsutil_sync_file(x.tmp) != 0 || rename(x.tmp, x.out) != 0) {
		fprintf(stderr, PROG ": error: %s: %s\n", x.out,
			rc < 0 ? "closing the HDF5 file failed (disk full?)" : strerror(errno));
		goto out;
	}
	/* The rename is done: the folder's flush is best effort, as head_save's. */
	fsutil_sync_dir_of(x.out);
	fprintf(stderr, PROG ": exported %llu records of %d people to %s\n",
		(unsigned long long)x.rows, meta.nclasses, x.out);
	status = CLI_OK;
out:
	for (int i = 0; i < x.n; i++)
		free(x.key[i]);
	if (x.dfeat >= 0) H5Dclose(x.dfeat);
	if (x.dlab >= 0) H5Dclose(x.dlab);
	if (x.dkey >= 0) H5Dclose(x.dkey);
	if (x.dsplit >= 0) H5Dclose(x.dsplit);
	if (x.strtype >= 0) H5Tclose(x.strtype);
	if (x.f >= 0)
		H5Fclose(x.f);
	if (status != CLI_OK && x.ready)
		unlink(x.tmp);
	h5util_unquiet(&quiet);
	free(x.feat);
	featdb_meta_free(&meta);
	return status;
}

/* merge ---------------------------------------------------------------- */

typedef struct merge {
	featdb_t *out;
	featdb_meta_t *meta;       /* OUT's metadata: the union of classes */
	const featdb_meta_t *in;   /* the input being read */
	const featdb_meta_t *now;  /* its metadata in the snapshot being read */
	int checked;               /* now was compared with in */
	int *cmap;                 /* input class -> union class */
	int n;
	char *key[FEATDB_TOOL_BATCH];
	uint8_t *val[FEATDB_TOOL_BATCH];
	size_t len[FEATDB_TOOL_BATCH];
	uint64_t added, same, conflicts;
	char err[ERR_LEN];
} merge_t;

static int merge_flush(merge_t *m)
{
	int rc = 0;
	if (m->n)
		rc = featdb_write(m->out, m->meta, m->n, (const char *const *)m->key,
				  (const uint8_t *const *)m->val, m->len, m->err);
	for (int i = 0; i < m->n; i++) {
		free(m->key[i]);
		free(m->val[i]);
	}
	if (rc == 0)
		m->added += (uint64_t)m->n;
	m->n = 0;
	return rc;
}

static int merge_one(void *ctx, const char *key, size_t keylen,
		     const featdb_rec_t *rec, const char *why)
{
	merge_t *m = ctx;
	size_t len;
	uint8_t *have = NULL, *val;
	size_t havelen;
	char *k;

	if (!m->checked) {
		/* The class map was made from the metadata read first. */
		if (!classes_equal(m->now->classes, m->now->nclasses, m->in->classes,
				   m->in->nclasses))
			return err_set(m->err, ERR_MISMATCH, "people were added while "
				       "merging (an extract is writing to it?); try again "
				       "when it is done");
		m->checked = 1;
	}
	if (!rec)
		return err_set(m->err, ERR_FORMAT, "record '%.*s': %s (run featdb verify)",
			       (int)keylen, key, why);
	if (rec->cls < 0 || rec->cls >= m->in->nclasses)
		return err_set(m->err, ERR_FORMAT, "record '%.*s' has class %d of %d",
			       (int)keylen, key, (int)rec->cls, m->in->nclasses);
	len = featdb_rec_size(rec->dtype, rec->dim);
	k = strndup(key, keylen);
	val = malloc(len);
	float *vec = malloc((size_t)rec->dim * sizeof *vec);
	if (!k || !val || !vec) {
		free(k), free(val), free(vec);
		return err_set(m->err, ERR_NOMEM, "out of memory");
	}
	featdb_rec_vector(rec, vec);
	int rc = featdb_rec_encode(vec, rec->dim, rec->dtype, m->cmap[rec->cls],
				   rec->split, val, m->err);
	free(vec);
	/* The same image extracted twice with the same weights gives the same
	 * record; anything else is a conflict that must not be papered over. */
	int has = rc ? rc : featdb_get(m->out, k, &have, &havelen, m->err);
	if (has == 0) {
		/* A record already in OUT has OUT's class numbering, which may
		 * change when this merge adds people: compare names, not numbers. */
		featdb_rec_t hr;
		int same = featdb_rec_decode(have, havelen, &hr, NULL) == 0 &&
			   hr.split == rec->split && hr.dim == rec->dim &&
			   hr.dtype == rec->dtype && hr.cls >= 0 &&
			   hr.cls < m->meta->nclasses &&
			   strcmp(m->meta->classes[hr.cls],
				  m->in->classes[rec->cls]) == 0 &&
			   memcmp(hr.data, val + FEATDB_HEADER, len - FEATDB_HEADER) == 0;
		if (same) {
			m->same++;
		} else {
			m->conflicts++;
			fprintf(stderr, PROG ": conflict: '%s' differs between inputs; "
				"kept the first\n", k);
		}
		free(have), free(k), free(val);
		return 0;
	}
	if (has != ERR_MISSING) {
		free(k), free(val);
		return has;
	}
	m->key[m->n] = k;
	m->val[m->n] = val;
	m->len[m->n] = len;
	if (++m->n == FEATDB_TOOL_BATCH)
		return merge_flush(m);
	return 0;
}

/* union_into adds the people of from to meta's (classes_union). */
static int union_into(featdb_meta_t *meta, const featdb_meta_t *from, char *err)
{
	char **u;
	int n, rc = classes_union(meta->classes, meta->nclasses, from->classes,
				  from->nclasses, &u, &n, err);

	if (rc)
		return rc;
	featdb_meta_free(meta);
	meta->classes = u;
	meta->nclasses = n;
	return 0;
}

static int same_settings(const featdb_meta_t *a, const char *an,
			 const featdb_meta_t *b, const char *bn)
{
	const char *what = strcmp(a->model, b->model)             ? "model"
			   : strcmp(a->fingerprint, b->fingerprint) ? "weights fingerprint"
			   : strcmp(a->preprocess, b->preprocess)   ? "preprocessing"
			   : a->dim != b->dim                      ? "dimension"
			   : a->dtype != b->dtype                  ? "dtype"
								   : NULL;
	if (!what)
		return 1;
	fprintf(stderr, PROG ": error: %s and %s differ in %s (%s %s/%s/%s/%d/%s vs "
		"%s/%s/%s/%d/%s); only stores made the same way can be merged\n",
		an, bn, what, "model/fingerprint/preprocess/dim/dtype", a->model,
		a->fingerprint, a->preprocess, a->dim, featdb_dtype_name(a->dtype), b->model,
		b->fingerprint, b->preprocess, b->dim, featdb_dtype_name(b->dtype));
	return 0;
}

static int cmd_merge(int argc, char **argv)
{
	featdb_t *out = NULL;
	featdb_meta_t *ins = NULL, ometa = {0}, meta = {0};
	merge_t m = {0};
	char err[ERR_LEN];
	int status = CLI_ERROR, nin = argc - 1, have_out = 0;
	size_t total = 0; /* class names of every list: may pass INT_MAX */

	if (argc < 2) {
		fprintf(stderr, PROG ": usage: featdb merge OUT IN...\n");
		return CLI_USAGE;
	}
	ins = calloc((size_t)nin, sizeof *ins);
	if (!ins)
		goto nomem;
	/* Every input's metadata first: refuse before writing anything. */
	for (int i = 0; i < nin; i++) {
		featdb_t *db = NULL;
		if (strcmp(argv[i + 1], argv[0]) == 0) {
			fprintf(stderr, PROG ": error: %s is both OUT and IN\n", argv[0]);
			goto out;
		}
		if (open_store(argv[i + 1], &db, &ins[i]))
			goto out;
		featdb_close(db);
		if (i && !same_settings(&ins[0], argv[1], &ins[i], argv[i + 1]))
			goto out;
		total += (size_t)ins[i].nclasses;
	}
	if (featdb_open(argv[0], FEATDB_CREATE, &out, err)) {
		fprintf(stderr, PROG ": error: %s\n", err);
		goto out;
	}
	int rc = featdb_meta_get(out, &ometa, err);
	if (rc == 0) {
		have_out = 1;
		if (!same_settings(&ometa, argv[0], &ins[0], argv[1]))
			goto out;
		total += (size_t)ometa.nclasses;
	} else if (rc != ERR_MISSING) {
		fprintf(stderr, PROG ": error: %s\n", err);
		goto out;
	}
	/* The union is counted in an int, as every class list. */
	if (total > INT_MAX) {
		fprintf(stderr, PROG ": error: %zu class names in all, more than %d\n",
			total, INT_MAX);
		goto out;
	}
	/* The union of every class list, sorted: Keras' indices. */
	meta = ins[0];
	meta.classes = NULL;
	meta.nclasses = 0;
	rc = have_out ? union_into(&meta, &ometa, err) : 0;
	for (int i = 0; i < nin && rc == 0; i++)
		rc = union_into(&meta, &ins[i], err);
	if (rc) {
		fprintf(stderr, PROG ": error: %s\n", err);
		goto out;
	}
	snprintf(meta.version, sizeof meta.version, PROG " " VGGFEAT_VERSION);
	m.out = out;
	m.meta = &meta;
	for (int i = 0; i < nin; i++) {
		featdb_t *db = NULL;
		featdb_meta_t now = {0};
		m.in = &ins[i];
		m.now = &now;
		m.checked = 0;
		free(m.cmap);
		m.cmap = calloc((size_t)ins[i].nclasses + 1, sizeof *m.cmap);
		if (!m.cmap)
			goto nomem;
		/* Every input's people are in the union. */
		classes_map(ins[i].classes, ins[i].nclasses, meta.classes, meta.nclasses,
			    m.cmap, NULL);
		if ((rc = featdb_open(argv[i + 1], FEATDB_RDONLY, &db, err)) == 0)
			rc = featdb_scan(db, &now, merge_one, &m, err);
		featdb_close(db);
		featdb_meta_free(&now);
		if (rc == 0)
			rc = merge_flush(&m);
		else if (rc > 0 || m.err[0])
			snprintf(err, sizeof err, "%s", m.err);
		if (rc) {
			fprintf(stderr, PROG ": error: %s: %s\n", argv[i + 1], m.err[0] ? m.err : err);
			goto out;
		}
	}
	/* An OUT with nothing new still gets the union of the class lists. */
	if (m.added == 0 && featdb_write(out, &meta, 0, NULL, NULL, NULL, err)) {
		fprintf(stderr, PROG ": error: %s\n", err);
		goto out;
	}
	fprintf(stderr, PROG ": merged %d stores into %s: %llu records added, %llu "
		"already there, %llu conflicts; %d people\n", nin, argv[0],
		(unsigned long long)m.added, (unsigned long long)m.same,
		(unsigned long long)m.conflicts, meta.nclasses);
	status = m.conflicts ? CLI_ERROR : CLI_OK;
	goto out;
nomem:
	fprintf(stderr, PROG ": error: out of memory\n");
out:
	for (int i = 0; i < m.n; i++)
		free(m.key[i]), free(m.val[i]);
	free(m.cmap);
	featdb_meta_free(&meta);
	featdb_meta_free(&ometa);
	for (int i = 0; ins && i < nin; i++)
		featdb_meta_free(&ins[i]);
	free(ins);
	featdb_close(out);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return CLI_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
		fputs(usage, stdout);
		return CLI_OK;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf(PROG " " VGGFEAT_VERSION "\n");
		return CLI_OK;
	}
	const char *out = NULL;
	int status = CLI_USAGE, first = parse_options(argc - 1, argv + 1, &out, &status);
	if (first < 0)
		return status;
	int nargs = argc - 1 - first;
	char **args = argv + 1 + first;
	if (strcmp(cmd, "info") == 0)
		status = cmd_info(nargs, args);
	else if (strcmp(cmd, "export") == 0)
		status = cmd_export(nargs, args, out);
	else if (strcmp(cmd, "verify") == 0)
		status = cmd_verify(nargs, args);
	else if (strcmp(cmd, "merge") == 0)
		status = cmd_merge(nargs, args);
	else {
		fprintf(stderr, PROG ": unknown command '%s'\nTry '" PROG " --help'.\n", cmd);
		return CLI_USAGE;
	}
	/* info's report and verify's verdict are the answer: one that did not
	 * reach the standard output is a failure. */
	if (status == CLI_OK && cli_flush_stdout(PROG))
		status = CLI_ERROR;
	return status;
}
