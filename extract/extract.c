/* extract - run VGG16 through fc2 once per image of a face folder and store
 * the 4096-d vectors in an LMDB feature store (see common/featdb.h).
 *
 * Pipeline: decoder threads load and preprocess images, in list order, into
 * a ring of RING batches; the main thread runs the network on one batch at
 * a time and commits its records in one transaction.  So a crash loses at
 * most the batch in flight, and a rerun skips every key already stored. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dataset.h"
#include "error.h"
#include "featdb.h"
#include "img.h"
#include "version.h"
#include "vgg.h"
#include "weights.h"

#define PROG "extract"
#define RING 3
#define IMG_FLOATS ((size_t)VGG_IN * VGG_IN * 3)

static const char usage[] =
	"usage: extract --in FACES_DIR --db FEATS.lmdb [options]\n"
	"\n"
	"Runs VGG16 (Keras weights) through fc2 once per image and stores each\n"
	"4096-d vector in an LMDB feature store, keyed by the image's path\n"
	"relative to FACES_DIR.  FACES_DIR is FACES_DIR/<person>/<images> or\n"
	"FACES_DIR/{train,valid,test}/<person>/<images>.  Reruns resume: images\n"
	"already stored are skipped, new ones are added.\n"
	"\n"
	"options:\n"
	"  --in DIR         the image folder (required)\n"
	"  --db PATH        the feature store, a directory (required)\n"
	"  --weights FILE   Keras VGG16 weights (default $VGG16_WEIGHTS, else\n"
	"                   ~/.keras/models/" WEIGHTS_FILE_NAME ")\n"
	"  --batch N        images per network batch and per commit (default 8)\n"
	"  --threads N      image decoding threads (default 2)\n"
	"  --limit N        only the first N images (in key order), for a try\n"
	"  --dtype T        f32 (default) or f16 (half the size)\n"
	"  --strict         stop with an error at the first bad image\n"
	"  -q, --quiet      no progress, only errors and the summary's problems\n"
	"  --version        print the version\n"
	"  -h, --help       this text\n";

typedef struct opts {
	const char *in, *db, *weights;
	long batch, threads, limit;
	int dtype, strict, quiet;
} opts_t;

/* A decoded image waiting for the network. */
enum { SLOT_EMPTY, SLOT_OK, SLOT_BAD };

typedef struct job {
	dataset_item_t **todo; /* the images to extract, in key order */
	size_t n;
	int batch;
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
		int rc = img_load_vgg(j->todo[i]->path, j->slots + s * IMG_FLOATS, why);

		pthread_mutex_lock(&j->mu);
		j->state[s] = rc ? SLOT_BAD : SLOT_OK;
		if (rc)
			memcpy(j->why[s], why, ERR_LEN);
		pthread_cond_broadcast(&j->cv);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
	enum { O_IN = 256, O_DB, O_WEIGHTS, O_BATCH, O_THREADS, O_LIMIT,
	       O_DTYPE, O_STRICT, O_VERSION };
	static const struct option lo[] = {
		{"in", required_argument, 0, O_IN},
		{"db", required_argument, 0, O_DB},
		{"weights", required_argument, 0, O_WEIGHTS},
		{"batch", required_argument, 0, O_BATCH},
		{"threads", required_argument, 0, O_THREADS},
		{"limit", required_argument, 0, O_LIMIT},
		{"dtype", required_argument, 0, O_DTYPE},
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
		case O_STRICT: o->strict = 1; break;
		case 'q': o->quiet = 1; break;
		case O_VERSION: printf(PROG " " VGGFEAT_VERSION "\n"); exit(CLI_OK);
		case 'h': fputs(usage, stdout); exit(CLI_OK);
		default:
			if (optopt)
				fprintf(stderr, PROG ": option -%c is unknown or lacks its value\n",
					optopt);
			else
				fprintf(stderr, PROG ": unknown option or missing value: %s\n",
					argv[optind - 1]);
			fprintf(stderr, "Try '" PROG " --help'.\n");
			return CLI_USAGE;
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

/* Merges the store's classes (if any) with the folder's into meta, sorted,
 * and returns a map from the folder's class index to meta's. */
static int merge_classes(const featdb_meta_t *old, const dataset_t *ds,
			 featdb_meta_t *meta, int **map, char *err)
{
	int cap = ds->nclasses + (old ? old->nclasses : 0), n = 0;
	char **all = calloc((size_t)cap + 1, sizeof *all);
	int *m = calloc((size_t)ds->nclasses + 1, sizeof *m);

	if (!all || !m)
		goto nomem;
	/* Both lists are sorted: a merge keeps the union sorted. */
	int i = 0, k = 0, on = old ? old->nclasses : 0;
	while (i < on || k < ds->nclasses) {
		int c = i == on ? 1 : k == ds->nclasses ? -1
			: strcmp(old->classes[i], ds->classes[k]);
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
	int quiet, tty;
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
	if (p->tty) {
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
	if (strcmp(old->fingerprint, w->fingerprint) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s holds features of weights %s, but %s has fingerprint "
			       "%s; use another --db or the same weights",
			       o->db, old->fingerprint, wpath, w->fingerprint);
	if (strcmp(old->preprocess, FEATDB_PREPROCESS) != 0)
		return err_set(err, ERR_MISMATCH,
			       "%s was made with preprocessing '%s', this program uses '%s'",
			       o->db, old->preprocess, FEATDB_PREPROCESS);
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
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		char **l = realloc(s->lines, cap * sizeof *l);
		if (!l)
			return;
		s->lines = l;
		s->cap = cap;
	}
	if ((s->lines[s->n] = strdup(why)))
		s->n++;
	if (!quiet)
		fprintf(stderr, "%s" PROG ": skipped %s\n",
			isatty(2) ? "\r\033[K" : "", why);
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
	dataset_item_t **good_items = NULL;
	const uint8_t **vals = NULL;
	size_t *lens = NULL, present = 0, extracted = 0, recsize;
	double t0 = cli_now();
	int rc = parse_args(argc, argv, &o);

	if (rc)
		return rc;
	signal(SIGPIPE, SIG_IGN);

	if ((rc = dataset_scan(o.in, &ds, err)))
		goto fail;
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
			     "%s: %d class folders but no images (png, jpg, jpeg, bmp, "
			     "ppm, pgm)", o.in, ds.nclasses);
		goto fail;
	}
	size_t total = o.limit >= 0 && (size_t)o.limit < ds.n ? (size_t)o.limit : ds.n;

	if (o.weights)
		snprintf(wpath, sizeof wpath, "%s", o.weights);
	else if ((rc = weights_default_path(wpath, sizeof wpath, err)))
		goto fail;
	if (access(wpath, F_OK) != 0) {
		char help[2048];
		weights_missing_help(wpath, help, sizeof help);
		fprintf(stderr, PROG ": %s\n", help);
		goto out;
	}
	if ((rc = weights_load(wpath, &w, err)))
		goto fail;

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
	snprintf(meta.fingerprint, sizeof meta.fingerprint, "%s", w.fingerprint);
	snprintf(meta.preprocess, sizeof meta.preprocess, "%s", FEATDB_PREPROCESS);
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

	j.batch = (int)o.batch;
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
	if (j.n && (rc = vgg_create(&w, j.batch, &net, err)))
		goto fail;
	pthread_mutex_init(&j.mu, NULL);
	pthread_cond_init(&j.cv, NULL);
	for (; nthreads < o.threads && j.n; nthreads++)
		if (pthread_create(&threads[nthreads], NULL, decoder, &j) != 0) {
			rc = err_set(err, ERR_NOMEM, "cannot start a decoding thread");
			goto stop;
		}

	progress_t pr = {.quiet = o.quiet, .tty = isatty(2), .total = j.n,
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
		if (good) {
			if ((rc = vgg_forward(net, j.slots + s0 * IMG_FLOATS, good, feats, err)))
				goto stop;
			for (int g = 0; g < good; g++) {
				dataset_item_t *it = good_items[g];
				keys[g] = it->key;
				vals[g] = recs + (size_t)g * recsize;
				lens[g] = recsize;
				rc = featdb_rec_encode(feats + (size_t)g * VGG_FEATURES,
						       VGG_FEATURES, o.dtype, cmap[it->cls],
						       it->split, recs + (size_t)g * recsize, err);
				if (rc)
					goto stop;
			}
			if ((rc = featdb_write(db, &meta, good, keys, vals, lens, err)))
				goto stop;
			extracted += (size_t)good;
		}
		pthread_mutex_lock(&j.mu);
		for (size_t k = 0; k < bn; k++)
			j.state[s0 + k] = SLOT_EMPTY;
		j.done_upto = b0 + bn;
		pthread_cond_broadcast(&j.cv);
		pthread_mutex_unlock(&j.mu);
		progress_show(&pr, b0 + bn, 0);
	}
	if (j.n)
		progress_show(&pr, j.n, 1);
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
	fprintf(stderr, PROG ": extracted %zu, already present %zu, skipped %zu, "
		"%.1f s, %.2f img/s\n", extracted, present, sk.n, dt,
		dt > 0 ? extracted / dt : 0.0);
	if (sk.n && o.quiet)
		for (size_t i = 0; i < sk.n; i++)
			fprintf(stderr, PROG ": skipped %s\n", sk.lines[i]);
	goto out;
fail:
	fprintf(stderr, PROG ": error: %s\n", err);
	status = CLI_ERROR;
out:
	for (size_t i = 0; i < sk.n; i++)
		free(sk.lines[i]);
	free(sk.lines);
	free(threads);
	free(j.todo), free(j.slots), free(j.state), free(j.why);
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
	return status;
}
