/* score.c - the honest score (train_head.h): the chosen head once over the
 * test set, which neither the training nor the choice of a sweep's run
 * saw: accuracy and top-5 accuracy, sklearn's classification_report, the
 * confusion matrix as CSV and the people most often taken for each other.
 *
 * Letters: K classes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train_head.h"

#define TH_TOP_K 5
#define TH_PAIRS 10

int th_score_run(const head_t *h, const th_data_t *d, const th_split_t *s,
		 th_score_t *sc, char *err)
{
	enum { CHUNK = 256 };
	size_t D = (size_t)d->D, K = (size_t)d->K;
	float *x = malloc(CHUNK * D * sizeof *x), *logits = malloc(CHUNK * K * sizeof *logits);
	float *work = malloc(head_work_floats(h, CHUNK) * sizeof *work);
	int rc = 0;

	memset(sc, 0, sizeof *sc);
	sc->K = d->K;
	if (s->ntest == 0) {
		rc = err_set(err, ERR_ARG, "no test set");
		goto out;
	}
	if (!x || !logits || !work || !(sc->confusion = calloc(K * K, sizeof *sc->confusion))) {
		rc = err_set(err, ERR_NOMEM, "out of memory for the test set's score");
		goto out;
	}
	for (size_t i0 = 0; i0 < s->ntest; i0 += CHUNK) {
		int n = s->ntest - i0 < CHUNK ? (int)(s->ntest - i0) : CHUNK;
		for (int r = 0; r < n; r++)
			memcpy(x + r * D, d->x + s->test[i0 + (size_t)r] * D, D * sizeof *x);
		head_forward(h, x, n, logits, work);
		for (int r = 0; r < n; r++) {
			const float *l = logits + (size_t)r * K;
			int y = d->y[s->test[i0 + (size_t)r]], best = 0, above = 0;
			for (size_t k = 0; k < K; k++) {
				best = l[k] > l[best] ? (int)k : best;
				above += l[k] > l[y];
			}
			sc->confusion[(size_t)y * K + (size_t)best]++;
			sc->correct += best == y;
			sc->top5 += above < TH_TOP_K;
		}
	}
	sc->n = s->ntest;
out:
	free(x), free(logits), free(work);
	if (rc)
		th_score_free(sc);
	return rc;
}

void th_score_free(th_score_t *sc)
{
	free(sc->confusion);
	memset(sc, 0, sizeof *sc);
}

/* The characters of a UTF-8 string, as Python pads a str. */
static int chars(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Python's "{:>{width}s}": s right-aligned in width characters. */
static void put_right(FILE *f, const char *s, int width)
{
	for (int i = chars(s); i < width; i++)
		fputc(' ', f);
	fputs(s, f);
}

/* a / b, or zero_division's 0 when b is 0. */
static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0.0;
}

void th_score_report(FILE *f, const th_score_t *sc, char *const *classes)
{
	int K = sc->K, width = 12; /* "weighted avg" */
	double mp = 0, mr = 0, mf = 0, wp = 0, wr = 0, wf = 0;

	for (int k = 0; k < K; k++)
		width = chars(classes[k]) > width ? chars(classes[k]) : width;
	put_right(f, "", width);
	fprintf(f, "  precision    recall  f1-score   support\n\n");
	for (int k = 0; k < K; k++) {
		long tp = sc->confusion[(size_t)k * K + k], truth = 0, pred = 0;
		for (int j = 0; j < K; j++) {
			truth += sc->confusion[(size_t)k * K + j];
			pred += sc->confusion[(size_t)j * K + k];
		}
		/* sklearn's F1: 2 tp / (true + predicted). */
		double p = ratio(tp, pred), r = ratio(tp, truth), f1 = ratio(2.0 * tp, truth + pred);
		put_right(f, classes[k], width);
		fprintf(f, "  %9.2f %9.2f %9.2f %9ld\n", p, r, f1, truth);
		mp += p, mr += r, mf += f1;
		wp += p * truth, wr += r * truth, wf += f1 * truth;
	}
	double n = (double)sc->n;
	fputc('\n', f);
	put_right(f, "accuracy", width);
	fprintf(f, "  %9s %9s %9.2f %9zu\n", "", "", ratio(sc->correct, n), sc->n);
	put_right(f, "macro avg", width);
	fprintf(f, "  %9.2f %9.2f %9.2f %9zu\n", mp / K, mr / K, mf / K, sc->n);
	put_right(f, "weighted avg", width);
	fprintf(f, "  %9.2f %9.2f %9.2f %9zu\n", wp / n, wr / n, wf / n, sc->n);
}

/* A pair of people and how often each was taken for the other. */
typedef struct pair {
	int a, b;    /* a < b */
	long ab, ba; /* a's records answered b, b's answered a */
} pair_t;

/* One way of a pair: from's records answered to, n of them, of `of`. */
typedef struct way {
	int from, to;
	long n, of;
} way_t;

static int pair_cmp(const void *x, const void *y)
{
	const pair_t *p = x, *q = y;
	long sp = p->ab + p->ba, sq = q->ab + q->ba;
	if (sp != sq)
		return sp > sq ? -1 : 1;
	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return (p->b > q->b) - (p->b < q->b);
}

/* The ten pairs taken most often for each other, both ways counted. */
static void print_pairs(FILE *f, const th_score_t *sc, char *const *classes)
{
	int K = sc->K;
	size_t np = 0;
	pair_t *p = malloc((size_t)K * (K - 1) / 2 * sizeof *p + 1);

	if (!p)
		return;
	for (int a = 0; a < K; a++)
		for (int b = a + 1; b < K; b++) {
			long ab = sc->confusion[(size_t)a * K + b], ba = sc->confusion[(size_t)b * K + a];
			if (ab + ba)
				p[np++] = (pair_t){a, b, ab, ba};
		}
	qsort(p, np, sizeof *p, pair_cmp);
	if (np == 0)
		fprintf(f, "No two people were taken for each other.\n");
	else
		fprintf(f, "Most confused (test records answered as the other person):\n");
	for (size_t i = 0; i < np && i < TH_PAIRS; i++) {
		/* Each way, the more frequent first, of that person's records. */
		way_t way[2] = {{p[i].a, p[i].b, p[i].ab, 0}, {p[i].b, p[i].a, p[i].ba, 0}};
		if (way[1].n > way[0].n) {
			way_t t = way[0];
			way[0] = way[1];
			way[1] = t;
		}
		fprintf(f, "%4ld ", p[i].ab + p[i].ba);
		for (int w = 0; w < 2 && way[w].n; w++) {
			for (int j = 0; j < K; j++)
				way[w].of += sc->confusion[(size_t)way[w].from * K + j];
			fprintf(f, "%s %s as %s %ld/%ld", w ? "," : "", classes[way[w].from],
				classes[way[w].to], way[w].n, way[w].of);
		}
		fputc('\n', f);
	}
	free(p);
}

void th_score_print(FILE *f, const th_score_t *sc, char *const *classes)
{
	fprintf(f, "test: %zu records: accuracy %.4f - top-%d accuracy %.4f\n\n", sc->n,
		ratio(sc->correct, sc->n), TH_TOP_K, ratio(sc->top5, sc->n));
	th_score_report(f, sc, classes);
	fputc('\n', f);
	print_pairs(f, sc, classes);
}

/* A CSV field, quoted as RFC 4180 asks when it holds a comma, a quote or
 * a line break. */
static void put_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\r\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

int th_score_csv(const char *path, const th_score_t *sc, char *const *classes,
		 char *err)
{
	int K = sc->K;
	fsutil_whole_t w;

	if (th_output_open(&w, "--confusion", path))
		return th_output_error("--confusion", path, errno, err);
	fputs("true\\predicted", w.f);
	for (int k = 0; k < K; k++) {
		fputc(',', w.f);
		put_field(w.f, classes[k]);
	}
	fputs("\r\n", w.f);
	for (int a = 0; a < K; a++) {
		put_field(w.f, classes[a]);
		for (int b = 0; b < K; b++)
			fprintf(w.f, ",%ld", sc->confusion[(size_t)a * K + b]);
		fputs("\r\n", w.f);
	}
	if (fsutil_whole_commit(&w))
		return fsutil_whole_failed(&w, err_set(err, ERR_IO, "--confusion %s: "
						       "writing failed: %s", path,
						       strerror(errno)), err);
	return 0;
}
