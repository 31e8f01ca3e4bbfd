/* pool.h - a fixed set of compute threads that run numbered tasks.
 *
 * The caller of pool_run works too: a pool of n threads starts n - 1 workers.
 * Tasks are handed out one at a time from a shared counter, so uneven tasks
 * balance themselves.  One pool_run at a time per pool. */
#ifndef COMMON_POOL_H
#define COMMON_POOL_H

typedef struct pool pool_t;

/* fn runs once per task in 0..ntasks-1; worker (0..pool_threads-1) tells
 * which thread runs it, so that tasks can use per-thread scratch. */
typedef void (*pool_fn)(void *arg, int task, int worker);

/* pool_create starts nthreads - 1 threads (1 <= nthreads <= 256).
 * Returns 0, ERR_ARG or ERR_NOMEM (a thread could not be started). */
int pool_create(int nthreads, pool_t **out, char *err);

/* pool_threads returns the number of threads that run tasks, caller included. */
int pool_threads(const pool_t *p);

/* pool_run runs every task and returns when all are done. */
void pool_run(pool_t *p, pool_fn fn, void *arg, int ntasks);

/* pool_free stops the threads; accepts NULL. */
void pool_free(pool_t *p);

/* pool_cpus: the CPUs this process may run on (its affinity mask, which
 * taskset, mpirun's binding and a container's cpuset narrow), else the
 * online CPUs; at least 1. */
int pool_cpus(void);

#endif
