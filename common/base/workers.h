/* workers.h - a fixed set of compute threads that run numbered tasks (a
 * thread pool; named so as not to read as the network's max-pools).
 *
 * The caller of workers_run works too: a set of n threads starts n - 1 workers.
 * Tasks are handed out one at a time from a shared counter, so uneven tasks
 * balance themselves.  One workers_run at a time per set. */
#ifndef COMMON_BASE_WORKERS_H
#define COMMON_BASE_WORKERS_H

typedef struct workers workers_t;

/* fn runs once per task in 0..ntasks-1; worker (0..workers_threads-1) tells
 * which thread runs it, so that tasks can use per-thread scratch. */
typedef void (*workers_fn)(void *arg, int task, int worker);

/* workers_create starts nthreads - 1 threads (1 <= nthreads <= 256).  It
 * also sets OpenBLAS to one thread, process-wide: the workers are the
 * program's compute threads, and the BLAS calls made from their tasks
 * (the head's products, the reference convolutions) would otherwise start
 * OpenBLAS' own threads on the same cores.  Returns 0, ERR_ARG or ERR_NOMEM
 * (a thread could not be started). */
int workers_create(int nthreads, workers_t **out, char *err);

/* workers_threads returns the number of threads that run tasks, caller included. */
int workers_threads(const workers_t *p);

/* workers_run runs every task and returns when all are done. */
void workers_run(workers_t *p, workers_fn fn, void *arg, int ntasks);

/* workers_free stops the threads; accepts NULL. */
void workers_free(workers_t *p);

/* workers_cpus: the CPUs this process may run on (its affinity mask, which
 * taskset, mpirun's binding and a container's cpuset narrow), else the
 * online CPUs; at least 1. */
int workers_cpus(void);

#endif
