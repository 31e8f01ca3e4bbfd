/* store.c - what featdb's commands share: the store opened or scanned
 * read-only, with the error printed; whether two paths name one store
 * (featdb_tool.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "error.h"
#include "featdb_tool.h"

int fdb_empty_why(int rc, const char *path, char *err)
{
	if (rc == ERR_MISSING)
		snprintf(err, ERR_LEN, "%s: an empty store: nothing is written in it "
			 "yet (run extract)", path);
	return rc;
}

int fdb_open_store(const char *path, featdb_t **db, featdb_meta_t *meta)
{
	char err[ERR_LEN];
	int rc = featdb_open(path, FEATDB_RDONLY, db, err);
	if (rc == 0)
		rc = fdb_empty_why(featdb_meta_get(*db, meta, err), path, err);
	if (rc) {
		cli_error(PROG, "%s", err);
		featdb_close(*db);
		*db = NULL;
	}
	return rc;
}

int fdb_scan(const char *path, featdb_meta_t *meta, featdb_foreach_fn fn,
	     void *ctx, char *err)
{
	featdb_t *db = NULL;
	int rc = featdb_open(path, FEATDB_RDONLY, &db, err);

	if (rc == 0)
		rc = fdb_empty_why(featdb_scan(db, meta, fn, ctx, err), path, err);
	featdb_close(db);
	return rc;
}

int fdb_scan_store(const char *path, featdb_meta_t *meta, featdb_foreach_fn fn,
		   void *ctx, char *err)
{
	int rc = fdb_scan(path, meta, fn, ctx, err);

	if (rc)
		cli_error(PROG, "%s", err);
	return rc;
}

int fdb_scan_blocks(const char *path, featdb_meta_t *meta, int n, featdb_block_fn fn,
		    void *ctx, char *err)
{
	featdb_t *db = NULL;
	int rc = featdb_open(path, FEATDB_RDONLY, &db, err);

	if (rc == 0)
		rc = fdb_empty_why(featdb_blocks(db, meta, n, fn, ctx, err), path, err);
	if (rc)
		cli_error(PROG, "%s", err);
	featdb_close(db);
	return rc;
}

const char *fdb_damaged_way(const char *path, const char *then, char *buf,
			    size_t len)
{
	snprintf(buf, len, "extract its image into %s again (extract replaces a "
		 "damaged record) or remove it (featdb remove %s --damaged), then %s "
		 "again", path, path, then);
	return buf;
}

int fdb_same_store(const char *a, const char *b)
{
	struct stat sa, sb;

	if (strcmp(a, b) == 0)
		return 1;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}
