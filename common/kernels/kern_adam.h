/* kern_adam.h - Adam's float32 update of one kern.h table (adam, for
 * head.h's adam_apply), written once over simd.h's vectors (the template's
 * vocabulary: kern_impl.h).
 *
 * Every element gets the same operations in the same order at every
 * width, with no fused multiply-add (each rounds once, as IEEE 754 says):
 *   g' = g + l2x2 * w                      (only when l2x2 != 0)
 *   m  = m + (g' - m) * c1
 *   v  = v + (g' * g' - v) * c2
 *   w  = w - (alpha * m) / (sqrt(v) + eps)
 * so that w, m and v come out with the same bits on every ISA.  The sum of
 * the squares of w before the update (for the reported loss, when l2x2 !=
 * 0) is taken in double over blocks of ADAM_BLOCK elements, lane j of
 * every block into its own sum, those sums added in lane order, then the
 * tail's squares in order: the same order, so the same bits, at every
 * width too.  With clear set, g is zeroed as it is consumed (the trainer's
 * gradient block, head_train.c). */
#include <stddef.h>

#define ADAM_BLOCK 16

static double KERN_FN(adam)(float *w, float *m, float *v, float *g, size_t n,
			    float alpha, float c1, float c2, float eps,
			    float l2x2, int clear)
{
	/* w, m, v, g (n) */
	const vf_t C1 = vf_set1(c1), C2 = vf_set1(c2), A = vf_set1(alpha);
	const vf_t E = vf_set1(eps), L = vf_set1(l2x2);
	double lane[ADAM_BLOCK] = {0}, sq = 0;
	size_t i = 0;

	for (; i + ADAM_BLOCK <= n; i += ADAM_BLOCK) {
		if (l2x2 != 0)
			for (int j = 0; j < ADAM_BLOCK; j++)
				lane[j] += (double)w[i + j] * w[i + j];
		/* A block is 1 to 4 vectors: unrolled, as a loop it cost 8%
		 * with everything in cache. */
#pragma GCC unroll 4
		for (int j = 0; j < ADAM_BLOCK; j += SIMD_LANES) {
			size_t k = i + (size_t)j;
			vf_t G = vf_load(g + k), M = vf_load(m + k);
			vf_t V = vf_load(v + k), W = vf_load(w + k);
			if (l2x2 != 0)
				G = vf_add(G, vf_mul(L, W));
			M = vf_add(M, vf_mul(vf_sub(G, M), C1));
			V = vf_add(V, vf_mul(vf_sub(vf_mul(G, G), V), C2));
			W = vf_sub(W, vf_div(vf_mul(A, M), vf_add(vf_sqrt(V), E)));
			vf_store(m + k, M);
			vf_store(v + k, V);
			vf_store(w + k, W);
			if (clear)
				vf_store(g + k, vf_zero());
		}
	}
	for (int j = 0; j < ADAM_BLOCK; j++)
		sq += lane[j];
	for (; i < n; i++) {
		float gi = g[i];
		if (l2x2 != 0) {
			sq += (double)w[i] * w[i];
			gi = gi + l2x2 * w[i];
		}
		m[i] = m[i] + (gi - m[i]) * c1;
		v[i] = v[i] + (gi * gi - v[i]) * c2;
		w[i] = w[i] - (alpha * m[i]) / (__builtin_sqrtf(v[i]) + eps);
		if (clear)
			g[i] = 0.0f;
	}
	return sq;
}
