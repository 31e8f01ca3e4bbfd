/* vgg.c - VGG16 through fc2 (or to another tap) in fp32.  N batch, H
 * height, W width, C input channels, K output channels; activations are
 * NHWC, kernels HWIO, as in Keras.  Two paths walk the layers: the
 * network's own, on the ISA's kernels (kern.h: Winograd for the 3x3
 * layers, a direct kernel for conv1_1, the kernels' max-pool), and the
 * reference (VGG_CONV_DIRECT: the kernels' direct convolution for every
 * layer, and the plain vgg_maxpool2_ref); both share every stage among the
 * network's threads and run fc1 and fc2 by the kernels' fixed-order
 * product, so that both give the same bits on every CPU. */
#include "net/vgg.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/bigmem.h"
#include "base/workers.h"
#include "error.h"
#include "kernels/isa.h"
#include "kernels/kern.h"
#include "net/fc.h"

/* block5_pool: (7, 7, 512), flattened for fc1 and the Flatten tap. */
#define VGG_POOL5_HW (7 * 7)
#define VGG_POOL5_C 512
#define VGG_FLAT (VGG_POOL5_HW * VGG_POOL5_C)
/* conv1_1 by the vector kernels and the pools are split into bands of rows per
 * image, so that one image keeps both threads busy. */
#define VGG_BANDS 8
/* Winograd tile side per conv layer (conv1_1 uses a direct kernel), from
 * `bash tests/bench/bench_extract.sh --tiles` (batch 8, 2 threads, AVX2):
 * m = 6 is clearly fastest on the 224..56 pixel layers (conv1_2: 21.0 ms
 * per image against 23.8 for m = 4 and 26.8 for m = 2); on the 28x28 layers
 * m = 4 and 6 tie (20.0 and 19.9 ms), and m = 4 fits 28 exactly with less
 * rounding error; on the 14x14 layers m = 2 and 4 tie (6.6..6.9 ms), and
 * m = 2 has the smaller error. */
static const int default_tile[WEIGHTS_NCONV] = {
	0, 6, 6, 6, 6, 6, 6, 4, 4, 4, 2, 2, 2,
};

int vgg_default_tile(int layer)
{
	return layer >= 0 && layer < WEIGHTS_NCONV ? default_tile[layer] : 0;
}

static const char *const stage_names[VGG_NSTAGES] = {
	"conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2",
	"conv3_1", "conv3_2", "conv3_3", "pool3", "conv4_1", "conv4_2",
	"conv4_3", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5",
	"fc1", "fc2",
};

struct vgg {
	const weights_t *w;
	int max_batch, conv, isa, tap;
	int by_image;    /* conv layers 0..by_image-1 run one image at a time */
	const kern_t *k; /* the ISA's kernels */
	workers_t *workers;
	wino_layer_t *wl[WEIGHTS_NCONV]; /* NULL: conv1_1, or the reference path */
	float *img[2];   /* one image's activations, layers 0..by_image-1 */
	float *act[2];   /* the batch's, (max_batch, the largest after those) */
	float *work;     /* Winograd's scratch (wino_work_floats) */
	float *fc;       /* (max_batch, VGG_FEATURES): fc1's output (tap fc2) */
	double sec[VGG_NSTAGES], cpu[VGG_NSTAGES];
};

void vgg_maxpool2_ref(const float *in, int N, int H, int W, int C, float *out)
{
	int Ho = H / 2, Wo = W / 2;
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * H * W * C;
		float *y = out + (size_t)n * Ho * Wo * C;
		for (int oy = 0; oy < Ho; oy++) {
			for (int ox = 0; ox < Wo; ox++) {
				const float *a = x + ((size_t)(2 * oy) * W + 2 * ox) * C;
				const float *b = a + C;
				const float *c = a + (size_t)W * C;
				const float *d = c + C;
				float *o = y + ((size_t)oy * Wo + ox) * C;
				for (int k = 0; k < C; k++) {
					float m = a[k] > b[k] ? a[k] : b[k];
					float m2 = c[k] > d[k] ? c[k] : d[k];
					o[k] = m > m2 ? m : m2;
				}
			}
		}
	}
}

void vgg_tune_init(vgg_tune_t *t)
{
	memset(t, 0, sizeof *t);
	t->by_image = VGG_BY_IMAGE;
	t->gather = VGG_GATHER;
	for (int i = 0; i < WEIGHTS_NCONV; i++)
		t->conv[i] = (wino_choice_t){.shared = -1, .tiles = 0, .prefetch = -1};
}

void vgg_global_pool(const float *in, int N, int P, int C, int max, float *out)
{
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * P * C;
		float *y = out + (size_t)n * C;
		for (int c = 0; c < C; c++) {
			double sum = 0;
			float m = x[c];
			for (int p = 0; p < P; p++) {
				float v = x[(size_t)p * C + c];
				sum += v;
				m = v > m ? v : m;
			}
			y[c] = max ? m : (float)(sum / P);
		}
	}
}

void vgg_opts_init(vgg_opts_t *o, int max_batch)
{
	memset(o, 0, sizeof *o);
	o->max_batch = max_batch;
	o->conv = VGG_CONV_WINOGRAD;
	o->isa = ISA_AUTO;
	vgg_tune_init(&o->tune);
}

/* Floats per image of the output of conv layer i, or of its pool when
 * pooled. */
static size_t stage_floats(int i, int pooled)
{
	int side = VGG_IN;
	for (int l = 0; l < i; l++)
		if (weights_spec[l].pool_after)
			side /= 2;
	if (pooled)
		side /= 2;
	return (size_t)side * side * weights_spec[i].cout;
}

/* Floats per image of the largest activation of conv layers l0..l1-1
 * (their outputs, and their pools' when not fused). */
static size_t largest(int l0, int l1, int fused)
{
	size_t most = 0;
	for (int i = l0; i < l1; i++) {
		size_t f = stage_floats(i, fused && i > 0 && weights_spec[i].pool_after);
		most = f > most ? f : most;
	}
	return most;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The wall clock and the process' CPU time (every thread's) at a point. */
typedef struct tick {
	double wall, cpu;
} tick_t;

static tick_t tick(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (tick_t){now(), ts.tv_sec + ts.tv_nsec * 1e-9};
}

/* Adds the time since *t to stage's, and restarts *t. */
static void lap(vgg_t *net, int stage, tick_t *t)
{
	tick_t n = tick();
	net->sec[stage] += n.wall - t->wall;
	net->cpu[stage] += n.cpu - t->cpu;
	*t = n;
}

int vgg_create_opts(const weights_t *w, const vgg_opts_t *o, vgg_t **out,
		    char *err)
{
	vgg_t *net = NULL;
	size_t act;
	int rc, threads = o->threads;

	*out = NULL;
	if (!w || o->max_batch < 1 || o->max_batch > 4096)
		return err_set(err, ERR_ARG, "vgg: batch size %d out of range 1..4096",
			       o->max_batch);
	if (o->conv != VGG_CONV_WINOGRAD && o->conv != VGG_CONV_DIRECT)
		return err_set(err, ERR_ARG, "vgg: unknown convolution %d", o->conv);
	if (o->tap < 0 || o->tap >= MODEL_NTAPS)
		return err_set(err, ERR_ARG, "vgg: unknown tap %d", o->tap);
	if (o->isa != ISA_AUTO && !isa_cpu_has(o->isa))
		return err_set(err, ERR_UNSUPPORTED, "vgg: this CPU lacks %s",
			       isa_name(o->isa));
	if (threads == 0) {
		int n = workers_cpus();
		threads = n > 256 ? 256 : n;
	}
	if (threads < 1 || threads > 256)
		return err_set(err, ERR_ARG, "vgg: %d threads, not 1..256", threads);
	if (o->tune.by_image < 0 || o->tune.by_image > WEIGHTS_NCONV)
		return err_set(err, ERR_ARG, "vgg: %d layers by image, not 0..%d",
			       o->tune.by_image, WEIGHTS_NCONV);
	/* The reference path runs every layer over the batch. */
	int by_image = o->conv == VGG_CONV_WINOGRAD ? o->tune.by_image : 0;
	int fused = o->conv == VGG_CONV_WINOGRAD;
	size_t per = largest(by_image, WEIGHTS_NCONV, fused);
	if (by_image > 0 &&
	    stage_floats(by_image - 1, weights_spec[by_image - 1].pool_after) > per)
		per = stage_floats(by_image - 1, weights_spec[by_image - 1].pool_after);
	if (err_mul_size(per * sizeof(float), (size_t)o->max_batch, &act))
		return err_set(err, ERR_NOMEM, "vgg: batch %d too large", o->max_batch);
	/* The options first, then what they ask of the weights. */
	if (model_tap_info(o->tap)->nlayers > w->nlayers)
		return err_set(err, ERR_ARG, "vgg: %s needs %d layers with weights, "
			       "the file has %d", model_tap_layer(w->model, o->tap),
			       model_tap_info(o->tap)->nlayers, w->nlayers);
	net = calloc(1, sizeof *net);
	if (!net)
		goto nomem;
	net->w = w;
	net->max_batch = o->max_batch;
	net->conv = o->conv;
	net->by_image = by_image;
	net->isa = o->isa == ISA_AUTO ? isa_best() : o->isa;
	net->tap = o->tap;
	size_t work = 0;
	for (int i = 1; i < WEIGHTS_NCONV && o->conv == VGG_CONV_WINOGRAD; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		int m = o->tile[i] ? o->tile[i] : default_tile[i];
		rc = wino_layer_create(w->kernel[i], w->bias[i], s->cin, s->cout, m,
				       net->isa, &net->wl[i], err);
		if (rc)
			goto fail;
		wino_layer_set_choice(net->wl[i], &o->tune.conv[i]);
		if (wino_work_floats(net->wl[i], threads) > work)
			work = wino_work_floats(net->wl[i], threads);
	}
	net->k = kern_for(net->isa);
	if ((rc = workers_create(threads, &net->workers, err)))
		goto fail;
	net->act[0] = bigmem_alloc(act);
	net->act[1] = bigmem_alloc(act);
	if (o->tap == MODEL_TAP_FC2 &&
	    !(net->fc = malloc((size_t)o->max_batch * VGG_FEATURES * sizeof(float))))
		goto nomem;
	net->work = work ? bigmem_alloc(work * sizeof(float)) : NULL;
	if (!net->act[0] || !net->act[1] || (work && !net->work))
		goto nomem;
	if (by_image > 0) {
		size_t one = largest(0, by_image, fused) * sizeof(float);
		net->img[0] = bigmem_alloc(one);
		net->img[1] = bigmem_alloc(one);
		if (!net->img[0] || !net->img[1])
			goto nomem;
	}
	*out = net;
	return 0;
nomem:
	rc = err_set(err, ERR_NOMEM,
		     "vgg: out of memory for a batch of %d (%zu MB of activations)",
		     o->max_batch, 2 * act >> 20);
fail:
	vgg_free(net);
	return rc;
}

int vgg_create(const weights_t *w, int max_batch, vgg_t **out, char *err)
{
	vgg_opts_t o;
	vgg_opts_init(&o, max_batch);
	return vgg_create_opts(w, &o, out, err);
}

/* A stage of n images: in (n, H, W, C), out (n, H, W, K) for a conv layer
 * (kernel, bias), (n, H/2, W/2, C) for a pool. */
typedef struct stage_job {
	vgg_t *net;
	const float *in;
	float *out;
	int H, W, C, K;
	const float *kernel, *bias;
} stage_job_t;

/* The reference path's steps: a conv layer by the direct kernel, a band of
 * rows of an image per task (as conv1_1 on the kernels' path, below); a
 * pool, a band of output rows per task.  (Until 2026-12-07 its conv layers
 * were im2col + OpenBLAS' sgemm, whose kernel, and so its bits, OpenBLAS
 * chooses by the CPU.) */
static void direct_band(void *arg, int task, int worker)
{
	const stage_job_t *j = arg;
	int n = task / VGG_BANDS, b = task % VGG_BANDS;
	j->net->k->direct3x3(j->in + (size_t)n * j->H * j->W * j->C, j->H, j->W,
			    j->C, j->kernel, j->bias, j->K,
			    j->out + (size_t)n * j->H * j->W * j->K,
			    j->H * b / VGG_BANDS, j->H * (b + 1) / VGG_BANDS);
}

static void pool_band_ref(void *arg, int task, int worker)
{
	const stage_job_t *j = arg;
	int n = task / VGG_BANDS, b = task % VGG_BANDS, Ho = j->H / 2, Wo = j->W / 2;
	int r0 = Ho * b / VGG_BANDS, r1 = Ho * (b + 1) / VGG_BANDS;
	vgg_maxpool2_ref(j->in + ((size_t)n * j->H * j->W + (size_t)2 * r0 * j->W) * j->C,
			 1, 2 * (r1 - r0), j->W, j->C,
			 j->out + ((size_t)n * Ho * Wo + (size_t)r0 * Wo) * j->C);
}

static void conv_ref(vgg_t *net, int layer, const stage_job_t *j, int n, int pool)
{
	(void)layer, (void)pool;
	workers_run(net->workers, direct_band, (void *)j, n * VGG_BANDS);
}

static void pool_ref(vgg_t *net, const stage_job_t *j, int n)
{
	workers_run(net->workers, pool_band_ref, (void *)j, n * VGG_BANDS);
}

/* The kernels' steps: conv1_1 by the direct kernel (direct_band, above),
 * the other conv layers by Winograd, with their pool when one follows (the
 * output transform writes the pooled image: a quarter of the writes, and
 * no pass over the unpooled one), any other pool by the kernels' max-pool
 * (a band of output rows per task). */
static void pool_band(void *arg, int task, int worker)
{
	const stage_job_t *j = arg;
	int n = task / VGG_BANDS, b = task % VGG_BANDS, Ho = j->H / 2, Wo = j->W / 2;
	j->net->k->maxpool2(j->in + (size_t)n * j->H * j->W * j->C, j->H, j->W, j->C,
			    j->out + (size_t)n * Ho * Wo * j->C, Ho * b / VGG_BANDS,
			    Ho * (b + 1) / VGG_BANDS);
}

static void conv(vgg_t *net, int layer, const stage_job_t *j, int n, int pool)
{
	if (net->wl[layer])
		wino_conv3x3_relu(net->wl[layer], j->in, n, j->H, j->W, pool, j->out,
				  net->workers, net->work);
	else
		workers_run(net->workers, direct_band, (void *)j, n * VGG_BANDS);
}

static void pool(vgg_t *net, const stage_job_t *j, int n)
{
	workers_run(net->workers, pool_band, (void *)j, n * VGG_BANDS);
}

/* A path: its conv layer (with the pool that follows when fuses says so
 * for the layer; out is then the pooled image) and its pool, each on n
 * images of a stage_job_t. */
typedef struct path {
	void (*conv)(vgg_t *net, int layer, const stage_job_t *j, int n, int pool);
	void (*pool)(vgg_t *net, const stage_job_t *j, int n);
	int (*fuses)(const vgg_t *net, int layer);
} path_t;

static int fuses_ref(const vgg_t *net, int layer)
{
	(void)net, (void)layer;
	return 0;
}

static int fuses(const vgg_t *net, int layer)
{
	return net->wl[layer] && weights_spec[layer].pool_after;
}

static const path_t path_kernels = {conv, pool, fuses};
static const path_t path_ref = {conv_ref, pool_ref, fuses_ref};

/* Runs conv layers l0..l1-1, each with its pool, on the path p over n
 * images: x is their input to layer l0 (n, H, W, C).  The stages
 * ping-pong through buf[0] and buf[1], starting with buf[0], except the
 * last, which writes to last when it is set.  Returns the last stage's
 * output, (n, ...). */
static const float *run_convs(vgg_t *net, const path_t *p, int l0, int l1,
			      const float *x, int n, float *const buf[2],
			      float *last)
{
	const weights_t *w = net->w;
	int H = VGG_IN, W = VGG_IN, C = l0 ? weights_spec[l0].cin : 3;
	int stage = l0, cur = 0;
	tick_t t = tick();

	for (int i = 0; i < l0; i++)
		if (weights_spec[i].pool_after)
			H /= 2, W /= 2, stage++;
	for (int i = l0; i < l1; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		const int fused = p->fuses(net, i);
		const int end = i == l1 - 1 && (fused || !s->pool_after);
		float *y = end && last ? last : buf[cur];
		stage_job_t j = {net, x, y, H, W, C, s->cout, w->kernel[i], w->bias[i]};
		p->conv(net, i, &j, n, fused);
		C = s->cout;
		x = y;
		cur ^= 1;
		lap(net, stage++, &t);
		if (fused) {
			/* The pool's stage took no time of its own. */
			H /= 2;
			W /= 2;
			stage++;
		} else if (s->pool_after) {
			y = i == l1 - 1 && last ? last : buf[cur];
			stage_job_t jp = {net, x, y, H, W, C, C, NULL, NULL};
			p->pool(net, &jp, n);
			H /= 2;
			W /= 2;
			x = y;
			cur ^= 1;
			lap(net, stage++, &t);
		}
	}
	return x;
}

int vgg_forward(vgg_t *net, const float *in, int n, float *out, char *err)
{
	const weights_t *w = net->w;
	const path_t *p = net->conv == VGG_CONV_DIRECT ? &path_ref : &path_kernels;
	const float *x = in;
	const int by = net->by_image;

	if (n < 1 || n > net->max_batch)
		return err_set(err, ERR_ARG, "vgg: batch of %d, network made for 1..%d",
			       n, net->max_batch);
	/* The first layers image by image, each image's last output in its
	 * place in the batch; then the others over the batch. */
	if (by > 0) {
		size_t per = stage_floats(by - 1, weights_spec[by - 1].pool_after);
		for (int b = 0; b < n; b++)
			run_convs(net, p, 0, by, in + (size_t)b * VGG_IN_FLOATS, 1, net->img,
				  net->act[0] + (size_t)b * per);
		x = net->act[0];
	}
	if (by < WEIGHTS_NCONV) {
		float *const bufs[2] = {net->act[by > 0], net->act[by == 0]};
		x = run_convs(net, p, by, WEIGHTS_NCONV, x, n, bufs, NULL);
	}
	/* x is (n, 7, 7, 512) NHWC, so each image is already flattened in Keras'
	 * H, W, C order: (n, 25088), the pool tap's vector.  Both fc layers, in
	 * batches, read their weights once per batch. */
	tick_t t = tick();
	switch (net->tap) {
	case MODEL_TAP_POOL:
		memcpy(out, x, (size_t)n * VGG_FLAT * sizeof *out);
		break;
	case MODEL_TAP_POOL_AVG:
	case MODEL_TAP_POOL_MAX:
		vgg_global_pool(x, n, VGG_POOL5_HW, VGG_POOL5_C,
				net->tap == MODEL_TAP_POOL_MAX, out);
		break;
	default:
		fc_forward(net->k, x, n, VGG_FLAT, w->kernel[13], w->bias[13],
			   VGG_FEATURES, 1, net->tap == MODEL_TAP_FC1 ? out : net->fc,
			   net->workers);
		lap(net, VGG_NSTAGES - 2, &t);
		if (net->tap == MODEL_TAP_FC1)
			break;
		fc_forward(net->k, net->fc, n, VGG_FEATURES, w->kernel[14],
			   w->bias[14], VGG_FEATURES, 1, out, net->workers);
		lap(net, VGG_NSTAGES - 1, &t);
	}
	return 0;
}

void vgg_stage_times(const vgg_t *net, double sec[VGG_NSTAGES],
		     double cpu[VGG_NSTAGES])
{
	memcpy(sec, net->sec, sizeof net->sec);
	if (cpu)
		memcpy(cpu, net->cpu, sizeof net->cpu);
}

const char *vgg_stage_name(int stage)
{
	return stage >= 0 && stage < VGG_NSTAGES ? stage_names[stage] : "?";
}

const char *vgg_conv_name(int conv)
{
	return conv == VGG_CONV_WINOGRAD ? "winograd"
	       : conv == VGG_CONV_DIRECT ? "direct" : "?";
}

int vgg_conv_parse(const char *s)
{
	for (int c = VGG_CONV_WINOGRAD; c <= VGG_CONV_DIRECT; c++)
		if (s && strcmp(s, vgg_conv_name(c)) == 0)
			return c;
	return -1;
}

int vgg_conv_choose(int given, const char *recorded, const char *path,
		    const char *whose, int *conv, char *err)
{
	*conv = given >= 0 ? given : recorded ? vgg_conv_parse(recorded)
					      : VGG_CONV_WINOGRAD;
	if (*conv < 0)
		return err_set(err, ERR_MISMATCH, "%s %s made with --conv '%s'; this "
			       "program computes %s or %s", path, whose, recorded,
			       vgg_conv_name(VGG_CONV_WINOGRAD),
			       vgg_conv_name(VGG_CONV_DIRECT));
	return 0;
}

int vgg_conv_tile(const vgg_t *net, int layer)
{
	return net->wl[layer] ? wino_tile(net->wl[layer]) : 0;
}

void vgg_tuning(const vgg_t *net, vgg_tune_t *t)
{
	vgg_tune_init(t);
	t->by_image = net->by_image;
	for (int i = 0; i < WEIGHTS_NCONV; i++)
		if (net->wl[i])
			wino_layer_choice(net->wl[i], &t->conv[i]);
}

int vgg_threads(const vgg_t *net)
{
	return workers_threads(net->workers);
}

int vgg_isa(const vgg_t *net)
{
	return net->isa;
}

const kern_t *vgg_kernels(const vgg_t *net)
{
	return net->k;
}

int vgg_dim(const vgg_t *net)
{
	return model_tap_info(net->tap)->dim;
}

void vgg_free(vgg_t *net)
{
	if (!net)
		return;
	workers_free(net->workers);
	for (int i = 0; i < WEIGHTS_NCONV; i++)
		wino_layer_free(net->wl[i]);
	free(net->work);
	free(net->img[0]);
	free(net->img[1]);
	free(net->act[0]);
	free(net->act[1]);
	free(net->fc);
	free(net);
}
