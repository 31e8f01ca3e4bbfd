/* nearest - who in the store is this?  Runs each image through the network
 * that made the store's vectors and prints the k records nearest to it,
 * exactly, with DeepFace's distances, one line each:
 *   query<TAB>rank<TAB>key<TAB>person<TAB>distance<TAB>same|different|-
 * (fields escaped as PostgreSQL's COPY text format: cli_put_tsv); the last
 * field says whether the distance passes the threshold (--threshold, or
 * the store's calibrated one; "-" when there is none).  All the queries go
 * as one matrix product per block of the store, streamed from the LMDB
 * map: a store larger than memory is searched as well. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "cli.h"
#include "embed/embed.h"
#include "error.h"
#include "nearest/nearest.h"
#include "net/model.h"
#include "recog/recog.h"
#include "version.h"

/* The short options, getopt's and cli_bad_option's. */
#define SHORT_OPTS "qh"

static const char usage[] =
	"usage: nearest IMAGE_OR_DIR... --db STORE [options]\n"
	"       nearest --query-db QUERIES --db STORE [options]\n"
	"\n"
	"Prints the k records of the store nearest to each image (folders are\n"
	"searched for images, recursively), exactly, one line each:\n"
	"  query<TAB>rank<TAB>key<TAB>person<TAB>distance<TAB>same|different|-\n"
	"(a backslash, tab, newline or carriage return in a field is written \\\\,\n"
	"\\t, \\n or \\r, as PostgreSQL's COPY text format does).  The images' vectors\n"
	"are made as the store's were (its model, weights and preprocessing,\n"
	"checked, and its convolution path, --conv).  The last field compares\n"
	"the distance with the threshold: --threshold, else the one verify\n"
	"--calibrate wrote into the store, else '-'.  The store is read a block\n"
	"at a time: it need not fit in memory.\n"
	"\n"
	"options:\n"
	"  --db STORE       the feature store to search, required\n"
	"  --top-k N        records per query (default 5)\n"
	"  --metric M       cosine, euclidean or euclidean_l2, as DeepFace defines\n"
	"                   them (default cosine)\n"
	"  --threshold X    same person when the distance is <= X (default: the\n"
	"                   store's calibrated threshold for the metric)\n"
	"  --query-db Q     the records of store Q (extract --db Q) are the\n"
	"                   queries, named by their keys, instead of images\n"
	"  --weights FILE   the weights extract used (default: the store's model's\n"
	"                   file, looked up as extract looks it up)\n"
	"  --model M        vgg16 or vggface: the store must hold that model's\n"
	"  --batch N        images per network batch (default 8)\n"
	"  --threads N      compute threads (default: one per CPU)\n"
	CLI_CONV_HELP
	"                   (default: the store's, the path extract computed its\n"
	"                   vectors on, so that a stored image finds its own\n"
	"                   record at distance 0)\n"
	"  -q, --quiet      no summary\n"
	"  --version        print the version\n"
	"  -h, --help       this text\n"
	"  --help-dev       the variables for development and tests\n";

static const char usage_dev[] =
	PROG ": for development and tests (docs/development.md)\n"
	"\n"
	"  VGGFEAT_ISA=NAME          the kernels' instructions (the network's\n"
	"                            and the search's product): portable, avx2,\n"
	"                            emul512 (AVX-512's code on AVX2) or avx512,\n"
	"                            one the CPU has (default: the widest)\n"
	"  VGGFEAT_AMX=0             the search's product without AMX's tiles\n"
	"                            (bfloat16) on a CPU that has them\n"
	"  VGGFEAT_HDF5_TIMEOUT=S    seconds the weights' reader may take before\n"
	"                            it counts as hung (default 600)\n";

typedef struct opts {
	const char *db, *query_db, *weights;
	long top_k, batch, threads;
	double threshold;
	int metric, model, quiet;
	int conv; /* net/vgg.h's VGG_CONV_*; -1: the store's */
	char **inputs;
	int ninputs;
} opts_t;

static int parse_args(int argc, char **argv, opts_t *o)
{
	enum { O_DB = 256, O_QUERY_DB, O_WEIGHTS, O_MODEL, O_TOPK, O_METRIC,
	       O_THRESHOLD, O_BATCH, O_THREADS, O_CONV, O_VERSION, O_HELP_DEV };
	static const struct option lo[] = {
		{"db", required_argument, 0, O_DB},
		{"query-db", required_argument, 0, O_QUERY_DB},
		{"weights", required_argument, 0, O_WEIGHTS},
		{"model", required_argument, 0, O_MODEL},
		{"top-k", required_argument, 0, O_TOPK},
		{"metric", required_argument, 0, O_METRIC},
		{"threshold", required_argument, 0, O_THRESHOLD},
		{"batch", required_argument, 0, O_BATCH},
		{"threads", required_argument, 0, O_THREADS},
		{"conv", required_argument, 0, O_CONV},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{0, 0, 0, 0},
	};
	int c;

	*o = (opts_t){.top_k = 5, .batch = 8, .threshold = -1, .conv = -1};
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORT_OPTS, lo, NULL)) != -1) {
		switch (c) {
		case O_DB:
			if (cli_path(PROG, "--db", optarg, &o->db))
				return CLI_USAGE;
			break;
		case O_QUERY_DB:
			if (cli_path(PROG, "--query-db", optarg, &o->query_db))
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
		case O_TOPK:
			if (cli_long(PROG, "--top-k", optarg, 1, 100000, &o->top_k))
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
		case O_BATCH:
			if (cli_long(PROG, "--batch", optarg, 1, 256, &o->batch))
				return CLI_USAGE;
			break;
		case O_THREADS:
			if (cli_long(PROG, "--threads", optarg, 1, 256, &o->threads))
				return CLI_USAGE;
			break;
		case O_CONV:
			if (cli_conv(PROG, optarg, &o->conv))
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
	const char *wrong = !o->db ? "--db STORE is required" :
		o->query_db && optind != argc ? "--query-db takes no image" :
		o->query_db && (o->weights || o->model || o->conv >= 0) ?
			"--query-db takes no --weights, --model or --conv" :
		!o->query_db && optind == argc ? "at least one image is required" : NULL;
	if (wrong)
		return cli_usage(PROG, "%s", wrong);
	if (cli_operands(PROG, "image path", argv + optind, argc - optind))
		return CLI_USAGE;
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	if (!o->threads)
		o->threads = workers_cpus();
	return 0;
}

/* embed_run's callback: a batch of images' vectors become queries. */
static int add_batch(void *ctx, int n, const char *const *paths,
		     const float *vec, int dim, char *err)
{
	return nn_queries_add(ctx, n, paths, vec, dim, err);
}

/* image_queries: the images' vectors, made with the weights file wpath
 * (cli_weights_path's), which made the store's (meta, model's), on its
 * convolution path (or --conv's); *skipped counts what could not be
 * read. */
static int image_queries(const opts_t *o, const featdb_meta_t *meta, int model,
			 const char *wpath, nn_queries_t *q, size_t *skipped,
			 char *err)
{
	embed_images_t im = {0};
	embed_opts_t eo = {.model = model};
	weights_t w = {0};
	size_t done = 0;
	int rc, tap = recog_store_tap(meta), conv;

	if ((rc = recog_store_conv(o->db, meta, o->conv, &conv, err)))
		return rc;
	vgg_opts_init(&eo.net, (int)o->batch);
	eo.net.tap = tap;
	eo.net.conv = conv;
	eo.net.threads = (int)o->threads;
	/* The folders are listed before the weights are read (a second or
	 * more): one with no image says so at once. */
	if ((rc = embed_list(PROG, o->inputs, o->ninputs, &im, err)) == 0 && im.n == 0)
		rc = embed_none(&im, "look up", err);
	if (rc == 0 &&
	    (rc = weights_load(wpath, &w, err)) == 0 &&
	    (rc = weights_check_model(&w, o->model, wpath, err)) == 0 &&
	    (rc = recog_check_weights(o->db, meta, model, &w, wpath,
				      model_tap_info(tap)->dim, err)) == 0)
		rc = embed_run(PROG, &eo, &w, &im, add_batch, q, &done, err);
	*skipped = im.skipped;
	if (rc == 0 && q->n == 0)
		rc = embed_none(&im, "look up", err);
	embed_images_free(&im);
	weights_free(&w);
	return rc;
}

/* store_queries: the query store's records, made as the searched store's
 * were (featdb_meta_differ: the same model, weights, preprocessing,
 * dimension and convolution path; the two paths' vectors of an image
 * differ in their last bits, so that it would not find its own record at
 * distance 0).  The dtype may differ: a query is read as float32. */
static int store_queries(const opts_t *o, nn_queries_t *q, featdb_meta_t *qm,
			 size_t *bad, char *err)
{
	featdb_meta_t m = {0};
	featdb_t *db = NULL;
	const char *what = NULL;
	int model, rc;

	/* One handle at a time on a store (LMDB's rule), so the two are read
	 * one after the other. */
	if ((rc = nn_queries_from_store(o->query_db, q, qm, bad, err)) == 0)
		rc = recog_store_open(o->db, &db, &m, &model, err);
	if (rc == 0 && (what = featdb_meta_differ(qm, &m))) {
		if (strcmp(what, FEATDB_SETTING_CONV) != 0)
			rc = err_set(err, ERR_MISMATCH, "%s holds %s vectors (%d values, "
				     "weights %s), %s holds %s (%d values, weights %s): "
				     "they differ in %s and cannot be compared",
				     o->query_db, qm->model, qm->dim, qm->fingerprint,
				     o->db, m.model, m.dim, m.fingerprint, what);
		else if (featdb_meta_cpu_bound(&m))
			rc = err_set(err, ERR_MISMATCH, "%s holds vectors made with "
				     "--conv %s, %s with --conv %s, whose last bits are "
				     "those of the CPU that made them and no extract "
				     "makes now: extract %s again", o->query_db,
				     featdb_meta_conv_name(qm), o->db,
				     featdb_meta_conv_name(&m), o->db);
		else
			rc = err_set(err, ERR_MISMATCH, "%s holds vectors made with "
				     "--conv %s, %s with --conv %s: an image's two "
				     "vectors differ in their last bits; extract the "
				     "queries with --conv %s", o->query_db,
				     featdb_meta_conv_name(qm), o->db, m.conv, m.conv);
	}
	featdb_close(db);
	featdb_meta_free(&m);
	return rc;
}

/* check_searchable: the store (meta, model's) holds records, of the
 * model --model names.  A store whose records were all removed (featdb
 * remove) has no answer to give: an error, not an empty one and status
 * 0. */
static int check_searchable(const opts_t *o, const featdb_meta_t *meta, int model,
			    char *err)
{
	if (o->model && o->model != model)
		return err_set(err, ERR_MISMATCH, "%s holds %s vectors, but --model %s "
			       "was given", o->db, meta->model, model_info(o->model)->name);
	if (meta->count == 0)
		return err_set(err, ERR_MISSING, "%s holds no record: nothing to search "
			       "(extract images into it, or search another store)", o->db);
	return 0;
}

/* The answer: each query's nearest, one line each. */
static void print_hits(const nn_queries_t *q, const nn_result_t *res,
		       const recog_threshold_t *t)
{
	for (int i = 0; i < res->nq; i++)
		for (int r = 0; r < res->count[i]; r++) {
			const nn_hit_t *h = &res->hits[(size_t)i * res->k + r];
			cli_put_tsv(stdout, q->names[i]);
			printf("\t%d\t", r + 1);
			cli_put_tsv(stdout, h->key);
			putchar('\t');
			cli_put_tsv(stdout, res->meta.classes[h->cls]);
			printf("\t%.6f\t%s\n", h->dist, !t ? "-" : h->dist <= t->value ?
			       "same" : "different");
		}
}

int main(int argc, char **argv)
{
	double t0 = cli_now();
	opts_t o;
	nn_queries_t q = {0};
	nn_result_t res = {0};
	featdb_meta_t meta = {0}, qm = {0};
	featdb_t *db = NULL;
	recog_threshold_t t;
	size_t skipped = 0;
	char err[ERR_LEN], wpath[4096];
	int rc, model, status = CLI_ERROR;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	if (o.query_db ? (rc = store_queries(&o, &q, &qm, &skipped, err)) : 0)
		goto fail;
	if ((rc = recog_store_open(o.db, &db, &meta, &model, err)))
		goto fail;
	if ((rc = check_searchable(&o, &meta, model, err)))
		goto fail;
	/* The network's weights are read only once the store is known to be
	 * searchable (a fifth of a second against seconds). */
	if (!o.query_db) {
		/* Not found: cli_weights_path said where it looked, and how to
		 * get the file. */
		if (cli_weights_path(PROG, o.weights, model, recog_store_tap(&meta),
				     wpath, sizeof wpath))
			goto out;
		if ((rc = image_queries(&o, &meta, model, wpath, &q, &skipped, err)))
			goto fail;
	}
	int have_t = recog_threshold_pick(o.threshold, &meta, o.db, o.metric, &t,
					  NULL) == 0;
	nn_opts_t no = {.metric = o.metric, .k = (int)o.top_k, .threads = (int)o.threads};
	double t1 = cli_now();
	if ((rc = nn_search(db, q.vec, q.n, q.D, &no, &res, err)))
		goto fail;
	t1 = cli_now() - t1;
	errno = 0;
	print_hits(&q, &res, have_t ? &t : NULL);
	if (cli_flush_answer(PROG, errno))
		goto out;
	if (!o.quiet) {
		fprintf(stderr, PROG ": %d %s, %llu %s (%s, %d-d %s), %s, top %d, "
			"threshold %s%s; %.2f s, of which the search %.2f s; %llu %s "
			"measured again in double; %zu %s skipped", q.n,
			cli_noun((unsigned long long)q.n, "query", "queries"),
			(unsigned long long)res.records,
			cli_noun(res.records, "record", "records"), res.meta.model,
			res.meta.dim, featdb_dtype_name(res.meta.dtype),
			recog_metric_name(o.metric), no.k, have_t ? t.from : "none",
			have_t && t.stale ? " (stale: verify --calibrate again)" : "",
			cli_now() - t0, t1, (unsigned long long)res.exact,
			cli_noun(res.exact, "distance", "distances"), skipped,
			o.query_db ? cli_noun(skipped, "damaged query record",
					      "damaged query records")
				   : cli_noun(skipped, "input", "inputs"));
		if (res.bad)
			fprintf(stderr, "; %llu damaged %s passed over (featdb verify)",
				(unsigned long long)res.bad,
				cli_noun(res.bad, "record", "records"));
		fputc('\n', stderr);
	}
	status = CLI_OK;
	goto out;
fail:
	cli_error(PROG, "%s", err);
out:
	nn_result_free(&res);
	nn_queries_free(&q);
	featdb_meta_free(&meta);
	featdb_meta_free(&qm);
	featdb_close(db);
	return status;
}
