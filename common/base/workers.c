/* workers.c - see workers.h.  Workers sleep on a condition variable between runs:
 * a network forward makes a few dozen runs, so waking costs nothing that
 * shows, and idle threads take no CPU from image decoding. */
#include "base/workers.h"

#include <sched.h>
#include <unistd.h>

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>

#include "error.h"

struct workers {
	int n;              /* threads, the caller included */
	pthread_t *tid;     /* (n - 1) */
	int started;        /* workers actually running */
	pthread_mutex_t mu;
	pthread_cond_t go, idle;
	unsigned long gen;  /* bumped by every workers_run */
	int stop;
	workers_fn fn;
	void *arg;
	int ntasks, next, busy;
};

typedef struct worker_arg {
	workers_t *p;
	int id;
} worker_arg_t;

/* Takes tasks until none is left; called with p->mu held, returns with it. */
static void drain(workers_t *p, int id)
{
	while (p->next < p->ntasks) {
		int t = p->next++;
		pthread_mutex_unlock(&p->mu);
		p->fn(p->arg, t, id);
		pthread_mutex_lock(&p->mu);
	}
}

static void *worker(void *v)
{
	worker_arg_t *wa = v;
	workers_t *p = wa->p;
	int id = wa->id;
	unsigned long seen = 0;

	free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->stop)
			break;
		seen = p->gen;
		p->busy++;
		drain(p, id);
		if (--p->busy == 0)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int workers_create(int nthreads, workers_t **out, char *err)
{
	workers_t *p;

	*out = NULL;
	if (nthreads < 1 || nthreads > 256)
		return err_set(err, ERR_ARG, "workers: %d threads, not 1..256", nthreads);
	p = calloc(1, sizeof *p);
	if (!p || !(p->tid = calloc((size_t)nthreads, sizeof *p->tid))) {
		free(p);
		return err_set(err, ERR_NOMEM, "workers: out of memory");
	}
	openblas_set_num_threads(1);
	p->n = nthreads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (int i = 1; i < nthreads; i++) {
		worker_arg_t *wa = malloc(sizeof *wa);
		if (!wa)
			goto fail;
		*wa = (worker_arg_t){p, i};
		if (pthread_create(&p->tid[p->started], NULL, worker, wa) != 0) {
			free(wa);
			goto fail;
		}
		p->started++;
	}
	*out = p;
	return 0;
fail:
	workers_free(p);
	return err_set(err, ERR_NOMEM, "workers: cannot start %d threads", nthreads);
}

int workers_threads(const workers_t *p)
{
	return p->n;
}

void workers_run(workers_t *p, workers_fn fn, void *arg, int ntasks)
{
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->ntasks = ntasks;
	p->next = 0;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	p->busy++;
	drain(p, 0);
	p->busy--;
	/* Wait for workers still finishing a task of this run. */
	while (p->busy > 0)
		pthread_cond_wait(&p->idle, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

void workers_free(workers_t *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->started; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->idle);
	free(p->tid);
	free(p);
}

int workers_cpus(void)
{
	cpu_set_t set;
	long n = 0;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	if (n < 1)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}
