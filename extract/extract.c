/* extract - run VGG16 through fc2 (or VGG-Face through fc7: the same
 * network, weights.h), or to another tap (--layer, --pooling: net/model.h),
 * once per image of a face folder and store the vectors in an LMDB feature
 * store (see common/store/featdb.h).
 *
 * Pipeline (run/run.h): the plan lists the images not yet stored; decoder
 * threads load and preprocess them, in list order, into a ring of batches;
 * the main thread runs the network on one batch at a time and the sink
 * commits its records in one transaction.  So a crash loses at most the
 * batch in flight, and a rerun skips every key already stored, but for
 * those whose record is damaged (what featdb verify reports), which it
 * extracts again.
 *
 * Under MPI (dist/dist.h) rank 0 does all of this and sends the to-do list
 * to the other ranks; each rank runs the same pipeline on its block of the
 * list, the others sending their vectors to rank 0, which commits them as
 * its own: the store's records and metadata are those of a one-process run. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist/dist.h"
#include "error.h"
#include "net/model.h"
#include "store/featdb.h"
#include "kernels/isa.h"
#include "base/workers.h"
#include "run/run.h"
#include "version.h"
#include "net/vgg.h"
#include "net/tune.h"
#include "net/weights.h"

/* The short options, getopt's and cli_bad_option's. */
#define SHORT_OPTS "qh"

static const char usage[] =
	"usage: extract --in FACES_DIR --db FEATS.lmdb [options]\n"
	"\n"
	"Runs VGG16 (Keras weights) through fc2, or VGG-Face (keras-vggface's\n"
	"weights) through fc7, or to the layer --layer names, once per image and\n"
	"stores each vector in an LMDB feature store, keyed by the image's path\n"
	"relative to FACES_DIR.  FACES_DIR is FACES_DIR/<person>/<images> or\n"
	"FACES_DIR/{train,valid,test}/<person>/<images>: the files, order and\n"
	"class indices of Keras' flow_from_directory (docs/programs.md).\n"
	"Reruns resume: images already stored are skipped, new ones are added,\n"
	"and those whose stored record is damaged are extracted again.\n"
	"Started by mpirun or srun (when built with MPI), its processes share the\n"
	"images and the first one writes the store (docs/machines.md).\n"
	"\n"
	"options:\n"
	"  --in DIR         the image folder (required)\n"
	"  --db PATH        the feature store, a directory (required)\n"
	"  --weights FILE   the weights, VGG16's or VGG-Face's, told apart by\n"
	"                   their layer names (default $VGG16_WEIGHTS, else\n"
	"                   Keras' cache: $KERAS_HOME/models/ or ~/.keras/models/\n"
	"                   " MODEL_VGG16_FILE ")\n"
	"  --model M        vgg16 or vggface: the file must hold that model; with\n"
	"                   vggface and no --weights, $VGGFACE_WEIGHTS, else\n"
	"                   keras-vggface's cache: ~/.keras/models/vggface/\n"
	"                   " MODEL_VGGFACE_FILE " (default: the file's)\n"
	"                   A store holds one model's vectors.\n"
	"  --layer L        where the vector is taken: fc2 (default; 4096-d),\n"
	"                   fc1 (4096-d) or block5_pool (VGG-Face: fc7, fc6,\n"
	"                   pool5).  A store holds one layer's vectors.\n"
	"                   block5_pool needs no dense layer: the _notop file\n"
	"                   " MODEL_VGG16_NOTOP_FILE "\n"
	"                   serves it (read without --weights when Keras cached it)\n"
	"  --pooling P      with block5_pool: avg or max over its 7x7 (512-d),\n"
	"                   as Keras' pooling='avg'|'max'; without it, Keras'\n"
	"                   Flatten (25,088-d)\n"
	"  --batch N, --batch-size N\n"
	"                   images per network batch and per commit (default:\n"
	"                   this CPU's tuning, else 32; 8 with --conv direct)\n"
	"  --threads N      compute threads for the network (default: one per\n"
	"                   CPU; under mpirun, the machine's CPUs shared among\n"
	"                   its ranks)\n"
	"  --decode-threads N\n"
	"                   image decoding threads (default 2)\n"
	"  --limit N        only the first N images (in Keras' order), for a try\n"
	"  --dtype T        f32 (default) or f16 (half the size)\n"
	CLI_CONV_HELP
	"                   (default winograd; a store holds one path's\n"
	"                   vectors: a rerun with the other is refused)\n"
	"  --follow-links   enter symbolic links to folders inside a person's\n"
	"                   folder (Keras' follow_links=True; loops are refused);\n"
	"                   by default they are named and not entered, as Keras\n"
	"                   does\n"
	"  --strict         stop with an error at the first bad image\n"
	"  --tune[=S]       measure, for at most S seconds (default 45), how the\n"
	"                   network runs fastest on this CPU (choices that change\n"
	"                   no output bit), keep it in $XDG_CACHE_HOME/vggfeat/\n"
	"                   (~/.cache/vggfeat/), which later runs read, print it\n"
	"                   and exit\n"
	"  -q, --quiet      no progress, only errors and the summary's problems\n"
	"  --version        print the version\n"
	"  -h, --help       this text\n"
	"  --help-dev       the variables for development and tests\n";

static const char usage_dev[] =
	"extract: for development and tests (docs/development.md)\n"
	"\n"
	"  VGGFEAT_ISA=NAME          the kernels' instructions: portable, avx2,\n"
	"                            emul512 (AVX-512's code on AVX2) or avx512,\n"
	"                            one the CPU has (default: the widest)\n"
	"  VGGFEAT_HDF5_TIMEOUT=S    seconds the weights' reader may take before\n"
	"                            it counts as hung (default 600)\n"
	"  VGGFEAT_TEST_DIE_AFTER=N  under MPI, the last rank kills itself after\n"
	"                            sending N batches\n"
	"  --check-options           check the command line, its options\n"
	"                            against each other too, and exit 0 without\n"
	"                            reading or writing anything (pipeline.sh's\n"
	"                            check before any stage runs)\n";

static int parse_args(int argc, char **argv, run_opts_t *o)
{
	enum { O_IN = 256, O_DB, O_WEIGHTS, O_MODEL, O_LAYER, O_POOLING, O_BATCH,
	       O_THREADS, O_DECODE_THREADS, O_LIMIT, O_DTYPE, O_CONV, O_FOLLOW,
	       O_STRICT, O_TUNE, O_VERSION, O_HELP_DEV, O_CHECK };
	static const struct option lo[] = {
		{"in", required_argument, 0, O_IN},
		{"db", required_argument, 0, O_DB},
		{"weights", required_argument, 0, O_WEIGHTS},
		{"model", required_argument, 0, O_MODEL},
		{"layer", required_argument, 0, O_LAYER},
		{"pooling", required_argument, 0, O_POOLING},
		{"batch", required_argument, 0, O_BATCH},
		{"batch-size", required_argument, 0, O_BATCH},
		{"threads", required_argument, 0, O_THREADS},
		{"decode-threads", required_argument, 0, O_DECODE_THREADS},
		{"limit", required_argument, 0, O_LIMIT},
		{"dtype", required_argument, 0, O_DTYPE},
		{"conv", required_argument, 0, O_CONV},
		{"follow-links", no_argument, 0, O_FOLLOW},
		{"strict", no_argument, 0, O_STRICT},
		{"tune", optional_argument, 0, O_TUNE},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{"check-options", no_argument, 0, O_CHECK},
		{0, 0, 0, 0},
	};
	const char *pooling = NULL;
	int c, check = 0, rc;

	*o = (run_opts_t){.batch = 0, .decode_threads = 2, .limit = -1,
			  .dtype = FEATDB_F32};
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORT_OPTS, lo, NULL)) != -1) {
		switch (c) {
		case O_IN:
			if (cli_path(PROG, "--in", optarg, &o->in))
				return CLI_USAGE;
			break;
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
		/* Each value alone is checked now (before a --help that follows
		 * it: pipeline.sh checks its options so), the two together
		 * below. */
		case O_LAYER:
			o->layer = optarg;
			if (cli_layer(PROG, optarg))
				return CLI_USAGE;
			break;
		case O_POOLING:
			pooling = optarg;
			if (cli_pooling(PROG, optarg))
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
		case O_DECODE_THREADS:
			if (cli_long(PROG, "--decode-threads", optarg, 1, 64,
				     &o->decode_threads))
				return CLI_USAGE;
			break;
		case O_LIMIT:
			if (cli_long(PROG, "--limit", optarg, 0, 1L << 40, &o->limit))
				return CLI_USAGE;
			break;
		case O_DTYPE:
			if ((o->dtype = featdb_dtype_parse(optarg)) < 0)
				return cli_usage(PROG, "--dtype: '%s' is not f32 or f16", optarg);
			break;
		case O_CONV:
			if (cli_conv(PROG, optarg, &o->conv))
				return CLI_USAGE;
			break;
		case O_FOLLOW: o->follow = 1; break;
		case O_STRICT: o->strict = 1; break;
		case O_TUNE: {
			long sec = TUNE_SECONDS;
			if (optarg && cli_long(PROG, "--tune", optarg, 1, 3600, &sec))
				return CLI_USAGE;
			o->tune = (double)sec;
			break;
		}
		case 'q': o->quiet = 1; break;
		case O_VERSION: cli_answer(PROG, PROG " " VGGFEAT_VERSION "\n");
		case 'h': cli_answer(PROG, usage);
		case O_HELP_DEV: cli_answer(PROG, usage_dev);
		case O_CHECK: check = 1; break;
		default:
			return cli_bad_option(PROG, argv, SHORT_OPTS);
		}
	}
	if (optind < argc)
		return cli_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (!o->tune && !o->in && !o->db)
		return cli_usage(PROG, "--in and --db are required");
	if (!o->tune && (!o->in || !o->db))
		return cli_usage(PROG, "%s is required too", o->in ? "--db" : "--in");
	rc = cli_tap(PROG, o->model, o->layer, pooling, &o->tap_model, &o->tap);
	if (rc == 0 && check)
		exit(CLI_OK);
	return rc;
}

/* tuning reads this CPU's tuning (net/tune.h) into o, or leaves the
 * defaults; without --batch, the batch is its gather (8 on the direct
 * path, whose memory grows with it; the default under MPI, where rank 0
 * takes the other ranks' batches, which may run on other CPUs). */
static void tuning(run_opts_t *o)
{
	char key[1024], err[ERR_LEN];

	vgg_tune_init(&o->vtune);
	tune_key(isa_best(), (int)o->threads, key, sizeof key);
	if (tune_path(key, o->tune_path, sizeof o->tune_path, err) == 0) {
		int rc = tune_load(o->tune_path, key, &o->vtune, err);
		o->tuned = rc == 0;
		if (rc && rc != ERR_MISSING && !o->quiet && dist_rank() == 0)
			fprintf(stderr, PROG ": warning: %s; the defaults run\n", err);
	}
	if (!o->batch)
		o->batch = o->conv == VGG_CONV_DIRECT ? 8
			   : dist_size() > 1 ? VGG_GATHER : o->vtune.gather;
}

/* tune_cpu measures this CPU's tuning (--tune), keeps it and prints it. */
static int tune_cpu(const run_opts_t *o)
{
	char key[1024], path[4096], err[ERR_LEN], text[2048];
	vgg_tune_t t;
	double t0 = cli_now();
	int isa = isa_best(), measured;

	tune_key(isa, (int)o->threads, key, sizeof key);
	if (tune_path(key, path, sizeof path, err) == 0) {
		fprintf(stderr, PROG ": tuning for %s, for at most %.0f s\n", key, o->tune);
		if (tune_measure(isa, (int)o->threads, o->tune, &t, &measured, err) == 0 &&
		    tune_save(path, key, &t, cli_now() - t0, err) == 0) {
			tune_describe(&t, text, sizeof text);
			printf("%s (%.0f s):\n%s", path, cli_now() - t0, text);
			if (measured < TUNE_ITEMS)
				printf("(%d of the %d measured; the others keep their "
				       "defaults: %d rounds of them did not fit in %.0f s)\n",
				       measured, TUNE_ITEMS, TUNE_MIN_ROUNDS, o->tune);
			return CLI_OK;
		}
	}
	fprintf(stderr, PROG ": error: %s\n", err);
	return CLI_ERROR;
}

/* open_network makes the network for this rank's block (none when it is
 * empty) and says how it runs. */
static int open_network(const run_opts_t *o, const plan_t *p, vgg_t **net, char *err)
{
	vgg_opts_t vo;
	int rc;

	vgg_opts_init(&vo, (int)o->batch);
	vo.conv = o->conv;
	vo.tap = o->tap;
	vo.threads = (int)o->threads;
	vo.tune = o->vtune;
	/* Ranks on one machine share its CPUs; a thread per CPU in each would
	 * oversubscribe them.  When the launcher bound each rank to fewer CPUs
	 * than the machine has, that share is already its own. */
	if (!o->threads && dist_local_size() > 1 &&
	    workers_cpus() >= sysconf(_SC_NPROCESSORS_ONLN)) {
		int share = workers_cpus() / dist_local_size();
		vo.threads = share < 1 ? 1 : share;
	}
	if (p->n && (rc = vgg_create_opts(&p->w, &vo, net, err)))
		return rc;
	if (!o->quiet && isa_env_error() && dist_rank() == 0)
		fprintf(stderr, PROG ": warning: %s\n", isa_env_error());
	if (*net && !o->quiet) {
		/* One write: the ranks print theirs at the same time. */
		char rank[64] = "";
		if (dist_size() > 1)
			snprintf(rank, sizeof rank, "rank %d of %d: ", dist_rank(), dist_size());
		fprintf(stderr, PROG ": %s%d compute %s, %s convolutions, %s kernels, "
			"batches of %ld, %s%s%s\n", rank, vgg_threads(*net),
			cli_noun((unsigned long long)vgg_threads(*net), "thread", "threads"),
			vgg_conv_name(o->conv),
			isa_name(vgg_isa(*net)), o->batch,
			o->tuned ? "tuned for this CPU (" : "not tuned for this CPU",
			o->tuned ? o->tune_path : " (extract --tune)", o->tuned ? ")" : "");
	}
	return 0;
}

/* run_batches runs the network on this rank's block, one batch at a time
 * as the decoders fill the ring.  Rank 0 commits its batches and, as they
 * arrive, the other ranks'; the others send theirs to rank 0. */
static int run_batches(const run_opts_t *o, const plan_t *p, ring_t *r, vgg_t *net,
		       sink_t *s, char *err)
{
	int rc;

	sink_progress_start(s, o->quiet || dist_rank() > 0);
	for (size_t b0 = 0; b0 < p->n; b0 += (size_t)o->batch) {
		ring_batch_t rb;
		ring_wait(r, b0, &rb);
		dist_batch_t b = {.first = p->first + b0, .n = rb.n, .dim = s->dim,
				  .why = rb.why, .feats = s->feats};
		/* Rank 0 reports the bad images, the others' too. */
		if (dist_rank() == 0 && (rc = sink_skips(s, &b, err)))
			return rc;
		if (rb.good && (rc = vgg_forward(net, rb.x, rb.good, s->feats, err)))
			return rc;
		if (dist_rank() > 0)
			rc = dist_send_batch(&b, err);
		else if ((rc = sink_write(s, &b, err)) == 0)
			rc = sink_take_remote(s, 0, err);
		if (rc)
			return rc;
		s->done += (size_t)rb.n;
		ring_release(r, &rb);
		sink_progress(s, s->done, 0);
	}
	while (s->left) {
		if ((rc = sink_take_remote(s, 1, err)))
			return rc;
		sink_progress(s, s->done, 0);
	}
	if (dist_rank() > 0 && (rc = dist_send_done(err)))
		return rc;
	if (s->nall)
		sink_progress(s, s->nall, 1);
	return 0;
}

/* report (rank 0) prints the run's summary; a quiet run lists its skipped
 * images there.  The images extracted over damaged records are counted
 * among the extracted (present counts sound records only), and a damaged
 * record whose image was skipped is still damaged, or was removed by the
 * renumbering (plan_todo): said so. */
static void report(const run_opts_t *o, const plan_t *p, const sink_t *s, double dt)
{
	size_t removed = p->nremoved - s->replaced_removed;
	size_t left = p->ndamaged - s->replaced - removed;

	fprintf(stderr, PROG ": extracted %zu", s->extracted);
	if (s->replaced)
		fprintf(stderr, " (%zu over %s)", s->replaced,
			cli_noun(s->replaced, "a damaged record", "damaged records"));
	fprintf(stderr, ", already present %zu, skipped %zu, ", p->present,
		s->skipped.n);
	if (left)
		fprintf(stderr, "%zu damaged %s left (%s skipped), ", left,
			cli_noun(left, "record", "records"),
			cli_noun(left, "its image", "their images"));
	if (removed)
		fprintf(stderr, "%zu damaged %s removed (%s skipped), ", removed,
			cli_noun(removed, "record", "records"),
			cli_noun(removed, "its image", "their images"));
	if (p->ds.nunfollowed)
		fprintf(stderr, "%zu folder %s not entered, ", p->ds.nunfollowed,
			cli_noun(p->ds.nunfollowed, "link", "links"));
	fprintf(stderr, "%.1f s, %.2f img/s\n", dt, dt > 0 ? s->extracted / dt : 0.0);
	if (s->skipped.n && o->quiet)
		for (size_t i = 0; i < s->skipped.n; i++)
			fprintf(stderr, PROG ": skipped %s\n", s->skipped.lines[i]);
}

int main(int argc, char **argv)
{
	run_opts_t o;
	plan_t p;
	ring_t r = {0};
	sink_t s = {0};
	vgg_t *net = NULL;
	char err[ERR_LEN];
	double t0 = cli_now();
	int status = CLI_ERROR, none = 0, rc = dist_init(&argc, &argv, err);

	if (rc)
		return cli_error(PROG, "%s", err);
	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	signal(SIGPIPE, SIG_IGN);
	plan_init(&p);
	if (o.tune) {
		status = tune_cpu(&o);
		goto out;
	}
	tuning(&o);
	/* Rank 0 plans; under MPI the other ranks take its to-do list. */
	if (dist_rank() == 0 && (rc = plan_scan(&o, &p, &s.skipped, err)))
		goto fail;
	/* A layer's name says its model too, and so which file to look for. */
	if (cli_weights_path(PROG, o.weights, o.model ? o.model : o.tap_model, o.tap,
			     p.wpath, sizeof p.wpath))
		goto out;
	if (dist_rank() > 0)
		rc = plan_worker(&o, &p, err);
	else if ((rc = plan_store(&o, &p, err)) == 0)
		rc = plan_todo(&o, &p, &s.skipped, err);
	if (rc)
		goto fail;
	if ((rc = plan_block(&p, err)) ||
	    (rc = ring_init(&r, p.todo, p.n, (int)o.batch,
			    model_info(p.w.model)->mean_bgr, (int)o.decode_threads, err)) ||
	    (rc = sink_init(&s, &o, &p, err)) ||
	    (rc = open_network(&o, &p, &net, err)))
		goto fail;
	if ((rc = ring_start(&r, err)) == 0)
		rc = run_batches(&o, &p, &r, net, &s, err);
	ring_stop(&r);
	if (rc)
		goto fail;
	status = CLI_OK;
	if (dist_rank() == 0) {
		report(&o, &p, &s, cli_now() - t0);
		/* Images found and none stored, now or before: a failure, not a
		 * store for the next stage to find empty.  (Every rank has
		 * finished: nothing to abort.) */
		if (s.extracted == 0 && p.present == 0 && s.skipped.n > 0) {
			/* Skipped too: the walk's entries, which are no images. */
			size_t images = s.skipped.n - p.ds.nproblems;
			if (images == 1)
				cli_error(PROG, "the one image found could not be read; "
					  "%s holds none", o.db);
			else
				cli_error(PROG, "not one of the %zu images could be read; "
					  "%s holds none", images, o.db);
			none = 1;
		}
	}
	goto out;
fail:
	if (dist_size() > 1)
		cli_error(PROG, "rank %d of %d: %s", dist_rank(), dist_size(), err);
	else
		cli_error(PROG, "%s", err);
out:
	sink_free(&s);
	ring_free(&r);
	vgg_free(net);
	plan_free(&p);
	/* A failed rank must stop the others, which would wait for it forever. */
	if (status != CLI_OK && dist_size() > 1)
		dist_abort(status);
	dist_finalize();
	return none ? CLI_ERROR : status;
}
