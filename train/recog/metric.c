/* metric.c - the distances of recog.h, in double, as DeepFace defines
 * them. */
#include "recog/recog.h"

#include <math.h>
#include <string.h>

static const char *const names[RECOG_NMETRICS] = {"cosine", "euclidean",
						  "euclidean_l2"};

int recog_metric_parse(const char *s)
{
	for (int i = 0; s && i < RECOG_NMETRICS; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

const char *recog_metric_name(int metric)
{
	return metric >= 0 && metric < RECOG_NMETRICS ? names[metric] : "?";
}

/* The sums below run in RECOG_LANES interleaved partial sums (element i
 * into sum i % RECOG_LANES, then the sums added in order), one fixed order
 * wherever they run: independent additions keep the adder busy where one
 * running sum would wait on each of its 4-cycle additions (nearest
 * measures a few hundred thousand pairs, calibrate a million). */
#define RECOG_LANES 8

static double lanes_total(const double s[RECOG_LANES])
{
	double t = 0;
	for (int l = 0; l < RECOG_LANES; l++)
		t += s[l];
	return t;
}

/* a (D) */
double recog_norm(const float *a, int D)
{
	double s[RECOG_LANES] = {0};
	int i = 0;

	for (; i + RECOG_LANES <= D; i += RECOG_LANES)
		for (int l = 0; l < RECOG_LANES; l++)
			s[l] += (double)a[i + l] * a[i + l];
	for (int l = 0; i < D; i++, l++)
		s[l] += (double)a[i] * a[i];
	return sqrt(lanes_total(s));
}

/* a (D), b (D) */
double recog_distance_n(int metric, const float *a, double na, const float *b,
			double nb, int D)
{
	double s[RECOG_LANES] = {0}, t;
	int i = 0;

	switch (metric) {
	case RECOG_COSINE:
		if (na == 0 || nb == 0)
			return 1;
		for (; i + RECOG_LANES <= D; i += RECOG_LANES)
			for (int l = 0; l < RECOG_LANES; l++)
				s[l] += (double)a[i + l] * b[i + l];
		for (int l = 0; i < D; i++, l++)
			s[l] += (double)a[i] * b[i];
		t = lanes_total(s);
		/* A vector and itself: t is then the very sum recog_norm took
		 * the root of, na = nb = sqrt(t), and 1 - t / (na nb) is 0 in
		 * exact arithmetic but 1.1e-16 or 2.2e-16 about one time in
		 * four (na na rounds below t), which --threshold 0 calls
		 * "different".  Equal norms and a dot product whose root is
		 * that norm are that case, to the rounding: 0. */
		if (na == nb && sqrt(t) == na)
			return 0;
		t = 1 - t / (na * nb);
		return t < 0 ? 0 : t > 2 ? 2 : t;
	case RECOG_EUCLIDEAN:
		for (; i + RECOG_LANES <= D; i += RECOG_LANES)
			for (int l = 0; l < RECOG_LANES; l++) {
				double d = (double)a[i + l] - b[i + l];
				s[l] += d * d;
			}
		for (int l = 0; i < D; i++, l++) {
			double d = (double)a[i] - b[i];
			s[l] += d * d;
		}
		return sqrt(lanes_total(s));
	default: {
		double ia = 1 / (na + RECOG_L2_EPS), ib = 1 / (nb + RECOG_L2_EPS);
		for (; i + RECOG_LANES <= D; i += RECOG_LANES)
			for (int l = 0; l < RECOG_LANES; l++) {
				double d = a[i + l] * ia - b[i + l] * ib;
				s[l] += d * d;
			}
		for (int l = 0; i < D; i++, l++) {
			double d = a[i] * ia - b[i] * ib;
			s[l] += d * d;
		}
		return sqrt(lanes_total(s));
	}
	}
}

double recog_distance(int metric, const float *a, const float *b, int D)
{
	return recog_distance_n(metric, a, recog_norm(a, D), b, recog_norm(b, D), D);
}
