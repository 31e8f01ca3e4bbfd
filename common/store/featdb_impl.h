/* featdb_impl.h - what the files of the featdb module share among
 * themselves: the store's handle and the LMDB plumbing every part of the
 * store uses.  Private to the module: callers use featdb.h.  The module's
 * files, one job each:
 *   featdb_rec.c    the record codec: CRC-32, IEEE binary16, encode/decode,
 *                   and the check of a stored record against the store
 *   featdb_pages.c  the walk over data.mdb's pages that refuses a damaged
 *                   store before LMDB reads it
 *   featdb.c        the store: open, read
 *   featdb_meta.c   the metadata: read, and compared between stores
 *   featdb_write.c  the store's writes, renumbering the stored classes
 *   featdb_threshold.c  the calibrated thresholds: their text, read and
 *                   written */
#ifndef COMMON_STORE_FEATDB_IMPL_H
#define COMMON_STORE_FEATDB_IMPL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "store/featdb.h"

/* Keys are quoted in messages up to this many bytes so a line stays short. */
#define FEATDB_KEY_QUOTE 120

struct featdb {
	MDB_env *env;
	MDB_dbi features, meta;
	int rdonly;
	char *path;
};

/* ---- featdb_rec.c ---- */

/* featdb_rec_crc: the CRC a record of len bytes (len >= FEATDB_HEADER)
 * stores at byte 16: of bytes 0..15 and 24..len-1. */
uint32_t featdb_rec_crc(const uint8_t *buf, size_t len);

/* ---- featdb.c ---- */

/* featdb_lmdb_code maps an LMDB or errno code to an ERR_* code; at_open
 * says the environment is just being opened, where a panic means the file
 * was never a sound store. */
int featdb_lmdb_code(int rc, int at_open);

/* featdb_lmdb_fail sets err to "path: what: LMDB's reason" and returns
 * featdb_lmdb_code(rc, 0). */
int featdb_lmdb_fail(const featdb_t *db, int rc, const char *what, char *err);

/* featdb_txn_begin: mdb_txn_begin, adopting a map another process grew.
 * The caller holds no other transaction.  Returns an LMDB code; *txn is
 * NULL on failure. */
int featdb_txn_begin(featdb_t *db, unsigned flags, MDB_txn **txn);

/* featdb_file_extend, inside a write transaction: keeps data.mdb at least
 * as long as the map, so that featdb_pages_check may call a shorter file
 * truncated.  Returns 0 or ERR_IO. */
int featdb_file_extend(featdb_t *db, char *err);

/* featdb_key_check: key as an MDB_val in *k, or ERR_ARG when it is NULL,
 * empty or longer than featdb_max_key. */
int featdb_key_check(featdb_t *db, const char *key, MDB_val *k, char *err);

/* ---- featdb_meta.c ---- */

/* featdb_meta_read: featdb_meta_get's reading, inside the read transaction
 * txn, so that a caller reads records of the same snapshot; on failure
 * meta is left empty. */
int featdb_meta_read(featdb_t *db, MDB_txn *txn, featdb_meta_t *meta, char *err);

/* featdb_classes_parse splits the stored class list v (names joined by
 * '\n'; empty is no class) into *out (*nout names, each and the array
 * malloc'd; featdb_classes_free releases them).  Returns 0, ERR_FORMAT (an
 * empty name, or one holding a NUL) or ERR_NOMEM. */
int featdb_classes_parse(const featdb_t *db, const MDB_val *v, char ***out,
			 int *nout, char *err);
void featdb_classes_free(char **names, int n);

/* ---- featdb_write.c ---- */

/* featdb_map_grow doubles the map; the caller holds no transaction.
 * Returns 0, ERR_NOMEM (the map cannot grow further) or LMDB's error. */
int featdb_map_grow(featdb_t *db, char *err);

/* ---- featdb_threshold.c ---- */

/* featdb_threshold_parse reads the metadata value v (vlen bytes) of key
 * "threshold.<metric>" (metric, mlen bytes) into *t.  Returns 0, ERR_ARG
 * (metric is not a metric's name: a later writer's key, to be passed
 * over) or ERR_FORMAT (the value is not a threshold). */
int featdb_threshold_parse(const featdb_t *db, const char *metric, size_t mlen,
			   const char *v, size_t vlen, featdb_threshold_t *t,
			   char *err);

/* ---- featdb_pages.c ---- */

/* featdb_pages_precheck, before mdb_env_open: the two meta pages of data
 * (the path of db's data.mdb) are sound and the file holds the pages they
 * name.  Returns 0, ERR_FORMAT (damaged or truncated) or ERR_IO. */
int featdb_pages_precheck(featdb_t *db, const char *data, char *err);

/* featdb_pages_unborn: data (size bytes) is what LMDB writes before a
 * store's first commit and nothing more, cut short: a sound meta page 0
 * with no transaction, and a file that ends before page 1.  An extract
 * stopped there (a full disk, a kill) left it: it holds no record.  1 or
 * 0. */
int featdb_pages_unborn(const char *data, uint64_t size);

/* featdb_pages_check, after mdb_env_open: data.mdb is as long as its last
 * page says, and every branch and leaf page of the snapshot a read
 * transaction sees holds together.  Returns 0, ERR_FORMAT (with the damaged
 * page), ERR_NOMEM or ERR_IO. */
int featdb_pages_check(featdb_t *db, char *err);

#endif
