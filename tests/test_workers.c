/* test_workers.c - the compute threads: every task runs exactly once per run,
 * on a valid worker, over many runs, for several pool sizes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "error.h"
#include "base/workers.h"

#define TASKS 1000

typedef struct count {
	int hits[TASKS];
	int bad_worker;
	int threads;
} count_t;

static void hit(void *arg, int task, int worker)
{
	count_t *c = arg;
	/* Each task has its own slot: no two threads write the same int. */
	c->hits[task]++;
	if (worker < 0 || worker >= c->threads)
		c->bad_worker = 1;
}

static void test_every_task_once(void **state)
{
	(void)state;
	static const int sizes[] = {1, 2, 5};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		workers_t *p = NULL;
		char err[ERR_LEN];
		assert_int_equal(workers_create(sizes[s], &p, err), 0);
		assert_int_equal(workers_threads(p), sizes[s]);
		for (int run = 0; run < 200; run++) {
			count_t c = {.threads = sizes[s]};
			int n = run % 7 == 0 ? 0 : (run * 37) % TASKS + 1;
			workers_run(p, hit, &c, n);
			for (int t = 0; t < TASKS; t++)
				assert_int_equal(c.hits[t], t < n ? 1 : 0);
			assert_false(c.bad_worker);
		}
		workers_free(p);
	}
}

static void test_errors(void **state)
{
	(void)state;
	workers_t *p = (workers_t *)&p;
	char err[ERR_LEN];
	assert_int_equal(workers_create(0, &p, err), ERR_ARG);
	assert_null(p);
	assert_non_null(strstr(err, "0 threads"));
	assert_int_equal(workers_create(257, &p, err), ERR_ARG);
	workers_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_task_once),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
