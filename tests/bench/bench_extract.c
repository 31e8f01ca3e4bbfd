/* bench_extract - times this project's VGG16 forward (through fc2) on real
 * or generated images, for tests/bench/bench_extract.sh.
 *
 *   bench_extract --weights FILE [--images DIR] [--n N] [--batch B]
 *                 [--threads T] [--conv winograd|direct] [--tile M]
 *                 [--isa auto|portable|avx2|avx512|emul512] [--tuned]
 *                 [--reps R] [--dump FILE]
 *
 * Decodes the first N images of DIR (a face folder) once, or makes N
 * random ones when DIR is absent, then runs the network over all of them
 * R times in batches of B and prints, one "key value" per line: the median
 * img/s of the network, the decoding time per image on one thread, the
 * peak RSS, and per stage its share of the time, its seconds per image,
 * the GFLOP it does per image (for a Winograd layer, the multiplications
 * of its products, 2 T P C K: what it does, not the direct equivalent) and
 * its CPU seconds per image (every thread's; what other jobs on the
 * machine move least).
 * --tile M forces tile side M on every Winograd layer (to choose the
 * per-layer table).  --tuned runs with this CPU's tuning, as extract does
 * (net/tune.h; "tuned 0" when there is none).  --dump writes the
 * preprocessed images, (N, 224, 224, 3) float32 in native order, for the
 * PyTorch and ONNX Runtime peers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "dataset/dataset.h"
#include "error.h"
#include "img/img.h"
#include "kernels/isa.h"
#include "net/model.h"
#include "net/tune.h"
#include "net/vgg.h"
#include "net/weights.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void usage(void)
{
	fputs("usage: bench_extract --weights FILE [--images DIR] [--n N] "
	      "[--batch B] [--threads T] [--conv winograd|direct] [--tile M] "
	      "[--isa auto|portable|avx2|avx512|emul512] [--tuned] [--reps R] "
	      "[--dump FILE]\n", stderr);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"weights", required_argument, 0, 'w'},
		{"images", required_argument, 0, 'i'},
		{"n", required_argument, 0, 'n'},
		{"batch", required_argument, 0, 'b'},
		{"threads", required_argument, 0, 't'},
		{"conv", required_argument, 0, 'c'},
		{"tile", required_argument, 0, 'm'},
		{"isa", required_argument, 0, 'a'},
		{"reps", required_argument, 0, 'r'},
		{"dump", required_argument, 0, 'd'},
		{"tuned", no_argument, 0, 'u'},
		{"help", no_argument, 0, 'h'},
		{0, 0, 0, 0},
	};
	const char *wpath = NULL, *images = NULL, *dump = NULL;
	long n = 64, batch = 8, threads = 0, tile = 0, reps = 5;
	char err[ERR_LEN];
	weights_t w = {0};
	dataset_t ds = {0};
	vgg_t *net = NULL;
	vgg_opts_t o;
	float *in = NULL, *out = NULL;
	double *rate = NULL;
	int c, status = CLI_ERROR, rc, tuned = 0;

	vgg_opts_init(&o, 8);
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'w': wpath = optarg; break;
		case 'i': images = optarg; break;
		case 'd': dump = optarg; break;
		case 'n':
			if (cli_long("bench_extract", "--n", optarg, 1, 100000, &n))
				return CLI_USAGE;
			break;
		case 'b':
			if (cli_long("bench_extract", "--batch", optarg, 1, 256, &batch))
				return CLI_USAGE;
			break;
		case 't':
			if (cli_long("bench_extract", "--threads", optarg, 0, 256, &threads))
				return CLI_USAGE;
			break;
		case 'm':
			if (cli_long("bench_extract", "--tile", optarg, 2, 6, &tile))
				return CLI_USAGE;
			break;
		case 'r':
			if (cli_long("bench_extract", "--reps", optarg, 1, 1000, &reps))
				return CLI_USAGE;
			break;
		case 'c':
			if (strcmp(optarg, "winograd") && strcmp(optarg, "direct")) {
				fprintf(stderr, "bench_extract: --conv: '%s'?\n", optarg);
				return CLI_USAGE;
			}
			o.conv = strcmp(optarg, "direct") ? VGG_CONV_WINOGRAD : VGG_CONV_DIRECT;
			break;
		case 'a':
			if ((o.isa = isa_parse(optarg)) < 0) {
				fprintf(stderr, "bench_extract: --isa: '%s'?\n", optarg);
				return CLI_USAGE;
			}
			break;
		case 'u': tuned = 1; break;
		case 'h': usage(); return CLI_OK;
		default: usage(); return CLI_USAGE;
		}
	}
	if (!wpath || optind < argc) {
		usage();
		return CLI_USAGE;
	}
	o.max_batch = (int)batch;
	o.threads = (int)threads;
	for (int i = 1; i < WEIGHTS_NCONV; i++)
		o.tile[i] = (int)tile;

	if ((rc = weights_load(wpath, &w, err)))
		goto fail;
	in = malloc((size_t)n * VGG_IN_FLOATS * sizeof(float));
	out = malloc((size_t)batch * VGG_FEATURES * sizeof(float));
	rate = malloc((size_t)reps * sizeof *rate);
	if (!in || !out || !rate) {
		err_set(err, ERR_NOMEM, "out of memory for %ld images", n);
		goto fail;
	}
	double t0 = cli_now();
	if (images) {
		if ((rc = dataset_scan(images, 0, &ds, err)))
			goto fail;
		if (ds.n < (size_t)n) {
			err_set(err, ERR_ARG, "%s has %zu images, fewer than %ld", images,
				ds.n, n);
			goto fail;
		}
		for (long i = 0; i < n; i++)
			if ((rc = img_load_input(ds.items[i].path, VGG_IN,
						  model_info(MODEL_VGG16)->mean_bgr,
						  in + i * VGG_IN_FLOATS, err)))
				goto fail;
	} else {
		/* Values of the size preprocess_input gives (pixel minus mean). */
		unsigned long s = 12345;
		for (size_t i = 0; i < (size_t)n * VGG_IN_FLOATS; i++) {
			s = s * 6364136223846793005UL + 1442695040888963407UL;
			in[i] = (float)((s >> 40) % 256) - 120.0f;
		}
	}
	double decode = (cli_now() - t0) / n;
	if (dump) {
		FILE *f = fopen(dump, "wb");
		size_t nf = (size_t)n * VGG_IN_FLOATS;
		if (!f || fwrite(in, sizeof(float), nf, f) != nf || fclose(f) != 0) {
			err_set(err, ERR_IO, "%s: cannot write", dump);
			goto fail;
		}
	}

	if (tuned) {
		char key[1024], path[4096];
		tune_key(o.isa ? o.isa : isa_best(), (int)threads, key, sizeof key);
		tuned = tune_path(key, path, sizeof path, err) == 0 &&
			tune_load(path, key, &o.tune, err) == 0;
	}
	if ((rc = vgg_create_opts(&w, &o, &net, err)))
		goto fail;
	/* One untimed pass: page faults of the work memory, caches. */
	if ((rc = vgg_forward(net, in, (int)(batch < n ? batch : n), out, err)))
		goto fail;
	double before[VGG_NSTAGES], after[VGG_NSTAGES];
	double cbefore[VGG_NSTAGES], cafter[VGG_NSTAGES];
	vgg_stage_times(net, before, cbefore);
	for (long r = 0; r < reps; r++) {
		double t = cli_now();
		for (long b0 = 0; b0 < n; b0 += batch) {
			int bn = (int)(n - b0 < batch ? n - b0 : batch);
			if ((rc = vgg_forward(net, in + b0 * VGG_IN_FLOATS, bn, out, err)))
				goto fail;
		}
		rate[r] = n / (cli_now() - t);
	}
	vgg_stage_times(net, after, cafter);
	qsort(rate, (size_t)reps, sizeof *rate, cmp_double);

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double total = 0;
	for (int i = 0; i < VGG_NSTAGES; i++)
		total += after[i] - before[i];
	printf("img_per_s %.3f\n", rate[reps / 2]);
	printf("img_per_s_min %.3f\nimg_per_s_max %.3f\n", rate[0], rate[reps - 1]);
	printf("decode_ms_per_img %.2f\n", decode * 1e3);
	printf("peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);
	printf("isa %s\n", o.conv == VGG_CONV_DIRECT ? "direct"
			   : isa_name(o.isa ? o.isa : isa_best()));
	printf("tuned %d\n", tuned);
	printf("batch %ld\n", batch);
	for (int i = 0, l = 0, side = VGG_IN; i < VGG_NSTAGES; i++) {
		const char *name = vgg_stage_name(i);
		int m = 0;
		double gflop = 0;
		if (!strncmp(name, "conv", 4)) {
			const weights_layer_spec_t *s = &weights_spec[l];
			m = vgg_conv_tile(net, l++);
			double taps = m ? (double)((side + m - 1) / m) * ((side + m - 1) / m) *
					  (m + 2) * (m + 2)
					: (double)side * side * 9;
			gflop = 2 * taps * s->cin * s->cout * 1e-9;
		} else if (!strncmp(name, "pool", 4)) {
			side /= 2;
		} else {
			gflop = 2.0 * (name[2] == '1' ? 7 * 7 * 512 : VGG_FEATURES) *
				VGG_FEATURES * 1e-9;
		}
		printf("stage %s %d %.2f %.6f %.4f %.6f\n", name, m,
		       100 * (after[i] - before[i]) / total,
		       (after[i] - before[i]) / ((double)reps * n), gflop,
		       (cafter[i] - cbefore[i]) / ((double)reps * n));
	}
	status = CLI_OK;
	goto out;
fail:
	fprintf(stderr, "bench_extract: %s\n", err);
out:
	vgg_free(net);
	weights_free(&w);
	dataset_free(&ds);
	free(in), free(out), free(rate);
	return status;
}
