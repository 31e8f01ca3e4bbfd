/* verify.c - featdb verify (featdb_tool.h).
 *
 * The store streams through in blocks of VERIFY_BLOCK records (key order,
 * one read snapshot); the compute threads decode and check a block's
 * records, each into its own slot, and then the block's bad keys are printed
 * in key order: the report is the same bytes for any number of threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/workers.h"
#include "cli.h"
#include "error.h"
#include "featdb_tool.h"

/* Records per block (featdb_blocks), and per task within one. */
#define VERIFY_BLOCK 4096
#define VERIFY_TASK 64

typedef struct verify {
	const featdb_meta_t *meta;
	workers_t *pool;
	uint64_t total, bad;
	/* The block being checked, as featdb_blocks gave it. */
	int n;
	const uint8_t *const *vals;
	const size_t *vlens;
	char (*why)[ERR_LEN]; /* (VERIFY_BLOCK) a record's fault, "" if sound */
	float *vec;           /* (threads, meta->dim) each thread's vector */
	char *err;
} verify_t;

/* workers' task: records task * VERIFY_TASK .. of the block, checked. */
static void check_task(void *arg, int task, int worker)
{
	verify_t *v = arg;
	int j0 = task * VERIFY_TASK, j1 = j0 + VERIFY_TASK < v->n ? j0 + VERIFY_TASK : v->n;
	float *vec = v->vec + (size_t)worker * v->meta->dim;

	for (int j = j0; j < j1; j++)
		if (featdb_rec_check(v->meta, v->vals[j], v->vlens[j], vec, v->why[j]) == 0)
			v->why[j][0] = 0;
}

/* featdb_blocks' callback: the block checked by the threads, then its bad
 * records reported in key order. */
static int verify_block(void *ctx, int n, const char *const *keys,
			const size_t *klens, const uint8_t *const *vals,
			const size_t *vlens)
{
	verify_t *v = ctx;

	if (!v->vec && !(v->vec = malloc((size_t)workers_threads(v->pool) *
					 (size_t)v->meta->dim * sizeof *v->vec)))
		return err_set(v->err, ERR_NOMEM, "out of memory");
	v->n = n;
	v->vals = vals;
	v->vlens = vlens;
	workers_run(v->pool, check_task, v, (n + VERIFY_TASK - 1) / VERIFY_TASK);
	for (int j = 0; j < n; j++)
		if (v->why[j][0]) {
			v->bad++;
			printf("bad\t%.*s\t%s\n", (int)klens[j], keys[j], v->why[j]);
		}
	v->total += (uint64_t)n;
	return 0;
}

int fdb_verify(const char *db, int threads)
{
	featdb_meta_t meta = {0};
	char err[ERR_LEN];
	verify_t v = {.meta = &meta, .err = err};
	int status = CLI_ERROR;

	if (!(v.why = malloc(VERIFY_BLOCK * sizeof *v.why))) {
		cli_error(PROG, "out of memory");
		goto out;
	}
	if (workers_create(threads, &v.pool, err)) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	if (fdb_scan_blocks(db, &meta, VERIFY_BLOCK, verify_block, &v, err))
		goto out;
	if (v.total != meta.count) {
		printf("bad\t(store)\tthe metadata counts %llu records, the store holds %llu\n",
		       (unsigned long long)meta.count, (unsigned long long)v.total);
		v.bad++;
	}
	if (v.bad) {
		cli_error(PROG, "%s: %llu of %llu records are bad", db,
			  (unsigned long long)v.bad, (unsigned long long)v.total);
		goto out;
	}
	printf("%s: %llu records, all good\n", db, (unsigned long long)v.total);
	status = CLI_OK;
out:
	workers_free(v.pool);
	free(v.vec);
	free(v.why);
	featdb_meta_free(&meta);
	return status;
}
