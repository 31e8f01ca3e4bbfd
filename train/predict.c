/* predict - who is in this photo: runs VGG16 through fc2 (or VGG-Face
 * through fc7, or to the tap the head's features were taken at: the
 * head's store name, net/model.h) and the trained softmax
 * head on each image and prints the top-k people, one line each:
 *   path<TAB>rank<TAB>name<TAB>probability
 * (fields escaped as PostgreSQL's COPY text format: cli_put_tsv); with
 * --min-prob, rank 1's name is "unknown" when its probability is lower.
 * With --save-model it writes instead the whole model, backbone and head,
 * as the file tf.keras' model.save writes (net/model_file.h). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "embed/embed.h"
#include "error.h"
#include "net/model.h"
#include "net/model_file.h"
#include "head/head.h"
#include "version.h"
#include "net/vgg.h"
#include "net/weights.h"

/* The short options, getopt's and cli_bad_option's. */
#define SHORT_OPTS "qh"

#define PROG "predict"

static const char usage[] =
	"usage: predict --head HEAD.h5 [options] IMAGE_OR_DIR...\n"
	"       predict --head HEAD.h5 [--weights FILE] --save-model MODEL.h5\n"
	"\n"
	"Runs VGG16 through fc2 (VGG-Face through fc7, when the head was trained\n"
	"on its features; or to the layer and pooling the head's features were\n"
	"taken at, extract --layer) and the head trained by train-head on each image\n"
	"(folders are searched for images, recursively) and prints the top-k\n"
	"people, one line each:  path<TAB>rank<TAB>name<TAB>probability\n"
	"(a backslash, tab, newline or carriage return in a path or a name is\n"
	"written \\\\, \\t, \\n or \\r, as PostgreSQL's COPY text format does).\n"
	"It refuses weights, a model or preprocessing other than the head's\n"
	"features were made with, and a _notop file for a head on fc1 or fc2.\n"
	"It computes the convolutions as extract did for the head's features\n"
	"(--conv), so that each image's vector is the one extract stored.\n"
	"With --save-model it writes instead the\n"
	"whole model (the backbone, then the head) in the file tf.keras'\n"
	"model.save writes, for tf.keras.models.load_model.\n"
	"\n"
	"options:\n"
	"  --head FILE      the head (train-head --out), required\n"
	"  --weights FILE   the weights extract used (default: the head's model's\n"
	"                   file: for VGG16 $VGG16_WEIGHTS, else Keras' cache\n"
	"                   $KERAS_HOME/models/ or ~/.keras/models/\n"
	"                   " MODEL_VGG16_FILE "; for VGG-Face\n"
	"                   $VGGFACE_WEIGHTS, else ~/.keras/models/vggface/\n"
	"                   " MODEL_VGGFACE_FILE "; for a head on\n"
	"                   block5_pool, the _notop file when Keras cached it)\n"
	"  --model M        vgg16 or vggface: the head and the file must be that\n"
	"                   model's (default: the head's)\n"
	"  --top-k N        people per image (default 5)\n"
	"  --min-prob P     rank 1 is 'unknown' when its probability is below P\n"
	"                   (a stranger is not forced onto a known person; the\n"
	"                   other ranks are printed as usual); train-head prints\n"
	"                   the P that keeps 95% of its validation set's correct\n"
	"                   answers (default 0: never)\n"
	"  --batch N, --batch-size N\n"
	"                   images per network batch (default 8)\n"
	"  --threads N      compute threads for the network (default: one per\n"
	"                   CPU)\n"
	CLI_CONV_HELP
	"                   (default: the head's, the path extract computed its\n"
	"                   features on, so that each vector is the one\n"
	"                   extract stored)\n"
	"  --save-model FILE\n"
	"                   instead of predicting, write the seed's whole model\n"
	"                   (VGG16 through fc2 or VGG-Face through fc7, frozen,\n"
	"                   then the head as dense_1 with softmax) to FILE, as\n"
	"                   model.save('FILE') writes it (HDF5, about 530 MB;\n"
	"                   replaced atomically); FILE ends in .h5 or .hdf5,\n"
	"                   the names Keras reads HDF5 from (not .keras)\n"
	"  -q, --quiet      no summary\n"
	"  --version        print the version\n"
	"  -h, --help       this text\n"
	"  --help-dev       the variables for development and tests\n";

static const char usage_dev[] =
	"predict: for development and tests (docs/development.md)\n"
	"\n"
	"  VGGFEAT_ISA=NAME          the kernels' instructions: portable, avx2,\n"
	"                            emul512 (AVX-512's code on AVX2) or avx512,\n"
	"                            one the CPU has (default: the widest)\n"
	"  VGGFEAT_HDF5_TIMEOUT=S    seconds the head's and the weights' readers\n"
	"                            may take before they count as hung\n"
	"                            (default 600)\n";

typedef struct opts {
	const char *head, *weights, *save_model;
	long top_k, batch;
	long threads; /* compute threads; 0: one per CPU (vgg.h) */
	double min_prob;
	int quiet;
	int model; /* weights.h's; MODEL_AUTO: the head's */
	int conv;  /* net/vgg.h's VGG_CONV_*; -1: the head's */
	char **inputs;
	int ninputs;
} opts_t;

static int parse_args(int argc, char **argv, opts_t *o)
{
	enum { O_HEAD = 256, O_WEIGHTS, O_MODEL, O_TOPK, O_MIN_PROB, O_BATCH,
	       O_THREADS, O_CONV, O_SAVE_MODEL, O_VERSION, O_HELP_DEV };
	static const struct option lo[] = {
		{"head", required_argument, 0, O_HEAD},
		{"weights", required_argument, 0, O_WEIGHTS},
		{"model", required_argument, 0, O_MODEL},
		{"top-k", required_argument, 0, O_TOPK},
		{"min-prob", required_argument, 0, O_MIN_PROB},
		{"batch", required_argument, 0, O_BATCH},
		{"batch-size", required_argument, 0, O_BATCH},
		{"threads", required_argument, 0, O_THREADS},
		{"conv", required_argument, 0, O_CONV},
		{"save-model", required_argument, 0, O_SAVE_MODEL},
		{"quiet", no_argument, 0, 'q'},
		{"version", no_argument, 0, O_VERSION},
		{"help", no_argument, 0, 'h'},
		{"help-dev", no_argument, 0, O_HELP_DEV},
		{0, 0, 0, 0},
	};
	int c;

	*o = (opts_t){.top_k = 5, .batch = 8, .conv = -1};
	opterr = 0;
	while ((c = getopt_long(argc, argv, SHORT_OPTS, lo, NULL)) != -1) {
		switch (c) {
		case O_HEAD:
			if (cli_path(PROG, "--head", optarg, &o->head))
				return CLI_USAGE;
			break;
		case O_WEIGHTS:
			if (cli_path(PROG, "--weights", optarg, &o->weights))
				return CLI_USAGE;
			break;
		case O_SAVE_MODEL:
			if (cli_path(PROG, "--save-model", optarg, &o->save_model))
				return CLI_USAGE;
			break;
		case O_MODEL:
			if (cli_model(PROG, optarg, &o->model))
				return CLI_USAGE;
			break;
		case O_TOPK:
			if (cli_long(PROG, "--top-k", optarg, 1, 1000000, &o->top_k))
				return CLI_USAGE;
			break;
		case O_MIN_PROB:
			if (cli_double(PROG, "--min-prob", optarg, 0, 1, &o->min_prob))
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
	if (o->save_model && o->head && optind < argc)
		return cli_usage(PROG, "--save-model writes the model instead of "
				 "predicting: give no images ('%s')", argv[optind]);
	if (!o->head || (optind == argc && !o->save_model))
		return cli_usage(PROG, "--head and at least one image are required");
	if (cli_operands(PROG, "image path", argv + optind, argc - optind))
		return CLI_USAGE;
	o->inputs = argv + optind;
	o->ninputs = argc - optind;
	return 0;
}

/* Prints the top-k rows of one image, of its probabilities p (K); rank
 * 1's name is "unknown" below min_prob. */
static void print_top(const char *path, const double *p, int K, int k,
		      char **names, double min_prob, int *order)
{
	head_rank(p, K, k, order);
	for (int r = 0; r < k && r < K; r++) {
		cli_put_tsv(stdout, path);
		printf("\t%d\t", r + 1);
		cli_put_tsv(stdout, r == 0 && p[order[r]] < min_prob ? "unknown"
			    : names[order[r]]);
		printf("\t%.6f\n", p[order[r]]);
	}
}

/* What a head's record says, in the checks' messages: "HEAD was trained
 * on features made with preprocessing '...'". */
#define TRAINED "was trained on features"

/* check_head: what the head needs of the network, known before the
 * weights are read: class names, a model and tap this program makes
 * (*model, which --model must not contradict, and *tap), the tap's width,
 * the model's preprocessing and a convolution path this program computes
 * (*conv: --conv's, else the head's). */
static int check_head(const opts_t *o, const head_t *head, const head_meta_t *hm,
		      int *model, int *tap, int *conv, char *err)
{
	int rc;

	if (!hm->classes || !hm->fingerprint[0])
		return err_set(err, ERR_FORMAT,
			       "%s: the head carries no class names or weights fingerprint "
			       "(was it written by train-head?)", o->head);
	if (model_store_parse(hm->model, model, tap))
		return err_set(err, ERR_MISMATCH, "%s was trained on '%s' features; this "
			       "program makes %s", o->head, hm->model,
			       model_store_names());
	const model_info_t *m = model_info(*model);
	if (head->D != model_tap_info(*tap)->dim)
		return err_set(err, ERR_SHAPE, "%s: the head takes %d features, %s's %s "
			       "gives %d", o->head, head->D, m->title,
			       model_tap_layer(*model, *tap), model_tap_info(*tap)->dim);
	if (o->model && o->model != *model)
		return err_set(err, ERR_MISMATCH, "%s was trained on %s features (%s), "
			       "but --model %s was given", o->head, hm->model, m->title,
			       model_info(o->model)->name);
	if ((rc = model_check_preprocess(*model, hm->preprocess, o->head, TRAINED,
					 err)))
		return rc;
	return vgg_conv_choose(o->conv, hm->conv, o->head, TRAINED, conv, err);
}

/* check_weights: the weights must be the head's model's, give its tap (a
 * _notop file gives no fc1 or fc2), with the fingerprint, over the layers
 * the tap needs, of those its features were made with. */
static int check_weights(const opts_t *o, const head_meta_t *hm, int model,
			 int tap, const weights_t *w, const char *wpath, char *err)
{
	char why[ERR_LEN];

	if (w->model != model)
		return err_set(err, ERR_MISMATCH, "%s was trained on %s features (%s), but "
			       "%s holds %s weights (%s); use the weights extract used",
			       o->head, hm->model, model_info(model)->title, wpath,
			       model_info(w->model)->title,
			       model_info(w->model)->store_model);
	if (weights_check_tap(w, tap, wpath, why))
		return err_set(err, ERR_MISMATCH, "%s was trained on %s vectors, but %s",
			       o->head, hm->model, why);
	return weights_check_fingerprint(w, tap, hm->fingerprint, wpath, o->head,
					 TRAINED, err);
}

/* check_save_tap: --save-model writes the backbone through its dense
 * layers (model_file.h's one end); a head on another tap is refused, not
 * written wrong. */
static int check_save_tap(const opts_t *o, const head_meta_t *hm, int model,
			  int tap, char *err)
{
	if (tap == MODEL_TAP_FC2)
		return 0;
	return err_set(err, ERR_UNSUPPORTED, "--save-model writes %s through %s only; "
		       "%s was trained on %s vectors (the whole model at another tap "
		       "is not written yet)", model_info(model)->title,
		       model_tap_layer(model, MODEL_TAP_FC2), o->head, hm->model);
}

/* check_save_target refuses to write the model over the head or the
 * weights it is made from (the same file, whatever the path says), over
 * anything but a whole model it wrote, or under a name Keras would not
 * read it from (net/model_file.h), before the weights are read. */
static int check_save_target(const opts_t *o, const char *wpath, char *err)
{
	struct stat to, st;
	const char *from[2] = {o->head, wpath};

	if (stat(o->save_model, &to) == 0)
		for (int i = 0; i < 2; i++)
			if (stat(from[i], &st) == 0 && st.st_dev == to.st_dev &&
			    st.st_ino == to.st_ino)
				return err_set(err, ERR_ARG, "--save-model %s is the %s it "
					       "is made from", o->save_model,
					       i ? "weights file" : "head");
	return model_file_replaceable(o->save_model, err);
}

/* save_model: the seed's whole model, the backbone of w through its
 * vector, then the head's Dense layers as the head file names them
 * (dense_1, then dense_2 after a hidden layer: ReLU, the last softmax;
 * net/model_file.h), and the line that says where it went.  (A head
 * trained with dropout has no Dropout layer here: the head file does not
 * keep its rate, and at predict time Dropout does nothing.) */
static int save_model(const opts_t *o, const head_t *head, const head_meta_t *hm,
		      const weights_t *w, char *err)
{
	const model_info_t *mi = model_info(w->model);
	model_file_layer_t dense[HEAD_MAX_LAYERS];
	char names[HEAD_MAX_LAYERS][24];

	for (int l = 0; l < head->nlayers; l++) {
		const head_layer_t *L = &head->layer[l];
		snprintf(names[l], sizeof names[l], "dense_%d", l + 1);
		dense[l] = (model_file_layer_t){
			.kind = MODEL_FILE_DENSE, .name = names[l],
			.activation = l == head->nlayers - 1 ? "softmax" : "relu",
			.in = L->in, .units = L->out, .kernel = L->kernel, .bias = L->bias,
		};
	}
	const model_file_t m = {
		.w = w, .end = MODEL_FILE_END_VECTOR, .head = dense, .nhead = head->nlayers,
		.classes = (const char *const *)hm->classes, .nclasses = hm->nclasses,
	};
	int rc = model_file_save(o->save_model, &m, err);

	if (rc == 0 && !o->quiet)
		fprintf(stderr, PROG ": saved the whole model to %s (%s through %s, "
			"then %s with softmax over %d classes)\n", o->save_model, mi->title,
			mi->layers[WEIGHTS_NLAYERS - 1],
			head->nlayers == 1 ? HEAD_LAYER : "Dense layers", head->K);
	return rc;
}

/* What each batch's answers need: the head and its buffers. */
typedef struct answer {
	const opts_t *o;
	const head_t *head;
	const head_meta_t *hm;
	double *p;      /* (B, K) */
	int *order;     /* (K) */
	double *work;   /* head_probabilities_doubles(head) */
} answer_t;

/* answer_batch, embed_run's callback: the head on a batch's vectors
 * (n, D), in double (head_probabilities: an image's numbers whatever the
 * batch), and each image's top-k printed.  The lines are the answer: when
 * they cannot be written (a full disk, a closed pipe) the run stops there,
 * with the reason the write gave. */
static int answer_batch(void *ctx, int n, const char *const *paths,
			const float *vec, int dim, char *err)
{
	answer_t *a = ctx;
	int K = a->head->K;

	head_probabilities(a->head, vec, n, a->work, a->p);
	errno = 0;
	for (int j = 0; j < n; j++)
		print_top(paths[j], a->p + (size_t)j * K, K, (int)a->o->top_k,
			  a->hm->classes, a->o->min_prob, a->order);
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	return err_set(err, ERR_IO, "writing the standard output failed: %s",
		       errno ? strerror(errno) : "a write error");
}

/* predict_all runs the network (to tap, its convolutions computed as conv
 * says) and the head on the images, a batch at a time (embed.h), and
 * prints each one's top-k; *done counts the images answered. */
static int predict_all(const opts_t *o, const head_t *head, const head_meta_t *hm,
		       const weights_t *w, int model, int tap, int conv,
		       embed_images_t *im, size_t *done, char *err)
{
	int B = (int)o->batch, K = head->K, rc;
	answer_t a = {.o = o, .head = head, .hm = hm,
		      .p = malloc((size_t)B * K * sizeof *a.p),
		      .order = malloc((size_t)K * sizeof *a.order),
		      .work = malloc(head_probabilities_doubles(head) * sizeof *a.work)};
	embed_opts_t eo = {.model = model};

	vgg_opts_init(&eo.net, B);
	eo.net.tap = tap;
	eo.net.conv = conv;
	eo.net.threads = (int)o->threads;
	if (!a.p || !a.order || !a.work)
		rc = err_set(err, ERR_NOMEM, "out of memory");
	else
		rc = embed_run(PROG, &eo, w, im, answer_batch, &a, done, err);
	free(a.p), free(a.order), free(a.work);
	return rc;
}

int main(int argc, char **argv)
{
	opts_t o;
	char err[ERR_LEN], wpath[4096];
	head_t head = {0};
	head_meta_t hm = {0};
	weights_t w = {0};
	embed_images_t im = {0};
	size_t done = 0;
	int status = CLI_ERROR, rc, model = MODEL_VGG16, tap = MODEL_TAP_FC2;
	int conv = VGG_CONV_WINOGRAD;

	if ((rc = parse_args(argc, argv, &o)))
		return rc;
	if ((rc = head_load(o.head, &head, &hm, err)) ||
	    (rc = check_head(&o, &head, &hm, &model, &tap, &conv, err)))
		goto fail;
	/* Without --weights, the file of the head's model. */
	if (cli_weights_path(PROG, o.weights, model, tap, wpath, sizeof wpath))
		goto out;
	if (o.save_model && ((rc = check_save_tap(&o, &hm, model, tap, err)) ||
			     (rc = check_save_target(&o, wpath, err))))
		goto fail;
	/* The folders are listed before the weights are read (a second or
	 * more): one with no image says so at once. */
	if (!o.save_model &&
	    ((rc = embed_list(PROG, o.inputs, o.ninputs, &im, err)) ||
	     (im.n == 0 && (rc = embed_none(&im, "predict", err)))))
		goto fail;
	if ((rc = weights_load(wpath, &w, err)) ||
	    (rc = weights_check_model(&w, o.model, wpath, err)) ||
	    (rc = check_weights(&o, &hm, model, tap, &w, wpath, err)))
		goto fail;
	if (o.save_model) {
		if ((rc = save_model(&o, &head, &hm, &w, err)))
			goto fail;
		status = CLI_OK;
		goto out;
	}
	if ((rc = predict_all(&o, &head, &hm, &w, model, tap, conv, &im, &done,
			      err)))
		goto fail;
	/* The lines are the answer: losing some (a full disk) is a failure. */
	if (cli_flush_stdout(PROG))
		goto out;
	if (!o.quiet)
		fprintf(stderr, PROG ": %zu %s, %zu skipped\n", done,
			cli_noun(done, "image", "images"), im.skipped);
	if (done)
		status = CLI_OK;
	else if (im.skipped == 1)
		cli_error(PROG, "the one image given could not be read");
	else
		cli_error(PROG, "not one of the %zu images could be read", im.skipped);
	goto out;
fail:
	cli_error(PROG, "%s", err);
out:
	embed_images_free(&im);
	weights_free(&w);
	head_meta_free(&hm);
	head_free(&head);
	return status;
}
