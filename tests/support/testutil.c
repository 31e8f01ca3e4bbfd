#include "testutil.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "img/img.h"
#include "kernels/isa.h"
#include "net/model.h"
#include "net/vgg.h"

int tu_sanitized(void)
{
	const char *s = getenv("VGGFEAT_SANITIZED");
	return s && *s;
}

const char *tu_shared_data(const char *sub)
{
	static char path[4096], abs[PATH_MAX];
	const char *root = getenv("SHARED_DATA");
	struct stat st;

	if (!root || !*root)
		root = "../shared/data";
	snprintf(path, sizeof path, "%s/%s", root, sub);
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return NULL;
	/* Absolute, so that a link a test makes to a file in it (test_accuracy's
	 * tree) resolves from wherever the link lies. */
	return realpath(path, abs) ? abs : NULL;
}

int tu_load_input(const char *path, int model, float *x, char *err)
{
	return img_load_input(path, VGG_IN, model_info(model)->mean_bgr, x, err);
}

const char *tu_weights_path(void)
{
	const char *p = getenv("TEST_WEIGHTS");
	return p && *p ? p : "build/test-data/vgg16_seed1.h5";
}

const char *tu_real_weights(const char *name, char *why, size_t len)
{
	static char path[4096];
	const char *dir = getenv("REAL_WEIGHTS_DIR");
	char skipped[4200], *text;
	struct stat st;

	if (!dir || !*dir)
		dir = "build/real-weights";
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
		return path;
	snprintf(skipped, sizeof skipped, "%s/SKIPPED", dir);
	if ((text = tu_read_text(skipped)) != NULL) {
		text[strcspn(text, "\n")] = '\0';
		snprintf(why, len, "%s", text);
		free(text);
	} else {
		snprintf(why, len, "%s is not there (make real-weights writes it)",
			 path);
	}
	return NULL;
}

/* Every folder tu_tmpdir made, removed when the test binary exits: a test
 * that fails jumps out before its own tu_rm_rf, and a run of make test
 * must not leave the disk fuller than it found it.  Only in the process
 * that made them: a forked child that exits leaves its parent's alone,
 * and removes those it made itself. */
static char **made;
static int nmade, registered;
static pid_t maker;

static void remove_made(void)
{
	if (getpid() != maker)
		return;
	for (int i = 0; i < nmade; i++) {
		if (tu_exists(made[i]))
			tu_rm_rf(made[i]);
		free(made[i]);
	}
	free(made);
	made = NULL;
	nmade = 0;
}

const char *tu_tmpdir(void)
{
	char d[] = "/tmp/vggtest.XXXXXX";

	/* A child forked after its parent made some: its own list (the
	 * folders are the parent's to remove; the child frees its copy of
	 * the list). */
	if (nmade > 0 && getpid() != maker) {
		for (int i = 0; i < nmade; i++)
			free(made[i]);
		free(made);
		made = NULL;
		nmade = 0;
	}
	char **grown = realloc(made, (size_t)(nmade + 1) * sizeof *made);
	if (!grown || !mkdtemp(d)) {
		perror("tu_tmpdir");
		abort();
	}
	made = grown;
	if (!(made[nmade] = strdup(d))) {
		perror("tu_tmpdir");
		abort();
	}
	if (nmade++ == 0)
		maker = getpid();
	if (!registered) {
		atexit(remove_made);
		registered = 1;
	}
	return made[nmade - 1];
}

int tu_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

void tu_rm_rf(const char *path)
{
	char cmd[4200];
	if (!path || !*path || strcmp(path, "/") == 0)
		return;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "warning: could not remove %s\n", path);
}

int tu_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;
	if (!f)
		return -1;
	if (len && fwrite(buf, 1, len, f) != len)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto fail;
	buf = malloc(n ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		goto fail;
	fclose(f);
	*len = (size_t)n;
	return buf;
fail:
	free(buf);
	fclose(f);
	return NULL;
}

char *tu_read_text(const char *path)
{
	size_t len;
	uint8_t *b = tu_read_file(path, &len);
	char *s;

	if (!b)
		return NULL;
	if (!(s = realloc(b, len + 1))) {
		free(b);
		return NULL;
	}
	s[len] = 0;
	return s;
}

int tu_count(const char *s, const char *needle)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Letters: N batch, H height, W width, C input channels, K output channels.
 * in (N, H, W, C), kernel (3, 3, C, K), bias (K), out (N, H, W, K), in
 * double, after ReLU. */
int tu_kernels(const kern_t *k[TU_MAX_KERNELS], int say)
{
	int n = 0;
	for (int isa = ISA_PORTABLE; isa < ISA_COUNT; isa++) {
		if (isa_cpu_has(isa))
			k[n++] = kern_for(isa);
		else if (say)
			printf("%s: not on this CPU, skipped\n", isa_name(isa));
	}
	if (kern_portable_libm() != kern_for(ISA_PORTABLE))
		k[n++] = kern_portable_libm();
	return n;
}

/* Two passes: the bounds need max |ref| first. */
int tu_close(const float *a, const double *ref, size_t n, double atol,
	     double atol_rel, double rtol, tu_close_t *c)
{
	double excess = -INFINITY;
	int rc = 0;

	c->maxref = 0;
	c->maxdiff = 0;
	c->worst = 0;
	c->bound = 0;
	for (size_t i = 0; i < n; i++)
		if (fabs(ref[i]) > c->maxref)
			c->maxref = fabs(ref[i]);
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - ref[i]);
		double bound = atol + atol_rel * c->maxref + rtol * fabs(ref[i]);
		/* A NaN or an infinity compares false with everything: it fails
		 * here, and counts as the worst element. */
		if (!isfinite(d)) {
			if (excess < INFINITY) { /* the first such element */
				c->worst = i;
				c->bound = bound;
			}
			c->maxdiff = INFINITY;
			excess = INFINITY;
			rc = -1;
			continue;
		}
		if (d > c->maxdiff)
			c->maxdiff = d;
		if (d > bound)
			rc = -1;
		if (d - bound > excess) {
			excess = d - bound;
			c->worst = i;
			c->bound = bound;
		}
	}
	return rc;
}
