/* train-head - train the softmax head (Dense(n_classes, softmax) on VGG16's
 * fc2, or VGG-Face's fc7) over the features extract stored, with tf.keras'
 * semantics (see common/head.h), so that changing a hyperparameter and
 * training again costs seconds.  Then, from the validation set, the
 * --min-prob that lets predict call strangers "unknown".
 *
 * The store is read once into one (N, D) float32 array; the training and
 * validation sets are index lists into it, and every combination of a sweep
 * trains over the same array. */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classes.h"
#include "cli.h"
#include "csvlog.h"
#include "error.h"
#include "featdb.h"
#include "h5util.h"
#include "head.h"
#include "pool.h"
#include "version.h"

#define PROG "train-head"
#define MAX_VALUES 32   /* values per swept option */
#define MAX_RUNS 4096   /* combinations per sweep */
#define MAX_BAD_SHOWN 10

static const char usage[] =
	"usage: train-head --db FEATS.lmdb [options]\n"
	"\n"
	"Trains the softmax head the Keras model puts on VGG16's fc2,\n"
	"Dense(n_classes, activation='softmax') with Adam and categorical\n"
	"cross-entropy (tf.keras' semantics: glorot_uniform kernel, zero bias,\n"
	"a reshuffle per epoch, the last batch kept), on the features that\n"
	"extract stored.  The features are read once.\n"
	"\n"
	"Validation: records extract tagged valid (a valid/ folder) form the\n"
	"validation set.  Without any, --val-split holds out that fraction of\n"
	"each class, chosen by a hash of each image's key, so adding images later\n"
	"never moves old ones between the sets (a class always keeps one\n"
	"training record).  Records tagged test are not used.\n"
	"\n"
	"Sweeps: --lr, --batch-size, --beta1, --beta2, --epsilon and --l2 take\n"
	"comma-separated values; every combination is trained over the same\n"
	"features and starting weights, a table ranked by best val_accuracy is\n"
	"printed, and --out receives the best combination's head at its best\n"
	"epoch.  A single run saves the head after its last epoch, as Keras.\n"
	"\n"
	"Strangers: with a validation set, the last line suggests predict's\n"
	"--min-prob for that head: the top-1 probability that keeps --keep of\n"
	"the validation set's correct answers, and how many of its wrong\n"
	"answers it turns into 'unknown' (a person the head does not know is\n"
	"one of those).\n"
	"\n"
	"options:\n"
	"  --db PATH          the feature store (required)\n"
	"  --epochs N         passes over the training set (default 5)\n"
	"  --lr X[,X...]      Adam learning rate (default 1e-4)\n"
	"  --batch-size N[,N...]  samples per step (default 32)\n"
	"  --beta1 X[,X...]   (default 0.9)\n"
	"  --beta2 X[,X...]   (default 0.999)\n"
	"  --epsilon X[,X...] (default 1e-7)\n"
	"  --l2 X[,X...]      L2 factor on the kernel, as Keras'\n"
	"                     kernel_regularizer=l2(X) (default 0)\n"
	"  --val-split F      fraction held out when no record is tagged valid\n"
	"                     (default 0.2; 0: no validation)\n"
	"  --keep F           the share of correct validation answers the\n"
	"                     suggested --min-prob keeps (default 0.95)\n"
	"  --seed N           initial weights and shuffles (default 0); the same\n"
	"                     seed gives the same result, whatever --threads\n"
	"  --threads N        training threads (default: the CPUs, at most 8)\n"
	"  --out FILE         write the head: Keras save_weights HDF5 plus the\n"
	"                     class names and the store's model fingerprint and\n"
	"                     preprocessing (written atomically)\n"
	"  --history FILE     write the epochs' numbers as Keras' CSVLogger does\n"
	"                     (epoch from 0,accuracy,loss,val_accuracy,val_loss);\n"
	"                     a sweep writes one file per run, FILE with .runN\n"
	"                     before its extension\n"
	"  -q, --quiet        no per-epoch lines or notes, only errors and a\n"
	"                     sweep's table\n"
	"  --version          print the version\n"
	"  -h, --help         this text\n"
	"\n"
	"development:\n"
	"  --trace FILE       write the run's inputs (features, labels, initial\n"
	"                     weights, each epoch's sample order) and results to\n"
	"                     HDF5, for tests/ref/torch_head.py and\n"
	"                     tests/ref/keras_head.py (one run only)\n";

/* The values of one sweepable option. */
typedef struct values {
	double v[MAX_VALUES];
	int n;
} values_t;

typedef struct opts {
	const char *db, *out, *history, *trace;
	long epochs, threads, seed;
	double val_split, keep;
	int val_split_given, quiet;
	values_t lr, batch, beta1, beta2, epsilon, l2;
} opts_t;

/* parse_values splits s at commas into vals, each a number in [lo, hi]
 * (an integer when integral is set). */
static int parse_values(const char *opt, const char *s, double lo, double hi,
			int integral, values_t *vals)
{
	char buf[1024], *save = NULL;

	if (strlen(s) >= sizeof buf) {
		fprintf(stderr, PROG ": %s: value list too long\n", opt);
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
	vals->n = 0;
	if (!*s || s[strlen(s) - 1] == ',' || *s == ',' || strstr(s, ",,")) {
		fprintf(stderr, PROG ": %s: '%s' has an empty value\n", opt, s);
		return -1;
	}
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (vals->n == MAX_VALUES) {
			fprintf(stderr, PROG ": %s: more than %d values\n", opt, MAX_VALUES);
			return -1;
		}
		if (integral) {
			long l;
			if (cli_long(PROG, opt, tok, (long)lo, (long)hi, &l))
				return -1;
			vals->v[vals->n++] = (double)l;
		} else if (cli_double(PROG, opt, tok, lo, hi, &vals->v[vals->n++])) {
			return -1;
		}
	}
	return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
	enum { O_DB = 256, O_EPOCHS, O_LR, O_BATCH, O_BETA1, O_BETA2, O_EPSILON,
	       O_L2, O_VAL_SPLIT, O_KEEP, O_SEED, O_THREADS, O_OUT, O_HISTORY,
	       O_TRACE, O_VERSION };
	static const struct option lo[] = {
		{"db", required_argument, 0, O_DB},
		{"epochs", required_argument, 0, O_EPOCHS},
		{"lr", required_argument, 0, O_LR},
		{"batch-size", required_argument, 0, O_BATCH},
		{"beta1", required_argument, 0, O_BETA1},
		{"beta2", required_argument, 0, O_BETA2},
		{"epsilon", required_argument, 0, O_EPSILON},
		{"l2", required_argument, 0, O_L2},
		{"val-split", required_argument, 0, O_VAL_SPLIT},
		{"keep", required_argument, 0, O_KEEP},
		{"seed", required_argument, 0, O_SEED},
		{"threads", required_argument, 0, O_THREADS},
		{"out", required_argument, 0, O_OUT},
		{"history", required_argument, 0, O_HISTORY},
		{"trace", required_argument, 0, O_TRACE},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	head_hparams_t d = HEAD_HPARAMS_DEFAULT;
	long ncpu = pool_cpus();
	int c, bad = 0;

	*o = (opts_t){.epochs = 5, .val_split = 0.2, .keep = 0.95,
		      .threads = ncpu > 8 ? 8 : ncpu,
		      .lr = {{d.lr}, 1}, .batch = {{d.batch}, 1},
		      .beta1 = {{d.beta1}, 1}, .beta2 = {{d.beta2}, 1},
		      .epsilon = {{d.epsilon}, 1}, .l2 = {{d.l2}, 1}};
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (c) {
		case O_DB: o->db = optarg; break;
		case O_OUT: o->out = optarg; break;
		case O_HISTORY: o->history = optarg; break;
		case O_TRACE: o->trace = optarg; break;
		case O_EPOCHS:
			bad |= cli_long(PROG, "--epochs", optarg, 1, 100000, &o->epochs);
			break;
		case O_THREADS:
			bad |= cli_long(PROG, "--threads", optarg, 1, 64, &o->threads);
			break;
		case O_SEED:
			bad |= cli_long(PROG, "--seed", optarg, 0, 1L << 62, &o->seed);
			break;
		case O_VAL_SPLIT:
			bad |= cli_double(PROG, "--val-split", optarg, 0, 0.95, &o->val_split);
			o->val_split_given = 1;
			break;
		case O_KEEP:
			bad |= cli_double(PROG, "--keep", optarg, 1e-6, 1, &o->keep);
			break;
		case O_LR:
			bad |= parse_values("--lr", optarg, 1e-12, 10, 0, &o->lr);
			break;
		case O_BATCH:
			bad |= parse_values("--batch-size", optarg, 1, 65536, 1, &o->batch);
			break;
		case O_BETA1:
			bad |= parse_values("--beta1", optarg, 0, 0.999999, 0, &o->beta1);
			break;
		case O_BETA2:
			bad |= parse_values("--beta2", optarg, 0, 0.999999999, 0, &o->beta2);
			break;
		case O_EPSILON:
			bad |= parse_values("--epsilon", optarg, 1e-30, 1, 0, &o->epsilon);
			break;
		case O_L2:
			bad |= parse_values("--l2", optarg, 0, 100, 0, &o->l2);
			break;
		case 'q': o->quiet = 1; break;
		case O_VERSION: printf(PROG " " VGGFEAT_VERSION "\n"); exit(CLI_OK);
		case 'h': fputs(usage, stdout); exit(CLI_OK);
		default:
			return cli_bad_option(PROG, argv);
		}
	}
	if (bad)
		return CLI_USAGE;
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\nTry '" PROG " --help'.\n",
			argv[optind]);
		return CLI_USAGE;
	}
	if (!o->db) {
		fprintf(stderr, PROG ": --db is required\nTry '" PROG " --help'.\n");
		return CLI_USAGE;
	}
	long runs = (long)o->lr.n * o->batch.n * o->beta1.n * o->beta2.n *
		    o->epsilon.n * o->l2.n;
	if (runs > MAX_RUNS) {
		fprintf(stderr, PROG ": the sweep has %ld combinations, at most %d\n",
			runs, MAX_RUNS);
		return CLI_USAGE;
	}
	if (o->trace && runs > 1) {
		fprintf(stderr, PROG ": --trace records one run, not a sweep\n");
		return CLI_USAGE;
	}
	return 0;
}

/* ---- the features --------------------------------------------------------- */

typedef struct data {
	featdb_meta_t meta;
	int D, K;
	float *x;          /* (n, D) the training and validation records */
	int32_t *y;        /* (n) */
	double *unit;      /* (n) head_key_unit of each record's key */
	uint8_t *tagged;   /* (n) 1 when extract tagged the record valid */
	size_t n, cap;
	size_t ntest, nbad, ntagged;
	const char *path;
	char *err;
} data_t;

static void data_free(data_t *d)
{
	featdb_meta_free(&d->meta);
	free(d->x);
	free(d->y);
	free(d->unit);
	free(d->tagged);
	memset(d, 0, sizeof *d);
}

/* data_reserve makes room for cap records. */
static int data_reserve(data_t *d, size_t cap)
{
	size_t bytes;
	void *p;

	if (err_mul3_size(cap, (size_t)d->D, sizeof(float), &bytes))
		return -1;
	if (!(p = realloc(d->x, bytes)))
		return -1;
	d->x = p;
	if (!(p = realloc(d->y, cap * sizeof *d->y)))
		return -1;
	d->y = p;
	/* cap * D * 4 fitting does not make cap * 8 fit when D is 1. */
	if (err_mul_size(cap, sizeof *d->unit, &bytes) || !(p = realloc(d->unit, bytes)))
		return -1;
	d->unit = p;
	if (!(p = realloc(d->tagged, cap)))
		return -1;
	d->tagged = p;
	d->cap = cap;
	return 0;
}

static int load_record(void *ctx, const char *key, size_t keylen,
		       const featdb_rec_t *rec, const char *why)
{
	data_t *d = ctx;
	int kl = keylen > 200 ? 200 : (int)keylen;

	/* A damaged record costs one image, not the run. */
	if (!rec) {
		if (d->nbad++ < MAX_BAD_SHOWN)
			fprintf(stderr, PROG ": skipped record '%.*s': %s\n", kl, key, why);
		return 0;
	}
	if (rec->split == FEATDB_TEST) {
		d->ntest++;
		return 0;
	}
	if (rec->dim != d->D)
		return err_set(d->err, ERR_SHAPE, "%s: mixed dimensions: record '%.*s' "
			       "has %d features, the store says %d; extract again "
			       "into a new store", d->path, kl, key, rec->dim, d->D);
	if (rec->cls < 0 || rec->cls >= d->K)
		return err_set(d->err, ERR_FORMAT, "%s: record '%.*s' has class %d, "
			       "the store lists %d classes", d->path, kl, key,
			       (int)rec->cls, d->K);
	/* More records than the metadata counted: a writer committed since. */
	if (d->n == d->cap && (d->cap > SIZE_MAX / 3 ||
			       data_reserve(d, d->cap + d->cap / 2 + 1024)))
		return err_set(d->err, ERR_NOMEM, "out of memory after %zu records "
			       "of %d features", d->n, d->D);
	featdb_rec_vector(rec, d->x + d->n * (size_t)d->D);
	d->y[d->n] = rec->cls;
	d->unit[d->n] = head_key_unit(key, keylen);
	d->tagged[d->n] = rec->split == FEATDB_VALID;
	d->ntagged += rec->split == FEATDB_VALID;
	d->n++;
	return 0;
}

/* load reads every record of the store at path once. */
static int load(const char *path, data_t *d, char *err)
{
	featdb_t *db = NULL;
	featdb_meta_t again = {0};
	int rc;

	memset(d, 0, sizeof *d);
	d->path = path;
	d->err = err;
	if ((rc = featdb_open(path, FEATDB_RDONLY, &db, err)))
		goto out;
	if ((rc = featdb_meta_get(db, &d->meta, err))) {
		if (rc == ERR_MISSING)
			rc = err_set(err, ERR_MISSING, "%s: the store is empty (nothing "
				     "was extracted yet); run extract first", path);
		goto out;
	}
	if (d->meta.count == 0) {
		rc = err_set(err, ERR_MISSING, "%s: the store is empty (0 records); run "
			     "extract on a folder of images first", path);
		goto out;
	}
	if (d->meta.nclasses < 2) {
		rc = err_set(err, ERR_ARG, "%s: only one class (%s): a softmax head "
			     "needs two or more people", path,
			     d->meta.nclasses ? d->meta.classes[0] : "none");
		goto out;
	}
	d->D = d->meta.dim;
	d->K = d->meta.nclasses;
	if (d->meta.count > SIZE_MAX / 2 || data_reserve(d, (size_t)d->meta.count)) {
		rc = err_set(err, ERR_NOMEM, "out of memory for %llu records of %d "
			     "features", (unsigned long long)d->meta.count, d->D);
		goto out;
	}
	if ((rc = featdb_foreach(db, load_record, d, err)))
		goto out;
	/* The metadata and the records are read in two snapshots: if an
	 * extract added people in between, the records' class indices follow
	 * a newer list than ours. */
	if ((rc = featdb_meta_get(db, &again, err)))
		goto out;
	if (!classes_equal(again.classes, again.nclasses, d->meta.classes,
			   d->meta.nclasses)) {
		rc = err_set(err, ERR_MISMATCH, "%s: people were added while the store "
			     "was read (an extract is running?); try again when it is "
			     "done", path);
		goto out;
	}
	if (d->nbad > MAX_BAD_SHOWN)
		fprintf(stderr, PROG ": skipped %zu damaged records in all\n", d->nbad);
	if (d->n == 0)
		rc = err_set(err, ERR_MISSING, "%s: no training or validation records "
			     "(%zu tagged test, %zu damaged)", path, d->ntest, d->nbad);
out:
	featdb_meta_free(&again);
	featdb_close(db);
	return rc;
}

/* The training and validation sets, as index lists into the data. */
typedef struct split {
	size_t *train, *valid;
	size_t ntrain, nvalid;
	char how[64];
} split_t;

static int make_split(const data_t *d, const opts_t *o, split_t *s, char *err)
{
	uint8_t *held = NULL;
	size_t *count = NULL;
	int rc = 0;

	memset(s, 0, sizeof *s);
	s->train = malloc(d->n * sizeof *s->train);
	s->valid = malloc(d->n * sizeof *s->valid);
	held = malloc(d->n);
	count = calloc((size_t)d->K * 2, sizeof *count);
	if (!s->train || !s->valid || !held || !count) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (d->ntagged) {
		memcpy(held, d->tagged, d->n);
		snprintf(s->how, sizeof s->how, "tagged valid by extract");
	} else if (o->val_split > 0) {
		if ((rc = head_holdout(d->n, d->unit, d->y, d->K, o->val_split, held, err)))
			goto out;
		snprintf(s->how, sizeof s->how, "held out by --val-split %g", o->val_split);
	} else {
		memset(held, 0, d->n);
		snprintf(s->how, sizeof s->how, "--val-split 0");
	}
	for (size_t i = 0; i < d->n; i++) {
		if (held[i])
			s->valid[s->nvalid++] = i;
		else
			s->train[s->ntrain++] = i;
		count[(size_t)d->y[i] * 2 + held[i]]++;
	}
	for (int k = 0; k < d->K; k++)
		if (count[(size_t)k * 2] == 0) {
			rc = err_set(err, ERR_MISSING, "%s: class '%s' has no training "
				     "records (%zu for validation, the rest tagged test or "
				     "absent); give it training images or remove it",
				     o->db, d->meta.classes[k], count[(size_t)k * 2 + 1]);
			goto out;
		}
out:
	free(held);
	free(count);
	return rc;
}

/* ---- the suggested --min-prob -------------------------------------------- */

/* What the validation set says of predict's --min-prob p: rank 1 becomes
 * "unknown" when its probability is below p. */
typedef struct threshold {
	double p;
	size_t right, kept;   /* correct top-1 answers; those at or above p */
	size_t wrong, caught; /* wrong ones; those below p */
} threshold_t;

static int cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x < y) - (x > y);
}

/* suggest_threshold runs h over the validation set as predict runs it on an
 * image (probabilities by head_softmax, rank 1 the first largest) and
 * finds the p that keeps keep of the correct answers: the probability of
 * the ceil(keep * right)-th most confident of them, rounded down to
 * predict's 6 decimals with at least 1e-7 to spare, so that the p printed
 * keeps every one of them even where predict's product, on other batches,
 * differs from this one in its last bits. */
static int suggest_threshold(const head_t *h, const data_t *d, const split_t *s,
			     double keep, threshold_t *t, char *err)
{
	enum { CHUNK = 256 };
	/* x (CHUNK, D), logits (CHUNK, K), p (K); top (nvalid): the right
	 * answers' probabilities first, then from the end the wrong ones'. */
	size_t D = (size_t)d->D, K = (size_t)d->K, nv = s->nvalid;
	float *x = malloc(CHUNK * D * sizeof *x), *logits = malloc(CHUNK * K * sizeof *logits);
	double *p = malloc(K * sizeof *p), *top = malloc((nv ? nv : 1) * sizeof *top);
	int rc = 0;

	memset(t, 0, sizeof *t);
	if (!x || !logits || !p || !top) {
		rc = err_set(err, ERR_NOMEM, "out of memory for the validation answers");
		goto out;
	}
	for (size_t i0 = 0; i0 < nv; i0 += CHUNK) {
		int n = nv - i0 < CHUNK ? (int)(nv - i0) : CHUNK;
		for (int r = 0; r < n; r++)
			memcpy(x + r * D, d->x + s->valid[i0 + (size_t)r] * D, D * sizeof *x);
		head_forward(h, x, n, logits);
		for (int r = 0; r < n; r++) {
			size_t best = 0;
			head_softmax(logits + r * K, (int)K, p);
			for (size_t k = 1; k < K; k++)
				if (p[k] > p[best])
					best = k;
			if ((int32_t)best == d->y[s->valid[i0 + (size_t)r]])
				top[t->right++] = p[best];
			else
				top[nv - ++t->wrong] = p[best];
		}
	}
	if (t->right == 0)
		goto out;
	qsort(top, t->right, sizeof *top, cmp_desc);
	/* keep * right is 19.000000000000004 for 0.95 * 20: no 20th. */
	size_t want = (size_t)ceil(keep * (double)t->right - 1e-9);
	want = want < 1 ? 1 : want;
	t->p = floor((top[want - 1] - 1e-7) * 1e6) / 1e6;
	t->p = t->p < 0 ? 0 : t->p;
	for (size_t i = 0; i < t->right; i++)
		t->kept += top[i] >= t->p;
	for (size_t i = nv - t->wrong; i < nv; i++)
		t->caught += top[i] < t->p;
out:
	free(x), free(logits), free(p), free(top);
	return rc;
}

/* The share a of b, in per cent, for the report ("-" when b is 0). */
static const char *percent(size_t a, size_t b, char *buf, size_t len)
{
	if (b == 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f%%", 100.0 * (double)a / (double)b);
	return buf;
}

static void print_threshold(const threshold_t *t, double keep)
{
	char a[16], b[16];

	if (t->right == 0) {
		fprintf(stderr, PROG ": no validation answer is right: no --min-prob "
			"to suggest\n");
		return;
	}
	fprintf(stderr, PROG ": predict --min-prob %.6f keeps %zu of the %zu correct "
		"validation answers (%s, --keep %g) and turns %zu of the %zu wrong "
		"ones (%s) into unknown\n", t->p, t->kept, t->right,
		percent(t->kept, t->right, a, sizeof a), keep, t->caught, t->wrong,
		percent(t->caught, t->wrong, b, sizeof b));
}

/* ---- training ------------------------------------------------------------ */

typedef struct result {
	head_hparams_t hp;
	int best_epoch;                    /* 1-based */
	head_metrics_t best_train, best_val;
	double seconds;                    /* per epoch */
} result_t;

/* better: whether metrics (train a, valid av) beat (b, bv): the higher
 * validation accuracy, then the lower validation loss; without validation,
 * the same on the training metrics. */
static int better(int has_val, const head_metrics_t *a, const head_metrics_t *av,
		  const head_metrics_t *b, const head_metrics_t *bv)
{
	const head_metrics_t *x = has_val ? av : a, *y = has_val ? bv : b;
	if (x->accuracy != y->accuracy)
		return x->accuracy > y->accuracy;
	return x->loss < y->loss;
}

static head_hparams_t combination(const opts_t *o, int i)
{
	head_hparams_t hp;
	hp.lr = o->lr.v[i % o->lr.n];
	i /= o->lr.n;
	hp.batch = (int)o->batch.v[i % o->batch.n];
	i /= o->batch.n;
	hp.beta1 = o->beta1.v[i % o->beta1.n];
	i /= o->beta1.n;
	hp.beta2 = o->beta2.v[i % o->beta2.n];
	i /= o->beta2.n;
	hp.epsilon = o->epsilon.v[i % o->epsilon.n];
	i /= o->epsilon.n;
	hp.l2 = o->l2.v[i % o->l2.n];
	return hp;
}

/* Opens run's history file (--history; one per run in a sweep). */
static int history_open(const opts_t *o, int sweep, int run, csvlog_t *c,
			char *path, size_t len, char *err)
{
	int rc = sweep ? csvlog_run_path(o->history, run + 1, path, len, err)
		       : (snprintf(path, len, "%s", o->history) < (int)len
				  ? 0
				  : err_set(err, ERR_ARG, "--history: too long a path"));
	return rc ? rc : csvlog_open(c, path, err);
}

/* What --trace records. */
typedef struct trace {
	float *kernel0;   /* (D*K + K) the starting weights */
	uint32_t *order;  /* (epochs, ntrain) */
	double *metrics;  /* (epochs, 4) loss, accuracy, val_loss, val_accuracy */
} trace_t;

/* The trace's format tag (root attribute "format"). */
#define TRACE_FORMAT "vggfeat-trace 1"

/* trace_write stores the run for tests/ref/torch_head.py, tagged
 * TRACE_FORMAT:
 *   train_x (ntrain, D) float32, train_y (ntrain) int32, valid_x, valid_y,
 *   kernel0 (D, K), bias0 (K), order (epochs, ntrain) uint32 (positions in
 *   train_x), metrics (epochs, 4) float64 (this program's loss, accuracy,
 *   val_loss, val_accuracy), hparams (8) float64 (lr, beta1, beta2,
 *   epsilon, l2, batch_size, epochs, seed). */
static int trace_write(const char *path, const data_t *d, const split_t *s,
		       const head_hparams_t *hp, const opts_t *o,
		       const trace_t *tr, char *err)
{
	hid_t f = H5I_INVALID_HID;
	float *x = NULL;
	int32_t *y = NULL;
	size_t nmax = s->ntrain > s->nvalid ? s->ntrain : s->nvalid, bytes;
	int rc = 0, bad = 0;
	h5util_quiet_t quiet;

	h5util_quiet(&quiet);
	if (err_mul3_size(nmax ? nmax : 1, (size_t)d->D, sizeof *x, &bytes) ||
	    !(x = malloc(bytes)) || !(y = malloc((nmax ? nmax : 1) * sizeof *y))) {
		rc = err_set(err, ERR_NOMEM, "--trace: out of memory");
		goto out;
	}
	if ((f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_IO, "%s: cannot create", path);
		goto out;
	}
	for (int which = 0; which < 2; which++) {
		const size_t *idx = which ? s->valid : s->train;
		size_t n = which ? s->nvalid : s->ntrain;
		for (size_t i = 0; i < n; i++) {
			memcpy(x + i * d->D, d->x + idx[i] * d->D, (size_t)d->D * sizeof *x);
			y[i] = d->y[idx[i]];
		}
		hsize_t xd[2] = {n, (hsize_t)d->D}, yd[1] = {n};
		bad |= h5util_write_dataset(f, which ? "valid_x" : "train_x", H5T_IEEE_F32LE,
					    H5T_NATIVE_FLOAT, 2, xd, H5P_DEFAULT, H5P_DEFAULT, x);
		bad |= h5util_write_dataset(f, which ? "valid_y" : "train_y", H5T_STD_I32LE,
					    H5T_NATIVE_INT32, 1, yd, H5P_DEFAULT, H5P_DEFAULT, y);
	}
	hsize_t kd[2] = {(hsize_t)d->D, (hsize_t)d->K}, bd[1] = {(hsize_t)d->K};
	hsize_t od[2] = {(hsize_t)o->epochs, s->ntrain}, md[2] = {(hsize_t)o->epochs, 4};
	hsize_t hd[1] = {8};
	double hv[8] = {hp->lr, hp->beta1, hp->beta2, hp->epsilon, hp->l2, hp->batch,
			(double)o->epochs, (double)o->seed};
	bad |= h5util_write_dataset(f, "kernel0", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, kd,
				    H5P_DEFAULT, H5P_DEFAULT, tr->kernel0);
	bad |= h5util_write_dataset(f, "bias0", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, bd,
				    H5P_DEFAULT, H5P_DEFAULT, tr->kernel0 + (size_t)d->D * d->K);
	bad |= h5util_write_dataset(f, "order", H5T_STD_U32LE, H5T_NATIVE_UINT32, 2, od,
				    H5P_DEFAULT, H5P_DEFAULT, tr->order);
	bad |= h5util_write_dataset(f, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md,
				    H5P_DEFAULT, H5P_DEFAULT, tr->metrics);
	bad |= h5util_write_dataset(f, "hparams", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, hd,
				    H5P_DEFAULT, H5P_DEFAULT, hv);
	bad |= h5util_attr_write_text(f, "format", TRACE_FORMAT);
	if (bad)
		rc = err_set(err, ERR_IO, "%s: writing failed", path);
out:
	if (f >= 0 && H5Fclose(f) < 0 && !rc)
		rc = err_set(err, ERR_IO, "%s: writing failed", path);
	free(x);
	free(y);
	H5Eclear2(H5E_DEFAULT);
	h5util_unquiet(&quiet);
	return rc;
}

static int print_table(const result_t *r, int nruns, int has_val)
{
	int *rank = malloc((size_t)nruns * sizeof *rank);
	if (!rank)
		return -1;
	for (int i = 0; i < nruns; i++)
		rank[i] = i;
	/* Insertion sort: stable, so equal results keep the command line's
	 * order. */
	for (int i = 1; i < nruns; i++)
		for (int j = i; j > 0 && better(has_val, &r[rank[j]].best_train,
						 &r[rank[j]].best_val,
						 &r[rank[j - 1]].best_train,
						 &r[rank[j - 1]].best_val); j--) {
			int t = rank[j];
			rank[j] = rank[j - 1];
			rank[j - 1] = t;
		}
	printf("rank  %10s %10s %7s %7s %9s %9s  epoch  %s  %s  %s  %s  s/epoch\n",
	       "lr", "batch_size", "beta1", "beta2", "epsilon", "l2",
	       "    loss", "accuracy", has_val ? "val_loss" : "", has_val ? "val_accuracy" : "");
	for (int i = 0; i < nruns; i++) {
		const result_t *x = &r[rank[i]];
		printf("%4d  %10.3g %10d %7.4g %7.5g %9.3g %9.3g  %5d  %8.4f  %8.4f", i + 1,
		       x->hp.lr, x->hp.batch, x->hp.beta1, x->hp.beta2, x->hp.epsilon,
		       x->hp.l2, x->best_epoch, x->best_train.loss, x->best_train.accuracy);
		if (has_val)
			printf("  %8.4f  %12.4f", x->best_val.loss, x->best_val.accuracy);
		else
			printf("  %8s  %12s", "", "");
		printf("  %7.3f\n", x->seconds);
	}
	free(rank);
	return 0;
}

/* ---- the sweep ----------------------------------------------------------- */

/* The runs of a sweep (one run without one): every run's result, the heads,
 * the best epoch of them all. */
typedef struct runs {
	int n, sweep, has_val;  /* runs; a sweep (n > 1); a validation set */
	result_t *res;          /* (n) */
	head_t h;               /* the run being trained; then the last run's */
	head_t best;            /* a sweep's best epoch's weights (for --out and
				 * the threshold) */
	int best_run, best_epoch;
	head_metrics_t best_mt, best_mv;
	double train_secs;
	trace_t trc;            /* --trace */
	size_t *order;          /* (ntrain) an epoch's order, for --trace */
} runs_t;

static void runs_free(runs_t *w)
{
	free(w->order);
	free(w->trc.kernel0);
	free(w->trc.order);
	free(w->trc.metrics);
	free(w->res);
	head_free(&w->h);
	head_free(&w->best);
}

/* runs_alloc: room for the results and for what --trace records. */
static int runs_alloc(const opts_t *o, const data_t *d, const split_t *s, runs_t *w,
		      char *err)
{
	size_t on;

	w->n = o->lr.n * o->batch.n * o->beta1.n * o->beta2.n * o->epsilon.n * o->l2.n;
	w->sweep = w->n > 1;
	w->has_val = s->nvalid > 0;
	w->best_run = -1;
	if (!(w->res = calloc((size_t)w->n, sizeof *w->res)))
		return err_set(err, ERR_NOMEM, "out of memory");
	if (!o->trace)
		return 0;
	if (err_mul_size((size_t)o->epochs, s->ntrain, &on) || s->ntrain > UINT32_MAX ||
	    !(w->trc.order = malloc(on * sizeof *w->trc.order)) ||
	    !(w->trc.metrics = calloc((size_t)o->epochs * 4, sizeof *w->trc.metrics)) ||
	    !(w->trc.kernel0 = malloc(((size_t)d->D * d->K + d->K) * sizeof(float))) ||
	    !(w->order = malloc(s->ntrain * sizeof *w->order)))
		return err_set(err, ERR_NOMEM, "--trace: out of memory");
	return 0;
}

/* keep_epoch records epoch e of run (metrics mt, and mv on the validation
 * set) for --trace, as the run's best, and as the sweep's best with its
 * weights. */
static void keep_epoch(runs_t *w, int run, int e, const head_metrics_t *mt,
		       const head_metrics_t *mv, size_t ntrain)
{
	result_t *r = &w->res[run];

	if (w->trc.order) {
		for (size_t i = 0; i < ntrain; i++)
			w->trc.order[(size_t)(e - 1) * ntrain + i] = (uint32_t)w->order[i];
		double *m = w->trc.metrics + (size_t)(e - 1) * 4;
		m[0] = mt->loss, m[1] = mt->accuracy, m[2] = mv->loss, m[3] = mv->accuracy;
	}
	if (e == 1 || better(w->has_val, mt, mv, &r->best_train, &r->best_val)) {
		r->best_epoch = e;
		r->best_train = *mt;
		r->best_val = *mv;
	}
	if (w->sweep && (w->best_run < 0 ||
			 better(w->has_val, mt, mv, &w->best_mt, &w->best_mv))) {
		w->best_run = run;
		w->best_epoch = e;
		w->best_mt = *mt;
		w->best_mv = *mv;
		if (w->best.kernel)
			head_copy(&w->best, &w->h);
	}
}

/* train_run trains combination run for --epochs epochs, printing Keras'
 * lines and writing its history. */
static int train_run(const opts_t *o, const data_t *d, const split_t *s, runs_t *w,
		     int run, char *err)
{
	result_t *r = &w->res[run];
	head_set_t train = {d->x, (size_t)d->D, d->y, s->train, s->ntrain};
	head_set_t valid = {d->x, (size_t)d->D, d->y, s->valid, s->nvalid};
	head_trainer_t *tr = NULL;
	csvlog_t hist = {0};
	char hist_path[4096] = "";
	int rc;

	r->hp = combination(o, run);
	/* Every combination starts from the same weights and sees the
	 * same shuffles: the sweep compares hyperparameters only. */
	if ((rc = head_create(d->D, d->K, (uint64_t)o->seed, &w->h, err)) ||
	    (rc = head_trainer_create(&w->h, &r->hp, (int)o->threads, (uint64_t)o->seed,
				      &tr, err)))
		goto out;
	/* Room for the best weights seen so far (its initial values are
	 * overwritten at the first epoch). */
	if (w->sweep && (o->out || w->has_val) && !w->best.kernel &&
	    (rc = head_create(d->D, d->K, 0, &w->best, err)))
		goto out;
	if (w->trc.kernel0)
		memcpy(w->trc.kernel0, w->h.kernel, ((size_t)d->D * d->K + d->K) * sizeof(float));
	if (o->history && (rc = history_open(o, w->sweep, run, &hist, hist_path,
					     sizeof hist_path, err)))
		goto out;
	if (w->sweep && !o->quiet)
		printf("%sRun %d/%d: lr %g, batch_size %d, beta1 %g, beta2 %g, "
		       "epsilon %g, l2 %g\n", run ? "\n" : "", run + 1, w->n,
		       r->hp.lr, r->hp.batch, r->hp.beta1, r->hp.beta2,
		       r->hp.epsilon, r->hp.l2);
	size_t steps = (s->ntrain + (size_t)r->hp.batch - 1) / (size_t)r->hp.batch;
	double run_t0 = cli_now();
	for (int e = 1; e <= o->epochs; e++) {
		head_metrics_t mt, mv = {0};
		/* As Keras: the header when the epoch starts, the line
		 * when it ends (so a reader can time it). */
		if (!o->quiet) {
			printf("Epoch %d/%ld\n", e, o->epochs);
			fflush(stdout);
		}
		double e0 = cli_now();
		if ((rc = head_trainer_epoch(tr, &train, &mt, w->order, err)) ||
		    (w->has_val && (rc = head_trainer_evaluate(tr, &valid, &mv, err))))
			goto out;
		double dt = cli_now() - e0;
		/* Keras' metrics are float32: the line and the history
		 * show the same numbers as Keras would. */
		if (!o->quiet) {
			printf("%zu/%zu - %.0fs - loss: %.4f - accuracy: %.4f",
			       steps, steps, dt, (double)(float)mt.loss,
			       (double)(float)mt.accuracy);
			if (w->has_val)
				printf(" - val_loss: %.4f - val_accuracy: %.4f",
				       (double)(float)mv.loss, (double)(float)mv.accuracy);
			putchar('\n');
			fflush(stdout);
		}
		csvlog_row_t row = {mt.loss, mt.accuracy, w->has_val, mv.loss, mv.accuracy};
		if (hist.f && (rc = csvlog_epoch(&hist, &row, hist_path, err)))
			goto out;
		keep_epoch(w, run, e, &mt, &mv, s->ntrain);
	}
	r->seconds = (cli_now() - run_t0) / (double)o->epochs;
	w->train_secs += cli_now() - run_t0;
	rc = csvlog_close(&hist, hist_path, err);
out:
	/* After a failure, the history written so far (closed: a no-op). */
	csvlog_close(&hist, hist_path, NULL);
	head_trainer_free(tr);
	return rc;
}

/* sweep trains every combination of the swept values over the same
 * features and starting weights, then prints a sweep's table. */
static int sweep(const opts_t *o, const data_t *d, const split_t *s, runs_t *w,
		 char *err)
{
	int rc;

	if ((rc = runs_alloc(o, d, s, w, err)))
		return rc;
	for (int run = 0; run < w->n; run++) {
		if ((rc = train_run(o, d, s, w, run, err)))
			return rc;
		if (run + 1 < w->n)
			head_free(&w->h);
	}
	if (!w->sweep)
		return 0;
	if (!o->quiet)
		putchar('\n');
	if (print_table(w->res, w->n, w->has_val))
		return err_set(err, ERR_NOMEM, "out of memory for the sweep's table");
	return 0;
}

/* ---- the steps of main ---------------------------------------------------- */

/* describe says what was read and how it is split. */
static void describe(const opts_t *o, const data_t *d, const split_t *s, double t0)
{
	if (o->quiet)
		return;
	fprintf(stderr, PROG ": %s: %zu records, %d classes, %d features, read "
		"in %.1f s\n", o->db, d->n + d->ntest, d->K, d->D, cli_now() - t0);
	fprintf(stderr, PROG ": %zu for training, %zu for validation (%s)\n",
		s->ntrain, s->nvalid, s->how);
	if (d->ntest)
		fprintf(stderr, PROG ": %zu records tagged test are not used\n", d->ntest);
	if (d->ntagged && o->val_split_given)
		fprintf(stderr, PROG ": --val-split is ignored: the store has "
			"records tagged valid\n");
}

/* save writes --out (a sweep's best epoch, else the last) and --trace. */
static int save(const opts_t *o, const data_t *d, const split_t *s, const runs_t *w,
		char *err)
{
	int rc;

	if (o->out) {
		head_meta_t hm = {.nclasses = d->K, .classes = d->meta.classes};
		snprintf(hm.model, sizeof hm.model, "%s", d->meta.model);
		snprintf(hm.fingerprint, sizeof hm.fingerprint, "%s", d->meta.fingerprint);
		snprintf(hm.preprocess, sizeof hm.preprocess, "%s", d->meta.preprocess);
		snprintf(hm.version, sizeof hm.version, PROG " " VGGFEAT_VERSION);
		if ((rc = head_save(o->out, w->sweep ? &w->best : &w->h, &hm, err)))
			return rc;
	}
	if (o->trace)
		return trace_write(o->trace, d, s, &w->res[0].hp, o, &w->trc, err);
	return 0;
}

/* report suggests predict's --min-prob from the validation set and sums
 * the runs up. */
static int report(const opts_t *o, const data_t *d, const split_t *s, const runs_t *w,
		  char *err)
{
	int rc;

	if (o->quiet)
		return 0;
	if (w->has_val) {
		threshold_t th;
		if ((rc = suggest_threshold(w->sweep ? &w->best : &w->h, d, s, o->keep,
					    &th, err)))
			return rc;
		print_threshold(&th, o->keep);
	}
	fprintf(stderr, PROG ": %d run%s of %ld epoch%s, %.3f s per epoch",
		w->n, w->sweep ? "s" : "", o->epochs, o->epochs > 1 ? "s" : "",
		w->train_secs / (double)(w->n * o->epochs));
	if (o->out && w->sweep)
		fprintf(stderr, "; saved %s: run %d, epoch %d", o->out, w->best_run + 1,
			w->best_epoch);
	else if (o->out)
		fprintf(stderr, "; saved %s", o->out);
	fputc('\n', stderr);
	return 0;
}

int main(int argc, char **argv)
{
	opts_t o;
	data_t d = {0};
	split_t s = {0};
	runs_t w = {0};
	char err[ERR_LEN];
	double t0 = cli_now();
	int status = CLI_ERROR, rc;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	/* The trainer runs its own threads, each calling single-threaded
	 * sgemm; OpenBLAS' threads on top would only compete for the cores. */
	openblas_set_num_threads(1);

	if ((rc = load(o.db, &d, err)) || (rc = make_split(&d, &o, &s, err)))
		goto fail;
	describe(&o, &d, &s, t0);
	if ((rc = sweep(&o, &d, &s, &w, err)) || (rc = save(&o, &d, &s, &w, err)))
		goto fail;
	/* The epochs' lines and a sweep's table are the run's report. */
	if (cli_flush_stdout(PROG))
		goto out;
	if ((rc = report(&o, &d, &s, &w, err)))
		goto fail;
	status = CLI_OK;
	goto out;
fail:
	fprintf(stderr, PROG ": error: %s\n", err);
out:
	runs_free(&w);
	free(s.train);
	free(s.valid);
	data_free(&d);
	return status;
}
