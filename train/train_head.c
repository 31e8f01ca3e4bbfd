/* train-head - train the softmax head (Dense(n_classes, softmax) on VGG16's
 * fc2, or VGG-Face's fc7) over the features extract stored, with tf.keras'
 * semantics (see common/head/head.h), so that changing a hyperparameter and
 * training again costs seconds.  Then, from the validation set, the
 * --min-prob that lets predict call strangers "unknown".
 *
 * The steps (train_head/train_head.h): the head's path is checked (a run
 * never trains for nothing); the store is read once into one (N, D) float32
 * array; the training and validation sets are index lists into it; every
 * combination of a sweep trains over the same array; the head is saved,
 * and the validation set suggests the --min-prob. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "error.h"
#include "head/head.h"
#include "base/workers.h"
#include "train_head/train_head.h"
#include "version.h"

#define MAX_RUNS 4096 /* combinations per sweep */

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
	"The head is saved in head.h5 in the current folder (--out chooses\n"
	"another file), where predict --head head.h5 finds it; the last line\n"
	"says where.  A file there that is not a head train-head wrote is never\n"
	"replaced: the run stops before training.\n"
	"\n"
	"Sweeps: --lr, --batch-size, --beta1, --beta2, --epsilon and --l2 take\n"
	"comma-separated values; every combination is trained over the same\n"
	"features and starting weights, a table ranked by best val_accuracy is\n"
	"printed, and the head saved is the best combination's at its best\n"
	"epoch.  A single run saves the head after its last epoch, as Keras.\n"
	"\n"
	"A store that an extract still running or interrupted left partial is\n"
	"trained on as it stands: people it lists without any record yet keep\n"
	"their place in the output layer (as Keras keeps an empty class folder),\n"
	"and a note says how many.\n"
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
	"  --threads N        compute threads (default: one per CPU, at most 8)\n"
	"  --out FILE         where to write the head (default head.h5 in the\n"
	"                     current folder): Keras save_weights HDF5 plus the\n"
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
	"  --help-dev         the options and variables for development and tests\n";

static const char usage_dev[] =
	"train-head: for development and tests (docs/development.md)\n"
	"\n"
	"  --trace FILE       write the run's inputs (features, labels, initial\n"
	"                     weights, each epoch's sample order) and results to\n"
	"                     HDF5, for tests/ref/torch_head.py and\n"
	"                     tests/ref/keras_head.py (one run only)\n"
	"  VGGFEAT_ISA=NAME   Adam's instructions: portable, avx2, emul512\n"
	"                     (AVX-512's code on AVX2) or avx512, one the CPU\n"
	"                     has (default: the widest; the same bits on each)\n";

/* parse_values splits s at commas into vals, each a number in [lo, hi]
 * (an integer when integral is set). */
static int parse_values(const char *opt, const char *s, double lo, double hi,
			int integral, th_values_t *vals)
{
	char buf[1024], *save = NULL;

	if (strlen(s) >= sizeof buf) {
		cli_usage(PROG, "%s: value list too long", opt);
		return -1;
	}
	snprintf(buf, sizeof buf, "%s", s);
	vals->n = 0;
	if (!*s || s[strlen(s) - 1] == ',' || *s == ',' || strstr(s, ",,")) {
		cli_usage(PROG, "%s: '%s' has an empty value", opt, s);
		return -1;
	}
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (vals->n == TH_MAX_VALUES) {
			cli_usage(PROG, "%s: more than %d values", opt, TH_MAX_VALUES);
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

static int parse_args(int argc, char **argv, th_opts_t *o)
{
	enum { O_DB = 256, O_EPOCHS, O_LR, O_BATCH, O_BETA1, O_BETA2, O_EPSILON,
	       O_L2, O_VAL_SPLIT, O_KEEP, O_SEED, O_THREADS, O_OUT, O_HISTORY,
	       O_TRACE, O_VERSION, O_HELP_DEV };
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
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{0, 0, 0, 0},
	};
	head_hparams_t d = HEAD_HPARAMS_DEFAULT;
	long ncpu = workers_cpus();
	int c, bad = 0;

	*o = (th_opts_t){.out = TH_DEFAULT_OUT, .epochs = 5, .val_split = 0.2, .keep = 0.95,
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
		case O_HELP_DEV: fputs(usage_dev, stdout); exit(CLI_OK);
		default:
			return cli_bad_option(PROG, argv);
		}
		/* The first bad value is the one reported. */
		if (bad)
			return CLI_USAGE;
	}
	if (optind < argc)
		return cli_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (!o->db)
		return cli_usage(PROG, "--db is required");
	long runs = (long)o->lr.n * o->batch.n * o->beta1.n * o->beta2.n *
		    o->epsilon.n * o->l2.n;
	if (runs > MAX_RUNS)
		return cli_usage(PROG, "the sweep has %ld combinations, at most %d",
				 runs, MAX_RUNS);
	if (o->trace && runs > 1)
		return cli_usage(PROG, "--trace records one run, not a sweep");
	return 0;
}

/* ---- the steps of main ---------------------------------------------------- */

/* note_partial names the classes the store lists without any record: a
 * partial store, which is trained on as it stands. */
static void note_partial(const th_data_t *d)
{
	enum { SHOWN = 5 };
	char names[512] = "";
	size_t len = 0;
	int empty = 0;

	for (int k = 0; k < d->K; k++) {
		if (d->count[k])
			continue;
		if (empty++ < SHOWN && len < sizeof names)
			len += (size_t)snprintf(names + len, sizeof names - len, "%s%s",
						empty > 1 ? ", " : "", d->meta.classes[k]);
	}
	if (!empty)
		return;
	fprintf(stderr, PROG ": %d of the %d classes the store lists %s no records "
		"yet (%s%s): an extract still running, interrupted or run with "
		"--limit has not reached %s\n", empty, d->K, empty > 1 ? "have" : "has",
		names, empty > SHOWN ? ", ..." : "", empty > 1 ? "them" : "it");
	fprintf(stderr, PROG ": %s %s in the head's output layer (as Keras keeps an "
		"empty class folder); the head learns the other %d from the records "
		"there\n", empty > 1 ? "they" : "it", empty > 1 ? "stay" : "stays",
		d->K - empty);
}

/* describe says what was read and how it is split. */
static void describe(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		     double t0)
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
	note_partial(d);
}

/* save writes the head (a sweep's best epoch, else the last) and
 * --trace. */
static int save(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		const th_runs_t *w, char *err)
{
	head_meta_t hm = {.nclasses = d->K, .classes = d->meta.classes};
	int rc;

	snprintf(hm.model, sizeof hm.model, "%s", d->meta.model);
	snprintf(hm.fingerprint, sizeof hm.fingerprint, "%s", d->meta.fingerprint);
	snprintf(hm.preprocess, sizeof hm.preprocess, "%s", d->meta.preprocess);
	snprintf(hm.version, sizeof hm.version, PROG " " VGGFEAT_VERSION);
	if ((rc = head_save(o->out, w->sweep ? &w->best : &w->h, &hm, err)))
		return rc;
	if (o->trace)
		return th_trace_write(o->trace, d, s, &w->res[0].hp, o, &w->trc, err);
	return 0;
}

/* report suggests predict's --min-prob from the validation set and sums
 * the runs up. */
static int report(const th_opts_t *o, const th_data_t *d, const th_split_t *s,
		  const th_runs_t *w, char *err)
{
	int rc;

	if (o->quiet)
		return 0;
	if (w->has_val) {
		th_min_prob_t th;
		if ((rc = th_min_prob_suggest(w->sweep ? &w->best : &w->h, d, s, o->keep,
					      &th, err)))
			return rc;
		th_min_prob_print(&th, o->keep);
	}
	fprintf(stderr, PROG ": %d run%s of %ld epoch%s, %.3f s per epoch",
		w->n, w->sweep ? "s" : "", o->epochs, o->epochs > 1 ? "s" : "",
		w->train_secs / (double)(w->n * o->epochs));
	if (w->sweep)
		fprintf(stderr, "; the head (run %d, epoch %d, the best) is in %s\n",
			w->best_run + 1, w->best_epoch, o->out);
	else
		fprintf(stderr, "; the head is in %s\n", o->out);
	return 0;
}

int main(int argc, char **argv)
{
	th_opts_t o;
	th_data_t d = {0};
	th_split_t s = {0};
	th_runs_t w = {0};
	char err[ERR_LEN];
	double t0 = cli_now();
	int status = CLI_ERROR, rc;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	if ((rc = th_out_check(o.out, err)) || (rc = th_data_load(o.db, &d, err)) ||
	    (rc = th_split_make(&d, &o, &s, err)))
		goto fail;
	describe(&o, &d, &s, t0);
	if ((rc = th_sweep(&o, &d, &s, &w, err)) || (rc = save(&o, &d, &s, &w, err)))
		goto fail;
	/* The epochs' lines and a sweep's table are the run's report. */
	if (cli_flush_stdout(PROG))
		goto out;
	if ((rc = report(&o, &d, &s, &w, err)))
		goto fail;
	status = CLI_OK;
	goto out;
fail:
	cli_error(PROG, "%s", err);
out:
	th_runs_free(&w);
	th_split_free(&s);
	th_data_free(&d);
	return status;
}
