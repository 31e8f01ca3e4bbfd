/* options.c - train-head's command line: the usage texts, the options
 * (each may be a comma list, and a sweep trains every combination), their
 * checks against one another, and the defaults, which are Keras'. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "cli.h"
#include "head/head.h"
#include "train_head.h"
#include "version.h"

/* The short options, getopt's and cli_bad_option's. */
#define SHORT_OPTS "qh"
#define MAX_RUNS 4096 /* combinations per sweep */

static const char usage[] =
	"usage: train-head --db FEATS.lmdb [options]\n"
	"\n"
	"Trains the head the Keras model puts on VGG16's fc2: Dense(n_classes,\n"
	"activation='softmax'), optionally after Dense(K, activation='relu'),\n"
	"with Adam and categorical cross-entropy (tf.keras' semantics:\n"
	"glorot_uniform kernels, zero biases, a reshuffle per epoch, the last\n"
	"batch kept), on the features that extract stored.  The features are\n"
	"read once.\n"
	"\n"
	"Sets: records extract tagged valid (a valid/ folder) form the validation\n"
	"set, those it tagged test (a test/ folder) the test set.  Without them,\n"
	"--val-split and --test-split hold out those fractions of each class,\n"
	"chosen by a hash of each image's key, so adding images later never\n"
	"moves old ones between the sets (a class always keeps one training\n"
	"record).  The test set is seen once, by the chosen head, at the end:\n"
	"accuracy, top-5 accuracy, sklearn's classification_report and the\n"
	"people most often taken for each other.\n"
	"\n"
	"The head is saved in head.h5 in the current folder (--out chooses\n"
	"another file), where predict --head head.h5 finds it; the last line\n"
	"says where.  A file there that is not a head train-head wrote is never\n"
	"replaced: the run stops before training.\n"
	"\n"
	"Sweeps: every option marked [,...] takes comma-separated values; every\n"
	"combination is trained over the same features from the same starting\n"
	"weights, a table of the options that vary, ranked by best val_accuracy,\n"
	"is printed, and the chosen run is the best epoch's, the head saved and\n"
	"the one the test set scores.  A single run keeps its last epoch, as\n"
	"Keras (its best with --restore-best).\n"
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
	"  --lr X[,...]       Adam learning rate (default 1e-4)\n"
	"  --batch-size N[,...]  samples per step (default 32)\n"
	"  --beta1 X[,...]    (default 0.9)\n"
	"  --beta2 X[,...]    (default 0.999)\n"
	"  --epsilon X[,...]  (default 1e-7)\n"
	"  --l2 X[,...]       L2 factor on each kernel, as Keras'\n"
	"                     kernel_regularizer=l2(X) (default 0)\n"
	"  --hidden K[,...]   a hidden Dense(K, activation='relu') layer before\n"
	"                     the softmax (default 0: none)\n"
	"  --dropout X[,...]  Dropout(X) on the features, and after the hidden\n"
	"                     layer, while training (default 0)\n"
	"  --label-smoothing X[,...]  CategoricalCrossentropy(label_smoothing=X)\n"
	"                     (default 0)\n"
	"  --class-weight W[,...]  fit(class_weight=): none, balanced\n"
	"                     (n_samples / (n_classes * count), sklearn's), or a\n"
	"                     file of NAME,WEIGHT lines, one per class\n"
	"                     (default none)\n"
	"  --lr-schedule S[,...]  constant, or cosine: CosineDecay(lr, the run's\n"
	"                     steps) (default constant)\n"
	"  --patience N[,...] EarlyStopping(patience=N) (default: none)\n"
	"  --monitor M[,...]  what EarlyStopping and ReduceLROnPlateau watch:\n"
	"                     val_loss, val_accuracy, loss or accuracy (default\n"
	"                     val_loss)\n"
	"  --min-delta X[,...]  EarlyStopping's min_delta (default 0)\n"
	"  --restore-best     EarlyStopping's restore_best_weights\n"
	"  --reduce-lr F[,...]  ReduceLROnPlateau(factor=F), 0 < F < 1 (default:\n"
	"                     none); not with --lr-schedule cosine, as in Keras\n"
	"  --reduce-lr-patience N[,...]  its patience (default 10)\n"
	"  --min-lr X[,...]   its min_lr (default 0)\n"
	"  --val-split F      fraction held out for validation when no record is\n"
	"                     tagged valid (default 0.2; 0: no validation)\n"
	"  --test-split F     fraction held out for testing when no record is\n"
	"                     tagged test (default 0: none)\n"
	"  --confusion FILE   write the test set's confusion matrix (CSV: a row\n"
	"                     per true class, a column per predicted one)\n"
	"  --keep F           the share of correct validation answers the\n"
	"                     suggested --min-prob keeps (default 0.95)\n"
	"  --seed N           initial weights, shuffles and dropout (default 0);\n"
	"                     the same seed gives the same result, whatever\n"
	"                     --threads\n"
	"  --threads N        compute threads (default: one per CPU, at most 8)\n"
	"  --out FILE         where to write the head (default head.h5 in the\n"
	"                     current folder): Keras save_weights HDF5 plus the\n"
	"                     class names and the store's model fingerprint and\n"
	"                     preprocessing (written atomically)\n"
	"  --history FILE     write the epochs' numbers as Keras' CSVLogger does\n"
	"                     (epoch from 0,accuracy,loss,val_accuracy,val_loss);\n"
	"                     a sweep writes one file per run, FILE with .runN\n"
	"                     before its extension\n"
	"  -q, --quiet        no per-epoch lines, notes or test score, only\n"
	"                     errors and a sweep's table\n"
	"  --version          print the version\n"
	"  -h, --help         this text\n"
	"  --help-dev         the options and variables for development and tests\n";

static const char usage_dev[] =
	"train-head: for development and tests (docs/development.md)\n"
	"\n"
	"  --trace FILE       write the run's inputs (features, labels, initial\n"
	"                     weights, each epoch's sample order, the settings)\n"
	"                     and results to HDF5, for tests/ref/torch_head.py\n"
	"                     and tests/ref/keras_head.py (one run only)\n"
	"  VGGFEAT_ISA=NAME   the instructions of the head's kernels (Adam, the\n"
	"                     first layer's fused step): portable, avx2, emul512\n"
	"                     (AVX-512's code on AVX2) or avx512, one the CPU has\n"
	"                     (default: the widest; Adam's bits the same on each)\n"
	"  --check-options    check the command line, its options against each\n"
	"                     other too, and exit 0 without reading or writing\n"
	"                     anything (pipeline.sh's check before any stage runs)\n";

/* distinct: no value of vals given twice (the same number, word or file),
 * else a usage message: a sweep would train that run twice. */
static int distinct(const char *opt, const th_values_t *vals)
{
	for (int i = 0; i < vals->n; i++)
		for (int j = 0; j < i; j++) {
			int same = vals->s[i] ? strcmp(vals->s[i], vals->s[j]) == 0
					      : vals->v[i] == vals->v[j];
			if (!same)
				continue;
			if (vals->s[i])
				cli_usage(PROG, "%s: '%s' is given twice; a sweep would "
					  "train that run twice", opt, vals->s[i]);
			else
				cli_usage(PROG, "%s: %g is given twice; a sweep would "
					  "train that run twice", opt, vals->v[i]);
			return -1;
		}
	return 0;
}

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
		vals->s[vals->n] = NULL;
		if (integral) {
			long l;
			if (cli_long(PROG, opt, tok, (long)lo, (long)hi, &l))
				return -1;
			vals->v[vals->n++] = (double)l;
		} else if (cli_double(PROG, opt, tok, lo, hi, &vals->v[vals->n++])) {
			return -1;
		}
	}
	return distinct(opt, vals);
}

/* parse_words splits s (kept in buf, len bytes, for the words to live on)
 * at commas into vals: each one of words (its index the value), or, when
 * other is set, anything else (the value nwords: --class-weight's file). */
static int parse_words(const char *opt, const char *s, const char *const *words,
		       int nwords, int other, char *buf, size_t len, th_values_t *vals)
{
	char *save = NULL;

	if (strlen(s) >= len) {
		cli_usage(PROG, "%s: value list too long", opt);
		return -1;
	}
	if (!*s || s[strlen(s) - 1] == ',' || *s == ',' || strstr(s, ",,")) {
		cli_usage(PROG, "%s: '%s' has an empty value", opt, s);
		return -1;
	}
	snprintf(buf, len, "%s", s);
	vals->n = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int w = 0;
		if (vals->n == TH_MAX_VALUES) {
			cli_usage(PROG, "%s: more than %d values", opt, TH_MAX_VALUES);
			return -1;
		}
		while (w < nwords && strcmp(tok, words[w]))
			w++;
		if (w == nwords && !other) {
			char list[256] = "";
			for (int i = 0, n = 0; i < nwords; i++)
				n += snprintf(list + n, sizeof list - (size_t)n, "%s%s",
					      i ? ", " : "", words[i]);
			cli_usage(PROG, "%s: '%s' is not one of %s", opt, tok, list);
			return -1;
		}
		vals->v[vals->n] = w;
		vals->s[vals->n++] = tok;
	}
	return distinct(opt, vals);
}

/* below: every value of vals is below hi (an open end cli_double cannot
 * say), else a usage message. */
static int below(const char *opt, const th_values_t *vals, double hi)
{
	for (int i = 0; i < vals->n; i++)
		if (!(vals->v[i] < hi)) {
			cli_usage(PROG, "%s: %g must be below %g", opt, vals->v[i], hi);
			return -1;
		}
	return 0;
}

/* The callbacks' options need their callback, and ReduceLROnPlateau
 * cannot set a schedule's rate (Keras raises a TypeError). */
static int check_callbacks(const th_opts_t *o, const int *given)
{
	int es = given[TH_PATIENCE], rl = given[TH_REDUCE_LR];
	if (o->restore_best && !es)
		return cli_usage(PROG, "--restore-best is EarlyStopping's restore_best_weights: "
				   "give --patience");
	if (given[TH_MIN_DELTA] && !es)
		return cli_usage(PROG, "--min-delta is EarlyStopping's: give --patience");
	if (given[TH_MONITOR] && !es && !rl)
		return cli_usage(PROG, "--monitor is what EarlyStopping (--patience) or "
				   "ReduceLROnPlateau (--reduce-lr) watch: give one");
	if ((given[TH_REDUCE_PATIENCE] || given[TH_MIN_LR]) && !rl)
		return cli_usage(PROG, "--reduce-lr-patience and --min-lr are "
				   "ReduceLROnPlateau's: give --reduce-lr");
	for (int i = 0; rl && i < o->v[TH_SCHEDULE].n; i++)
		if (o->v[TH_SCHEDULE].v[i])
			return cli_usage(PROG, "--reduce-lr cannot change --lr-schedule cosine's "
					   "rate (Keras' ReduceLROnPlateau cannot set a "
					   "schedule's)");
	return 0;
}

/* The defaults: Keras' (Adam(1e-4), batch 32, no callbacks). */
static void defaults(th_opts_t *o)
{
	head_hparams_t d = HEAD_HPARAMS_DEFAULT;
	long ncpu = workers_cpus();
	static const double one[TH_NOPTS] = {
		[TH_PATIENCE] = -1, [TH_REDUCE_PATIENCE] = 10,
	};

	*o = (th_opts_t){.out = TH_DEFAULT_OUT, .epochs = 5, .val_split = 0.2,
			 .keep = 0.95, .threads = ncpu > 8 ? 8 : ncpu};
	for (int k = 0; k < TH_NOPTS; k++)
		o->v[k] = (th_values_t){.v = {one[k]}, .n = 1};
	o->v[TH_LR].v[0] = d.lr;
	o->v[TH_BATCH].v[0] = d.batch;
	o->v[TH_BETA1].v[0] = d.beta1;
	o->v[TH_BETA2].v[0] = d.beta2;
	o->v[TH_EPSILON].v[0] = d.epsilon;
	o->v[TH_CLASS_WEIGHT].s[0] = "none";
	o->v[TH_SCHEDULE].s[0] = "constant";
	o->v[TH_MONITOR].s[0] = "val_loss";
}

int th_parse_args(int argc, char **argv, th_opts_t *o)
{
	enum { O_DB = 256, O_EPOCHS, O_VAL_SPLIT, O_TEST_SPLIT, O_KEEP, O_SEED,
	       O_THREADS, O_OUT, O_HISTORY, O_CONFUSION, O_TRACE, O_RESTORE,
	       O_VERSION, O_HELP_DEV, O_CHECK, O_SWEPT };
	static const struct option lo[] = {
		{"db", required_argument, 0, O_DB},
		{"epochs", required_argument, 0, O_EPOCHS},
		{"lr", required_argument, 0, O_SWEPT + TH_LR},
		{"batch-size", required_argument, 0, O_SWEPT + TH_BATCH},
		{"beta1", required_argument, 0, O_SWEPT + TH_BETA1},
		{"beta2", required_argument, 0, O_SWEPT + TH_BETA2},
		{"epsilon", required_argument, 0, O_SWEPT + TH_EPSILON},
		{"l2", required_argument, 0, O_SWEPT + TH_L2},
		{"hidden", required_argument, 0, O_SWEPT + TH_HIDDEN},
		{"dropout", required_argument, 0, O_SWEPT + TH_DROPOUT},
		{"label-smoothing", required_argument, 0, O_SWEPT + TH_SMOOTHING},
		{"class-weight", required_argument, 0, O_SWEPT + TH_CLASS_WEIGHT},
		{"lr-schedule", required_argument, 0, O_SWEPT + TH_SCHEDULE},
		{"patience", required_argument, 0, O_SWEPT + TH_PATIENCE},
		{"monitor", required_argument, 0, O_SWEPT + TH_MONITOR},
		{"min-delta", required_argument, 0, O_SWEPT + TH_MIN_DELTA},
		{"reduce-lr", required_argument, 0, O_SWEPT + TH_REDUCE_LR},
		{"reduce-lr-patience", required_argument, 0, O_SWEPT + TH_REDUCE_PATIENCE},
		{"min-lr", required_argument, 0, O_SWEPT + TH_MIN_LR},
		{"restore-best", no_argument, 0, O_RESTORE},
		{"val-split", required_argument, 0, O_VAL_SPLIT},
		{"test-split", required_argument, 0, O_TEST_SPLIT},
		{"keep", required_argument, 0, O_KEEP},
		{"seed", required_argument, 0, O_SEED},
		{"threads", required_argument, 0, O_THREADS},
		{"out", required_argument, 0, O_OUT},
		{"history", required_argument, 0, O_HISTORY},
		{"confusion", required_argument, 0, O_CONFUSION},
		{"trace", required_argument, 0, O_TRACE},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{"check-options", no_argument, 0, O_CHECK},
		{0, 0, 0, 0},
	};
	static const char *const schedules[] = {"constant", "cosine"};
	static const char *const monitors[] = {"val_loss", "val_accuracy", "loss",
					       "accuracy"};
	static const char *const weights[] = {"none", "balanced"};
	/* The swept options' flags, in th_opt's order, for their messages. */
	static const char *const flags[TH_NOPTS] = {
		"--lr", "--batch-size", "--beta1", "--beta2", "--epsilon", "--l2",
		"--hidden", "--dropout", "--label-smoothing", "--class-weight",
		"--lr-schedule", "--patience", "--monitor", "--min-delta", "--reduce-lr",
		"--reduce-lr-patience", "--min-lr",
	};
	static char words[TH_NOPTS][1024];
	int c, bad = 0, check = 0, given[TH_NOPTS] = {0};

	defaults(o);
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORT_OPTS, lo, NULL)) != -1) {
		int k = c >= O_SWEPT ? c - O_SWEPT : -1;
		const char *opt = k >= 0 ? flags[k] : "";
		th_values_t *v = k >= 0 ? &o->v[k] : NULL;
		if (v)
			given[k] = 1;
		switch (c) {
		case O_DB:
			bad |= cli_path(PROG, "--db", optarg, &o->db);
			break;
		case O_OUT:
			bad |= cli_path(PROG, "--out", optarg, &o->out);
			break;
		case O_HISTORY:
			bad |= cli_path(PROG, "--history", optarg, &o->history);
			break;
		case O_CONFUSION:
			bad |= cli_path(PROG, "--confusion", optarg, &o->confusion);
			break;
		case O_TRACE:
			bad |= cli_path(PROG, "--trace", optarg, &o->trace);
			break;
		case O_RESTORE: o->restore_best = 1; break;
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
		case O_TEST_SPLIT:
			bad |= cli_double(PROG, "--test-split", optarg, 0, 0.95, &o->test_split);
			o->test_split_given = 1;
			break;
		case O_KEEP:
			bad |= cli_double(PROG, "--keep", optarg, 1e-6, 1, &o->keep);
			break;
		case O_SWEPT + TH_LR: bad |= parse_values(opt, optarg, 1e-12, 10, 0, v); break;
		case O_SWEPT + TH_BATCH: bad |= parse_values(opt, optarg, 1, 65536, 1, v); break;
		case O_SWEPT + TH_BETA1: bad |= parse_values(opt, optarg, 0, 0.999999, 0, v); break;
		case O_SWEPT + TH_BETA2:
			bad |= parse_values(opt, optarg, 0, 0.999999999, 0, v);
			break;
		case O_SWEPT + TH_EPSILON: bad |= parse_values(opt, optarg, 1e-30, 1, 0, v); break;
		case O_SWEPT + TH_L2: bad |= parse_values(opt, optarg, 0, 100, 0, v); break;
		case O_SWEPT + TH_HIDDEN: bad |= parse_values(opt, optarg, 0, 65536, 1, v); break;
		case O_SWEPT + TH_DROPOUT:
			bad |= parse_values(opt, optarg, 0, 1, 0, v) || below(opt, v, 1);
			break;
		case O_SWEPT + TH_SMOOTHING: bad |= parse_values(opt, optarg, 0, 1, 0, v); break;
		case O_SWEPT + TH_CLASS_WEIGHT:
			bad |= parse_words(opt, optarg, weights, 2, 1, words[TH_CLASS_WEIGHT],
					   sizeof words[0], v);
			break;
		case O_SWEPT + TH_SCHEDULE:
			bad |= parse_words(opt, optarg, schedules, 2, 0, words[TH_SCHEDULE],
					   sizeof words[0], v);
			break;
		case O_SWEPT + TH_PATIENCE: bad |= parse_values(opt, optarg, 0, 100000, 1, v); break;
		case O_SWEPT + TH_MONITOR:
			bad |= parse_words(opt, optarg, monitors, 4, 0, words[TH_MONITOR],
					   sizeof words[0], v);
			break;
		case O_SWEPT + TH_MIN_DELTA: bad |= parse_values(opt, optarg, 0, 1e6, 0, v); break;
		case O_SWEPT + TH_REDUCE_LR:
			bad |= parse_values(opt, optarg, 1e-9, 1, 0, v) || below(opt, v, 1);
			break;
		case O_SWEPT + TH_REDUCE_PATIENCE:
			bad |= parse_values(opt, optarg, 0, 100000, 1, v);
			break;
		case O_SWEPT + TH_MIN_LR: bad |= parse_values(opt, optarg, 0, 10, 0, v); break;
		case 'q': o->quiet = 1; break;
		case O_VERSION: cli_answer(PROG, PROG " " VGGFEAT_VERSION "\n");
		case 'h': cli_answer(PROG, usage);
		case O_HELP_DEV: cli_answer(PROG, usage_dev);
		case O_CHECK: check = 1; break;
		default:
			return cli_bad_option(PROG, argv, SHORT_OPTS);
		}
		/* The first bad value is the one reported. */
		if (bad)
			return CLI_USAGE;
	}
	if (optind < argc)
		return cli_usage(PROG, "unexpected argument '%s'", argv[optind]);
	if (!o->db)
		return cli_usage(PROG, "--db is required");
	if (o->val_split + o->test_split > 0.95)
		return cli_usage(PROG, "--val-split and --test-split hold out more than 0.95 "
				   "together");
	if ((bad = check_callbacks(o, given)))
		return bad;
	long runs = th_runs_of(o);
	if (runs > MAX_RUNS)
		return cli_usage(PROG, "the sweep has %ld combinations, at most %d",
				 runs, MAX_RUNS);
	if (o->trace && runs > 1)
		return cli_usage(PROG, "--trace records one run, not a sweep");
	if (check)
		exit(CLI_OK);
	return 0;
}
