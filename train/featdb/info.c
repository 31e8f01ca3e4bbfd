/* info.c - featdb info (featdb_tool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "cli.h"
#include "error.h"
#include "featdb_tool.h"
#include "net/model.h"

typedef struct info {
	const featdb_meta_t *meta;
	uint64_t (*count)[3]; /* (C, split) */
	uint64_t total, bad, out_of_range;
	char *err;
} info_t;

static int info_alloc(info_t *in)
{
	if (!in->count &&
	    !(in->count = calloc((size_t)in->meta->nclasses + 1, sizeof *in->count)))
		return err_set(in->err, ERR_NOMEM, "out of memory");
	return 0;
}

static int info_one(void *ctx, const char *key, size_t keylen,
		    const featdb_rec_t *rec, const char *why)
{
	info_t *in = ctx;
	int rc = info_alloc(in);

	if (rc)
		return rc;
	in->total++;
	if (!rec) {
		in->bad++;
		return 0;
	}
	if (rec->cls < 0 || rec->cls >= in->meta->nclasses || rec->split > 2) {
		in->out_of_range++;
		return 0;
	}
	in->count[rec->cls][rec->split]++;
	return 0;
}

static uint64_t dir_bytes(const char *db, const char *file, int allocated)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", db, file);
	if (stat(p, &st) != 0)
		return 0;
	return allocated ? (uint64_t)st.st_blocks * 512 : (uint64_t)st.st_size;
}

/* print_tap names the tap of the store's model (store_model), and the
 * extract options that give it. */
static void print_tap(const char *store_model)
{
	const char *pooling;
	char opts[96];
	int model, tap;

	if (model_store_parse(store_model, &model, &tap))
		return;
	pooling = model_tap_info(tap)->pooling;
	model_tap_options(model, tap, opts, sizeof opts);
	printf("tap:         %s%s%s (extract %s)\n", model_tap_layer(model, tap),
	       pooling ? ", pooling " : tap == MODEL_TAP_POOL ? ", flattened" : "",
	       pooling ? pooling : "", opts);
}

int fdb_info(const char *db)
{
	featdb_meta_t meta = {0};
	char err[ERR_LEN];
	info_t in = {.meta = &meta, .err = err};
	int status = CLI_ERROR;

	if (fdb_scan_store(db, &meta, info_one, &in, err))
		goto out;
	if (info_alloc(&in)) {
		cli_error(PROG, "%s", err);
		goto out;
	}
	printf("store:       %s\n", db);
	printf("records:     %llu\n", (unsigned long long)in.total);
	printf("people:      %d\n", meta.nclasses);
	printf("model:       %s\n", meta.model);
	print_tap(meta.model);
	printf("dimension:   %d\n", meta.dim);
	printf("dtype:       %s\n", featdb_dtype_name(meta.dtype));
	printf("fingerprint: %s\n", meta.fingerprint);
	printf("preprocess:  %s\n", meta.preprocess);
	printf("conv:        %s%s\n", meta.conv,
	       featdb_meta_cpu_bound(&meta)
		       ? " (made before 2026-12-07: OpenBLAS' sums, whose last bits "
			 "are the CPU's; extract does not resume it)"
		       : "");
	printf("written by:  %s\n", meta.version);
	for (int i = 0; i < meta.nthresholds; i++) {
		const featdb_threshold_t *t = &meta.thresholds[i];
		printf("threshold:   %s %.6f (far %g, tar %.4f on the pairs of %s "
		       "records; calibrated at %llu records%s)\n", t->metric, t->value,
		       t->far, t->tar, t->records, (unsigned long long)t->count,
		       t->count != meta.count ? ", stale: verify --calibrate again" : "");
	}
	printf("size:        %.1f MB on disk (data.mdb %.1f MB allocated)\n",
	       (dir_bytes(db, "data.mdb", 1) + dir_bytes(db, "lock.mdb", 1)) / 1e6,
	       dir_bytes(db, "data.mdb", 1) / 1e6);
	if (in.bad || in.out_of_range)
		printf("damaged:     %llu records (run featdb verify)\n",
		       (unsigned long long)(in.bad + in.out_of_range));
	uint64_t split_total[3] = {0};
	for (int c = 0; c < meta.nclasses; c++)
		for (int s = 0; s < 3; s++)
			split_total[s] += in.count[c][s];
	printf("splits:      train %llu, valid %llu, test %llu\n",
	       (unsigned long long)split_total[0], (unsigned long long)split_total[1],
	       (unsigned long long)split_total[2]);
	printf("\n%-6s %-32s %7s %7s %7s\n", "class", "person", "train", "valid", "test");
	for (int c = 0; c < meta.nclasses; c++) {
		/* Padded to 32 characters, not bytes: a name in UTF-8 (Zoë)
		 * keeps its columns. */
		size_t chars = 0;
		for (const char *ch = meta.classes[c]; *ch; ch++)
			chars += ((unsigned char)*ch & 0xc0) != 0x80;
		printf("%-6d %s%*s %7llu %7llu %7llu\n", c, meta.classes[c],
		       chars < 32 ? (int)(32 - chars) : 0, "",
		       (unsigned long long)in.count[c][0], (unsigned long long)in.count[c][1],
		       (unsigned long long)in.count[c][2]);
	}
	status = CLI_OK;
out:
	free(in.count);
	featdb_meta_free(&meta);
	return status;
}
