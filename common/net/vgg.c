/* vgg.c - VGG16 through fc2 (or to another tap) in fp32.  N batch, H
 * height, W width, C input channels, K output channels; activations are
 * NHWC, kernels HWIO, as in Keras.  The layer functions below are the
 * straightforward path (im2col + OpenBLAS sgemm), kept as the reference;
 * the network runs the 3x3 layers through winograd.h unless asked for
 * VGG_CONV_DIRECT, and shares every stage among its own threads. */
#include "net/vgg.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/convk.h"
#include "error.h"
#include "net/fc.h"
#include "kernels/isa.h"
#include "base/workers.h"

/* The largest activation is block1's (224, 224, 64); two of them per image
 * ping-pong through the network. */
#define VGG_ACT_MAX ((size_t)VGG_IN * VGG_IN * 64)
/* im2col scratch: a band of rows at a time keeps it bounded (32 MB). */
#define VGG_COL_MAX ((size_t)8 << 20)
/* conv1_1's whole im2col (224 * 224, 27) on the Winograd path. */
#define VGG_COL1 ((size_t)VGG_IN * VGG_IN * 27)
/* block5_pool: (7, 7, 512), flattened for fc1 and the Flatten tap. */
#define VGG_POOL5_HW (7 * 7)
#define VGG_POOL5_C 512
#define VGG_FLAT (VGG_POOL5_HW * VGG_POOL5_C)
/* conv1_1 by the vector kernels and the pools are split into bands of rows per
 * image, so that one image keeps both threads busy. */
#define VGG_BANDS 8
/* Layers 0..VGG_BY_IMAGE-1 (blocks 1 and 2) run one image at a time on
 * the Winograd path: an image's activations there (12.8 MB at most) stay
 * in the caches from one layer to the next, where a batch's would go
 * through memory; their transformed kernels are small enough to be read
 * once per image.  (Measured: blocks 1 and 2 took 27.7 ms per image so,
 * 30.5 ms batched, best of 5 runs each on a busy machine.) */
#define VGG_BY_IMAGE 4

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

static const char *const stage_names[VGG_NSTAGES] = {
	"conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2",
	"conv3_1", "conv3_2", "conv3_3", "pool3", "conv4_1", "conv4_2",
	"conv4_3", "pool4", "conv5_1", "conv5_2", "conv5_3", "pool5",
	"fc1", "fc2",
};

struct vgg {
	const weights_t *w;
	int max_batch, conv, isa, tap;
	const convk_t *k; /* the vector kernels of conv1_1 and the pools, or NULL */
	workers_t *workers;
	wino_layer_t *wl[WEIGHTS_NCONV]; /* NULL: im2col */
	float *act[2];   /* (max_batch, VGG_ACT_MAX) each */
	float *work;     /* im2col: col_len per thread; Winograd's work */
	size_t col_len;
	float *fc;       /* (max_batch, VGG_FEATURES): fc1's output (tap fc2) */
	double sec[VGG_NSTAGES];
};

/* col (R * W, 9 * C): row (y, x) holds the 3x3 neighbourhood of in[y0 + y, x]
 * in kernel order (ky, kx, c), zeros outside the image.  in is (H, W, C). */
static void im2col_rows(const float *in, int H, int W, int C, int y0, int R,
			float *col)
{
	size_t cc = (size_t)C * sizeof(float);
	for (int y = y0; y < y0 + R; y++) {
		for (int x = 0; x < W; x++) {
			float *dst = col + ((size_t)(y - y0) * W + x) * 9 * C;
			for (int ky = 0; ky < 3; ky++) {
				int sy = y + ky - 1;
				for (int kx = 0; kx < 3; kx++, dst += C) {
					int sx = x + kx - 1;
					if (sy < 0 || sy >= H || sx < 0 || sx >= W)
						memset(dst, 0, cc);
					else
						memcpy(dst, in + ((size_t)sy * W + sx) * C, cc);
				}
			}
		}
	}
}

/* x (M, K) += bias (K), then ReLU. */
static void bias_relu(float *x, size_t M, int K, const float *bias)
{
	for (size_t i = 0; i < M; i++) {
		float *r = x + i * K;
		for (int k = 0; k < K; k++) {
			float v = r[k] + bias[k];
			r[k] = v > 0.0f ? v : 0.0f;
		}
	}
}

void vgg_conv3x3_relu(const float *in, int N, int H, int W, int C,
		      const float *kernel, const float *bias, int K, float *out,
		      float *col, size_t col_len)
{
	size_t row = (size_t)W * 9 * C;
	int band = (int)(col_len / row);
	if (band > H)
		band = H;
	for (int n = 0; n < N; n++) {
		const float *x = in + (size_t)n * H * W * C;
		float *y = out + (size_t)n * H * W * K;
		for (int y0 = 0; y0 < H; y0 += band) {
			int R = H - y0 < band ? H - y0 : band;
			float *dst = y + (size_t)y0 * W * K;
			im2col_rows(x, H, W, C, y0, R, col);
			/* (R*W, 9C) @ (9C, K) -> (R*W, K) */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
				    R * W, K, 9 * C, 1.0f, col, 9 * C, kernel, K,
				    0.0f, dst, K);
			bias_relu(dst, (size_t)R * W, K, bias);
		}
	}
}

void vgg_maxpool2(const float *in, int N, int H, int W, int C, float *out)
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
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
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
	if (err_mul_size(VGG_ACT_MAX * sizeof(float), (size_t)o->max_batch, &act))
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
	net->isa = o->isa == ISA_AUTO ? isa_best() : o->isa;
	net->tap = o->tap;
	net->col_len = o->conv == VGG_CONV_DIRECT ? VGG_COL_MAX : VGG_COL1;
	size_t work = net->col_len * (size_t)threads;
	for (int i = 1; i < WEIGHTS_NCONV && o->conv == VGG_CONV_WINOGRAD; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		int m = o->tile[i] ? o->tile[i] : default_tile[i];
		rc = wino_layer_create(w->kernel[i], w->bias[i], s->cin, s->cout, m,
				       net->isa, &net->wl[i], err);
		if (rc)
			goto fail;
		if (wino_work_floats(net->wl[i], threads) > work)
			work = wino_work_floats(net->wl[i], threads);
	}
	/* The direct path is the reference: im2col and plain pools. */
	net->k = o->conv == VGG_CONV_WINOGRAD ? convk_for(net->isa) : NULL;
	if ((rc = workers_create(threads, &net->workers, err)))
		goto fail;
	net->act[0] = malloc(act);
	net->act[1] = malloc(act);
	if (o->tap == MODEL_TAP_FC2 &&
	    !(net->fc = malloc((size_t)o->max_batch * VGG_FEATURES * sizeof(float))))
		goto nomem;
	net->work = malloc(work * sizeof(float));
	if (!net->act[0] || !net->act[1] || !net->work)
		goto nomem;
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

/* The stages' tasks: one image (convolutions by im2col, pools) or one slice
 * of columns (fc) each. */
typedef struct stage_job {
	vgg_t *net;
	const float *in;
	float *out;
	int H, W, C, K, relu;
	const float *kernel, *bias;
} stage_job_t;

static void conv_image(void *arg, int n, int worker)
{
	const stage_job_t *j = arg;
	vgg_conv3x3_relu(j->in + (size_t)n * j->H * j->W * j->C, 1, j->H, j->W,
			 j->C, j->kernel, j->bias, j->K,
			 j->out + (size_t)n * j->H * j->W * j->K,
			 j->net->work + (size_t)worker * j->net->col_len, j->net->col_len);
}

/* Band b of image n of conv1_1 by the vector kernels. */
static void direct_band(void *arg, int task, int worker)
{
	const stage_job_t *j = arg;
	int n = task / VGG_BANDS, b = task % VGG_BANDS;
	j->net->k->direct3x3(j->in + (size_t)n * j->H * j->W * j->C, j->H, j->W,
			    j->C, j->kernel, j->bias, j->K,
			    j->out + (size_t)n * j->H * j->W * j->K,
			    j->H * b / VGG_BANDS, j->H * (b + 1) / VGG_BANDS);
}

/* Band b of image n of a max-pool: a share of the output rows (by the
 * vector kernels, or the plain layer: a max is exact, the same bits). */
static void maxpool_band(void *arg, int task, int worker)
{
	const stage_job_t *j = arg;
	int n = task / VGG_BANDS, b = task % VGG_BANDS, Ho = j->H / 2, Wo = j->W / 2;
	int r0 = Ho * b / VGG_BANDS, r1 = Ho * (b + 1) / VGG_BANDS;
	const float *in = j->in + (size_t)n * j->H * j->W * j->C;
	float *out = j->out + (size_t)n * Ho * Wo * j->C;
	if (j->net->k)
		j->net->k->maxpool2(in, j->H, j->W, j->C, out, r0, r1);
	else
		vgg_maxpool2(in + (size_t)2 * r0 * j->W * j->C, 1, 2 * (r1 - r0), j->W,
			     j->C, out + (size_t)r0 * Wo * j->C);
}

/* Runs conv layers l0..l1-1, each with its pool, on images b0..b0+n-1 of
 * x, the batch's input to layer l0 (N, H, W, C).  Every stage writes image
 * b at b times its image size in the ping-pong buffer act[*cur], so that
 * running the images one at a time lays them out as one batch would (an
 * image's later, smaller stages never reach the earlier images' results).
 * Returns the batch's output of layer l1 - 1. */
static const float *run_convs(vgg_t *net, int l0, int l1, const float *x,
			      int b0, int n, int *cur)
{
	const weights_t *w = net->w;
	int H = VGG_IN, W = VGG_IN, C = l0 ? weights_spec[l0].cin : 3;
	int stage = l0;
	double t = now();

	for (int i = 0; i < l0; i++)
		if (weights_spec[i].pool_after)
			H /= 2, W /= 2, stage++;
	for (int i = l0; i < l1; i++) {
		const weights_layer_spec_t *s = &weights_spec[i];
		float *y = net->act[*cur];
		const float *xi = x + (size_t)b0 * H * W * C;
		float *yi = y + (size_t)b0 * H * W * s->cout;
		if (net->wl[i]) {
			wino_conv3x3_relu(net->wl[i], xi, n, H, W, yi, net->workers,
					  net->work);
		} else {
			stage_job_t j = {net, xi, yi, H, W, C, s->cout, 1, w->kernel[i],
					 w->bias[i]};
			if (net->k && s->cout % 64 == 0)
				workers_run(net->workers, direct_band, &j, n * VGG_BANDS);
			else
				workers_run(net->workers, conv_image, &j, n);
		}
		C = s->cout;
		x = y;
		*cur ^= 1;
		net->sec[stage++] += now() - t;
		t = now();
		if (s->pool_after) {
			y = net->act[*cur];
			stage_job_t j = {net, x + (size_t)b0 * H * W * C,
					 y + (size_t)b0 * (H / 2) * (W / 2) * C, H, W, C, C,
					 0, NULL, NULL};
			workers_run(net->workers, maxpool_band, &j, n * VGG_BANDS);
			H /= 2;
			W /= 2;
			x = y;
			*cur ^= 1;
			net->sec[stage++] += now() - t;
			t = now();
		}
	}
	return x;
}

int vgg_forward(vgg_t *net, const float *in, int n, float *out, char *err)
{
	const weights_t *w = net->w;
	const float *x = in;
	int cur = 0, split = net->conv == VGG_CONV_WINOGRAD ? VGG_BY_IMAGE : 0;

	if (n < 1 || n > net->max_batch)
		return err_set(err, ERR_ARG, "vgg: batch of %d, network made for 1..%d",
			       n, net->max_batch);
	for (int b = 0; b < n && split > 0; b++) {
		cur = 0;
		x = run_convs(net, 0, split, in, b, 1, &cur);
	}
	x = run_convs(net, split, WEIGHTS_NCONV, x, 0, n, &cur);
	/* x is (n, 7, 7, 512) NHWC, so each image is already flattened in Keras'
	 * H, W, C order: (n, 25088), the pool tap's vector.  Both fc layers, in
	 * batches, read their weights once per batch. */
	double t = now();
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
		fc_forward(net->isa, x, n, VGG_FLAT, w->kernel[13], w->bias[13],
			   VGG_FEATURES, 1, net->tap == MODEL_TAP_FC1 ? out : net->fc,
			   net->workers);
		net->sec[VGG_NSTAGES - 2] += now() - t;
		t = now();
		if (net->tap == MODEL_TAP_FC1)
			break;
		fc_forward(net->isa, net->fc, n, VGG_FEATURES, w->kernel[14],
			   w->bias[14], VGG_FEATURES, 1, out, net->workers);
		net->sec[VGG_NSTAGES - 1] += now() - t;
	}
	return 0;
}

void vgg_stage_times(const vgg_t *net, double sec[VGG_NSTAGES])
{
	memcpy(sec, net->sec, sizeof net->sec);
}

const char *vgg_stage_name(int stage)
{
	return stage >= 0 && stage < VGG_NSTAGES ? stage_names[stage] : "?";
}

int vgg_conv_tile(const vgg_t *net, int layer)
{
	return net->wl[layer] ? wino_tile(net->wl[layer]) : 0;
}

int vgg_threads(const vgg_t *net)
{
	return workers_threads(net->workers);
}

int vgg_isa(const vgg_t *net)
{
	return net->isa;
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
	free(net->act[0]);
	free(net->act[1]);
	free(net->fc);
	free(net);
}
