/* featdb_pages.c - the structural check of a store's data.mdb: its meta
 * pages before LMDB maps the file, then every branch and leaf page of the
 * snapshot LMDB will read, walked in LMDB's on-disk format, so that a
 * damaged or truncated file is refused with a reason instead of crashing
 * whoever opened it.  Its one caller is featdb_open (featdb.c). */
#include "store/featdb.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "error.h"
#include "store/featdb_impl.h"
#include "base/le.h"

/* LMDB trusts its file: a damaged page (a node offset, a page number, a
 * size) makes it read wild addresses, and a program that opened such a
 * store crashed (one changed byte in a leaf page did it).  So before any
 * use, featdb_open walks every B-tree of the snapshot that its reads will
 * see (the free-page list, the main database and the named ones) in LMDB's
 * on-disk format (data version 1, frozen for LMDB 0.9), and refuses a store
 * whose pages do not hold together.  Only branch and leaf pages are read,
 * once each; of an overflow page (a vector) only its page range is checked
 * against the file, which is what keeps LMDB's reads inside it; the bytes
 * are the record CRC's business. */

/* Page header: pgno (8 bytes), pad (2), flags (2), lower (2), upper (2);
 * then the node offsets (2 bytes each).  Node: lo, hi, flags, ksize (2
 * bytes each), the key, the data (or an overflow page number). */
#define LM_PAGEHDR 16
#define LM_NODEHDR 8
#define LM_P_BRANCH 0x01
#define LM_P_LEAF 0x02
#define LM_P_META 0x08
#define LM_P_LEAF2 0x20
#define LM_P_SUBP 0x40
#define LM_F_BIGDATA 0x01
#define LM_F_SUBDATA 0x02
#define LM_F_DUPDATA 0x04
/* Meta page, after the page header: magic, version (4 bytes each),
 * address, map size (8 each), two database records (MDB_db, 48 bytes:
 * pad 4, flags 2, depth 2, four page/entry counts of 8, root 8), the last
 * page and the transaction id (8 each). */
#define LM_MAGIC 0xBEEFC0DEu
#define LM_META_DBS 40
#define LM_DBREC 48
#define LM_META_LAST 136
#define LM_META_TXNID 144
#define LM_INVALID ((uint64_t)~0ULL)
#define LM_MAX_DEPTH 32

typedef struct chk {
	featdb_t *db;
	int fd;
	size_t psize;
	uint64_t last; /* the snapshot's last page */
	uint8_t *seen; /* a bit per page */
	char *err;
} chk_t;

static int chk_fail(chk_t *c, uint64_t pgno, const char *what)
{
	return err_set(c->err, ERR_FORMAT, "%s/data.mdb is damaged: page %llu: %s "
		       "(restore a copy of the store, or extract again into a new "
		       "one)", c->db->path, (unsigned long long)pgno, what);
}

/* Marks pages first..first+n-1 as used; each page belongs to one tree. */
static int chk_claim(chk_t *c, uint64_t first, uint64_t n, const char *what)
{
	if (first < 2 || n == 0 || first > c->last || n > c->last - first + 1)
		return chk_fail(c, first, what);
	for (uint64_t p = first; p < first + n; p++) {
		if (c->seen[p / 8] & (1u << (p % 8)))
			return chk_fail(c, p, "used twice");
		c->seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	return 0;
}

static int chk_db(chk_t *c, const uint8_t *rec, uint64_t at, int main_db);

/* Checks the subtree of page pgno, levels levels above the leaves included,
 * counting its leaf entries into *entries.  main_db: the leaves may hold
 * named databases, which are walked too. */
static int chk_page(chk_t *c, uint64_t pgno, int levels, uint64_t *entries,
		    int main_db)
{
	uint8_t *pg = NULL;
	unsigned flags, lower, upper, n;
	int ret;

	if ((ret = chk_claim(c, pgno, 1, "a page number outside the file")) != 0)
		return ret;
	if (!(pg = malloc(c->psize)))
		return err_set(c->err, ERR_NOMEM, "%s: out of memory", c->db->path);
	/* A short read leaves errno alone: clear it so the reason is not stale. */
	errno = 0;
	if (pread(c->fd, pg, c->psize, (off_t)(pgno * c->psize)) != (ssize_t)c->psize) {
		ret = err_set(c->err, ERR_IO, "%s/data.mdb: page %llu: %s", c->db->path,
			      (unsigned long long)pgno, strerror(errno ? errno : EIO));
		goto done;
	}
	flags = le_get16(pg + 10);
	lower = le_get16(pg + 12);
	upper = le_get16(pg + 14);
	n = lower >= LM_PAGEHDR ? (lower - LM_PAGEHDR) / 2 : 0;
	if (le_get64(pg) != pgno) {
		ret = chk_fail(c, pgno, "its header names another page");
		goto done;
	}
	if (((flags & LM_P_BRANCH) != 0) == ((flags & LM_P_LEAF) != 0) ||
	    (flags & (LM_P_LEAF2 | LM_P_SUBP))) {
		ret = chk_fail(c, pgno, "not a branch or leaf page");
		goto done;
	}
	if (levels < 1 || ((flags & LM_P_LEAF) != 0) != (levels == 1)) {
		ret = chk_fail(c, pgno, "at the wrong depth of its tree");
		goto done;
	}
	if (lower < LM_PAGEHDR || lower % 2 || lower > upper || upper > c->psize ||
	    n == 0) {
		ret = chk_fail(c, pgno, "bad free-space bounds");
		goto done;
	}
	ret = 0;
	for (unsigned i = 0; i < n && ret == 0; i++) {
		size_t off = le_get16(pg + LM_PAGEHDR + 2 * i), end;
		const uint8_t *node = pg + off;
		if (off < upper || off > c->psize - LM_NODEHDR) {
			ret = chk_fail(c, pgno, "a node outside the page");
			break;
		}
		uint64_t lo = le_get16(node), hi = le_get16(node + 2);
		unsigned nflags = le_get16(node + 4), ksize = le_get16(node + 6);
		end = off + LM_NODEHDR + ksize;
		if (end > c->psize) {
			ret = chk_fail(c, pgno, "a key past the end of the page");
			break;
		}
		if (flags & LM_P_BRANCH) {
			ret = chk_page(c, lo | hi << 16 | (uint64_t)nflags << 32, levels - 1,
				       entries, main_db);
			continue;
		}
		uint64_t dsize = lo | hi << 16;
		if (nflags & LM_F_DUPDATA) {
			ret = chk_fail(c, pgno, "a duplicate-key node");
		} else if (nflags & LM_F_BIGDATA) {
			if (end + 8 > c->psize) {
				ret = chk_fail(c, pgno, "a node past the end of the page");
				break;
			}
			uint64_t ov = le_get64(pg + end);
			uint64_t pages = (dsize + LM_PAGEHDR + c->psize - 1) / c->psize;
			ret = chk_claim(c, ov, pages, "overflow pages outside the file");
		} else if (end + dsize > c->psize) {
			ret = chk_fail(c, pgno, "data past the end of the page");
		} else if (nflags & LM_F_SUBDATA) {
			ret = main_db && dsize == LM_DBREC ? chk_db(c, pg + end, pgno, 0) :
			      chk_fail(c, pgno, "a misplaced database record");
		}
		(*entries)++;
	}
done:
	free(pg);
	return ret;
}

/* Checks the tree of the database record rec (MDB_db) found in page at. */
static int chk_db(chk_t *c, const uint8_t *rec, uint64_t at, int main_db)
{
	unsigned depth = le_get16(rec + 6);
	uint64_t entries = le_get64(rec + 32), root = le_get64(rec + 40), seen = 0;
	int ret;

	if (root == LM_INVALID)
		return entries == 0 ? 0 : chk_fail(c, at, "an empty database with entries");
	if (depth < 1 || depth > LM_MAX_DEPTH)
		return chk_fail(c, at, "a database of impossible depth");
	if ((ret = chk_page(c, root, (int)depth, &seen, main_db)) != 0)
		return ret;
	return seen == entries ? 0 : chk_fail(c, at, "a database whose entries do not "
					      "match its count");
}

/* Walks the snapshot of a read transaction (see above). */
static int store_check(featdb_t *db, char *err)
{
	chk_t c = {.db = db, .err = err};
	MDB_txn *txn = NULL;
	MDB_stat ms;
	uint8_t *meta = NULL;
	int rc, ret = 0;

	if ((rc = mdb_env_stat(db->env, &ms)) != 0 ||
	    (rc = mdb_env_get_fd(db->env, &c.fd)) != 0)
		return featdb_lmdb_fail(db, rc, "stat", err);
	c.psize = ms.ms_psize;
	if (c.psize < 512 || !(meta = malloc(c.psize)))
		return err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
	/* The snapshot is meta page (txnid & 1) as it was when the transaction
	 * began; two commits since would have rewritten that page: try again. */
	for (int attempt = 0;; attempt++) {
		if ((rc = featdb_txn_begin(db, MDB_RDONLY, &txn)) != 0) {
			ret = featdb_lmdb_fail(db, rc, "begin", err);
			goto done;
		}
		uint64_t id = mdb_txn_id(txn);
		errno = 0;
		if (pread(c.fd, meta, c.psize, (off_t)((id & 1) * c.psize)) !=
		    (ssize_t)c.psize) {
			ret = err_set(err, ERR_IO, "%s/data.mdb: meta page: %s", db->path,
				      strerror(errno ? errno : EIO));
			goto done;
		}
		if (le_get32(meta + LM_PAGEHDR) != LM_MAGIC) {
			ret = err_set(err, ERR_FORMAT, "%s/data.mdb: a bad meta page",
				      db->path);
			goto done;
		}
		if (le_get64(meta + LM_META_TXNID) == id)
			break;
		mdb_txn_abort(txn);
		txn = NULL;
		if (attempt == 100) {
			ret = err_set(err, ERR_IO, "%s: the store changes too fast to be "
				      "checked", db->path);
			goto done;
		}
	}
	c.last = le_get64(meta + LM_META_LAST);
	if (c.last > (uint64_t)SIZE_MAX / 2 ||
	    !(c.seen = calloc((size_t)(c.last / 8 + 1), 1))) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
		goto done;
	}
	/* The free-page list, then the main database and the named ones. */
	if ((ret = chk_db(&c, meta + LM_META_DBS, 0, 0)) == 0)
		ret = chk_db(&c, meta + LM_META_DBS + LM_DBREC, 0, 1);
done:
	mdb_txn_abort(txn);
	free(c.seen);
	free(meta);
	return ret;
}

/* meta_sane: m, meta page i as read, is one (flags, magic, version) with
 * a page size LMDB may have written, the same as page 0's (psize) for
 * page 1; its page size then in *ps. */
static int meta_sane(const uint8_t *m, int i, uint64_t psize, uint64_t *ps)
{
	*ps = le_get32(m + LM_META_DBS);
	return (le_get16(m + 10) & LM_P_META) && le_get32(m + LM_PAGEHDR) == LM_MAGIC &&
	       le_get32(m + LM_PAGEHDR + 4) == 1 && *ps >= 512 && *ps <= 65536 &&
	       !(*ps & (*ps - 1)) && (!i || *ps == psize);
}

int featdb_pages_unborn(const char *data, uint64_t size)
{
	uint8_t m[LM_META_TXNID + 8];
	uint64_t ps;
	int fd = open(data, O_RDONLY | O_CLOEXEC);
	int got = fd >= 0 && pread(fd, m, sizeof m, 0) == (ssize_t)sizeof m;

	if (fd >= 0)
		close(fd);
	/* Page 1 is where the first commit puts its meta: a file that ends
	 * before it never held one. */
	return got && meta_sane(m, 0, 0, &ps) && size < 2 * ps &&
	       le_get64(m + LM_META_TXNID) == 0;
}

/* mdb_env_open believes the two meta pages: a page size or a last page
 * out of bounds there makes it map and touch memory past the file (a SIGBUS;
 * one damaged byte of a meta page did it).  Read them first, as LMDB will:
 * page 0 at offset 0, page 1 at page 0's page size. */
int featdb_pages_precheck(featdb_t *db, const char *data, char *err)
{
	uint8_t m[2][LM_META_TXNID + 8];
	uint64_t psize = 0, size;
	struct stat st;
	int fd = open(data, O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return err_set(err, ERR_IO, "%s: %s", data, strerror(errno));
	if (fstat(fd, &st) != 0) {
		ret = err_set(err, ERR_IO, "%s: %s", data, strerror(errno));
		goto done;
	}
	size = (uint64_t)st.st_size;
	for (int i = 0; i < 2; i++) {
		errno = 0;
		if (pread(fd, m[i], sizeof m[i], (off_t)(i * psize)) != (ssize_t)sizeof m[i]) {
			ret = errno ? err_set(err, ERR_IO, "%s: %s", data, strerror(errno)) :
			      i == 0 ? err_set(err, ERR_FORMAT, "%s: not a usable LMDB "
					       "environment (%llu bytes)", db->path,
					       (unsigned long long)size) :
			      err_set(err, ERR_FORMAT, "%s is truncated: %llu bytes, "
				      "shorter than its two meta pages", data,
				      (unsigned long long)size);
			goto done;
		}
		uint64_t ps, last = le_get64(m[i] + LM_META_LAST);
		if (!meta_sane(m[i], i, psize, &ps)) {
			ret = err_set(err, ERR_FORMAT, "%s: not a usable LMDB environment "
				      "(meta page %d is damaged)", db->path, i);
			goto done;
		}
		psize = ps;
		if (size < 2 * psize || last < 1 || last >= size / psize) {
			ret = err_set(err, ERR_FORMAT, "%s is truncated: %llu bytes, but "
				      "its last page ends at byte %llu", data,
				      (unsigned long long)size, last < size ?
				      (unsigned long long)((last + 1) * psize) : ~0ULL);
			goto done;
		}
	}
done:
	close(fd);
	return ret;
}

/* An LMDB environment maps its whole data file, so a file cut short makes a
 * read past its end a SIGBUS: refuse it at open instead. */
static int file_check_size(featdb_t *db, char *err)
{
	MDB_envinfo info;
	MDB_stat ms;
	struct stat st;
	uint64_t need;
	int fd, rc;

	if ((rc = mdb_env_info(db->env, &info)) != 0 ||
	    (rc = mdb_env_stat(db->env, &ms)) != 0 ||
	    (rc = mdb_env_get_fd(db->env, &fd)) != 0)
		return err_set(err, featdb_lmdb_code(rc, 1), "%s: %s", db->path,
			       mdb_strerror(rc));
	if (fstat(fd, &st) != 0)
		return err_set(err, ERR_IO, "%s/data.mdb: %s", db->path, strerror(errno));
	need = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
	if ((uint64_t)st.st_size < need)
		return err_set(err, ERR_FORMAT, "%s/data.mdb is truncated: %lld bytes, "
			       "but its last page ends at byte %llu", db->path,
			       (long long)st.st_size, (unsigned long long)need);
	return 0;
}

int featdb_pages_check(featdb_t *db, char *err)
{
	int ret = file_check_size(db, err);

	return ret ? ret : store_check(db, err);
}
