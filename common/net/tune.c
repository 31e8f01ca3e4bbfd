/* tune.c - see tune.h.  Letters as in winograd.h: N images, H height, W
 * width, C input channels, K output channels. */
#include "net/tune.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "base/infile.h"
#include "base/workers.h"
#include "error.h"
#include "kernels/isa.h"
#include "net/fc.h"
#include "net/winograd.h"
#include "version.h"

/* The layers run one image at a time by default are measured on one
 * image, the others on a batch of TUNE_BATCH: each as the network runs it. */
#define TUNE_BATCH 8
/* The gathers fc1 and fc2 are measured on, and their input width. */
static const int gathers[] = {8, 16, 32};
#define NGATHERS ((int)(sizeof gathers / sizeof *gathers))
#define FC_IN (7 * 7 * 512)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The value of the first "name : value" line of /proc/cpuinfo, or "?". */
static void cpuinfo(const char *name, char *out, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "r");
	size_t n = strlen(name);

	snprintf(out, len, "?");
	while (f && fgets(line, sizeof line, f)) {
		char *colon = strchr(line, ':');
		if (strncmp(line, name, n) || !colon || strspn(line + n, " \t") != (size_t)(colon - line - n))
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = 0;
		snprintf(out, len, "%s", colon);
		break;
	}
	if (f)
		fclose(f);
}

void tune_key(int isa, int threads, char *key, size_t len)
{
	char model[256], family[32], mod[32], step[32];
	long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);

	cpuinfo("model name", model, sizeof model);
	cpuinfo("cpu family", family, sizeof family);
	cpuinfo("model", mod, sizeof mod);
	cpuinfo("stepping", step, sizeof step);
	snprintf(key, len,
		 "%s; family %s model %s stepping %s; L2 %ld KB; %s; %d threads; vggfeat %s",
		 model, family, mod, step, l2 > 0 ? l2 >> 10 : 0L, isa_name(isa),
		 threads ? threads : workers_cpus(), VGGFEAT_VERSION);
}

int tune_path(const char *key, char *path, size_t len, char *err)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	int n;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
	if (xdg && *xdg)
		n = snprintf(path, len, "%s/vggfeat/tune-%016llx.txt", xdg,
			     (unsigned long long)h);
	else if (home && *home)
		n = snprintf(path, len, "%s/.cache/vggfeat/tune-%016llx.txt", home,
			     (unsigned long long)h);
	else
		return err_set(err, ERR_MISSING,
			       "tune: neither XDG_CACHE_HOME nor HOME is set");
	if (n < 0 || (size_t)n >= len)
		return err_set(err, ERR_ARG, "tune: the cache path is too long");
	return 0;
}

/* The conv layer named name (weights_spec's), or -1. */
static int layer_index(const char *name)
{
	for (int i = 1; i < WEIGHTS_NCONV; i++)
		if (strcmp(name, weights_spec[i].name) == 0)
			return i;
	return -1;
}

int tune_load(const char *path, const char *key, vgg_tune_t *t, char *err)
{
	char line[1024], name[64];
	vgg_tune_t got;
	int seen[WEIGHTS_NCONV] = {0}, lineno = 0, rc, gather = 0;
	struct stat st;
	FILE *f;

	if ((rc = infile_fopen(path, &f, &st, err)))
		return rc;
	vgg_tune_init(&got);
	while (fgets(line, sizeof line, f)) {
		int i, shared, tiles, prefetch, end = 0;
		double seconds;
		lineno++;
		if (!strchr(line, '\n')) {
			rc = err_set(err, ERR_FORMAT, "%s:%d: line too long", path, lineno);
			goto out;
		}
		line[strcspn(line, "\n")] = 0;
		if (lineno == 1) {
			if (strcmp(line, TUNE_MAGIC)) {
				rc = err_set(err, ERR_FORMAT, "%s: not a tuning file (%s)", path,
					     TUNE_MAGIC);
				goto out;
			}
		} else if (lineno == 2) {
			if (strncmp(line, "key ", 4) || strcmp(line + 4, key)) {
				rc = err_set(err, ERR_MISSING, "%s: another CPU's tuning", path);
				goto out;
			}
		} else if (sscanf(line, "seconds %lf%n", &seconds, &end) == 1 && !line[end]) {
			continue;
		} else if (sscanf(line, "gather %d%n", &gather, &end) == 1 && !line[end] &&
			   gather >= 1 && gather <= 256) {
			got.gather = gather;
		} else if (sscanf(line, "layer %63s shared %d tiles %d prefetch %d%n", name,
				  &shared, &tiles, &prefetch, &end) == 4 &&
			   !line[end] && (i = layer_index(name)) > 0 && !seen[i] &&
			   (shared == 0 || shared == 1) && tiles >= 1 && tiles <= (1 << 20) &&
			   (prefetch == 0 || prefetch == 1)) {
			seen[i] = 1;
			got.conv[i] = (wino_choice_t){shared, tiles, prefetch};
		} else {
			rc = err_set(err, ERR_FORMAT, "%s:%d: '%s'?", path, lineno, line);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (lineno == 0 && (rc = infile_empty(path, &st, err)))
		goto out;
	for (int i = 1; i < WEIGHTS_NCONV; i++)
		if (!seen[i]) {
			rc = err_set(err, ERR_FORMAT, "%s: no line for %s", path,
				     weights_spec[i].name);
			goto out;
		}
	if (!gather) {
		rc = err_set(err, ERR_FORMAT, "%s: no gather line", path);
		goto out;
	}
	*t = got;
out:
	fclose(f);
	return rc;
}

/* mkdir -p of the folder holding path. */
static int make_dirs_of(const char *path, char *err)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) && errno != EEXIST)
			return err_set(err, ERR_IO, "%s: %s", dir, strerror(errno));
		*p = '/';
	}
	return 0;
}

int tune_save(const char *path, const char *key, const vgg_tune_t *t,
	      double seconds, char *err)
{
	fsutil_whole_t w;
	int rc;

	if ((rc = make_dirs_of(path, err)))
		return rc;
	if (fsutil_whole_open(&w, path))
		return fsutil_path_error(path, errno, ERR_IO, err);
	fprintf(w.f, "%s\nkey %s\nseconds %.1f\ngather %d\n", TUNE_MAGIC, key, seconds,
		t->gather);
	for (int i = 1; i < WEIGHTS_NCONV; i++)
		fprintf(w.f, "layer %s shared %d tiles %d prefetch %d\n", weights_spec[i].name,
			t->conv[i].shared, t->conv[i].tiles, t->conv[i].prefetch);
	if (fsutil_whole_commit(&w))
		return fsutil_whole_failed(&w, err_set(err, ERR_IO, "%s: %s", path,
						       strerror(errno)), err);
	return 0;
}

/* c's resolved form on l. */
static wino_choice_t resolved(wino_layer_t *l, wino_choice_t c)
{
	wino_choice_t r;
	wino_layer_set_choice(l, &c);
	wino_layer_choice(l, &r);
	return r;
}

static int add(wino_choice_t *c, int n, wino_choice_t x)
{
	for (int i = 0; i < n; i++)
		if (c[i].shared == x.shared && c[i].tiles == x.tiles &&
		    c[i].prefetch == x.prefetch)
			return n;
	c[n] = x;
	return n + 1;
}

int tune_candidates(const wino_layer_t *cl, wino_choice_t *c)
{
	/* The layer's own choice is restored before returning. */
	wino_layer_t *l = (wino_layer_t *)cl;
	wino_choice_t mine, first, own, shared;
	int n = 0;

	wino_layer_choice(l, &mine);
	first = resolved(l, (wino_choice_t){-1, 0, -1});
	n = add(c, n, first);
	own = resolved(l, (wino_choice_t){0, 0, -1});
	shared = resolved(l, (wino_choice_t){1, 0, -1});
	/* The prefetch on and off; each thread's block from half to twice the
	 * default's, and the threads together, for a layer run per thread by
	 * default (U up to 24 MB: winograd.c); only the latter, in blocks of
	 * all or half the tiles, for one run shared (conv4_2, conv4_3: 38 MB):
	 * measured alone, its U stays in the caches from one run to the next
	 * as it would not in the network, and a block per thread, which reads
	 * U once per block, would look faster than it is (twice the CPU time
	 * in the network on conv4_2 and conv4_3 here, with blocks of 1.6 MB). */
	static const int num[] = {1, 3, 1, 3, 2}, den[] = {2, 4, 1, 2, 1};
	for (int pf = 0; pf <= 1; pf++) {
		for (int k = 0; k < 5 && !first.shared; k++) {
			int tiles = own.tiles * num[k] / den[k];
			n = add(c, n, (wino_choice_t){0, tiles < 6 ? 6 : tiles, pf});
		}
		n = add(c, n, (wino_choice_t){1, shared.tiles, pf});
		if (first.shared)
			n = add(c, n, (wino_choice_t){1, (shared.tiles + 1) / 2, pf});
	}
	wino_layer_set_choice(l, &mine);
	return n;
}

/* Fills a with n values in [lo, hi), cheaply (the speed does not depend on
 * them, as long as they are ordinary numbers). */
static void fill(float *a, size_t n, float lo, float hi, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		a[i] = lo + (hi - lo) * (float)(seed >> 40) * (1.0f / 16777216.0f);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

#define MAX_ROUNDS 15

/* The median of the n (>= 1) times of t (sorted in place). */
static double median(double *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	return t[n / 2];
}

/* Which of the n candidates was the fastest by the median of its times
 * over the rounds (the first of equals). */
static int fastest(double times[][MAX_ROUNDS], int n, int rounds)
{
	double best = 0;
	int pick = 0;
	for (int k = 0; k < n; k++) {
		double t = median(times[k], rounds);
		if (k == 0 || t < best)
			best = t, pick = k;
	}
	return pick;
}

/* Side of conv layer i's input. */
static int side_of(int i)
{
	int s = 224;
	for (int l = 0; l < i; l++)
		if (weights_spec[l].pool_after)
			s /= 2;
	return s;
}

/* Whether TUNE_MIN_ROUNDS more rounds of `round` seconds each end by
 * until.  Fewer rounds say too little on a busy machine, so a layer (or
 * fc) that cannot have them keeps the default and costs nothing more: the
 * bound tune_measure states holds even where one round is slow (a slow
 * CPU, the sanitizers). */
static int rounds_fit(double round, double until)
{
	return now() + TUNE_MIN_ROUNDS * round <= until;
}

/* Layer i: every candidate in rounds until `until`, when at least
 * TUNE_MIN_ROUNDS fit (judged by one untimed run of the default), the
 * fastest by the median into *best; else the default.  Returns 0 or
 * ERR_NOMEM. */
static int measure_layer(int i, int m, int isa, workers_t *workers, double until,
			 wino_choice_t *best, int *measured, char *err)
{
	const weights_layer_spec_t *s = &weights_spec[i];
	const int H = side_of(i), N = i < VGG_BY_IMAGE ? 1 : TUNE_BATCH;
	const int threads = workers_threads(workers), pool = s->pool_after;
	size_t nin = (size_t)N * H * H * s->cin, nout = (size_t)N * H * H * s->cout;
	float *kernel = malloc((size_t)9 * s->cin * s->cout * sizeof(float));
	float *bias = malloc((size_t)s->cout * sizeof(float));
	float *in = malloc(nin * sizeof(float)), *out = malloc(nout * sizeof(float));
	float *work = NULL;
	wino_layer_t *l = NULL;
	wino_choice_t c[TUNE_MAX_CANDIDATES];
	double times[TUNE_MAX_CANDIDATES][MAX_ROUNDS];
	int rc = 0, n, rounds = 0;

	if (!kernel || !bias || !in || !out) {
		rc = err_set(err, ERR_NOMEM, "tune: out of memory for %s", s->name);
		goto out;
	}
	fill(kernel, (size_t)9 * s->cin * s->cout, -0.05f, 0.05f, (uint64_t)i);
	fill(bias, (size_t)s->cout, -0.1f, 0.1f, (uint64_t)i + 100);
	fill(in, nin, 0.0f, 4.0f, (uint64_t)i + 200);
	if ((rc = wino_layer_create(kernel, bias, s->cin, s->cout, m, isa, &l, err)))
		goto out;
	n = tune_candidates(l, c);
	*best = c[0];
	if (now() >= until)
		goto out;
	size_t most = 0;
	for (int k = 0; k < n; k++) {
		wino_layer_set_choice(l, &c[k]);
		size_t f = wino_work_floats(l, threads);
		most = f > most ? f : most;
	}
	if (!(work = malloc(most * sizeof(float)))) {
		rc = err_set(err, ERR_NOMEM, "tune: out of memory for %s", s->name);
		goto out;
	}
	/* Once, not counted: the pages of in, out and work, and a round's
	 * likely length. */
	wino_layer_set_choice(l, &c[0]);
	double t0 = now(), round;
	wino_conv3x3_relu(l, in, N, H, H, pool, out, workers, work);
	round = (now() - t0) * n;
	if (!rounds_fit(round, until))
		goto out;
	while (rounds < MAX_ROUNDS && (rounds < TUNE_MIN_ROUNDS || now() + round <= until)) {
		double r0 = now();
		for (int k = 0; k < n; k++) {
			wino_layer_set_choice(l, &c[k]);
			t0 = now();
			wino_conv3x3_relu(l, in, N, H, H, pool, out, workers, work);
			times[k][rounds] = now() - t0;
		}
		round = now() - r0;
		rounds++;
	}
	*best = c[fastest(times, n, rounds)];
	(*measured)++;
out:
	wino_layer_free(l);
	free(kernel), free(bias), free(in), free(out), free(work);
	return rc;
}

/* fc1 and fc2 for each gather, in rounds until `until` when at least
 * TUNE_MIN_ROUNDS fit (judged by one untimed run of the largest): the
 * gather of the least time per image by the median into *best; else the
 * default. */
static int measure_fc(int isa, workers_t *workers, double until, int *best,
		      int *measured, char *err)
{
	const int G = gathers[NGATHERS - 1];
	float *w1 = malloc((size_t)FC_IN * VGG_FEATURES * sizeof(float));
	float *w2 = malloc((size_t)VGG_FEATURES * VGG_FEATURES * sizeof(float));
	float *b = malloc(VGG_FEATURES * sizeof(float));
	float *x = malloc((size_t)G * FC_IN * sizeof(float));
	float *h = malloc((size_t)G * VGG_FEATURES * sizeof(float));
	float *y = malloc((size_t)G * VGG_FEATURES * sizeof(float));
	const kern_t *k = kern_for(isa);
	double times[NGATHERS][MAX_ROUNDS];
	int rc = 0, rounds = 0;

	*best = VGG_GATHER;
	if (now() >= until)
		goto out;
	if (!w1 || !w2 || !b || !x || !h || !y) {
		rc = err_set(err, ERR_NOMEM, "tune: out of memory for fc1");
		goto out;
	}
	fill(w1, (size_t)FC_IN * VGG_FEATURES, -0.01f, 0.01f, 1);
	fill(w2, (size_t)VGG_FEATURES * VGG_FEATURES, -0.01f, 0.01f, 2);
	fill(b, VGG_FEATURES, -0.1f, 0.1f, 3);
	fill(x, (size_t)G * FC_IN, 0.0f, 4.0f, 4);
	/* A round runs every gather: its images over G's, G's time. */
	double t0 = now(), round, images = 0;
	fc_forward(k, x, G, FC_IN, w1, b, VGG_FEATURES, 1, h, workers);
	fc_forward(k, h, G, VGG_FEATURES, w2, b, VGG_FEATURES, 1, y, workers);
	for (int g = 0; g < NGATHERS; g++)
		images += gathers[g];
	round = (now() - t0) * images / G;
	if (!rounds_fit(round, until))
		goto out;
	while (rounds < MAX_ROUNDS && (rounds < TUNE_MIN_ROUNDS || now() + round <= until)) {
		double r0 = now();
		for (int g = 0; g < NGATHERS; g++) {
			t0 = now();
			fc_forward(k, x, gathers[g], FC_IN, w1, b, VGG_FEATURES, 1, h, workers);
			fc_forward(k, h, gathers[g], VGG_FEATURES, w2, b, VGG_FEATURES, 1, y,
				   workers);
			times[g][rounds] = (now() - t0) / gathers[g];
		}
		round = now() - r0;
		rounds++;
	}
	*best = gathers[fastest(times, NGATHERS, rounds)];
	(*measured)++;
out:
	free(w1), free(w2), free(b), free(x), free(h), free(y);
	return rc;
}

int tune_measure(int isa, int threads, double seconds, vgg_tune_t *t,
		 int *measured, char *err)
{
	workers_t *workers = NULL;
	int rc;
	const double t0 = now();

	if (!isa_cpu_has(isa) || isa == ISA_AUTO)
		return err_set(err, ERR_ARG, "tune: this CPU lacks %s", isa_name(isa));
	if (!(seconds > 0))
		return err_set(err, ERR_ARG, "tune: %g seconds", seconds);
	vgg_tune_init(t);
	*measured = 0;
	if ((rc = workers_create(threads ? threads : workers_cpus(), &workers, err)))
		return rc;
	/* Nine tenths of the time to the layers, in equal shares, the rest to
	 * fc1 and fc2. */
	const int nlayers = WEIGHTS_NCONV - 1;
	for (int i = 1; i < WEIGHTS_NCONV; i++) {
		double until = t0 + seconds * 0.9 * i / nlayers;
		if ((rc = measure_layer(i, vgg_default_tile(i), isa, workers, until,
					&t->conv[i], measured, err)))
			goto out;
	}
	rc = measure_fc(isa, workers, t0 + seconds, &t->gather, measured, err);
out:
	workers_free(workers);
	return rc;
}

void tune_describe(const vgg_tune_t *t, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (int i = 1; i < WEIGHTS_NCONV && used < len; i++) {
		const wino_choice_t *c = &t->conv[i];
		int n = snprintf(buf + used, len - used,
				 "  %-13s %s, %d tiles per block, input prefetch %s\n",
				 weights_spec[i].name,
				 c->shared ? "threads share each step" : "a block per thread",
				 c->tiles, c->prefetch ? "on" : "off");
		used += n > 0 ? (size_t)n : 0;
	}
	if (used < len)
		snprintf(buf + used, len - used, "  fc1, fc2      batches of %d images\n",
			 t->gather);
}
