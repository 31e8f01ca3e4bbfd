/* fc.c - see fc.h. */
#include "net/fc.h"


typedef struct fc_job {
	const kern_t *k;
	int N, C, K, relu, tasks;
	const float *in, *kernel, *bias;
	float *out;
} fc_job_t;

static void slice(void *arg, int s, int worker)
{
	const fc_job_t *j = arg;
	int k0 = (int)((long)j->K * s / j->tasks);
	int k1 = (int)((long)j->K * (s + 1) / j->tasks);
	(void)worker;
	j->k->gemm(j->N, j->C, k0, k1, j->in, (size_t)j->C, j->kernel, (size_t)j->K,
		   j->bias, j->relu, j->out, (size_t)j->K);
}

void fc_forward(const kern_t *k, const float *in, int N, int C,
		const float *kernel, const float *bias, int K, int relu, float *out,
		workers_t *workers)
{
	/* One slice of columns per thread: the kernel is read fastest in long
	 * runs of its rows (kern_gemm.h).  The slices change no sum. */
	int tasks = workers_threads(workers) < K ? workers_threads(workers) : K;
	fc_job_t j = {k, N, C, K, relu, tasks, in, kernel, bias, out};
	workers_run(workers, slice, &j, tasks);
}
