/* verify - are two faces one person?  Runs both images through the network
 * that made a store's vectors (or the weights given) and compares their
 * distance, with DeepFace's definitions, to a threshold: --threshold, or
 * the one verify --calibrate chose on the store's own records and wrote
 * into its metadata.  --calibrate measures every genuine pair and a seeded
 * sample of impostor pairs: ROC AUC, equal error rate, the threshold for a
 * false-accept rate, and LFW's 10-fold accuracy. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "embed/embed.h"
#include "error.h"
#include "net/model.h"
#include "recog/recog.h"
#include "version.h"
#include "verify/verify.h"

/* The short options, getopt's and cli_bad_option's. */
#define SHORT_OPTS "qh"

static const char usage[] =
	"usage: verify A B [--db STORE | --weights FILE [--model M] [--layer L]\n"
	"                  [--pooling P]] [options]\n"
	"       verify --calibrate --db STORE [--far F] [options]\n"
	"\n"
	"Says whether the faces in images A and B are one person: their vectors'\n"
	"distance against a threshold, printed as one line,\n"
	"  A<TAB>B<TAB>distance<TAB>threshold<TAB>same|different\n"
	"or, with --json, an object with DeepFace.verify's keys.  The vectors are\n"
	"made as the store's were (its model, layer, weights and preprocessing,\n"
	"checked, and its convolution path, --conv), or by the weights given at\n"
	"--layer (default fc2).  The threshold is --threshold, else the one\n"
	"--calibrate wrote into the store.\n"
	"\n"
	"--calibrate forms every genuine pair (two images of one person) and a\n"
	"seeded sample of impostor pairs (two people) of the store's records that\n"
	"extract tagged valid (all records when none is), prints the ROC AUC, the\n"
	"equal error rate, the threshold whose false-accept rate is at most --far\n"
	"with its true-accept rate, and a 10-fold accuracy in the style of LFW's\n"
	"protocol, and writes the threshold into the store's metadata.\n"
	"\n"
	"options:\n"
	"  --db STORE       the feature store (extract --db)\n"
	"  --weights FILE   the weights (default: the store's model's file: for\n"
	"                   VGG16 $VGG16_WEIGHTS, else Keras' cache\n"
	"                   ~/.keras/models/" MODEL_VGG16_FILE ";\n"
	"                   for VGG-Face $VGGFACE_WEIGHTS, else\n"
	"                   ~/.keras/models/vggface/" MODEL_VGGFACE_FILE ")\n"
	"  --model M        vgg16 or vggface: the store and the file must be it\n"
	"  --layer L        where the vectors are taken, as extract's --layer:\n"
	"                   fc2 (default), fc1 or block5_pool (VGG-Face: fc7,\n"
	"                   fc6, pool5); with --db, the store's (no need to\n"
	"                   give it).  block5_pool needs no dense layer, so the\n"
	"                   file " MODEL_VGG16_NOTOP_FILE "\n"
	"                   serves it (read without --weights when Keras cached it)\n"
	"  --pooling P      with block5_pool: avg or max over its 7x7, as\n"
	"                   extract's --pooling; without it, Keras' Flatten\n"
	CLI_CONV_HELP
	"                   (default: the store's, the path extract computed its\n"
	"                   vectors on, so that an image's vector is the one\n"
	"                   extract stored; winograd without --db)\n"
	"  --metric M       cosine, euclidean or euclidean_l2, as DeepFace defines\n"
	"                   them (default cosine)\n"
	"  --threshold X    same person when the distance is <= X (default: the\n"
	"                   store's calibrated threshold for the metric)\n"
	"  --json           DeepFace's keys: verified, distance, threshold, model,\n"
	"                   detector_backend, similarity_metric, time\n"
	"  --calibrate      choose the threshold on the store's records (above)\n"
	"  --far F          the false-accept rate to choose it at (default 1e-3)\n"
	"  --records R      valid or all: the records to calibrate on (default:\n"
	"                   those tagged valid when there are any, else all)\n"
	"  --impostors N    impostor pairs to sample, at most (default 1000000;\n"
	"                   all of them when there are no more)\n"
	"  --seed N         the sample's and the folds' seed (default 0)\n"
	"  --threads N      compute threads (default: one per CPU)\n"
	"  -q, --quiet      no notes on the standard error\n"
	"  --version        print the version\n"
	"  -h, --help       this text\n"
	"  --help-dev       the variables for development and tests\n";

static const char usage_dev[] =
	PROG ": for development and tests (docs/development.md)\n"
	"\n"
	"  VGGFEAT_ISA=NAME          the kernels' instructions: portable, avx2,\n"
	"                            emul512 (AVX-512's code on AVX2) or avx512,\n"
	"                            one the CPU has (default: the widest)\n"
	"  VGGFEAT_HDF5_TIMEOUT=S    seconds the weights' reader may take before\n"
	"                            it counts as hung (default 600)\n";

static int parse_args(int argc, char **argv, vf_opts_t *o)
{
	enum { O_DB = 256, O_WEIGHTS, O_MODEL, O_LAYER, O_POOLING, O_METRIC, O_THRESHOLD, O_JSON,
	       O_CONV, O_CALIBRATE, O_FAR, O_RECORDS, O_IMPOSTORS, O_SEED, O_THREADS,
	       O_VERSION, O_HELP_DEV };
	static const struct option lo[] = {
		{"db", required_argument, 0, O_DB},
		{"weights", required_argument, 0, O_WEIGHTS},
		{"model", required_argument, 0, O_MODEL},
		{"layer", required_argument, 0, O_LAYER},
		{"pooling", required_argument, 0, O_POOLING},
		{"metric", required_argument, 0, O_METRIC},
		{"threshold", required_argument, 0, O_THRESHOLD},
		{"json", no_argument, 0, O_JSON},
		{"conv", required_argument, 0, O_CONV},
		{"calibrate", no_argument, 0, O_CALIBRATE},
		{"far", required_argument, 0, O_FAR},
		{"records", required_argument, 0, O_RECORDS},
		{"impostors", required_argument, 0, O_IMPOSTORS},
		{"seed", required_argument, 0, O_SEED},
		{"threads", required_argument, 0, O_THREADS},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{0, 0, 0, 0},
	};
	int c, far_given = 0, sample_given = 0;

	*o = (vf_opts_t){.threshold = -1, .conv = -1, .far = 1e-3, .impostors = 1000000};
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORT_OPTS, lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			if (cli_path(PROG, "--db", optarg, &o->db))
				return CLI_USAGE;
			break;
		case O_WEIGHTS:
			if (cli_path(PROG, "--weights", optarg, &o->weights))
				return CLI_USAGE;
			break;
		case O_MODEL:
			if (cli_model(PROG, optarg, &o->model))
				return CLI_USAGE;
			break;
		/* Each value alone now, as extract checks them; the two
		 * together below. */
		case O_LAYER:
			o->layer = optarg;
			if (cli_layer(PROG, optarg))
				return CLI_USAGE;
			break;
		case O_POOLING:
			o->pooling = optarg;
			if (cli_pooling(PROG, optarg))
				return CLI_USAGE;
			break;
		case O_METRIC:
			if ((o->metric = recog_metric_parse(optarg)) < 0)
				return cli_usage(PROG, "--metric: '%s' is not cosine, "
						 "euclidean or euclidean_l2", optarg);
			break;
		case O_THRESHOLD:
			if (cli_double(PROG, "--threshold", optarg, 0, 1e300, &o->threshold))
				return CLI_USAGE;
			break;
		case O_JSON: o->json = 1; break;
		case O_CONV:
			if (cli_conv(PROG, optarg, &o->conv))
				return CLI_USAGE;
			break;
		case O_CALIBRATE: o->calibrate = 1; break;
		case O_FAR:
			if (cli_double(PROG, "--far", optarg, 0, 1, &o->far))
				return CLI_USAGE;
			far_given = 1;
			break;
		case O_RECORDS:
			if (strcmp(optarg, "valid") && strcmp(optarg, "all"))
				return cli_usage(PROG, "--records: '%s' is not valid or all",
						 optarg);
			o->records = optarg[0] == 'v' ? VF_RECORDS_VALID : VF_RECORDS_ALL;
			sample_given = 1;
			break;
		case O_IMPOSTORS:
			if (cli_long(PROG, "--impostors", optarg, 1, 1L << 30, &o->impostors))
				return CLI_USAGE;
			sample_given = 1;
			break;
		case O_SEED:
			if (cli_long(PROG, "--seed", optarg, 0, 0x7fffffffL, &o->seed))
				return CLI_USAGE;
			sample_given = 1;
			break;
		case O_THREADS:
			if (cli_long(PROG, "--threads", optarg, 1, 256, &o->threads))
				return CLI_USAGE;
			break;
		case 'q': o->quiet = 1; break;
		case O_VERSION: cli_answer(PROG, PROG " " VGGFEAT_VERSION "\n");
		case 'h': cli_answer(PROG, usage);
		case O_HELP_DEV: cli_answer(PROG, usage_dev);
		default:
			return cli_bad_option(PROG, argv, SHORT_OPTS);
		}
	}
	const char *wrong = NULL;
	if (o->calibrate && (!o->db || optind != argc))
		wrong = "--calibrate takes --db STORE and no image";
	else if (o->calibrate && (o->weights || o->json || o->threshold >= 0 ||
				  o->layer || o->pooling || o->conv >= 0))
		wrong = "--calibrate takes no --weights, --layer, --pooling, --conv, "
			"--json or --threshold (it measures the stored vectors)";
	else if (!o->calibrate && argc - optind != 2)
		wrong = "two images are required (or --calibrate --db STORE)";
	else if (!o->calibrate && (far_given || sample_given))
		wrong = "--far, --records, --impostors and --seed go with --calibrate";
	else if (!o->calibrate && !o->db && o->threshold < 0)
		wrong = "without --db, give --threshold X (a store's calibrated "
			"threshold is the other way)";
	if (wrong)
		return cli_usage(PROG, "%s", wrong);
	if (cli_operands(PROG, "image path", argv + optind, argc - optind))
		return CLI_USAGE;
	if ((c = cli_tap(PROG, o->model, o->layer, o->pooling, &o->tap_model, &o->tap)))
		return c;
	if (!o->calibrate) {
		o->a = argv[optind];
		o->b = argv[optind + 1];
	}
	if (!o->threads)
		o->threads = workers_cpus();
	return 0;
}

/* The two vectors, each (D): embed_run's callback copies its one batch. */
static int keep_pair(void *ctx, int n, const char *const *paths,
		     const float *vec, int dim, char *err)
{
	memcpy(ctx, vec, (size_t)n * dim * sizeof *vec);
	return 0;
}

static int folder_error(const char *path, char *err)
{
	return err_set(err, ERR_ARG, "%s: a folder: verify compares two image files "
		       "(nearest looks up the images of a folder)", path);
}

/* check_images: A and B are there and are not folders, said before the
 * store and the weights are read (a second or more).  A folder is refused
 * even when it holds a single image, which embed_list would take for it. */
static int check_images(const vf_opts_t *o, char *err)
{
	const char *paths[2] = {o->a, o->b};
	struct stat st;

	for (int i = 0; i < 2; i++) {
		if (stat(paths[i], &st) != 0)
			return err_set(err, errno == ENOENT ? ERR_MISSING : ERR_IO,
				       "%s: %s", paths[i], strerror(errno));
		if (S_ISDIR(st.st_mode))
			return folder_error(paths[i], err);
	}
	return 0;
}

/* two_vectors runs the network over w to tap, its convolutions computed
 * as conv says, on images A and B: v (2, D). */
static int two_vectors(const vf_opts_t *o, const weights_t *w, int tap, int conv,
		       float *v, char *err)
{
	char *inputs[2] = {(char *)o->a, (char *)o->b};
	embed_images_t im = {0};
	embed_opts_t eo = {.model = w->model, .strict = 1};
	size_t done = 0;
	int rc;

	vgg_opts_init(&eo.net, 2);
	eo.net.tap = tap;
	eo.net.conv = conv;
	eo.net.threads = (int)o->threads;
	if ((rc = embed_list(PROG, inputs, 2, &im, err)) == 0) {
		/* A file is listed alone, as itself (check_images saw no
		 * folder; this one became one since). */
		for (int i = 0; i < 2 && rc == 0; i++)
			if (im.sets[i].n != 1 || strcmp(im.sets[i].items[0].path, inputs[i]))
				rc = folder_error(inputs[i], err);
		if (rc == 0)
			rc = embed_run(PROG, &eo, w, &im, keep_pair, v, &done, err);
	}
	embed_images_free(&im);
	return rc;
}

/* check_store_tap: --layer and --pooling, when given with --db, ask for
 * the tap of the store's vectors (model's, at tap), or it is an error
 * naming both. */
static int check_store_tap(const vf_opts_t *o, const featdb_meta_t *meta, int model,
			   int tap, char *err)
{
	char has[96];

	if (!o->layer || (o->tap == tap && (!o->tap_model || o->tap_model == model)))
		return 0;
	model_tap_options(model, tap, has, sizeof has);
	return err_set(err, ERR_MISMATCH, "%s holds %s vectors (%s), but --layer %s%s%s "
		       "was given", o->db, meta->model, has, o->layer,
		       o->pooling ? " --pooling " : "", o->pooling ? o->pooling : "");
}

/* verify A B: the vectors made as the store's were (its tap and its
 * convolution path), their distance against the threshold. */
static int verify_pair(const vf_opts_t *o, double t0)
{
	featdb_t *db = NULL;
	featdb_meta_t meta = {0};
	weights_t w = {0};
	recog_threshold_t t;
	char err[ERR_LEN], wpath[4096];
	float *v = NULL;
	int rc, model = o->model, tap, conv, D;

	if ((rc = check_images(o, err)) ||
	    (o->db && (rc = recog_store_open(o->db, &db, &meta, &model, err))))
		goto fail;
	featdb_close(db);
	/* With a store, the vectors are taken where its were; without one,
	 * where --layer and --pooling say (fc2 by default). */
	tap = o->db ? recog_store_tap(&meta) : o->tap;
	if (!o->db && !model)
		model = o->tap_model;
	D = model_tap_info(tap)->dim;
	if (!(v = malloc(2 * (size_t)D * sizeof *v))) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (o->db && o->model && o->model != model) {
		rc = err_set(err, ERR_MISMATCH, "%s holds %s vectors, but --model %s was "
			     "given", o->db, meta.model, model_info(o->model)->name);
		goto fail;
	}
	if ((o->db && (rc = check_store_tap(o, &meta, model, tap, err))) ||
	    (rc = recog_store_conv(o->db, o->db ? &meta : NULL, o->conv, &conv, err)))
		goto fail;
	if ((rc = recog_threshold_pick(o->threshold, o->db ? &meta : NULL, o->db,
				       o->metric, &t, err)))
		goto fail;
	if (t.stale && !o->quiet)
		fprintf(stderr, PROG ": note: %s's threshold was calibrated at %llu "
			"records; it holds %llu now (verify --calibrate again)\n", o->db,
			(unsigned long long)t.count, (unsigned long long)meta.count);
	if (cli_weights_path(PROG, o->weights, model, tap, wpath, sizeof wpath)) {
		rc = CLI_ERROR;
		goto out;
	}
	if ((rc = weights_load(wpath, &w, err)) ||
	    (rc = weights_check_model(&w, o->model, wpath, err)) ||
	    (rc = weights_check_layer(&w, o->tap_model, o->layer, wpath, err)) ||
	    (rc = weights_check_tap(&w, tap, wpath, err)) ||
	    (o->db && (rc = recog_check_weights(o->db, &meta, model, &w, wpath, D,
						err))) ||
	    (rc = two_vectors(o, &w, tap, conv, v, err)))
		goto fail;
	vf_answer_t ans = {.a = o->a, .b = o->b, .threshold = t.value,
			   .model = model_info(w.model)->title,
			   .metric = recog_metric_name(o->metric)};
	ans.distance = recog_distance(o->metric, v, v + D, D);
	ans.same = ans.distance <= t.value;
	ans.seconds = cli_now() - t0;
	if ((rc = vf_answer_print(&ans, o->json, err)))
		goto fail;
	rc = cli_flush_stdout(PROG) ? CLI_ERROR : CLI_OK;
	goto out;
fail:
	cli_error(PROG, "%s", err);
	rc = CLI_ERROR;
out:
	weights_free(&w);
	featdb_meta_free(&meta);
	free(v);
	return rc;
}

/* What a calibration found, and what it wrote. */
typedef struct calibration {
	vf_records_t r;
	vf_pairs_t gen, imp;
	vf_roc_t roc;
	vf_folds_t folds;
} calibration_t;

static void print_calibration(const vf_opts_t *o, const calibration_t *c)
{
	const vf_records_t *r = &c->r;
	const vf_roc_t *roc = &c->roc;

	printf("store:       %s (%s, %d-d %s)\n", o->db, r->meta.model, r->D,
	       featdb_dtype_name(r->meta.dtype));
	printf("records:     %zu %s, %d people%s\n", r->n,
	       r->valid_only ? "tagged valid" : r->nvalid ? "(all, --records all)" :
	       "(all: none is tagged valid)",
	       r->npeople, r->bad ? " (damaged records passed over)" : "");
	printf("pairs:       %zu genuine (all), %zu impostor ", c->gen.n, c->imp.n);
	if (c->imp.n == c->imp.total)
		printf("(all)\n");
	else
		printf("(a sample of the %llu, --seed %ld)\n",
		       (unsigned long long)c->imp.total, o->seed);
	printf("metric:      %s\n", recog_metric_name(o->metric));
	printf("ROC AUC:     %.6f\n", roc->auc);
	printf("EER:         %.6f (at distance %.6f)\n", roc->eer, roc->eer_threshold);
	printf("at FAR %g: threshold %.6f, FAR %.6f (%llu of %zu impostor pairs), "
	       "TAR %.6f (%llu of %zu genuine pairs)\n", roc->far_asked,
	       roc->threshold, roc->far, (unsigned long long)roc->false_accepts,
	       c->imp.n, roc->tar, (unsigned long long)roc->true_accepts, c->gen.n);
	if (!c->folds.ran) {
		printf("10-fold:     not run: %s\n", c->folds.why);
		return;
	}
	size_t pairs = 0;
	for (int k = 0; k < VF_FOLDS; k++)
		pairs += c->folds.pairs[k];
	printf("10-fold:     accuracy %.4f +- %.4f (mean +- standard deviation over "
	       "10 folds of people; %zu genuine and %zu impostor pairs, at most %d "
	       "of each per fold; each fold's threshold chosen on the other nine)\n",
	       c->folds.mean, c->folds.std, pairs, pairs, VF_FOLD_PAIRS);
}

/* verify --calibrate: the store's own pairs measured, the threshold for
 * --far chosen and written beside the vectors. */
static int calibrate(const vf_opts_t *o)
{
	calibration_t c;
	featdb_t *db = NULL;
	workers_t *pool = NULL;
	rng_t rng = rng_stream((uint64_t)o->seed, 0);
	char err[ERR_LEN];
	int rc;

	memset(&c, 0, sizeof c);
	/* Opened for writing from the start: a store that cannot take the
	 * threshold (a read-only disk) says so before the measuring. */
	if ((rc = featdb_open(o->db, FEATDB_WRITE, &db, err)) ||
	    (rc = vf_records_load(db, o->db, o->records, &c.r, err)))
		goto out;
	if ((rc = workers_create((int)o->threads, &pool, err)) ||
	    (rc = vf_pairs_genuine(&c.r, NULL, 0, &c.gen, err)) ||
	    (rc = vf_pairs_impostor(&c.r, NULL, 0, (uint64_t)o->impostors, &rng,
				    &c.imp, err)))
		goto out;
	if (c.gen.n == 0) {
		rc = err_set(err, ERR_MISSING, "%s: no person has two %srecords: no "
			     "genuine pair to calibrate on%s", o->db,
			     c.r.valid_only ? "valid " : "",
			     c.r.valid_only ? " (--records all takes every record)" : "");
		goto out;
	}
	vf_pairs_measure(&c.r, o->metric, pool, &c.gen);
	vf_pairs_measure(&c.r, o->metric, pool, &c.imp);
	vf_roc_compute(c.gen.dist, c.gen.n, c.imp.dist, c.imp.n, o->far, &c.roc);
	if ((rc = vf_folds_run(&c.r, o->metric, (uint64_t)o->seed, pool, &c.folds, err)))
		goto out;
	print_calibration(o, &c);
	/* The report is the answer: one that did not reach the standard
	 * output (a full disk) writes no threshold, so that the failure
	 * leaves the store as it was. */
	if (cli_flush_stdout(PROG)) {
		rc = err_set(err, ERR_IO, "the threshold was not written into %s",
			     o->db);
		goto out;
	}
	featdb_threshold_t t = {.value = c.roc.threshold, .far = c.roc.far,
				.tar = c.roc.tar, .count = c.r.meta.count};
	snprintf(t.metric, sizeof t.metric, "%s", recog_metric_name(o->metric));
	snprintf(t.records, sizeof t.records, "%s", c.r.valid_only ? "valid" : "all");
	if ((rc = featdb_threshold_put(db, &t, err)))
		goto out;
	printf("written:     threshold.%s = %.6f in %s's metadata\n", t.metric, t.value,
	       o->db);
out:
	if (rc)
		cli_error(PROG, "%s", err);
	featdb_close(db);
	workers_free(pool);
	vf_pairs_free(&c.gen);
	vf_pairs_free(&c.imp);
	vf_records_free(&c.r);
	if (rc == 0 && cli_flush_stdout(PROG))
		return CLI_ERROR;
	return rc ? CLI_ERROR : CLI_OK;
}

int main(int argc, char **argv)
{
	double t0 = cli_now();
	vf_opts_t o;
	int rc;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	return o.calibrate ? calibrate(&o) : verify_pair(&o, t0);
}
