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

/* a (D) */
double recog_norm(const float *a, int D)
{
	double s = 0;

	for (int i = 0; i < D; i++)
		s += (double)a[i] * a[i];
	return sqrt(s);
}

/* a (D), b (D) */
double recog_distance_n(int metric, const float *a, double na, const float *b,
			double nb, int D)
{
	double s = 0;

	switch (metric) {
	case RECOG_COSINE:
		if (na == 0 || nb == 0)
			return 1;
		for (int i = 0; i < D; i++)
			s += (double)a[i] * b[i];
		s = 1 - s / (na * nb);
		return s < 0 ? 0 : s > 2 ? 2 : s;
	case RECOG_EUCLIDEAN:
		for (int i = 0; i < D; i++) {
			double d = (double)a[i] - b[i];
			s += d * d;
		}
		return sqrt(s);
	default: {
		double ia = 1 / (na + RECOG_L2_EPS), ib = 1 / (nb + RECOG_L2_EPS);
		for (int i = 0; i < D; i++) {
			double d = a[i] * ia - b[i] * ib;
			s += d * d;
		}
		return sqrt(s);
	}
	}
}

double recog_distance(int metric, const float *a, const float *b, int D)
{
	return recog_distance_n(metric, a, recog_norm(a, D), b, recog_norm(b, D), D);
}
