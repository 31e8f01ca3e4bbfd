/* verify.c - featdb verify (featdb_tool.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "error.h"
#include "featdb_tool.h"

typedef struct verify {
	const featdb_meta_t *meta;
	uint64_t total, bad;
	float *vec; /* (meta->dim) */
	char *err;
} verify_t;

static void verify_bad(verify_t *v, const char *key, size_t keylen, const char *why)
{
	v->bad++;
	printf("bad\t%.*s\t%s\n", (int)keylen, key, why);
}

static int verify_one(void *ctx, const char *key, size_t keylen,
		      const featdb_rec_t *rec, const char *why)
{
	verify_t *v = ctx;
	char msg[ERR_LEN];

	if (!v->vec && !(v->vec = malloc((size_t)v->meta->dim * sizeof *v->vec)))
		return err_set(v->err, ERR_NOMEM, "out of memory");
	v->total++;
	if (!rec) {
		verify_bad(v, key, keylen, why);
		return 0;
	}
	if (rec->dim != v->meta->dim || rec->dtype != v->meta->dtype) {
		snprintf(msg, sizeof msg, "%d-d %s, the store says %d-d %s", rec->dim,
			 featdb_dtype_name(rec->dtype), v->meta->dim, featdb_dtype_name(v->meta->dtype));
		verify_bad(v, key, keylen, msg);
		return 0;
	}
	if (rec->cls < 0 || rec->cls >= v->meta->nclasses) {
		snprintf(msg, sizeof msg, "class %d, the store has %d", (int)rec->cls,
			 v->meta->nclasses);
		verify_bad(v, key, keylen, msg);
		return 0;
	}
	featdb_rec_vector(rec, v->vec);
	for (int i = 0; i < rec->dim; i++)
		if (!isfinite(v->vec[i]) || v->vec[i] < 0) {
			/* fc2 ends with a ReLU: a NaN, an infinity or a negative
			 * value cannot come from the network. */
			snprintf(msg, sizeof msg, "element %d is %g, not a ReLU output", i,
				 v->vec[i]);
			verify_bad(v, key, keylen, msg);
			return 0;
		}
	return 0;
}

int fdb_verify(const char *db)
{
	featdb_meta_t meta = {0};
	char err[ERR_LEN];
	verify_t v = {.meta = &meta, .err = err};
	int status = CLI_ERROR;

	if (fdb_scan_store(db, &meta, verify_one, &v, err))
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
	free(v.vec);
	featdb_meta_free(&meta);
	return status;
}
