/* head_train.c - the trainer: epochs of shuffled Adam steps over a set of
 * cached feature vectors, and the evaluation, on a workers of threads.
 *
 * Letters: N samples, B a batch, D features, K classes, Fi a layer's
 * inputs, O the outputs of layer 0 (K without a hidden layer, else the
 * hidden layer's units), R kernel rows.
 *
 * The trainer's step is fused and made in one pass of tasks.  Layer 0's
 * kernel (D, O), by far the largest, is cut into stripes of HEAD_STRIPE
 * rows, one task each; for its rows a task runs Adam's fused step
 * (kern_step.h: the gradient, a panel of columns at a time, the update,
 * then the next batch's partial outputs through the freshly updated
 * panel).  So each step reads and writes that kernel and its moments
 * once, front to back, and the next forward costs no extra pass.  For
 * that the trainer keeps them in the step's panels (kern.h), the kernel
 * packed from the head when an epoch starts and unpacked into it when it
 * ends.  One more task, in the same pass, takes every other
 * parameter of the step: layer 0's bias and the later layers' kernels and
 * biases, their gradients and Adam.  So one Adam step is one pass over all
 * the parameters, in one place (step_task).  Between passes, tasks sum
 * the stripes' partial outputs (and, for the softmax layer alone, take
 * the loss and its gradient), a share of the batch's rows each; with
 * hidden layers the main thread then runs the small later layers
 * forward, the loss, and the gradients back to layer 0's outputs.  The
 * plain path the trainer is tested against is head_gradient followed by
 * adam_apply_ref.
 *
 * Dropout's masks are drawn per element from a counter-based stream (the
 * step, the row in the batch, the site, the unit: head_dropout), so that
 * they too are the same whoever computes them.  Every sum is taken in an order that
 * depends on D and the data only (stripes are summed in stripe order),
 * never on which thread ran what, so any number of threads gives
 * bit-identical results. */
#include "head/head.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "head/head_impl.h"
#include "base/workers.h"

/* Kernel rows per task: 16 tasks for D = 4096, enough to balance two to
 * eight threads, few enough that summing the partial outputs stays cheap. */
#define HEAD_STRIPE 256
/* Samples the gather of the next batch takes at a time (gather_next). */
#define HEAD_GATHER 32
/* Rows per evaluation task. */
#define HEAD_EVAL_ROWS 64
/* Tasks that sum a batch's outputs and take their loss, each a fixed
 * share of the batch's rows (so that the sums do not depend on the
 * threads). */
#define HEAD_OUT_TASKS 4

struct head_trainer {
	head_t *h;
	head_hparams_t hp;
	float *class_weight;  /* (K) hp.loss's, copied; NULL: none */
	adam_t adam;
	float lr;             /* Keras' optimizer.lr; with a schedule, its base */
	rng_t rng;            /* the shuffles */
	uint64_t drop_seed;   /* the dropout masks' stream */
	int B, S, O;          /* batch, stripes of layer 0's kernel, its outputs */
	size_t *order;        /* (cap) the epoch's sample order */
	size_t cap;
	float *xb[2];         /* (D, B) this batch and the next, transposed (a
			       * stripe's rows of it contiguous), dropout
			       * applied */
	int32_t *yb;          /* (B) this batch's labels */
	/* Per layer l, (B, its outputs): z the sums (z[0] from the stripes),
	 * dz the gradient of the loss with respect to them (the last layer's
	 * in place of its z); for the hidden layers, a the activation after
	 * ReLU and dropout, the next layer's input. */
	float *z[HEAD_MAX_LAYERS], *dz[HEAD_MAX_LAYERS], *a[HEAD_MAX_LAYERS];
	float *acts;          /* the allocation behind them */
	float *part;          /* (S, B, ldz) partial outputs of the next batch */
	float *dzp;           /* (B, ldz) dz[0], the stripes' copy */
	/* Layer 0's kernel and its moments in the step's panels (kern.h),
	 * stripe s's from s * HEAD_STRIPE * O rounded up to lanes.  adam's
	 * moments are the other parameters' (those of grest), at their
	 * offsets in grest. */
	float *w0, *m0, *v0;
	int lanes;            /* the step's table's */
	float *gscr;          /* (threads, gscr_len) the step's scratch */
	size_t gscr_len;
	size_t ldz;           /* O rounded up to 64 bytes: part's and dzp's rows
			       * (kern.h's kern_step_t: aligned rows keep the
			       * step's vectors within cache lines) */
	double *sq;           /* (S + 1) squared kernels: the rest, each stripe */
	float *grest;         /* the gradient of the parameters after layer 0's
			       * kernel (its bias, the later layers) */
	float *scratch;       /* (threads, scratch_len) evaluation chunks */
	size_t scratch_len;

	/* The pass the tasks run. */
	struct {
		const head_set_t *set;
		const size_t *next;   /* positions of the next batch's samples */
		int nb, nn;           /* this batch's size (0: no update), next's */
		long next_step;       /* the step the next batch is for */
		const float *x;       /* (nb, D) */
		float *xn;            /* (nn, D), gathered by the tasks */
		float alpha;
		double *loss;         /* evaluation: per task */
		long *correct;
		double ce[HEAD_OUT_TASKS]; /* a step's outputs: per task */
		long right[HEAD_OUT_TASKS];
	} job;

	workers_t *workers;
};

static size_t set_row(const head_set_t *s, size_t j)
{
	return s->idx ? s->idx[j] : j;
}

/* ---- dropout ---------------------------------------------------------------- */

void head_dropout(uint64_t seed, long step, int site, int row, double rate,
		  const float *x, float *out, size_t j0, size_t n)
{
	/* splitmix64 is a counter: unit j's draw is the row's stream's j-th,
	 * whoever asks first and for whichever units. */
	rng_t r = {seed ^ ((uint64_t)step * 0xd1b54a32d192ed03ULL) ^
		   ((uint64_t)site << 40) ^ (uint64_t)row};
	uint64_t base = rng_next(&r);
	float scale = (float)(1.0 / (1.0 - rate));
	for (size_t k = 0; k < n; k++) {
		rng_t u = {base + (uint64_t)(j0 + k) * 0x9e3779b97f4a7c15ULL};
		/* Keras keeps a unit whose uniform draw is at least the rate,
		 * and scales x first. */
		out[k] = rng_uniform(&u) >= rate ? x[k] * scale : 0.0f;
	}
}

/* ---- one step's pass ------------------------------------------------------- */

/* Columns r0..r1 of the next batch (dropout applied) into rows r0..r1 of
 * xn: HEAD_GATHER samples at a time, 16 features of each at a time, so
 * that a cache line of each sample's row is read while 16 of xn's rows are
 * written in order (gathered a sample at a time, each feature's store
 * touching another row, train-head ran 1.03x to 1.06x slower). */
static void gather_next(head_trainer_t *t, int r0, int r1)
{
	const head_set_t *set = t->job.set;
	const int nn = t->job.nn, B = t->B, n = r1 - r0;
	const float *src[HEAD_GATHER];
	float kept[HEAD_GATHER][HEAD_STRIPE]; /* dropout's */

	for (int b0 = 0; b0 < nn; b0 += HEAD_GATHER) {
		int nb = nn - b0 < HEAD_GATHER ? nn - b0 : HEAD_GATHER;
		for (int b = 0; b < nb; b++) {
			src[b] = set->x + set_row(set, t->job.next[b0 + b]) * set->ld + r0;
			if (t->hp.dropout) {
				head_dropout(t->drop_seed, t->job.next_step, 0, b0 + b,
					     t->hp.dropout, src[b], kept[b], (size_t)r0,
					     (size_t)n);
				src[b] = kept[b];
			}
		}
		for (int j0 = 0; j0 < n; j0 += 16) {
			int je = j0 + 16 < n ? j0 + 16 : n;
			for (int j = j0; j < je; j++)
				for (int b = 0; b < nb; b++)
					t->job.xn[(size_t)(r0 + j) * B + b0 + b] = src[b][j];
		}
	}
}

/* One stripe of a step: rows r0..r1 of layer 0's kernel.
 *   x (D, B) this batch and xn (D, B) the next, transposed; dz[0] (nb, O),
 *   part[s] (nn, O).
 * Gathers columns r0..r1 of the next batch into rows r0..r1 of xn
 * (gather_next), then Adam's fused step on the rows (kern_step.h): their
 * gradient from this batch, the update, and the next batch's partial
 * outputs through them.  The transposed batch keeps the stripe's inputs
 * in a block of its own (32 KB for 256 rows of 32 samples), where the
 * batch's rows, D floats apart, touched a page per sample. */
static void stripe_task(head_trainer_t *t, int s, int worker)
{
	const head_layer_t *L0 = &t->h->layer[0];
	int D = L0->in, O = L0->out, nn = t->job.nn, B = t->B;
	int r0 = s * HEAD_STRIPE, r1 = r0 + HEAD_STRIPE < D ? r0 + HEAD_STRIPE : D;
	float *part = t->part + (size_t)s * t->B * t->ldz;

	gather_next(t, r0, r1);
	size_t at = kern_step_panels(r0, O, t->lanes);
	kern_step_t st = {.O = O, .R = r1 - r0, .nb = t->job.nb, .nn = nn,
			  .x = t->job.nb ? t->job.x + (size_t)r0 * B : NULL,
			  .xn = t->job.xn + (size_t)r0 * B, .ldx = (size_t)B, .dz = t->dzp,
			  .w = t->w0 + at, .m = t->m0 + at, .v = t->v0 + at,
			  .g = t->gscr + (size_t)worker * t->gscr_len, .part = part,
			  .ldz = t->ldz};
	t->sq[1 + s] = adam_step_panels(&t->adam, t->job.alpha, &st, (float)t->hp.l2);
}

/* z (n) += p (n), 16 at a time where it can (whole vectors for GCC's
 * cheap vectorizer at -O2). */
static void add_to(float *restrict z, const float *restrict p, int n)
{
	int i = 0;
	for (; i + 16 <= n; i += 16)
		for (int k = 0; k < 16; k++)
			z[i + k] += p[i + k];
	for (; i < n; i++)
		z[i] += p[i];
}

/* g (O) = the column sums of d (nb, O), in row order: a bias's gradient. */
static void col_sums(const float *d, int nb, int O, float *g)
{
	for (int o = 0; o < O; o++) {
		float s = 0;
		for (int b = 0; b < nb; b++)
			s += d[(size_t)b * O + o];
		g[o] = s;
	}
}

/* The rest of a step: every parameter after layer 0's kernel.  Their
 * gradients (layer 0's bias from dz[0]; layer l's kernel a[l-1]^T @ dz[l]
 * and bias from dz[l]) into grest, then Adam on each, the regulariser on
 * the kernels. */
static void rest_task(head_trainer_t *t)
{
	const head_t *h = t->h;
	size_t base = (size_t)(h->layer[0].bias - h->params);
	int nb = t->job.nb;
	float l2 = (float)t->hp.l2, alpha = t->job.alpha;
	double sq = 0;

	col_sums(t->dz[0], nb, h->layer[0].out, t->grest);
	for (int l = 1; l < h->nlayers; l++) {
		const head_layer_t *L = &h->layer[l];
		float *gk = t->grest + ((size_t)(L->kernel - h->params) - base);
		float *gb = t->grest + ((size_t)(L->bias - h->params) - base);
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L->in, L->out, nb,
			    1.0f, t->a[l - 1], L->in, t->dz[l], L->out, 0.0f, gk, L->out);
		col_sums(t->dz[l], nb, L->out, gb);
	}
	for (int l = 0; l < h->nlayers; l++) {
		const head_layer_t *L = &h->layer[l];
		size_t kn = (size_t)L->in * L->out, ko = (size_t)(L->kernel - h->params);
		size_t bo = (size_t)(L->bias - h->params);
		if (l)
			sq += adam_apply(&t->adam, alpha, ko - base, kn, L->kernel,
					 t->grest + (ko - base), l2);
		adam_apply(&t->adam, alpha, bo - base, (size_t)L->out, L->bias,
			   t->grest + (bo - base), 0.0f);
	}
	t->sq[0] = sq;
}

/* A step's pass: task 0 the rest (when there is an update), tasks 1..S
 * the stripes. */
static void step_task(void *arg, int task, int worker)
{
	head_trainer_t *t = arg;
	if (task == 0) {
		if (t->job.nb)
			rest_task(t);
		return;
	}
	stripe_task(t, task - 1, worker);
}

/* Layer 0's kernel into the stripes' panels (pack 1), or back. */
static void kernel_panels(head_trainer_t *t, int pack)
{
	int D = t->h->D, O = t->O;
	float *kernel = t->h->layer[0].kernel;

	for (int r0 = 0; r0 < D; r0 += HEAD_STRIPE) {
		int R = D - r0 < HEAD_STRIPE ? D - r0 : HEAD_STRIPE;
		float *rows = kernel + (size_t)r0 * O, *p = t->w0 + kern_step_panels(r0, O, t->lanes);
		if (pack)
			kern_step_pack(R, O, t->lanes, rows, (size_t)O, p);
		else
			kern_step_unpack(R, O, t->lanes, p, rows, (size_t)O);
	}
}

/* ---- the main thread's part of a step --------------------------------------- */

/* The batch's outputs of layer 0, rows b0..b1 of z[0] (nb, O): the bias
 * plus the stripes' partial outputs, in stripe order; then, for the
 * softmax layer alone, their loss and gradient dz (head_xent). */
static void outputs_task(void *arg, int task, int worker)
{
	head_trainer_t *t = arg;
	int O = t->O, nb = t->job.nb, per = (nb + HEAD_OUT_TASKS - 1) / HEAD_OUT_TASKS;
	int b0 = task * per, b1 = b0 + per < nb ? b0 + per : nb;
	size_t stride = (size_t)t->B * t->ldz;

	(void)worker;
	t->job.ce[task] = 0;
	t->job.right[task] = 0;
	if (b0 >= b1)
		return;
	float *z = t->z[0] + (size_t)b0 * O;
	for (int b = b0; b < b1; b++)
		memcpy(t->z[0] + (size_t)b * O, t->h->layer[0].bias, (size_t)O * sizeof(float));
	for (int s = 0; s < t->S; s++)
		for (int b = b0; b < b1; b++)
			add_to(z + (size_t)(b - b0) * O,
			       t->part + (size_t)s * stride + (size_t)b * t->ldz, O);
	if (t->h->nlayers == 1)
		head_xent(z, t->yb + b0, b1 - b0, O, &t->hp.loss, 1.0f / (float)nb,
			  t->dz[0] + (size_t)b0 * O, &t->job.ce[task], &t->job.right[task]);
}

/* The layers after layer 0, forward, on the batch of step (nb rows):
 * a[l] = dropout(relu(z[l])), z[l + 1] = a[l] @ kernel + bias. */
static void forward_rest(head_trainer_t *t, int nb, long step)
{
	const head_t *h = t->h;

	for (int l = 0; l + 1 < h->nlayers; l++) {
		const head_layer_t *N = &h->layer[l + 1];
		int O = h->layer[l].out;
		for (size_t i = 0; i < (size_t)nb * O; i++)
			t->a[l][i] = t->z[l][i] > 0 ? t->z[l][i] : 0.0f;
		for (int b = 0; t->hp.dropout && b < nb; b++) {
			float *a = t->a[l] + (size_t)b * O;
			head_dropout(t->drop_seed, step, l + 1, b, t->hp.dropout, a, a, 0,
				     (size_t)O);
		}
		for (int b = 0; b < nb; b++)
			memcpy(t->z[l + 1] + (size_t)b * N->out, N->bias,
			       (size_t)N->out * sizeof(float));
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, N->out, N->in,
			    1.0f, t->a[l], N->in, N->kernel, N->out, 1.0f, t->z[l + 1],
			    N->out);
	}
}

/* The gradients back from the logits' to layer 0's outputs:
 * dz[l - 1] = dz[l] @ kernel[l]^T, through dropout (linear: the same mask
 * and scale) and ReLU. */
static void backward_rest(head_trainer_t *t, int nb, long step)
{
	const head_t *h = t->h;

	for (int l = h->nlayers - 1; l > 0; l--) {
		const head_layer_t *L = &h->layer[l];
		int Fi = L->in;
		float *d = t->dz[l - 1];
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, Fi, L->out, 1.0f,
			    t->dz[l], L->out, L->kernel, L->out, 0.0f, d, Fi);
		for (int b = 0; t->hp.dropout && b < nb; b++)
			head_dropout(t->drop_seed, step, l, b, t->hp.dropout,
				     d + (size_t)b * Fi, d + (size_t)b * Fi, 0, (size_t)Fi);
		for (size_t i = 0; i < (size_t)nb * Fi; i++)
			d[i] = t->z[l - 1][i] > 0 ? d[i] : 0.0f;
	}
}

/* The learning rate of the next step: Keras' optimizer.lr, or its
 * CosineDecay at the step, in float32 as TensorFlow computes it. */
static float step_lr(const head_trainer_t *t)
{
	long n = t->hp.cosine_steps;
	if (!n)
		return t->lr;
	float frac = (float)(t->adam.t < n ? t->adam.t : n) / (float)n;
	float decayed = 0.5f * (1.0f + cosf((float)M_PI * frac));
	return t->lr * decayed;
}

/* ---- the trainer ----------------------------------------------------------- */

int head_trainer_create(head_t *h, const head_hparams_t *hp, int threads,
			uint64_t seed, head_trainer_t **out, char *err)
{
	head_trainer_t *t = NULL;
	int rc = 0, D = h->D, K = h->K, O = h->layer[0].out;
	size_t bd, bo, eval, total, scratch, bytes, acts = 0;
	size_t ldz = ((size_t)O + 15) & ~(size_t)15;
	size_t work = head_work_floats(h, HEAD_EVAL_ROWS);

	*out = NULL;
	if (hp->batch < 1 || hp->batch > 1 << 16)
		return err_set(err, ERR_ARG, "batch size %d out of range 1..65536",
			       hp->batch);
	if (threads < 1 || threads > 64)
		return err_set(err, ERR_ARG, "%d threads, out of range 1..64", threads);
	if (!(hp->l2 >= 0) || !isfinite(hp->l2))
		return err_set(err, ERR_ARG, "l2 must be >= 0 (got %g)", hp->l2);
	if (!(hp->dropout >= 0 && hp->dropout < 1))
		return err_set(err, ERR_ARG, "dropout rate must be in [0, 1) (got %g)",
			       hp->dropout);
	if (!(hp->loss.smoothing >= 0 && hp->loss.smoothing <= 1))
		return err_set(err, ERR_ARG, "label smoothing must be in [0, 1] (got %g)",
			       hp->loss.smoothing);
	if (hp->cosine_steps < 0)
		return err_set(err, ERR_ARG, "%ld decay steps", hp->cosine_steps);
	for (int k = 0; hp->loss.class_weight && k < K; k++)
		if (!(hp->loss.class_weight[k] >= 0) || !isfinite(hp->loss.class_weight[k]))
			return err_set(err, ERR_ARG, "class %d's weight %g is not a "
				       "finite number >= 0", k, hp->loss.class_weight[k]);
	if (!(t = calloc(1, sizeof *t)))
		return err_set(err, ERR_NOMEM, "out of memory");
	t->h = h;
	t->hp = *hp;
	t->B = hp->batch;
	t->O = O;
	t->S = (D + HEAD_STRIPE - 1) / HEAD_STRIPE;
	t->rng = rng_stream(seed, HEAD_STREAM_SHUFFLE);
	rng_t drop = rng_stream(seed, HEAD_STREAM_DROPOUT);
	t->drop_seed = rng_next(&drop);
	if ((rc = adam_init(&t->adam, h->nparams - (size_t)D * O, hp->lr, hp->beta1,
			    hp->beta2, hp->epsilon, err)))
		goto fail;
	t->lr = t->adam.lr;
	for (int l = 0; l < h->nlayers; l++)
		acts += (size_t)h->layer[l].out * (l + 1 < h->nlayers ? 3 : 1);
	/* Per thread: an evaluation chunk, its logits and its layers' work. */
	if (err_mul3_size((size_t)t->B, (size_t)D, sizeof(float), &bd) ||
	    err_mul_size((size_t)t->B, ldz, &bo) ||
	    err_mul_size(HEAD_EVAL_ROWS, (size_t)D + K, &eval) ||
	    eval > SIZE_MAX - work || (eval += work, 0) ||
	    err_mul3_size(bo, (size_t)t->S, sizeof(float), &total) ||
	    err_mul3_size((size_t)threads, eval, sizeof(float), &scratch) ||
	    err_mul_size(acts, (size_t)t->B, &acts))
		goto nomem;
	t->scratch_len = eval;
	t->xb[0] = malloc(bd);
	t->xb[1] = malloc(bd);
	t->yb = malloc((size_t)t->B * sizeof *t->yb);
	t->acts = malloc(acts * sizeof(float));
	t->ldz = ldz;
	/* aligned_alloc: sizes whole multiples of 64 (ldz floats are). */
	t->part = aligned_alloc(64, total);
	t->dzp = aligned_alloc(64, bo * sizeof(float));
	if (t->part)
		memset(t->part, 0, total);
	if (t->dzp)
		memset(t->dzp, 0, bo * sizeof(float));
	t->sq = calloc((size_t)t->S + 1, sizeof *t->sq);
	/* The panels' padding stays zero: the moments start zeros, the kernel
	 * is packed with it. */
	t->lanes = kern_for(t->adam.isa)->lanes;
	size_t np = kern_step_panels(D, O, t->lanes);
	t->gscr_len = kern_step_scratch(HEAD_STRIPE, t->lanes);
	t->w0 = malloc(np * sizeof(float));
	t->m0 = calloc(np, sizeof(float));
	t->v0 = calloc(np, sizeof(float));
	if (err_mul3_size((size_t)threads, t->gscr_len, sizeof(float), &bytes))
		goto nomem;
	t->gscr = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	t->grest = malloc((h->nparams - (size_t)D * O) * sizeof(float));
	t->scratch = malloc(scratch);
	if (hp->loss.class_weight && (t->class_weight = malloc((size_t)K * sizeof(float))))
		memcpy(t->class_weight, hp->loss.class_weight, (size_t)K * sizeof(float));
	t->hp.loss.class_weight = t->class_weight;
	if (!t->xb[0] || !t->xb[1] || !t->yb || !t->acts || !t->part || !t->dzp || !t->sq ||
	    !t->w0 || !t->m0 || !t->v0 || !t->gscr || !t->grest || !t->scratch ||
	    (hp->loss.class_weight && !t->class_weight))
		goto nomem;
	float *p = t->acts;
	for (int l = 0; l < h->nlayers; l++) {
		size_t n = (size_t)t->B * h->layer[l].out;
		t->z[l] = p;
		p += n;
		if (l + 1 == h->nlayers) {
			t->dz[l] = t->z[l];
			continue;
		}
		t->dz[l] = p;
		t->a[l] = p + n;
		p += 2 * n;
	}
	if ((rc = workers_create(threads, &t->workers, err)))
		goto fail;
	*out = t;
	return 0;
nomem:
	rc = err_set(err, ERR_NOMEM, "out of memory for the trainer (batch %d, "
		     "%d x %d)", t->B, D, O);
fail:
	head_trainer_free(t);
	return rc;
}

void head_trainer_free(head_trainer_t *t)
{
	if (!t)
		return;
	workers_free(t->workers);
	adam_free(&t->adam);
	free(t->class_weight);
	free(t->order);
	free(t->xb[0]);
	free(t->xb[1]);
	free(t->yb);
	free(t->acts);
	free(t->part);
	free(t->dzp);
	free(t->w0);
	free(t->m0);
	free(t->v0);
	free(t->gscr);
	free(t->sq);
	free(t->grest);
	free(t->scratch);
	free(t);
}

float head_trainer_lr(const head_trainer_t *t)
{
	return step_lr(t);
}

int head_trainer_set_lr(head_trainer_t *t, float lr, char *err)
{
	if (t->hp.cosine_steps)
		return err_set(err, ERR_ARG, "the learning rate follows a schedule "
			       "and cannot be set");
	if (!(lr > 0) || !isfinite(lr))
		return err_set(err, ERR_ARG, "learning rate %g is not > 0", (double)lr);
	t->lr = lr;
	return 0;
}

int head_trainer_epoch(head_trainer_t *t, const head_set_t *set,
		       head_metrics_t *m, size_t *order, char *err)
{
	const head_t *h = t->h;
	size_t n = set->n, B = (size_t)t->B;
	int L = h->nlayers;
	double loss = 0;
	long correct = 0;

	if (n == 0)
		return err_set(err, ERR_ARG, "no training samples");
	if (n > t->cap) {
		size_t bytes, *o;
		if (err_mul_size(n, sizeof *o, &bytes) || !(o = realloc(t->order, bytes)))
			return err_set(err, ERR_NOMEM, "out of memory for %zu samples", n);
		t->order = o;
		t->cap = n;
	}
	/* A fresh Fisher-Yates shuffle of 0..n-1 each epoch. */
	for (size_t i = 0; i < n; i++)
		t->order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rng_below(&t->rng, (uint64_t)i + 1);
		size_t tmp = t->order[i];
		t->order[i] = t->order[j];
		t->order[j] = tmp;
	}
	if (order)
		memcpy(order, t->order, n * sizeof *order);

	kernel_panels(t, 1);
	/* The first batch's forward alone; each step then computes the next
	 * batch's. */
	t->job.set = set;
	t->job.nb = 0;
	t->job.nn = (int)(n < B ? n : B);
	t->job.next = t->order;
	t->job.next_step = t->adam.t + 1;
	t->job.xn = t->xb[0];
	workers_run(t->workers, step_task, t, t->S + 1);

	size_t steps = (n + B - 1) / B;
	for (size_t i = 0; i < steps; i++) {
		size_t start = i * B;
		int nb = (int)(n - start < B ? n - start : B);
		long step = t->adam.t + 1;
		double ce = 0, sq = 0;

		for (int b = 0; b < nb; b++)
			t->yb[b] = set->y[set_row(set, t->order[start + b])];
		t->job.nb = nb;
		workers_run(t->workers, outputs_task, t, HEAD_OUT_TASKS);
		for (int k = 0; k < HEAD_OUT_TASKS; k++) {
			ce += t->job.ce[k];
			correct += t->job.right[k];
		}
		if (L > 1) {
			forward_rest(t, nb, step);
			head_xent(t->z[L - 1], t->yb, nb, h->K, &t->hp.loss,
				  1.0f / (float)nb, t->dz[L - 1], &ce, &correct);
			backward_rest(t, nb, step);
		}

		for (int b = 0; b < nb; b++)
			memcpy(t->dzp + (size_t)b * t->ldz, t->dz[0] + (size_t)b * t->O,
			       (size_t)t->O * sizeof(float));
		t->adam.lr = step_lr(t);
		t->job.x = t->xb[i & 1];
		t->job.alpha = adam_next(&t->adam);
		if (i + 1 < steps) {
			t->job.nn = (int)(n - start - B < B ? n - start - B : B);
			t->job.next = t->order + start + B;
			t->job.next_step = t->adam.t + 1;
			t->job.xn = t->xb[(i + 1) & 1];
		} else {
			t->job.nn = 0;
		}
		workers_run(t->workers, step_task, t, t->S + 1);

		for (int s = 1; s <= t->S; s++)
			sq += t->sq[s];
		sq += t->sq[0];
		/* Keras' batch loss is the mean (weighted) cross-entropy plus
		 * the regulariser; the epoch shows their mean weighted by batch
		 * size. */
		loss += ce + nb * t->hp.l2 * sq;
	}
	kernel_panels(t, 0);
	m->loss = loss / (double)n;
	m->accuracy = (double)correct / (double)n;
	return 0;
}

/* One evaluation chunk: rows task * HEAD_EVAL_ROWS.. of the set.
 *   x (R, D), logits (R, K) and the layers' work in the worker's scratch. */
static void eval_task(void *arg, int task, int worker)
{
	head_trainer_t *t = arg;
	const head_t *h = t->h;
	const head_set_t *set = t->job.set;
	int D = h->D, K = h->K;
	size_t j0 = (size_t)task * HEAD_EVAL_ROWS;
	int R = set->n - j0 < HEAD_EVAL_ROWS ? (int)(set->n - j0) : HEAD_EVAL_ROWS;
	float *x = t->scratch + (size_t)worker * t->scratch_len;
	float *logits = x + (size_t)HEAD_EVAL_ROWS * D;
	float *work = logits + (size_t)HEAD_EVAL_ROWS * K;
	/* Keras' val_loss: the compiled loss (its smoothing), no class weight. */
	head_loss_t lo = {t->hp.loss.smoothing, NULL};
	int32_t y[HEAD_EVAL_ROWS];
	double loss = 0;
	long correct = 0;

	for (int r = 0; r < R; r++) {
		size_t row = set_row(set, j0 + r);
		memcpy(x + (size_t)r * D, set->x + row * set->ld, (size_t)D * sizeof(float));
		y[r] = set->y[row];
	}
	head_forward(h, x, R, logits, work);
	head_xent(logits, y, R, K, &lo, 0.0f, NULL, &loss, &correct);
	t->job.loss[task] = loss;
	t->job.correct[task] = correct;
}

int head_trainer_evaluate(head_trainer_t *t, const head_set_t *set,
			  head_metrics_t *m, char *err)
{
	const head_t *h = t->h;
	size_t ntasks = (set->n + HEAD_EVAL_ROWS - 1) / HEAD_EVAL_ROWS;
	double loss = 0, sq = 0;
	long correct = 0;

	if (set->n == 0)
		return err_set(err, ERR_ARG, "no samples to evaluate");
	if (ntasks > INT_MAX)
		return err_set(err, ERR_TOO_BIG, "%zu samples are too many", set->n);
	t->job.set = set;
	t->job.loss = malloc(ntasks * sizeof *t->job.loss);
	t->job.correct = malloc(ntasks * sizeof *t->job.correct);
	if (!t->job.loss || !t->job.correct) {
		free(t->job.loss);
		free(t->job.correct);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	workers_run(t->workers, eval_task, t, (int)ntasks);
	for (size_t i = 0; i < ntasks; i++) {
		loss += t->job.loss[i];
		correct += t->job.correct[i];
	}
	free(t->job.loss);
	free(t->job.correct);
	t->job.loss = NULL;
	t->job.correct = NULL;
	for (int l = 0; t->hp.l2 != 0 && l < h->nlayers; l++) {
		const head_layer_t *L = &h->layer[l];
		for (size_t i = 0; i < (size_t)L->in * L->out; i++)
			sq += (double)L->kernel[i] * L->kernel[i];
	}
	m->loss = loss / (double)set->n + t->hp.l2 * sq;
	m->accuracy = (double)correct / (double)set->n;
	return 0;
}
