/* adam.c - Adam as tf.keras runs it (head.h): the plain reference in
 * double, and the float32 update and the first layer's fused step on the
 * kernels of a->isa (kern.h's adam and step, the same bits on each). */
#include "head/head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "head/head_impl.h"
#include "kernels/isa.h"
#include "kernels/kern.h"

int adam_init(adam_t *a, size_t n, double lr, double beta1, double beta2,
	      double epsilon, char *err)
{
	memset(a, 0, sizeof *a);
	if (!(lr > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) ||
	    !(epsilon > 0) || !isfinite(lr) || !isfinite(epsilon))
		return err_set(err, ERR_ARG, "adam: need lr > 0, 0 <= beta1, beta2 < 1 "
			       "and epsilon > 0 (got %g, %g, %g, %g)", lr, beta1,
			       beta2, epsilon);
	a->m = calloc(n ? n : 1, sizeof(float));
	a->v = calloc(n ? n : 1, sizeof(float));
	if (!a->m || !a->v) {
		adam_free(a);
		return err_set(err, ERR_NOMEM, "adam: out of memory for %zu moments", n);
	}
	a->n = n;
	a->lr = (float)lr;
	a->beta1 = (float)beta1;
	a->beta2 = (float)beta2;
	a->epsilon = (float)epsilon;
	a->isa = isa_best();
	return 0;
}

void adam_free(adam_t *a)
{
	if (!a)
		return;
	free(a->m);
	free(a->v);
	memset(a, 0, sizeof *a);
}

float adam_next(adam_t *a)
{
	double t = (double)++a->t;
	return (float)(a->lr * sqrt(1.0 - pow(a->beta2, t)) /
		       (1.0 - pow(a->beta1, t)));
}

double adam_apply_ref(adam_t *a, float alpha, size_t off, size_t n, float *w,
		      const float *g, float l2)
{
	/* w (n), g (n), moments a->m, a->v at off (n) */
	double c1 = 1.0 - (double)a->beta1, c2 = 1.0 - (double)a->beta2, sq = 0;
	float *m = a->m + off, *v = a->v + off;
	for (size_t i = 0; i < n; i++) {
		double gi = g[i];
		if (l2 != 0) {
			sq += (double)w[i] * w[i];
			gi += 2.0 * (double)l2 * w[i];
		}
		double mi = m[i] + (gi - m[i]) * c1;
		double vi = v[i] + (gi * gi - v[i]) * c2;
		m[i] = (float)mi;
		v[i] = (float)vi;
		w[i] = (float)(w[i] - (double)alpha * mi / (sqrt(vi) + a->epsilon));
	}
	return sq;
}

double adam_apply(adam_t *a, float alpha, size_t off, size_t n, float *w,
		  const float *g, float l2)
{
	float c1 = 1.0f - a->beta1, c2 = 1.0f - a->beta2, l2x2 = 2.0f * l2;
	float *m = a->m + off, *v = a->v + off;

	return kern_for(a->isa)->adam(w, m, v, g, n, alpha, c1, c2, a->epsilon, l2x2);
}

double adam_step_panels(adam_t *a, float alpha, kern_step_t *s, float l2)
{
	s->alpha = alpha;
	s->c1 = 1.0f - a->beta1;
	s->c2 = 1.0f - a->beta2;
	s->eps = a->epsilon;
	s->l2x2 = 2.0f * l2;
	return kern_for(a->isa)->step(s);
}
