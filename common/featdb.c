/* featdb.c - the feature store of featdb.h: the record codec (explicit
 * little-endian fields, CRC-32, IEEE binary16) and the LMDB environment that
 * holds the records and the metadata. */
#include "featdb.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "classes.h"
#include "error.h"

/* A new store's map is small so that growing it (doubling on MDB_MAP_FULL)
 * is the everyday path, exercised by every real extraction, not a corner. */
#define FEATDB_MAP_INIT ((size_t)64 << 20)
/* Names of the two databases; maxdbs leaves room for two more. */
#define FEATDB_DB_FEATURES "features"
#define FEATDB_DB_META "meta"
#define FEATDB_MAXDBS 4
/* The size of LMDB's lock.mdb with its default 126 readers (on 64-bit). */
#define FEATDB_LOCK_BYTES ((off_t)8192)
/* Keys are quoted in messages up to this many bytes so a line stays short. */
#define FEATDB_KEY_QUOTE 120

struct featdb {
	MDB_env *env;
	MDB_dbi features, meta;
	int rdonly;
	char *path;
};

/* ---- little-endian fields ---- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (unsigned)p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* ---- CRC-32 ---- */

/* zlib's own (its braided implementation: 2.1 GB/s here against 1.2 GB/s
 * for the slicing-by-8 code this project carried before; README.md). */
uint32_t featdb_crc32(uint32_t crc, const void *buf, size_t len)
{
	return (uint32_t)crc32_z(crc, buf, len);
}

/* The record's CRC skips bytes 16..23: the CRC itself and the reserved word. */
static uint32_t rec_crc(const uint8_t *buf, size_t len)
{
	uint32_t crc = featdb_crc32(0, buf, 16);
	return featdb_crc32(crc, buf + FEATDB_HEADER, len - FEATDB_HEADER);
}

/* ---- IEEE binary16 ---- */

uint16_t featdb_f32_to_f16(float f)
{
	uint32_t x = float_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t a = x & 0x7fffffff;
	uint32_t q, rem, half;

	if (a >= 0x7f800000) {
		if (a == 0x7f800000)
			return sign | 0x7c00;
		/* Keep the top of the payload; the quiet bit keeps it a NaN
		 * even when those bits are all zero. */
		return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
	}
	if (a >= 0x47800000) /* >= 65536: beyond even the rounding to inf */
		return sign | 0x7c00;
	if (a < 0x38800000) {
		/* Below 2^-14: a subnormal half, in units of 2^-24.  The value
		 * is m * 2^(e-150), that is (m >> (126 - e)) units. */
		uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000, shift;
		if (e < 102) /* below 2^-25, which itself ties to 0 */
			return sign;
		shift = 126 - e;
		q = m >> shift;
		rem = m & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return (uint16_t)(sign | q); /* q = 0x400 is the smallest normal */
	}
	/* Rebias the exponent (127 -> 15) and drop 13 mantissa bits; a carry
	 * out of the mantissa correctly bumps the exponent, up to inf. */
	a -= (uint32_t)112 << 23;
	q = a >> 13;
	rem = a & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
		q++;
	return (uint16_t)(sign | q);
}

float featdb_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;

	if (e == 0) {
		/* m * 2^-24 is exact in float and never a float subnormal,
		 * so flush-to-zero modes cannot touch it. */
		float v = (float)m * 0x1p-24f;
		return bits_float(float_bits(v) | sign);
	}
	if (e == 31)
		return bits_float(sign | 0x7f800000 | m << 13);
	return bits_float(sign | (e + 112) << 23 | m << 13);
}

/* ---- records ---- */

static size_t dtype_size(int dtype)
{
	return dtype == FEATDB_F32 ? 4 : dtype == FEATDB_F16 ? 2 : 0;
}

size_t featdb_rec_size(int dtype, int dim)
{
	size_t es = dtype_size(dtype), n;

	if (!es || dim <= 0 || err_mul_size((size_t)dim, es, &n) ||
	    n > SIZE_MAX - FEATDB_HEADER)
		return 0;
	return n + FEATDB_HEADER;
}

int featdb_rec_encode(const float *vec, int dim, int dtype, int32_t cls,
		      int split, uint8_t *out, char *err)
{
	size_t size = featdb_rec_size(dtype, dim);
	uint8_t *p = out + FEATDB_HEADER;

	if (!vec || !out)
		return err_set(err, ERR_ARG, "featdb_rec_encode: NULL vector or output");
	if (!size)
		return err_set(err, ERR_ARG, "featdb_rec_encode: dtype %d with dim %d "
			       "is not a record", dtype, dim);
	if (split < FEATDB_TRAIN || split > FEATDB_TEST)
		return err_set(err, ERR_ARG, "featdb_rec_encode: split %d is not 0, 1 or 2",
			       split);
	memcpy(out, FEATDB_MAGIC, 4);
	put_u16(out + 4, FEATDB_VERSION);
	out[6] = (uint8_t)dtype;
	out[7] = (uint8_t)split;
	put_u32(out + 8, (uint32_t)dim);
	put_u32(out + 12, (uint32_t)cls);
	put_u32(out + 20, 0);
	if (dtype == FEATDB_F32) {
		for (int i = 0; i < dim; i++, p += 4)
			put_u32(p, float_bits(vec[i]));
	} else {
		for (int i = 0; i < dim; i++, p += 2)
			put_u16(p, featdb_f32_to_f16(vec[i]));
	}
	put_u32(out + 16, rec_crc(out, size));
	return 0;
}

int featdb_rec_decode(const void *buf, size_t len, featdb_rec_t *rec, char *err)
{
	const uint8_t *b = buf;
	uint32_t version, dtype, split, dim, cls, crc, want;
	size_t size;

	if (!b || len < FEATDB_HEADER)
		return err_set(err, ERR_FORMAT, "record is %zu bytes, shorter than "
			       "the %d-byte header", b ? len : 0, FEATDB_HEADER);
	if (memcmp(b, FEATDB_MAGIC, 4) != 0)
		return err_set(err, ERR_FORMAT, "bad magic %02x %02x %02x %02x "
			       "(not a " FEATDB_MAGIC " record)", b[0], b[1], b[2], b[3]);
	version = get_u16(b + 4);
	if (version != FEATDB_VERSION)
		return err_set(err, ERR_FORMAT, "record format version %u, this "
			       "program reads version %d", version, FEATDB_VERSION);
	dtype = b[6];
	if (!dtype_size((int)dtype))
		return err_set(err, ERR_FORMAT, "unknown dtype %u (1 float32, "
			       "2 float16)", dtype);
	split = b[7];
	if (split > FEATDB_TEST)
		return err_set(err, ERR_FORMAT, "split %u is not 0 (train), "
			       "1 (valid) or 2 (test)", split);
	dim = get_u32(b + 8);
	if (dim == 0 || dim > INT_MAX)
		return err_set(err, ERR_FORMAT, "dim %u is out of range", dim);
	if (get_u32(b + 20) != 0)
		return err_set(err, ERR_FORMAT, "reserved bytes 20..23 are not zero");
	size = featdb_rec_size((int)dtype, (int)dim);
	if (!size || len != size)
		return err_set(err, ERR_FORMAT, "record is %zu bytes, its header "
			       "says %zu (dim %u, dtype %u)", len, size, dim, dtype);
	crc = get_u32(b + 16);
	want = rec_crc(b, len);
	if (crc != want)
		return err_set(err, ERR_FORMAT, "CRC mismatch: stored %08x, "
			       "computed %08x", crc, want);
	cls = get_u32(b + 12);
	if (rec) {
		rec->dtype = (int)dtype;
		rec->split = (int)split;
		rec->dim = (int)dim;
		/* Two's complement by arithmetic: the conversion of a uint32
		 * above INT32_MAX to int32_t is implementation-defined. */
		rec->cls = cls <= INT32_MAX ? (int32_t)cls : -(int32_t)(~cls) - 1;
		rec->data = b + FEATDB_HEADER;
	}
	return 0;
}

void featdb_rec_vector(const featdb_rec_t *rec, float *out)
{
	const uint8_t *p = rec->data;

	if (rec->dtype == FEATDB_F32) {
		for (int i = 0; i < rec->dim; i++, p += 4)
			out[i] = bits_float(get_u32(p));
	} else {
		for (int i = 0; i < rec->dim; i++, p += 2)
			out[i] = featdb_f16_to_f32(get_u16(p));
	}
}

/* ---- the store ---- */

/* Maps an LMDB or errno code to ours; at_open says the environment is just
 * being opened, where a panic means the file was never a sound store. */
static int lmdb_code(int rc, int at_open)
{
	switch (rc) {
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INCOMPATIBLE:
	case MDB_BAD_VALSIZE:
		return ERR_FORMAT;
	case MDB_PANIC:
		return at_open ? ERR_FORMAT : ERR_IO;
	case ENOMEM:
		return ERR_NOMEM;
	case ENOENT:
		return ERR_MISSING;
	default:
		return ERR_IO;
	}
}

static int lmdb_fail(const featdb_t *db, int rc, const char *what, char *err)
{
	return err_set(err, lmdb_code(rc, 0), "%s: %s: %s", db->path, what,
		       mdb_strerror(rc));
}

/* mdb_txn_begin, adopting a larger map when a writer in another process
 * grew it past ours (MDB_MAP_RESIZED).  Callers hold no other transaction,
 * which mdb_env_set_mapsize requires.  Returns an LMDB code. */
static int txn_begin(featdb_t *db, unsigned flags, MDB_txn **txn)
{
	int rc;

	*txn = NULL;
	while ((rc = mdb_txn_begin(db->env, NULL, flags, txn)) == MDB_MAP_RESIZED) {
		rc = mdb_env_set_mapsize(db->env, 0);
		if (rc)
			break;
	}
	if (rc)
		*txn = NULL;
	return rc;
}

/* LMDB does not write the pages a transaction allocated and freed again
 * ("loose" pages), so data.mdb may end before the last page its meta names.
 * Keeping the file at least as long as the map (sparse, as LMDB's own
 * MDB_WRITEMAP does) makes "shorter than its last page" mean truncated,
 * which featdb_open checks.  Called inside a write transaction: the write
 * lock keeps other writers from extending the file meanwhile. */
static int file_extend(featdb_t *db, char *err)
{
	MDB_envinfo info;
	struct stat st;
	int fd, rc;

	if ((rc = mdb_env_info(db->env, &info)) != 0 ||
	    (rc = mdb_env_get_fd(db->env, &fd)) != 0)
		return lmdb_fail(db, rc, "env info", err);
	if (fstat(fd, &st) != 0)
		return err_set(err, ERR_IO, "%s/data.mdb: %s", db->path, strerror(errno));
	if ((uint64_t)st.st_size >= (uint64_t)info.me_mapsize)
		return 0;
	if (info.me_mapsize > (size_t)INT64_MAX ||
	    ftruncate(fd, (off_t)info.me_mapsize) != 0)
		return err_set(err, ERR_IO, "%s/data.mdb: cannot extend to %zu bytes: %s",
			       db->path, info.me_mapsize, strerror(errno));
	return 0;
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
		return err_set(err, lmdb_code(rc, 1), "%s: %s", db->path,
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

/* ---- a structural check of data.mdb ----
 *
 * LMDB trusts its file: a damaged page (a node offset, a page number, a
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

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

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
	flags = get_u16(pg + 10);
	lower = get_u16(pg + 12);
	upper = get_u16(pg + 14);
	n = lower >= LM_PAGEHDR ? (lower - LM_PAGEHDR) / 2 : 0;
	if (get_u64(pg) != pgno) {
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
		size_t off = get_u16(pg + LM_PAGEHDR + 2 * i), end;
		const uint8_t *node = pg + off;
		if (off < upper || off > c->psize - LM_NODEHDR) {
			ret = chk_fail(c, pgno, "a node outside the page");
			break;
		}
		uint64_t lo = get_u16(node), hi = get_u16(node + 2);
		unsigned nflags = get_u16(node + 4), ksize = get_u16(node + 6);
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
			uint64_t ov = get_u64(pg + end);
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
	unsigned depth = get_u16(rec + 6);
	uint64_t entries = get_u64(rec + 32), root = get_u64(rec + 40), seen = 0;
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
		return lmdb_fail(db, rc, "stat", err);
	c.psize = ms.ms_psize;
	if (c.psize < 512 || !(meta = malloc(c.psize)))
		return err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
	/* The snapshot is meta page (txnid & 1) as it was when the transaction
	 * began; two commits since would have rewritten that page: try again. */
	for (int attempt = 0;; attempt++) {
		if ((rc = txn_begin(db, MDB_RDONLY, &txn)) != 0) {
			ret = lmdb_fail(db, rc, "begin", err);
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
		if (get_u32(meta + LM_PAGEHDR) != LM_MAGIC) {
			ret = err_set(err, ERR_FORMAT, "%s/data.mdb: a bad meta page",
				      db->path);
			goto done;
		}
		if (get_u64(meta + LM_META_TXNID) == id)
			break;
		mdb_txn_abort(txn);
		txn = NULL;
		if (attempt == 100) {
			ret = err_set(err, ERR_IO, "%s: the store changes too fast to be "
				      "checked", db->path);
			goto done;
		}
	}
	c.last = get_u64(meta + LM_META_LAST);
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

/* mdb_env_open believes the two meta pages: a page size or a last page
 * out of bounds there makes it map and touch memory past the file (a SIGBUS;
 * one damaged byte of a meta page did it).  Read them first, as LMDB will:
 * page 0 at offset 0, page 1 at page 0's page size. */
static int meta_precheck(featdb_t *db, const char *data, char *err)
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
		uint64_t ps = get_u32(m[i] + LM_META_DBS), last = get_u64(m[i] + LM_META_LAST);
		if (!(get_u16(m[i] + 10) & LM_P_META) ||
		    get_u32(m[i] + LM_PAGEHDR) != LM_MAGIC ||
		    get_u32(m[i] + LM_PAGEHDR + 4) != 1 ||
		    ps < 512 || ps > 65536 || (ps & (ps - 1)) || (i && ps != psize)) {
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

/* Whether the environment's main database is empty (no named database). */
static int main_empty(MDB_txn *txn)
{
	MDB_dbi main_dbi;
	MDB_stat ms;

	return mdb_dbi_open(txn, NULL, 0, &main_dbi) == 0 &&
	       mdb_stat(txn, main_dbi, &ms) == 0 && ms.ms_entries == 0;
}

/* Opens both databases, creating them in a fresh (empty) environment when
 * the store is writable; an environment holding anything else is not ours. */
static int open_dbis(featdb_t *db, char *err)
{
	static const char *const names[2] = {FEATDB_DB_FEATURES, FEATDB_DB_META};
	MDB_dbi *dbis[2] = {&db->features, &db->meta};
	MDB_txn *txn = NULL;
	unsigned flags = 0;
	int rc, ret;

	rc = txn_begin(db, db->rdonly ? MDB_RDONLY : 0, &txn);
	if (rc) {
		ret = err_set(err, lmdb_code(rc, 1), "%s: begin: %s", db->path,
			      mdb_strerror(rc));
		goto fail;
	}
	if (!db->rdonly) {
		MDB_dbi main_dbi;
		MDB_stat ms;
		if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
		    (rc = mdb_stat(txn, main_dbi, &ms)) != 0) {
			ret = err_set(err, lmdb_code(rc, 1), "%s: %s", db->path,
				      mdb_strerror(rc));
			goto fail;
		}
		if (ms.ms_entries == 0)
			flags = MDB_CREATE;
	}
	for (int i = 0; i < 2; i++) {
		rc = mdb_dbi_open(txn, names[i], flags, dbis[i]);
		if (rc == MDB_NOTFOUND && db->rdonly && main_empty(txn)) {
			/* What extract's first transaction, cut short (a crash, a
			 * full disk) or still to come, leaves. */
			ret = err_set(err, ERR_MISSING, "%s: an empty store (nothing "
				      "was written yet)", db->path);
			goto fail;
		}
		if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
			ret = err_set(err, ERR_FORMAT, "%s: an LMDB environment but not "
				      "a feature store (no \"%s\" database)",
				      db->path, names[i]);
			goto fail;
		}
		if (rc) {
			ret = err_set(err, lmdb_code(rc, 1), "%s: database \"%s\": %s",
				      db->path, names[i], mdb_strerror(rc));
			goto fail;
		}
	}
	if (flags && (ret = file_extend(db, err)) != 0)
		goto fail;
	/* Committing (even a read transaction) keeps the handles for later
	 * transactions; aborting would close them. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		ret = err_set(err, lmdb_code(rc, 1), "%s: commit: %s", db->path,
			      mdb_strerror(rc));
		goto fail;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return ret;
}

/* LMDB writes lock.mdb through a shared mapping, and on a full disk the
 * first store to a page with no block behind it is a SIGBUS, not an error
 * (a new store on a full disk crashed extract).  Reserving the blocks of a
 * new lock file first turns that into ENOSPC here.  KEEP_SIZE: the size is
 * LMDB's to choose.  A lock file already in use is left alone, so that
 * readers still open a store on a full disk.  Only the lack of space is an
 * error: for anything else (no write access, no fallocate) LMDB has its say. */
static int lock_reserve(const char *path, char *err)
{
	char *lock = NULL;
	struct stat st;
	int fd, rc = 0;

	if (asprintf(&lock, "%s/lock.mdb", path) < 0)
		return err_set(err, ERR_NOMEM, "%s: out of memory", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && st.st_size < FEATDB_LOCK_BYTES &&
		    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, FEATDB_LOCK_BYTES) != 0 &&
		    (errno == ENOSPC || errno == EDQUOT))
			rc = err_set(err, ERR_IO, "%s: %s", lock, strerror(errno));
		close(fd);
	}
	free(lock);
	return rc;
}

int featdb_open(const char *path, int flags, featdb_t **out, char *err)
{
	featdb_t *db = NULL;
	char *data = NULL;
	struct stat st;
	size_t plen;
	int fresh = 0, rc, ret;

	if (out)
		*out = NULL;
	if (!path || !*path || !out || (flags != FEATDB_RDONLY && flags != FEATDB_CREATE))
		return err_set(err, ERR_ARG, "featdb_open: bad arguments");
	plen = strlen(path);
	db = calloc(1, sizeof *db);
	if (!db || plen > SIZE_MAX - sizeof "/data.mdb" ||
	    !(db->path = strdup(path)) || !(data = malloc(plen + sizeof "/data.mdb"))) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", path);
		goto fail;
	}
	memcpy(data, path, plen);
	memcpy(data + plen, "/data.mdb", sizeof "/data.mdb");
	db->rdonly = flags == FEATDB_RDONLY;

	if (stat(path, &st) != 0) {
		int e = errno;
		if (e != ENOENT || db->rdonly) {
			ret = err_set(err, e == ENOENT ? ERR_MISSING : ERR_IO, "%s: %s",
				      path, e == ENOENT ? "no such feature store" : strerror(e));
			goto fail;
		}
		/* 0777 lets the umask decide, as for any new directory. */
		if (mkdir(path, 0777) != 0 && (e = errno) != EEXIST) {
			ret = err_set(err, e == ENOENT ? ERR_MISSING : ERR_IO,
				      "%s: cannot create the store: %s", path, strerror(e));
			goto fail;
		}
		if (stat(path, &st) != 0) {
			ret = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
			goto fail;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = err_set(err, ERR_FORMAT, "%s: not a directory (a feature store "
			      "is a directory)", path);
		goto fail;
	}
	/* Look before LMDB does: a read-only open of a directory that holds no
	 * store must not leave a lock.mdb behind, and LMDB takes an empty data
	 * file for a new environment, which read-only cannot initialise. */
	if (stat(data, &st) != 0) {
		if (errno != ENOENT) {
			ret = err_set(err, ERR_IO, "%s: %s", data, strerror(errno));
			goto fail;
		}
		if (db->rdonly) {
			ret = err_set(err, ERR_MISSING, "%s: no data.mdb, not a feature "
				      "store", path);
			goto fail;
		}
		fresh = 1;
	} else if (st.st_size == 0) {
		if (db->rdonly) {
			ret = err_set(err, ERR_FORMAT, "%s is empty, not a feature store", data);
			goto fail;
		}
		fresh = 1;
	}

	if (!fresh && (ret = meta_precheck(db, data, err)) != 0)
		goto fail;
	if ((ret = lock_reserve(path, err)) != 0)
		goto fail;
	if ((rc = mdb_env_create(&db->env)) != 0) {
		ret = err_set(err, lmdb_code(rc, 1), "%s: %s", path, mdb_strerror(rc));
		goto fail;
	}
	/* An existing store keeps the map size recorded in it (LMDB's default
	 * when none is set); only a new one starts small. */
	if ((rc = mdb_env_set_maxdbs(db->env, FEATDB_MAXDBS)) != 0 ||
	    (fresh && (rc = mdb_env_set_mapsize(db->env, FEATDB_MAP_INIT)) != 0)) {
		ret = err_set(err, lmdb_code(rc, 1), "%s: %s", path, mdb_strerror(rc));
		goto fail;
	}
	rc = mdb_env_open(db->env, path, db->rdonly ? MDB_RDONLY : 0, 0666);
	if (rc) {
		if (rc == EACCES || rc == EPERM)
			ret = err_set(err, ERR_IO, "%s: %s (any open, even read-only, "
				      "needs write access to the store's lock.mdb)", path,
				      mdb_strerror(rc));
		else if (rc == ENOSPC || rc == EDQUOT || rc == EROFS || rc == EIO)
			ret = err_set(err, ERR_IO, "%s: cannot write the store: %s",
				      path, mdb_strerror(rc));
		else
			ret = err_set(err, lmdb_code(rc, 1), "%s: not a usable LMDB "
				      "environment: %s", path, mdb_strerror(rc));
		goto fail;
	}
	if ((ret = file_check_size(db, err)) != 0 || (ret = store_check(db, err)) != 0 ||
	    (ret = open_dbis(db, err)) != 0)
		goto fail;
	free(data);
	*out = db;
	return 0;
fail:
	free(data);
	featdb_close(db);
	return ret;
}

void featdb_close(featdb_t *db)
{
	if (!db)
		return;
	/* mdb_env_close also discards an environment whose open failed. */
	if (db->env)
		mdb_env_close(db->env);
	free(db->path);
	free(db);
}

int featdb_max_key(featdb_t *db)
{
	return mdb_env_get_maxkeysize(db->env);
}

static int key_check(featdb_t *db, const char *key, MDB_val *k, char *err)
{
	size_t len;
	int max;

	if (!key)
		return err_set(err, ERR_ARG, "%s: NULL key", db->path);
	len = strlen(key);
	max = mdb_env_get_maxkeysize(db->env);
	if (len == 0 || len > (size_t)max)
		return err_set(err, ERR_ARG, "%s: key '%.*s%s' is %zu bytes, keys "
			       "must have 1 to %d", db->path, FEATDB_KEY_QUOTE, key,
			       len > FEATDB_KEY_QUOTE ? "..." : "", len, max);
	k->mv_size = len;
	k->mv_data = (void *)key;
	return 0;
}

int featdb_has(featdb_t *db, const char *key, char *err)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, ret;

	if (!db)
		return err_set(err, ERR_ARG, "featdb_has: NULL store");
	if ((ret = key_check(db, key, &k, err)) != 0)
		return ret;
	if ((rc = txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return lmdb_fail(db, rc, "begin", err);
	rc = mdb_get(txn, db->features, &k, &v);
	if (rc == 0)
		ret = 1;
	else if (rc == MDB_NOTFOUND)
		ret = 0;
	else
		ret = lmdb_fail(db, rc, "get", err);
	mdb_txn_abort(txn);
	return ret;
}

int featdb_get(featdb_t *db, const char *key, uint8_t **val, size_t *len,
	       char *err)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	int rc, ret;

	if (val)
		*val = NULL;
	if (len)
		*len = 0;
	if (!db || !val || !len)
		return err_set(err, ERR_ARG, "featdb_get: NULL argument");
	if ((ret = key_check(db, key, &k, err)) != 0)
		return ret;
	if ((rc = txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return lmdb_fail(db, rc, "begin", err);
	rc = mdb_get(txn, db->features, &k, &v);
	if (rc == MDB_NOTFOUND) {
		ret = err_set(err, ERR_MISSING, "%s: key '%.*s' is not in the store",
			      db->path, FEATDB_KEY_QUOTE, key);
		goto done;
	}
	if (rc) {
		ret = lmdb_fail(db, rc, "get", err);
		goto done;
	}
	/* The value lives in the map only while the transaction does. */
	*val = malloc(v.mv_size ? v.mv_size : 1);
	if (!*val) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
		goto done;
	}
	memcpy(*val, v.mv_data, v.mv_size);
	*len = v.mv_size;
	ret = 0;
done:
	mdb_txn_abort(txn);
	return ret;
}

/* featdb_foreach's walk, inside the read transaction txn. */
static int foreach_txn(featdb_t *db, MDB_txn *txn, featdb_foreach_fn fn,
		       void *ctx, char *err)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	char why[ERR_LEN];
	int rc, ret = 0;

	if ((rc = mdb_cursor_open(txn, db->features, &cur)) != 0)
		return lmdb_fail(db, rc, "cursor", err);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		featdb_rec_t rec;
		int ok = featdb_rec_decode(v.mv_data, v.mv_size, &rec, why) == 0;
		ret = fn(ctx, k.mv_data, k.mv_size, ok ? &rec : NULL, ok ? NULL : why);
		if (ret)
			goto done;
	}
	if (rc != MDB_NOTFOUND)
		ret = lmdb_fail(db, rc, "cursor", err);
done:
	mdb_cursor_close(cur);
	return ret;
}

int featdb_foreach(featdb_t *db, featdb_foreach_fn fn, void *ctx, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !fn)
		return err_set(err, ERR_ARG, "featdb_foreach: NULL argument");
	if ((rc = txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return lmdb_fail(db, rc, "begin", err);
	ret = foreach_txn(db, txn, fn, ctx, err);
	mdb_txn_abort(txn);
	return ret;
}

/* ---- metadata ---- */

void featdb_meta_free(featdb_meta_t *meta)
{
	if (!meta)
		return;
	if (meta->classes)
		for (int i = 0; i < meta->nclasses; i++)
			free(meta->classes[i]);
	free(meta->classes);
	meta->classes = NULL;
	meta->nclasses = 0;
}

static void classes_free(char **names, int n)
{
	if (!names)
		return;
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Splits the stored class list (names joined by '\n'; "" is no class). */
static int classes_parse(const featdb_t *db, const MDB_val *v, char ***out,
			 int *nout, char *err)
{
	const char *s = v->mv_data, *end = s + v->mv_size;
	char **names = NULL;
	size_t n = 0;
	int ret;

	*out = NULL;
	*nout = 0;
	if (v->mv_size == 0)
		return 0;
	n = 1;
	for (const char *p = s; p < end; p++)
		n += *p == '\n';
	if (n > INT_MAX || !(names = calloc(n, sizeof *names))) {
		ret = err_set(err, ERR_NOMEM, "%s: %zu classes: out of memory",
			      db->path, n);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = (size_t)((nl ? nl : end) - s);
		if (len == 0 || memchr(s, '\0', len)) {
			ret = err_set(err, ERR_FORMAT, "%s: class %zu in the stored "
				      "list is empty or holds a NUL", db->path, i);
			goto fail;
		}
		if (!(names[i] = malloc(len + 1))) {
			ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
			goto fail;
		}
		memcpy(names[i], s, len);
		names[i][len] = '\0';
		s += len + 1;
	}
	*out = names;
	*nout = (int)n;
	return 0;
fail:
	classes_free(names, (int)n);
	return ret;
}

/* Parses a decimal string of at most 20 digits into *out. */
static int parse_u64(const MDB_val *v, uint64_t *out)
{
	const char *s = v->mv_data;
	uint64_t x = 0;

	if (v->mv_size == 0 || v->mv_size > 20)
		return -1;
	for (size_t i = 0; i < v->mv_size; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

static int meta_value(featdb_t *db, MDB_txn *txn, const char *name, MDB_val *v,
		      char *err)
{
	MDB_val k = {strlen(name), (void *)name};
	int rc = mdb_get(txn, db->meta, &k, v);

	if (rc == MDB_NOTFOUND)
		return err_set(err, ERR_FORMAT, "%s: metadata \"%s\" is missing",
			       db->path, name);
	if (rc)
		return lmdb_fail(db, rc, name, err);
	return 0;
}

static int meta_string(featdb_t *db, MDB_txn *txn, const char *name, char *dst,
		       size_t cap, char *err)
{
	MDB_val v;
	int ret = meta_value(db, txn, name, &v, err);

	if (ret)
		return ret;
	if (v.mv_size >= cap || memchr(v.mv_data, '\0', v.mv_size))
		return err_set(err, ERR_FORMAT, "%s: metadata \"%s\" is longer than "
			       "%zu bytes or holds a NUL", db->path, name, cap - 1);
	memcpy(dst, v.mv_data, v.mv_size);
	dst[v.mv_size] = '\0';
	return 0;
}

static int val_equals(const MDB_val *v, const char *s)
{
	return v->mv_size == strlen(s) && memcmp(v->mv_data, s, v->mv_size) == 0;
}

int featdb_model_known(const char *s)
{
	return s && (strcmp(s, FEATDB_MODEL) == 0 ||
		     strcmp(s, FEATDB_MODEL_VGGFACE) == 0);
}

/* featdb_meta_get's reading, inside the read transaction txn; on failure
 * meta is left empty. */
static int meta_read(featdb_t *db, MDB_txn *txn, featdb_meta_t *meta, char *err)
{
	MDB_val k, v;
	uint64_t x;
	int rc, ret;

	memset(meta, 0, sizeof *meta);
	k.mv_size = strlen("format");
	k.mv_data = "format";
	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc) {
		ret = rc == MDB_NOTFOUND ?
			err_set(err, ERR_MISSING, "%s: the store has no metadata "
				"yet (nothing was written)", db->path) :
			lmdb_fail(db, rc, "format", err);
		goto fail;
	}
	if (!val_equals(&v, FEATDB_FORMAT)) {
		ret = err_set(err, ERR_FORMAT, "%s: store format '%.*s', this program "
			      "reads '" FEATDB_FORMAT "'", db->path,
			      v.mv_size > 64 ? 64 : (int)v.mv_size, (const char *)v.mv_data);
		goto fail;
	}
	if ((ret = meta_value(db, txn, "model", &v, err)) != 0)
		goto fail;
	if (!val_equals(&v, FEATDB_MODEL) && !val_equals(&v, FEATDB_MODEL_VGGFACE)) {
		ret = err_set(err, ERR_MISMATCH, "%s: the store holds '%.*s' features, "
			      "not '" FEATDB_MODEL "' or '" FEATDB_MODEL_VGGFACE "'",
			      db->path, v.mv_size > 64 ? 64 : (int)v.mv_size,
			      (const char *)v.mv_data);
		goto fail;
	}
	memcpy(meta->model, v.mv_data, v.mv_size);
	meta->model[v.mv_size] = '\0';
	if ((ret = meta_string(db, txn, "fingerprint", meta->fingerprint,
			       sizeof meta->fingerprint, err)) != 0 ||
	    (ret = meta_string(db, txn, "preprocess", meta->preprocess,
			       sizeof meta->preprocess, err)) != 0 ||
	    (ret = meta_string(db, txn, "version", meta->version,
			       sizeof meta->version, err)) != 0)
		goto fail;
	if ((ret = meta_value(db, txn, "dim", &v, err)) != 0)
		goto fail;
	if (parse_u64(&v, &x) || x == 0 || x > INT_MAX) {
		ret = err_set(err, ERR_FORMAT, "%s: metadata \"dim\" is not a "
			      "dimension", db->path);
		goto fail;
	}
	meta->dim = (int)x;
	if ((ret = meta_value(db, txn, "dtype", &v, err)) != 0)
		goto fail;
	if (val_equals(&v, "f32")) {
		meta->dtype = FEATDB_F32;
	} else if (val_equals(&v, "f16")) {
		meta->dtype = FEATDB_F16;
	} else {
		ret = err_set(err, ERR_FORMAT, "%s: metadata \"dtype\" is not f32 or "
			      "f16", db->path);
		goto fail;
	}
	if ((ret = meta_value(db, txn, "count", &v, err)) != 0)
		goto fail;
	if (parse_u64(&v, &meta->count)) {
		ret = err_set(err, ERR_FORMAT, "%s: metadata \"count\" is not a "
			      "number", db->path);
		goto fail;
	}
	if ((ret = meta_value(db, txn, "classes", &v, err)) != 0 ||
	    (ret = classes_parse(db, &v, &meta->classes, &meta->nclasses, err)) != 0)
		goto fail;
	return 0;
fail:
	featdb_meta_free(meta);
	return ret;
}

int featdb_meta_get(featdb_t *db, featdb_meta_t *meta, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !meta)
		return err_set(err, ERR_ARG, "featdb_meta_get: NULL argument");
	memset(meta, 0, sizeof *meta);
	if ((rc = txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return lmdb_fail(db, rc, "begin", err);
	ret = meta_read(db, txn, meta, err);
	mdb_txn_abort(txn);
	return ret;
}

int featdb_scan(featdb_t *db, featdb_meta_t *meta, featdb_foreach_fn fn,
		void *ctx, char *err)
{
	MDB_txn *txn = NULL;
	int rc, ret;

	if (!db || !meta || !fn)
		return err_set(err, ERR_ARG, "featdb_scan: NULL argument");
	memset(meta, 0, sizeof *meta);
	if ((rc = txn_begin(db, MDB_RDONLY, &txn)) != 0)
		return lmdb_fail(db, rc, "begin", err);
	if ((ret = meta_read(db, txn, meta, err)) == 0)
		ret = foreach_txn(db, txn, fn, ctx, err);
	mdb_txn_abort(txn);
	return ret;
}

/* ---- writing ---- */

/* What featdb_write needs from meta, checked once before any transaction. */
static int meta_check(const featdb_t *db, const featdb_meta_t *m, char *err)
{
	if (m->dim <= 0 || !dtype_size(m->dtype))
		return err_set(err, ERR_ARG, "%s: metadata dim %d / dtype %d is not "
			       "a record shape", db->path, m->dim, m->dtype);
	if (m->nclasses < 0 || (m->nclasses > 0 && !m->classes))
		return err_set(err, ERR_ARG, "%s: bad class list (%d classes)",
			       db->path, m->nclasses);
	if (!memchr(m->model, '\0', sizeof m->model) ||
	    !memchr(m->fingerprint, '\0', sizeof m->fingerprint) ||
	    !memchr(m->preprocess, '\0', sizeof m->preprocess) ||
	    !memchr(m->version, '\0', sizeof m->version))
		return err_set(err, ERR_ARG, "%s: a metadata string is not "
			       "NUL-terminated", db->path);
	if (m->model[0] && !featdb_model_known(m->model))
		return err_set(err, ERR_ARG, "%s: model '%s' is not '" FEATDB_MODEL
			       "' or '" FEATDB_MODEL_VGGFACE "'", db->path, m->model);
	for (int i = 0; i < m->nclasses; i++) {
		const char *c = m->classes[i];
		if (!c || !*c || strchr(c, '\n'))
			return err_set(err, ERR_ARG, "%s: class %d is empty or holds a "
				       "newline", db->path, i);
		/* Indices are Keras' (sorted names), and renumbering looks
		 * names up by binary search. */
		if (i > 0 && classes_cmp(m->classes[i - 1], c) >= 0)
			return err_set(err, ERR_ARG, "%s: classes are not sorted and "
				       "unique ('%s' then '%s')", db->path,
				       m->classes[i - 1], c);
	}
	return 0;
}

static int class_index(const featdb_meta_t *m, const char *name)
{
	int lo = 0, hi = m->nclasses - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2, c = classes_cmp(m->classes[mid], name);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Joins the class names with '\n' into *out (malloc'd, *len bytes). */
static int classes_join(const featdb_t *db, const featdb_meta_t *m, char **out,
			size_t *len, char *err)
{
	size_t total = 0, pos = 0;
	char *s;

	for (int i = 0; i < m->nclasses; i++) {
		size_t l = strlen(m->classes[i]) + (i > 0);
		if (total > SIZE_MAX - l - 1)
			return err_set(err, ERR_NOMEM, "%s: class list too long", db->path);
		total += l;
	}
	if (!(s = malloc(total + 1)))
		return err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
	for (int i = 0; i < m->nclasses; i++) {
		size_t l = strlen(m->classes[i]);
		if (i > 0)
			s[pos++] = '\n';
		memcpy(s + pos, m->classes[i], l);
		pos += l;
	}
	s[pos] = '\0';
	*out = s;
	*len = total;
	return 0;
}

/* A failed LMDB call inside the write transaction: MDB_MAP_FULL is reported
 * through *full, for featdb_write to grow the map and start again. */
static int write_fail(const featdb_t *db, int rc, const char *what, int *full,
		      char *err)
{
	if (rc == MDB_MAP_FULL)
		*full = 1;
	return lmdb_fail(db, rc, what, err);
}

/* Rewrites the class of every stored record from the stored list's numbering
 * to meta's, inside txn. */
static int renumber(featdb_t *db, MDB_txn *txn, const featdb_meta_t *meta,
		    int *full, char *err)
{
	MDB_val k = {sizeof "classes" - 1, "classes"}, v;
	MDB_cursor *cur = NULL;
	char **old = NULL;
	int *map = NULL;
	uint8_t *buf = NULL, *kbuf = NULL;
	size_t cap = 0, kcap = 0;
	int nold = 0, identity = 1, rc, ret;
	char why[ERR_LEN];

	rc = mdb_get(txn, db->meta, &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return write_fail(db, rc, "classes", full, err);
	if ((ret = classes_parse(db, &v, &old, &nold, err)) != 0)
		return ret;
	if (nold == 0)
		goto done;
	if (!(map = malloc((size_t)nold * sizeof *map))) {
		ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
		goto done;
	}
	for (int i = 0; i < nold; i++) {
		map[i] = class_index(meta, old[i]);
		if (map[i] < 0) {
			ret = err_set(err, ERR_ARG, "%s: class '%s' is in the store but "
				      "not in the new class list", db->path, old[i]);
			goto done;
		}
		identity &= map[i] == i;
	}
	if (identity)
		goto done;
	if ((rc = mdb_cursor_open(txn, db->features, &cur)) != 0) {
		ret = write_fail(db, rc, "cursor", full, err);
		goto done;
	}
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		featdb_rec_t rec;
		MDB_val nv;
		int qlen = k.mv_size > FEATDB_KEY_QUOTE ? FEATDB_KEY_QUOTE : (int)k.mv_size;
		/* A record whose class cannot be trusted cannot be renumbered;
		 * stopping keeps the store as it was. */
		if (featdb_rec_decode(v.mv_data, v.mv_size, &rec, why) != 0) {
			ret = err_set(err, ERR_FORMAT, "%s: cannot renumber record "
				      "'%.*s': %s", db->path, qlen,
				      (const char *)k.mv_data, why);
			goto done;
		}
		if (rec.cls < 0 || rec.cls >= nold) {
			ret = err_set(err, ERR_FORMAT, "%s: record '%.*s' has class %d, "
				      "the store lists %d", db->path, qlen,
				      (const char *)k.mv_data, (int)rec.cls, nold);
			goto done;
		}
		if (map[rec.cls] == rec.cls)
			continue;
		/* The value in the map is read-only: edit a copy. */
		if (v.mv_size > cap) {
			free(buf);
			if (!(buf = malloc(v.mv_size))) {
				ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
				goto done;
			}
			cap = v.mv_size;
		}
		memcpy(buf, v.mv_data, v.mv_size);
		put_u32(buf + 12, (uint32_t)map[rec.cls]);
		put_u32(buf + 16, rec_crc(buf, v.mv_size));
		nv.mv_size = v.mv_size;
		nv.mv_data = buf;
		/* Not mdb_cursor_put(MDB_CURRENT): with LMDB 0.9.24 it loses
		 * records whose values sit on overflow pages (4096-d vectors do;
		 * test_class_renumber shows it).  A plain put under a copy of the
		 * key, then re-seeking the cursor to it, is safe. */
		if (k.mv_size > kcap) {
			free(kbuf);
			if (!(kbuf = malloc(k.mv_size))) {
				ret = err_set(err, ERR_NOMEM, "%s: out of memory", db->path);
				goto done;
			}
			kcap = k.mv_size;
		}
		memcpy(kbuf, k.mv_data, k.mv_size);
		k.mv_data = kbuf;
		if ((rc = mdb_put(txn, db->features, &k, &nv, 0)) != 0 ||
		    (rc = mdb_cursor_get(cur, &k, &v, MDB_SET)) != 0) {
			ret = write_fail(db, rc, "renumber", full, err);
			goto done;
		}
	}
	ret = rc == MDB_NOTFOUND ? 0 : write_fail(db, rc, "cursor", full, err);
done:
	mdb_cursor_close(cur);
	free(buf);
	free(kbuf);
	free(map);
	classes_free(old, nold);
	return ret;
}

static int put_string(featdb_t *db, MDB_txn *txn, const char *name,
		      const char *value, size_t len, int *full, char *err)
{
	MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)value};
	int rc = mdb_put(txn, db->meta, &k, &v, 0);

	return rc ? write_fail(db, rc, name, full, err) : 0;
}

/* LMDB 0.9 reports a short write at commit as EIO, and a full disk gives
 * exactly that: the write takes the last free blocks and stops.  A file
 * system with no block left afterwards names the real cause. */
static int commit_fail(const featdb_t *db, int rc, int *full, char *err)
{
	struct statvfs vfs;

	if (rc == EIO && statvfs(db->path, &vfs) == 0 && vfs.f_bavail == 0)
		return err_set(err, ERR_IO, "%s: commit: %s (a short write: %s)",
			       db->path, mdb_strerror(rc), strerror(ENOSPC));
	return write_fail(db, rc, "commit", full, err);
}

/* One attempt at featdb_write's transaction; classes is meta's joined list. */
static int write_txn(featdb_t *db, const featdb_meta_t *meta, const char *classes,
		     size_t classes_len, int n, const char *const *keys,
		     const uint8_t *const *vals, const size_t *lens,
		     uint64_t *count, int *full, char *err)
{
	/* Writers from before VGG-Face leave the model empty: theirs is VGG16. */
	const char *model = meta->model[0] ? meta->model : FEATDB_MODEL;
	MDB_txn *txn = NULL;
	MDB_stat ms;
	char num[32];
	int rc, ret;

	if ((rc = txn_begin(db, 0, &txn)) != 0)
		return write_fail(db, rc, "begin", full, err);
	if ((ret = renumber(db, txn, meta, full, err)) != 0)
		goto fail;
	for (int i = 0; i < n; i++) {
		MDB_val k = {strlen(keys[i]), (void *)keys[i]};
		MDB_val v = {lens[i], (void *)vals[i]};
		if ((rc = mdb_put(txn, db->features, &k, &v, 0)) != 0) {
			ret = write_fail(db, rc, "put", full, err);
			goto fail;
		}
	}
	if ((rc = mdb_stat(txn, db->features, &ms)) != 0) {
		ret = write_fail(db, rc, "stat", full, err);
		goto fail;
	}
	*count = ms.ms_entries;
	snprintf(num, sizeof num, "%d", meta->dim);
	if ((ret = put_string(db, txn, "format", FEATDB_FORMAT,
			      strlen(FEATDB_FORMAT), full, err)) != 0 ||
	    (ret = put_string(db, txn, "model", model, strlen(model), full,
			      err)) != 0 ||
	    (ret = put_string(db, txn, "fingerprint", meta->fingerprint,
			      strlen(meta->fingerprint), full, err)) != 0 ||
	    (ret = put_string(db, txn, "preprocess", meta->preprocess,
			      strlen(meta->preprocess), full, err)) != 0 ||
	    (ret = put_string(db, txn, "version", meta->version,
			      strlen(meta->version), full, err)) != 0 ||
	    (ret = put_string(db, txn, "dim", num, strlen(num), full, err)) != 0 ||
	    (ret = put_string(db, txn, "dtype", meta->dtype == FEATDB_F32 ? "f32" : "f16",
			      3, full, err)) != 0 ||
	    (ret = put_string(db, txn, "classes", classes, classes_len, full,
			      err)) != 0)
		goto fail;
	snprintf(num, sizeof num, "%llu", (unsigned long long)*count);
	if ((ret = put_string(db, txn, "count", num, strlen(num), full, err)) != 0 ||
	    (ret = file_extend(db, err)) != 0)
		goto fail;
	/* Commit frees the transaction whether or not it succeeds. */
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		ret = commit_fail(db, rc, full, err);
		goto fail;
	}
	return 0;
fail:
	mdb_txn_abort(txn);
	return ret;
}

/* Doubles the map; the caller holds no transaction. */
static int map_grow(featdb_t *db, char *err)
{
	MDB_envinfo info;
	int rc;

	if ((rc = mdb_env_info(db->env, &info)) != 0)
		return lmdb_fail(db, rc, "env info", err);
	if (info.me_mapsize > SIZE_MAX / 2)
		return err_set(err, ERR_NOMEM, "%s: the map cannot grow past %zu bytes",
			       db->path, info.me_mapsize);
	rc = mdb_env_set_mapsize(db->env, info.me_mapsize * 2);
	if (rc)
		return err_set(err, lmdb_code(rc, 0), "%s: cannot grow the map to %zu "
			       "bytes: %s", db->path, info.me_mapsize * 2,
			       mdb_strerror(rc));
	return 0;
}

int featdb_write(featdb_t *db, featdb_meta_t *meta, int n, const char *const *keys,
		 const uint8_t *const *vals, const size_t *lens, char *err)
{
	char *classes = NULL;
	size_t classes_len = 0;
	uint64_t count = 0;
	int full, ret;
	char why[ERR_LEN];

	if (!db || !meta || n < 0 || (n > 0 && (!keys || !vals || !lens)))
		return err_set(err, ERR_ARG, "featdb_write: bad arguments");
	if (db->rdonly)
		return err_set(err, ERR_ARG, "%s: the store was opened read-only",
			       db->path);
	if ((ret = meta_check(db, meta, err)) != 0)
		return ret;
	/* Check every record before the transaction, so that a bad argument
	 * is reported as such and never half-written. */
	for (int i = 0; i < n; i++) {
		MDB_val k;
		featdb_rec_t rec;
		if ((ret = key_check(db, keys[i], &k, err)) != 0)
			return ret;
		if (!vals[i] || featdb_rec_decode(vals[i], lens[i], &rec, why) != 0)
			return err_set(err, ERR_ARG, "%s: record '%.*s': %s", db->path,
				       FEATDB_KEY_QUOTE, keys[i],
				       vals[i] ? why : "NULL value");
		if (rec.dim != meta->dim || rec.dtype != meta->dtype ||
		    rec.cls < 0 || rec.cls >= meta->nclasses)
			return err_set(err, ERR_ARG, "%s: record '%.*s' has dim %d, "
				       "dtype %d, class %d; the store takes dim %d, "
				       "dtype %d, classes 0..%d", db->path,
				       FEATDB_KEY_QUOTE, keys[i], rec.dim, rec.dtype,
				       (int)rec.cls, meta->dim, meta->dtype,
				       meta->nclasses - 1);
	}
	if ((ret = classes_join(db, meta, &classes, &classes_len, err)) != 0)
		return ret;
	for (;;) {
		full = 0;
		ret = write_txn(db, meta, classes, classes_len, n, keys, vals, lens,
				&count, &full, err);
		if (!full)
			break;
		/* The transaction was aborted, so no transaction of ours is
		 * active: the map may be grown now, then all of it redone. */
		if ((ret = map_grow(db, err)) != 0)
			break;
	}
	if (ret == 0)
		meta->count = count;
	free(classes);
	return ret;
}
