/* extract - run VGG16 through fc2 (or VGG-Face through fc7: the same
 * network, weights.h) once per image of a face folder and store the 4096-d
 * vectors in an LMDB feature store (see common/featdb.h).
 *
 * Pipeline: decoder threads load and preprocess images, in list order, into
 * a ring of RING batches; the main thread runs the network on one batch at
 * a time and commits its records in one transaction.  So a crash loses at
 * most the batch in flight, and a rerun skips every key already stored.
 *
 * Under MPI (dist/dist.h) rank 0 does all of this and sends the to-do list
 * to the other ranks; each rank runs the same pipeline on its block of the
 * list, the others sending their vectors to rank 0, which commits them as
 * its own: the store's records and metadata are those of a one-process run. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classes.h"
#include "cli.h"
#include "dataset.h"
#include "dist/dist.h"
#include "error.h"
#include "featdb.h"
#include "img.h"
#include "isa.h"
#include "pool.h"
#include "version.h"
#include "vgg.h"
#include "weights.h"

#define PROG "extract"
#define RING 3
#define IMG_FLOATS ((size_t)VGG_IN * VGG_IN * 3)

static const char usage[] =
	"usage: extract --in FACES_DIR --db FEATS.lmdb [options]\n"
	"\n"
	"Runs VGG16 (Keras weights) through fc2, or VGG-Face (keras-vggface's\n"
	"weights) through fc7, once per image and stores each 4096-d vector in\n"
	"an LMDB feature store, keyed by the image's path\n"
	"relative to FACES_DIR.  FACES_DIR is FACES_DIR/<person>/<images> or\n"
	"FACES_DIR/{train,valid,test}/<person>/<images>: the files, order and\n"
	"class indices of Keras' flow_from_directory (README.md).  Reruns resume:\n"
	"images already stored are skipped, new ones are added.  Started by mpirun or\n"
	"srun (when built with MPI), its processes share the images and the\n"
	"first one writes the store (README.md).\n"
	"\n"
	"options:\n"
	"  --in DIR         the image folder (required)\n"
	"  --db PATH        the feature store, a directory (required)\n"
	"  --weights FILE   the weights, VGG16's or VGG-Face's, told apart by\n"
	"                   their layer names (default $VGG16_WEIGHTS, else\n"
	"                   Keras' cache: $KERAS_HOME/models/ or ~/.keras/models/\n"
	"                   " WEIGHTS_FILE_NAME ")\n"
	"  --model M        vgg16 or vggface: the file must hold that model; with\n"
	"                   vggface and no --weights, $VGGFACE_WEIGHTS, else\n"
	"                   keras-vggface's cache: ~/.keras/models/vggface/\n"
	"                   " WEIGHTS_VGGFACE_FILE_NAME " (default: the file's)\n"
	"                   A store holds one model's vectors.\n"
	"  --batch N, --batch-size N\n"
	"                   images per network batch and per commit (default 8)\n"
	"  --threads N      image decoding threads (default 2)\n"
	"  --limit N        only the first N images (in key order), for a try\n"
	"  --dtype T        f32 (default) or f16 (half the size)\n"
	"  --conv C         winograd (default, fast) or direct (the reference\n"
	"                   im2col path, several times slower)\n"
	"                   The kernels run the widest instructions the CPU has\n"
	"                   (avx512, avx2, portable); VGGFEAT_ISA=NAME forces\n"
	"                   one (also emul512: AVX-512's code on AVX2, for tests)\n"
	"  --follow-links   enter symbolic links to folders inside a person's\n"
	"                   folder (Keras' follow_links=True; loops are refused);\n"
	"                   by default they are named and not entered, as Keras\n"
	"                   does\n"
	"  --strict         stop with an error at the first bad image\n"
	"  -q, --quiet      no progress, only errors and the summary's problems\n"
	"  --version        print the version\n"
	"  -h, --help       this text\n";

typedef struct opts {
	const char *in, *db, *weights;
	long batch, threads, limit;
	int dtype, strict, quiet, conv, follow;
	int model; /* weights.h's; WEIGHTS_AUTO: the file's */
} opts_t;

/* A decoded image waiting for the network. */
enum { SLOT_EMPTY, SLOT_OK, SLOT_BAD };

typedef struct job {
	dataset_item_t **todo; /* the images to extract, in key order */
	size_t n;
	int batch;
	const float *mean_bgr; /* the model's (weights_model_info) */
	float *slots;      /* (RING * batch, 224, 224, 3) */
	int *state;        /* per slot */
	char (*why)[ERR_LEN];
	size_t next;       /* next image a decoder takes */
	size_t done_upto;  /* images before this are consumed by the network */
	int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} job_t;

static void *decoder(void *arg)
{
	job_t *j = arg;
	size_t ring = (size_t)RING * j->batch;

	pthread_mutex_lock(&j->mu);
	for (;;) {
		while (!j->stop && j->next < j->n && j->next >= j->done_upto + ring)
			pthread_cond_wait(&j->cv, &j->mu);
		if (j->stop || j->next >= j->n)
			break;
		size_t i = j->next++, s = i % ring;
		pthread_mutex_unlock(&j->mu);

		char why[ERR_LEN];
		int rc = img_load_vgg_mean(j->todo[i]->path, j->mean_bgr,
					   j->slots + s * IMG_FLOATS, why);

		pthread_mutex_lock(&j->mu);
		j->state[s] = rc ? SLOT_BAD : SLOT_OK;
		if (rc)
			memcpy(j->why[s], why, ERR_LEN);
		else
			j->why[s][0] = 0; /* dist_batch_t's mark of an extracted image */
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
	enum { O_IN = 256, O_DB, O_WEIGHTS, O_MODEL, O_BATCH, O_THREADS, O_LIMIT,
	       O_DTYPE, O_CONV, O_FOLLOW, O_STRICT, O_VERSION };
	static const struct option lo[] = {
		{"in", required_argument, 0, O_IN},
		{"db", required_argument, 0, O_DB},
		{"weights", required_argument, 0, O_WEIGHTS},
		{"model", required_argument, 0, O_MODEL},
		{"batch", required_argument, 0, O_BATCH},
		{"batch-size", required_argument, 0, O_BATCH},
		{"threads", required_argument, 0, O_THREADS},
		{"limit", required_argument, 0, O_LIMIT},
		{"dtype", required_argument, 0, O_DTYPE},
		{"conv", required_argument, 0, O_CONV},
		{"follow-links", no_argument, 0, O_FOLLOW},
		{"strict", no_argument, 0, O_STRICT},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	int c;

	*o = (opts_t){.batch = 8, .threads = 2, .limit = -1, .dtype = FEATDB_F32};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case O_IN: o->in = optarg; break;
		case O_DB: o->db = optarg; break;
		case O_WEIGHTS: o->weights = optarg; break;
		case O_MODEL:
			if (cli_model(PROG, optarg, &o->model))
				return CLI_USAGE;
			break;
		case O_BATCH:
			if (cli_long(PROG, "--batch", optarg, 1, 256, &o->batch))
				return CLI_USAGE;
			break;
		case O_THREADS:
			if (cli_long(PROG, "--threads", optarg, 1, 64, &o->threads))
				return CLI_USAGE;
			break;
		case O_LIMIT:
			if (cli_long(PROG, "--limit", optarg, 0, 1L << 40, &o->limit))
				return CLI_USAGE;
			break;
		case O_DTYPE:
			if (strcmp(optarg, "f32") == 0) {
				o->dtype = FEATDB_F32;
			} else if (strcmp(optarg, "f16") == 0) {
				o->dtype = FEATDB_F16;
			} else {
				fprintf(stderr, PROG ": --dtype: '%s' is not f32 or f16\n", optarg);
				return CLI_USAGE;
			}
			break;
		case O_CONV:
			if (strcmp(optarg, "winograd") == 0) {
				o->conv = VGG_CONV_WINOGRAD;
			} else if (strcmp(optarg, "direct") == 0) {
				o->conv = VGG_CONV_DIRECT;
			} else {
				fprintf(stderr, PROG ": --conv: '%s' is not winograd or direct\n",
					optarg);
				return CLI_USAGE;
			}
			break;
		case O_FOLLOW: o->follow = 1; break;
		case O_STRICT: o->strict = 1; break;
		case 'q': o->quiet = 1; break;
		case O_VERSION: printf(PROG " " VGGFEAT_VERSION "\n"); exit(CLI_OK);
		case 'h': fputs(usage, stdout); exit(CLI_OK);
		default:
			return cli_bad_option(PROG, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n",
			argv[optind]);
		return CLI_USAGE;
	}
	if (!o->in || !o->db) {
		fprintf(stderr, PROG ": --in and --db are required\nTry '" PROG " --help'.\n");
		return CLI_USAGE;
	}
	return 0;
}

/* Merges the store's classes (if any) with the folder's into meta, in
 * Keras' order, and returns a map from the folder's class index to meta's. */
static int merge_classes(const featdb_meta_t *old, const dataset_t *ds,
			 featdb_meta_t *meta, int **map, char *err)
{
	/* The stored list may hold up to INT_MAX names: add in size_t. */
	size_t cap = (size_t)ds->nclasses + (old ? (size_t)old->nclasses : 0);
	char **all = NULL;
	int *m = NULL, n = 0;

	if (cap > INT_MAX)
		return err_set(err, ERR_TOO_BIG, "%zu people in the store and the "
			       "folder, more than %d", cap, INT_MAX);
	all = calloc(cap + 1, sizeof *all);
	m = calloc((size_t)ds->nclasses + 1, sizeof *m);
	if (!all || !m)
		goto nomem;
	/* Both lists are in order: a merge keeps the union in order. */
	int i = 0, k = 0, on = old ? old->nclasses : 0;
	while (i < on || k < ds->nclasses) {
		int c = i == on ? 1 : k == ds->nclasses ? -1
			: classes_cmp(old->classes[i], ds->classes[k]);
		const char *name = c <= 0 ? old->classes[i] : ds->classes[k];
		if (!(all[n] = strdup(name)))
			goto nomem;
		if (c >= 0)
			m[k++] = n;
		if (c <= 0)
			i++;
		n++;
	}
	meta->classes = all;
	meta->nclasses = n;
	*map = m;
	return 0;
nomem:
	if (all)
		for (int j = 0; j < n; j++)
			free(all[j]);
	free(all);
	free(m);
	return err_set(err, ERR_NOMEM, "out of memory");
}

typedef struct progress {
	int quiet, redraw; /* redraw: cli_stderr_redraws() */
	size_t total;
	double t0, last;
} progress_t;

static void progress_show(progress_t *p, size_t done, int final)
{
	double now = cli_now(), dt = now - p->t0;
	double rate = dt > 0 ? done / dt : 0;
	double eta = rate > 0 ? (p->total - done) / rate : 0;

	if (p->quiet)
		return;
	if (p->redraw) {
		int width = 30, fill = p->total ? (int)(width * done / p->total) : width;
		fprintf(stderr, "\r[%.*s%*s] %zu/%zu  %.1f img/s  ETA %.0fs ",
			fill, "##############################", width - fill, "",
			done, p->total, rate, eta);
		if (final)
			fputc('\n', stderr);
	} else if (final || now - p->last >= 10) {
		fprintf(stderr, PROG ": %zu/%zu images, %.1f img/s, ETA %.0f s\n",
			done, p->total, rate, eta);
		p->last = now;
	}
}

/* Holds an exclusive lock on DB/extract.lock: two extract runs on one store
 * would compute the same images twice; the second refuses clearly. */
static int lock_store(const char *db, int *fd, char *err)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/extract.lock", db);
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (*fd < 0)
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
		int e = errno;
		close(*fd);
		*fd = -1;
		if (e == EWOULDBLOCK)
			return err_set(err, ERR_IO,
				       "%s: another extract is writing to this store; "
				       "wait for it to finish", db);
		return err_set(err, ERR_IO, "%s: %s", path, strerror(e));
	}
	return 0;
}

static int check_meta(const featdb_meta_t *old, const weights_t *w,
		      const opts_t *o, const char *wpath, char *err)
{
	const weights_model_info_t *m = weights_model_info(w->model);

	/* First: two models' vectors may even share a fingerprint (the same
	 * numbers under other names), never a store. */
	if (strcmp(old->model, m->store_model) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s holds %s features (%s), but %s is %s weights (%s): "
			       "a store holds one model's; use another --db", o->db,
			       old->model,
			       weights_model_info(weights_model_of_store(old->model))->title,
			       wpath, m->title, m->store_model);
	if (strcmp(old->fingerprint, w->fingerprint) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s holds features of weights %s, but %s has fingerprint "
			       "%s; use another --db or the same weights",
			       o->db, old->fingerprint, wpath, w->fingerprint);
	if (strcmp(old->preprocess, m->preprocess) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s was made with preprocessing '%s', this program uses '%s'",
			       o->db, old->preprocess, m->preprocess);
	if (old->dim != VGG_FEATURES)
		return err_set(err, ERR_MISMATCH, "%s holds %d-d features, not %d",
			       o->db, old->dim, VGG_FEATURES);
	if (old->dtype != o->dtype)
		return err_set(err, ERR_MISMATCH,
			       "%s stores %s features; rerun with --dtype %s",
			       o->db, old->dtype == FEATDB_F16 ? "f16" : "f32",
			       old->dtype == FEATDB_F16 ? "f16" : "f32");
	return 0;
}

typedef struct skipped {
	char **lines;
	size_t n, cap;
} skipped_t;

static void skip_note(skipped_t *s, const char *why, int quiet)
{
	int kept = 0;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		char **l = realloc(s->lines, cap * sizeof *l);
		if (l) {
			s->lines = l;
			s->cap = cap;
		}
	}
	if (s->n < s->cap && (s->lines[s->n] = strdup(why))) {
		s->n++;
		kept = 1;
	}
	/* Quiet runs list the skipped files at the end: one that could not be
	 * kept for that (no memory) is shown now. */
	if (!quiet || !kept)
		fprintf(stderr, "%s" PROG ": skipped %s\n",
			cli_stderr_redraws() ? "\r\033[K" : "", why);
}

/* Where rank 0 puts the vectors of a batch, its own or another rank's. */
typedef struct sink {
	featdb_t *db;
	featdb_meta_t *meta;
	const int *cmap;
	int dtype, strict, quiet, batch;
	size_t recsize;
	uint8_t *recs;        /* (batch, recsize) */
	const char **keys;    /* (batch) */
	const uint8_t **vals; /* (batch) */
	size_t *lens;         /* (batch) */
	dataset_item_t **items; /* (batch) */
	skipped_t *sk;
	dataset_item_t **all; /* the whole to-do list, which other ranks index */
	size_t nall;
	size_t left;          /* images other ranks have still to send */
	size_t done, extracted;
} sink_t;

/* sink_write commits the good images items[n] whose vectors are feats
 * (n, VGG_FEATURES) in one transaction. */
static int sink_write(sink_t *s, dataset_item_t **items, const float *feats,
		      int n, char *err)
{
	int rc;

	for (int g = 0; g < n; g++) {
		dataset_item_t *it = items[g];
		s->keys[g] = it->key;
		s->vals[g] = s->recs + (size_t)g * s->recsize;
		s->lens[g] = s->recsize;
		rc = featdb_rec_encode(feats + (size_t)g * VGG_FEATURES, VGG_FEATURES,
				       s->dtype, s->cmap[it->cls], it->split,
				       s->recs + (size_t)g * s->recsize, err);
		if (rc)
			return rc;
	}
	if ((rc = featdb_write(s->db, s->meta, n, s->keys, s->vals, s->lens, err)))
		return rc;
	s->extracted += (size_t)n;
	return 0;
}

/* take_remote (rank 0 under MPI) commits the batches other ranks sent:
 * those already arrived, or, when wait is set, the next one, waiting for it. */
static int take_remote(sink_t *s, int wait, char *err)
{
	while (s->left) {
		dist_batch_t b;
		int got, good = 0, rc;

		if ((rc = dist_recv_batch(wait, &b, &got, err)) || !got)
			return rc;
		if (b.n < 1 || b.n > s->batch || (size_t)b.n > s->left ||
		    b.first > s->nall - (size_t)b.n)
			return err_set(err, ERR_FORMAT, "a rank sent a batch of %d images "
				       "from %llu, outside the to-do list", b.n,
				       (unsigned long long)b.first);
		for (int k = 0; k < b.n; k++) {
			if (b.why[k][0]) {
				skip_note(s->sk, b.why[k], s->quiet);
				if (s->strict)
					return err_set(err, ERR_FORMAT, "--strict: %s", b.why[k]);
				continue;
			}
			s->items[good++] = s->all[b.first + (size_t)k];
		}
		if (good && (rc = sink_write(s, s->items, b.feats, good, err)))
			return rc;
		s->left -= (size_t)b.n;
		s->done += (size_t)b.n;
		if (wait)
			break;
	}
	return 0;
}

/* share_todo (rank 0 under MPI) sends the keys of the to-do list to the
 * other ranks. */
static int share_todo(const job_t *j, char *err)
{
	char **keys = malloc((j->n ? j->n : 1) * sizeof *keys), **none;
	size_t n;

	if (!keys)
		return err_set(err, ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < j->n; i++)
		keys[i] = j->todo[i]->key;
	int rc = dist_share_keys(keys, j->n, &none, &n, err);
	free(keys);
	return rc;
}

/* worker_setup (a rank other than 0 under MPI) loads the weights, checks
 * them against every rank's, and takes the to-do list from rank 0: the
 * images FACES_DIR/key, kept in ds so that dataset_free frees them. */
static int worker_setup(const opts_t *o, weights_t *w, dataset_t *ds, job_t *j,
			char *err)
{
	char wpath[4096], **keys = NULL;
	size_t n = 0;
	int rc;

	if ((rc = weights_model_path(o->weights, o->model, wpath, sizeof wpath, err)) ||
	    (rc = weights_load(wpath, w, err)) ||
	    (rc = weights_check_model(w, o->model, wpath, err)) ||
	    (rc = dist_check_weights(w->fingerprint, err)) ||
	    (rc = dist_share_keys(NULL, 0, &keys, &n, err)))
		return rc;
	ds->items = calloc(n ? n : 1, sizeof *ds->items);
	j->todo = malloc((n ? n : 1) * sizeof *j->todo);
	if (!ds->items || !j->todo) {
		rc = err_set(err, ERR_NOMEM, "out of memory for the to-do list");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		dataset_item_t *it = &ds->items[ds->n];
		if (asprintf(&it->path, "%s/%s", o->in, keys[i]) < 0) {
			rc = err_set(err, ERR_NOMEM, "out of memory for the to-do list");
			goto out;
		}
		it->key = keys[i];
		keys[i] = NULL;
		j->todo[j->n++] = &ds->items[ds->n++];
	}
out:
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	return rc;
}

int main(int argc, char **argv)
{
	opts_t o;
	char err[ERR_LEN], wpath[4096];
	dataset_t ds = {0};
	weights_t w = {0};
	featdb_t *db = NULL;
	featdb_meta_t old = {0}, meta = {0};
	vgg_t *net = NULL;
	job_t j = {0};
	skipped_t sk = {0};
	pthread_t *threads = NULL;
	int nthreads = 0, lockfd = -1, *cmap = NULL, status = CLI_ERROR, have_old = 0;
	float *feats = NULL;
	uint8_t *recs = NULL;
	const char **keys = NULL;
	dataset_item_t **good_items = NULL, **all = NULL;
	sink_t snk = {0};
	const uint8_t **vals = NULL;
	size_t *lens = NULL, present = 0, recsize, first = 0, mine;
	double t0 = cli_now();
	int rc = dist_init(&argc, &argv, err);

	if (rc) {
		fprintf(stderr, PROG ": error: %s\n", err);
		return CLI_ERROR;
	}
	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	signal(SIGPIPE, SIG_IGN);
	if (dist_rank() > 0) {
		if ((rc = worker_setup(&o, &w, &ds, &j, err)))
			goto fail;
		goto share;
	}

	if ((rc = dataset_scan(o.in, o.follow ? DATASET_FOLLOW_LINKS : 0, &ds, err)))
		goto fail;
	/* Keras does not enter these either: named once, not an error. */
	for (size_t i = 0; i < ds.nunfollowed && !o.quiet; i++)
		fprintf(stderr, PROG ": not entering %s, a link to a folder (use "
			"--follow-links to)\n", ds.unfollowed[i]);
	for (size_t i = 0; i < ds.nproblems; i++) {
		char line[ERR_LEN * 2];
		snprintf(line, sizeof line, "%s: %s", ds.problems[i].path,
			 ds.problems[i].reason);
		skip_note(&sk, line, o.quiet);
		if (o.strict) {
			rc = err_set(err, ERR_FORMAT, "--strict: %s", line);
			goto fail;
		}
	}
	if (ds.n == 0) {
		rc = err_set(err, ERR_MISSING,
			     "%s: %d class folders but no images (%s)", o.in, ds.nclasses,
			     DATASET_EXTENSIONS);
		goto fail;
	}
	size_t total = o.limit >= 0 && (size_t)o.limit < ds.n ? (size_t)o.limit : ds.n;

	if (cli_weights_path(PROG, o.weights, o.model, wpath, sizeof wpath))
		goto out;
	if ((rc = weights_load(wpath, &w, err)) ||
	    (rc = weights_check_model(&w, o.model, wpath, err)) ||
	    (rc = dist_check_weights(w.fingerprint, err)))
		goto fail;
	const weights_model_info_t *model = weights_model_info(w.model);

	if ((rc = featdb_open(o.db, FEATDB_CREATE, &db, err)))
		goto fail;
	if ((rc = lock_store(o.db, &lockfd, err)))
		goto fail;
	rc = featdb_meta_get(db, &old, err);
	if (rc == 0)
		have_old = 1;
	else if (rc != ERR_MISSING)
		goto fail;
	if (have_old && (rc = check_meta(&old, &w, &o, wpath, err)))
		goto fail;
	if ((rc = merge_classes(have_old ? &old : NULL, &ds, &meta, &cmap, err)))
		goto fail;
	snprintf(meta.model, sizeof meta.model, "%s", model->store_model);
	snprintf(meta.fingerprint, sizeof meta.fingerprint, "%s", w.fingerprint);
	snprintf(meta.preprocess, sizeof meta.preprocess, "%s", model->preprocess);
	snprintf(meta.version, sizeof meta.version, PROG " " VGGFEAT_VERSION);
	meta.dim = VGG_FEATURES;
	meta.dtype = o.dtype;

	/* What is left to do. */
	j.todo = malloc((total ? total : 1) * sizeof *j.todo);
	if (!j.todo) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	int maxkey = featdb_max_key(db);
	for (size_t i = 0; i < total; i++) {
		dataset_item_t *it = &ds.items[i];
		if (strlen(it->key) > (size_t)maxkey) {
			char line[ERR_LEN * 2];
			snprintf(line, sizeof line, "%s: path longer than %d bytes, too "
				 "long for a store key", it->path, maxkey);
			skip_note(&sk, line, o.quiet);
			if (o.strict) {
				rc = err_set(err, ERR_ARG, "--strict: %s", line);
				goto fail;
			}
			continue;
		}
		int has = featdb_has(db, it->key, err);
		if (has < 0) {
			rc = has;
			goto fail;
		}
		if (has)
			present++;
		else
			j.todo[j.n++] = it;
	}

	if (!o.quiet)
		fprintf(stderr, PROG ": %zu images in %d classes; %zu already stored, "
			"%zu to extract\n", total, ds.nclasses, present, j.n);

	/* A store written for the first time gets its metadata even when there
	 * is nothing to extract, so that it is a valid (empty) store. */
	if (j.n == 0 && !have_old &&
	    (rc = featdb_write(db, &meta, 0, NULL, NULL, NULL, err)))
		goto fail;

	if (dist_size() > 1 && (rc = share_todo(&j, err)))
		goto fail;
share:
	/* Each rank keeps its block of the to-do list; rank 0 the whole list
	 * too, to find the images the others send back. */
	all = j.todo;
	j.todo = NULL;
	dist_block(j.n, dist_rank(), dist_size(), &first, &mine);
	snk.nall = j.n;
	snk.left = dist_rank() == 0 ? j.n - mine : 0;
	j.n = mine;
	if (!(j.todo = malloc((j.n ? j.n : 1) * sizeof *j.todo))) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	memcpy(j.todo, all + first, j.n * sizeof *j.todo);

	j.batch = (int)o.batch;
	j.mean_bgr = weights_model_info(w.model)->mean_bgr;
	recsize = featdb_rec_size(o.dtype, VGG_FEATURES);
	size_t ring = (size_t)RING * j.batch;
	j.slots = malloc(ring * IMG_FLOATS * sizeof(float));
	j.state = calloc(ring, sizeof *j.state);
	j.why = malloc(ring * sizeof *j.why);
	feats = malloc((size_t)j.batch * VGG_FEATURES * sizeof(float));
	recs = malloc((size_t)j.batch * recsize);
	keys = malloc((size_t)j.batch * sizeof *keys);
	vals = malloc((size_t)j.batch * sizeof *vals);
	lens = malloc((size_t)j.batch * sizeof *lens);
	good_items = malloc((size_t)j.batch * sizeof *good_items);
	threads = malloc((size_t)o.threads * sizeof *threads);
	if (!j.slots || !j.state || !j.why || !feats || !recs || !keys || !vals ||
	    !lens || !good_items || !threads) {
		rc = err_set(err, ERR_NOMEM, "out of memory for a batch of %d", j.batch);
		goto fail;
	}
	snk = (sink_t){.db = db, .meta = &meta, .cmap = cmap, .dtype = o.dtype,
		       .strict = o.strict, .quiet = o.quiet, .batch = j.batch,
		       .recsize = recsize, .recs = recs, .keys = keys, .vals = vals,
		       .lens = lens, .items = good_items, .sk = &sk, .all = all,
		       .nall = snk.nall, .left = snk.left};
	vgg_opts_t vo;
	vgg_opts_init(&vo, j.batch);
	vo.conv = o.conv;
	/* Ranks on one machine share its CPUs; a thread per CPU in each would
	 * oversubscribe them.  When the launcher bound each rank to fewer CPUs
	 * than the machine has, that share is already its own. */
	if (dist_local_size() > 1 && pool_cpus() >= sysconf(_SC_NPROCESSORS_ONLN)) {
		int share = pool_cpus() / dist_local_size();
		vo.threads = share < 1 ? 1 : share;
	}
	if (j.n && (rc = vgg_create_opts(&w, &vo, &net, err)))
		goto fail;
	if (!o.quiet && isa_env_error() && dist_rank() == 0)
		fprintf(stderr, PROG ": warning: %s\n", isa_env_error());
	if (net && !o.quiet) {
		if (dist_size() > 1)
			fprintf(stderr, PROG ": rank %d of %d: ", dist_rank(), dist_size());
		else
			fputs(PROG ": ", stderr);
		fprintf(stderr, "%d compute threads, %s convolutions, %s kernels\n",
			vgg_threads(net), o.conv == VGG_CONV_DIRECT ? "direct" : "winograd",
			isa_name(vgg_isa(net)));
	}
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cv, NULL);
	for (; nthreads < o.threads && j.n; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, decoder, &j) != 0) {
			rc = err_set(err, ERR_NOMEM, "cannot start a decoding thread");
			goto stop;
		}

	progress_t pr = {.quiet = o.quiet || dist_rank() > 0, .redraw = cli_stderr_redraws(),
			 .total = snk.nall,
			 .t0 = cli_now(), .last = cli_now()};
	for (size_t b0 = 0; b0 < j.n; b0 += (size_t)j.batch) {
		size_t bn = j.n - b0 < (size_t)j.batch ? j.n - b0 : (size_t)j.batch;
		size_t s0 = b0 % ring;
		int good = 0;

		pthread_mutex_lock(&j.mu);
		for (size_t k = 0; k < bn; k++)
			while (j.state[s0 + k] == SLOT_EMPTY)
				pthread_cond_wait(&j.cv, &j.mu);
		pthread_mutex_unlock(&j.mu);

		/* Bad images are reported; the good ones are packed together. */
		for (size_t k = 0; k < bn; k++) {
			if (j.state[s0 + k] == SLOT_BAD) {
				if (dist_rank() > 0)
					continue; /* rank 0 reports it */
				skip_note(&sk, j.why[s0 + k], o.quiet);
				if (o.strict) {
					rc = err_set(err, ERR_FORMAT, "--strict: %s", j.why[s0 + k]);
					goto stop;
				}
				continue;
			}
			if ((size_t)good != k)
				memcpy(j.slots + (s0 + good) * IMG_FLOATS,
				       j.slots + (s0 + k) * IMG_FLOATS,
				       IMG_FLOATS * sizeof(float));
			good_items[good++] = j.todo[b0 + k];
		}
		if (good &&
		    (rc = vgg_forward(net, j.slots + s0 * IMG_FLOATS, good, feats, err)))
			goto stop;
		if (dist_rank() > 0) {
			dist_batch_t b = {.first = first + b0, .n = (int)bn,
					  .why = j.why + s0, .feats = feats};
			if ((rc = dist_send_batch(&b, err)))
				goto stop;
		} else if ((good && (rc = sink_write(&snk, good_items, feats, good, err))) ||
			   (rc = take_remote(&snk, 0, err))) {
			goto stop;
		}
		snk.done += bn;
		pthread_mutex_lock(&j.mu);
		for (size_t k = 0; k < bn; k++)
			j.state[s0 + k] = SLOT_EMPTY;
		j.done_upto = b0 + bn;
		pthread_cond_broadcast(&j.cv);
		pthread_mutex_unlock(&j.mu);
		progress_show(&pr, snk.done, 0);
	}
	while (snk.left) {
		if ((rc = take_remote(&snk, 1, err)))
			goto stop;
		progress_show(&pr, snk.done, 0);
	}
	if (dist_rank() > 0 && (rc = dist_send_done(err)))
		goto stop;
	if (snk.nall)
		progress_show(&pr, snk.nall, 1);
	status = CLI_OK;
stop:
	pthread_mutex_lock(&j.mu);
	j.stop = 1;
	pthread_cond_broadcast(&j.cv);
	pthread_mutex_unlock(&j.mu);
	for (int t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
	if (status != CLI_OK)
		goto fail;

	double dt = cli_now() - t0;
	if (dist_rank() > 0)
		goto out;
	fprintf(stderr, PROG ": extracted %zu, already present %zu, skipped %zu, ",
		snk.extracted, present, sk.n);
	if (ds.nunfollowed)
		fprintf(stderr, "%zu folder links not entered, ", ds.nunfollowed);
	fprintf(stderr, "%.1f s, %.2f img/s\n", dt, dt > 0 ? snk.extracted / dt : 0.0);
	if (sk.n && o.quiet)
		for (size_t i = 0; i < sk.n; i++)
			fprintf(stderr, PROG ": skipped %s\n", sk.lines[i]);
	goto out;
fail:
	if (dist_size() > 1)
		fprintf(stderr, PROG ": rank %d of %d: error: %s\n", dist_rank(),
			dist_size(), err);
	else
		fprintf(stderr, PROG ": error: %s\n", err);
	status = CLI_ERROR;
out:
	for (size_t i = 0; i < sk.n; i++)
		free(sk.lines[i]);
	free(sk.lines);
	free(threads);
	free(all), free(j.todo), free(j.slots), free(j.state), free(j.why);
	free(feats), free(recs), free(keys), free(vals), free(lens), free(cmap);
	free(good_items);
	vgg_free(net);
	featdb_meta_free(&meta);
	featdb_meta_free(&old);
	if (lockfd >= 0)
		close(lockfd);
	featdb_close(db);
	weights_free(&w);
	dataset_free(&ds);
	/* A failed rank must stop the others, which would wait for it forever. */
	if (status != CLI_OK && dist_size() > 1)
		dist_abort(status);
	dist_finalize();
	return status;
}
