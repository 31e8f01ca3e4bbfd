/* featdb.h - the feature store: one LMDB environment (a directory) holding
 * the vector of every image at one tap (fc2 by default; net/model.h),
 * keyed by the image's path relative to the input folder, plus the
 * metadata that says how the vectors were made.
 *
 * Record format (the value of each key in database "features"), version 1,
 * every field little-endian, defined here and nowhere else:
 *
 *   offset size  field
 *   0      4     magic "VGGF"
 *   4      2     format version (1)
 *   6      1     dtype: 1 = float32, 2 = float16 (IEEE binary16)
 *   7      1     split: 0 train, 1 valid, 2 test
 *   8      4     dim: number of elements (4096 for VGG16 fc2, the tap's
 *                dim), uint32
 *   12     4     class: index into the store's class list, int32
 *   16     4     CRC-32 (IEEE, as zlib's crc32) of bytes 0..15 and 24..end
 *   20     4     reserved, 0
 *   24     dim * (4 or 2)  the vector
 *
 * Metadata (database "meta"), each value a UTF-8 string without NUL:
 *   "format"      "vggfeat 1"
 *   "model"       what the vectors are, model and tap: "vgg16-fc2" or
 *                 "vggface-fc7" at the default tap, "vgg16-fc1",
 *                 "vgg16-block5_pool" (Flatten), "vgg16-block5_pool-avg",
 *                 "vgg16-block5_pool-max", and VGG-Face's "vggface-fc6",
 *                 "vggface-pool5[-avg|-max]" (the registry's
 *                 model_store_name, net/model.h); a store holds one
 *   "fingerprint" the weights' fingerprint over the layers the tap needs
 *                 (weights_fingerprint: the 13 convolutions for a pool
 *                 tap, so a full file and its _notop file make one store)
 *   "preprocess"  the preprocessing settings (the registry's preprocess,
 *                 net/model.h)
 *   "conv"        how the 3x3 convolutions were computed, extract --conv:
 *                 "winograd" or "direct" (net/vgg.h's vgg_conv_name).  The
 *                 two agree to about 3e-6, not to the bit, so a store holds
 *                 one.  Stores written before the key existed have none:
 *                 readers take them as "winograd" (FEATDB_CONV_OLD), the
 *                 only path extract had by default.
 *   "conv_sums"   "fixed" (FEATDB_SUMS_FIXED) where every vector's sums
 *                 ran in one order, the same on every CPU: in every store
 *                 extract writes since 2026-12-07.  A "direct" store
 *                 without it holds the old direct path's vectors (im2col +
 *                 OpenBLAS sgemm, whose order OpenBLAS chose by the CPU):
 *                 featdb_meta_cpu_bound, which extract does not resume.
 *                 ("winograd" stores had fixed sums before the key.)
 *   "dim", "dtype" ("4096", "f32" or "f16")
 *   "classes"     the class names in Keras' order (classes.h: its class
 *                 indices), one per line; a record's class is an index into
 *                 this list
 *   "count"       number of records
 *   "version"     the version of the program that last wrote the store
 *   "threshold.<metric>"  (optional; verify --calibrate writes it, nothing
 *                 else does) the distance at or below which two vectors
 *                 are called the same person under <metric> ("cosine",
 *                 "euclidean", "euclidean_l2"), as a decimal number, then
 *                 what the calibration measured, as name=value pairs, each
 *                 after one space: "0.412345 far=0.001 tar=0.9563
 *                 records=valid count=1240": far and tar, the false- and
 *                 true-accept rates at that distance on the pairs it was
 *                 calibrated on; records, which records formed them
 *                 ("valid" or "all"); count, the store's records then (a
 *                 store that has grown since holds a stale threshold).
 *                 Readers take the number and ignore names they do not
 *                 know; readers from before it ignore the key.  The
 *                 threshold is data beside the vectors: writing it changes
 *                 no record.
 *
 * Readers may run while a writer writes (LMDB MVCC): each read sees the last
 * committed batch.  Writes go in bounded transactions; a crash loses at most
 * the batch being written.
 */
#ifndef COMMON_STORE_FEATDB_H
#define COMMON_STORE_FEATDB_H

#include <stddef.h>
#include <stdint.h>

#define FEATDB_MAGIC "VGGF"
#define FEATDB_VERSION 1
#define FEATDB_HEADER 24
#define FEATDB_FORMAT "vggfeat 1"
/* The "conv" of a store written before the key existed (and the one
 * featdb_write writes for a meta whose conv is empty). */
#define FEATDB_CONV_OLD "winograd"
/* The "conv_sums" of a store whose sums ran in one order on every CPU. */
#define FEATDB_SUMS_FIXED "fixed"
/* The models a store may hold are the registry's (net/model.h); a store
 * made with another model, or with other preprocessing, must never be
 * mixed with another. */

enum featdb_dtype { FEATDB_F32 = 1, FEATDB_F16 = 2 };
enum featdb_split { FEATDB_TRAIN = 0, FEATDB_VALID = 1, FEATDB_TEST = 2 };

/* featdb_dtype_name: a dtype's name, as the metadata "dtype" and the
 * programs' --dtype spell it.
 *   dtype  FEATDB_F32 or FEATDB_F16
 * Returns "f32" or "f16" (a static string), or "?" for any other value. */
const char *featdb_dtype_name(int dtype);

/* featdb_dtype_parse: the dtype a name stands for, featdb_dtype_name's
 * inverse.
 *   s  a NUL-terminated name, compared exactly (case and all); may be NULL
 * Returns FEATDB_F32 or FEATDB_F16, or -1 when s names neither ("?"
 * included). */
int featdb_dtype_parse(const char *s);

/* A decoded record.  data points into the buffer given to featdb_rec_decode
 * (the vector, little-endian, possibly unaligned). */
typedef struct featdb_rec {
	int dtype;
	int split;
	int dim;
	int32_t cls;
	const uint8_t *data;
} featdb_rec_t;

/* featdb_rec_size: bytes of a record of dim elements of dtype (0 if the
 * dtype is unknown or the size overflows). */
size_t featdb_rec_size(int dtype, int dim);

/* featdb_rec_encode writes a record into out (featdb_rec_size bytes). */
int featdb_rec_encode(const float *vec, int dim, int dtype, int32_t cls,
		      int split, uint8_t *out, char *err);

/* featdb_rec_decode checks magic, version, dtype, split, length and CRC and
 * fills rec.  Returns 0, or ERR_FORMAT with the reason. */
int featdb_rec_decode(const void *buf, size_t len, featdb_rec_t *rec, char *err);

/* featdb_rec_vector converts rec's vector to float32 (out has rec->dim). */
void featdb_rec_vector(const featdb_rec_t *rec, float *out);

/* IEEE binary16 conversions, round to nearest even. */
uint16_t featdb_f32_to_f16(float f);
float featdb_f16_to_f32(uint16_t h);

/* CRC-32 (IEEE 802.3 polynomial, reflected, as zlib's crc32()); crc is the
 * running value, 0 to start. */
uint32_t featdb_crc32(uint32_t crc, const void *buf, size_t len);

/* The store. */
typedef struct featdb featdb_t;

/* A calibrated threshold (the metadata's "threshold.<metric>"). */
#define FEATDB_METRIC_MAX 24 /* a metric's name, NUL included */
#define FEATDB_MAX_THRESHOLDS 8
typedef struct featdb_threshold {
	char metric[FEATDB_METRIC_MAX]; /* [a-z0-9_], at least one */
	double value;     /* same person when the distance is <= value */
	double far, tar;  /* at value, on the calibration's pairs */
	char records[8];  /* "valid" or "all" */
	uint64_t count;   /* the store's records when it was calibrated */
} featdb_threshold_t;

typedef struct featdb_meta {
	char model[64]; /* written as VGG16's (net/model.h) when empty */
	char fingerprint[64];
	char preprocess[256];
	char conv[16];  /* "conv"; written as FEATDB_CONV_OLD when empty */
	char conv_sums[16]; /* "conv_sums"; not written when empty */
	char version[64];
	int dim;
	int dtype;
	int nclasses;
	char **classes; /* in Keras' order (classes.h), owned */
	uint64_t count;
	/* The calibrated thresholds, in the order of their metrics' names;
	 * read by featdb_meta_get, never written by featdb_write (which
	 * leaves them as they are): featdb_threshold_put writes one. */
	featdb_threshold_t thresholds[FEATDB_MAX_THRESHOLDS];
	int nthresholds;
} featdb_meta_t;

/* featdb_meta_threshold: meta's threshold for metric, or NULL. */
const featdb_threshold_t *featdb_meta_threshold(const featdb_meta_t *meta,
						const char *metric);

/* featdb_rec_check: whether the stored record buf (len bytes) is sound in
 * a store of metadata meta.  What featdb verify reports as bad, and what
 * extract extracts again.
 *   meta  the store's metadata: its dim, dtype and number of classes
 *   vec   scratch for the vector, meta->dim floats
 * Returns 0 when the record decodes (featdb_rec_decode: magic, version,
 * dtype, split, length, CRC), holds meta's dim and dtype and a class of its
 * list, and every element is finite and not negative (the network ends in
 * a ReLU); else ERR_FORMAT with the first fault in err. */
int featdb_rec_check(const featdb_meta_t *meta, const void *buf, size_t len,
		     float *vec, char *err);

/* featdb_rec_sound: featdb_rec_check's checks after the decoding, for a
 * record rec already decoded (featdb_foreach's); vec then holds its vector
 * (featdb_rec_vector).  Returns 0 or ERR_FORMAT as featdb_rec_check. */
int featdb_rec_sound(const featdb_meta_t *meta, const featdb_rec_t *rec,
		     float *vec, char *err);

/* featdb_meta_differ: the first setting in which the vectors of the
 * stores a and b were made differently, or NULL when they were made the
 * same way (an image's vector in one is, to the bit, its vector in the
 * other, but for the dtype's rounding).  The names, in the order compared:
 *   "model"                              two models' (net/model.h)
 *   "tap (extract --layer, --pooling)"   one model's, at two taps
 *   "weights fingerprint", "preprocessing", "dimension"
 *   FEATDB_SETTING_CONV                  last, as the least: the two
 *                                        paths' vectors differ in their
 *                                        last bits only
 * The dtype is how the vectors are kept, not how they were made: a caller
 * to whom it matters (featdb merge) compares it apart. */
const char *featdb_meta_differ(const featdb_meta_t *a, const featdb_meta_t *b);

/* featdb_meta_differ's name for the convolution path: the one difference
 * a caller can advise on (make one of the two again with the other's). */
#define FEATDB_SETTING_CONV "convolution path (extract --conv)"

/* featdb_meta_cpu_bound: 1 when meta's vectors came from the old direct
 * path, whose bits depend on the CPU that made them ("conv" "direct"
 * without "conv_sums" "fixed"), else 0.  featdb_meta_differ tells such a
 * store from a direct store of fixed sums by FEATDB_SETTING_CONV too. */
int featdb_meta_cpu_bound(const featdb_meta_t *meta);

/* featdb_meta_conv_name: meta's convolution path as messages name it:
 * "conv", or for a store featdb_meta_cpu_bound tells, FEATDB_CONV_OLD_DIRECT
 * (so that a message about two direct stores says which is which). */
#define FEATDB_CONV_OLD_DIRECT "direct (made before 2026-12-07, OpenBLAS' sums)"
const char *featdb_meta_conv_name(const featdb_meta_t *meta);

/* FEATDB_RDONLY reads; FEATDB_CREATE opens or creates; FEATDB_WRITE opens
 * an existing store for writing (ERR_MISSING when there is none, as
 * FEATDB_RDONLY). */
enum { FEATDB_RDONLY = 0, FEATDB_CREATE = 1, FEATDB_WRITE = 2 };

/* featdb_open opens (FEATDB_RDONLY) or opens-or-creates (FEATDB_CREATE) the
 * store at path (a directory).  ERR_MISSING when it does not exist (or holds
 * no data.mdb, or read-only, nothing yet: the state a first extract leaves
 * until its first commit), ERR_FORMAT when it is not an LMDB environment of
 * ours (not a directory, garbage or truncated data.mdb, no "features"/"meta"
 * database; for FEATDB_CREATE, a folder without data.mdb that holds other
 * files than a store's: a folder of images given for the store) or is
 * damaged: LMDB trusts its file and would crash on a
 * damaged page, so the open first checks the meta pages and walks every
 * branch and leaf page of the snapshot it reads (not the vectors: their
 * CRCs do), ERR_IO otherwise (e.g. a full disk, reported as such).  A
 * read-only open still creates or writes lock.mdb in the directory (LMDB's
 * reader table), so it needs write access there.
 * LMDB's rules apply: open a store at most once per process at a time (closing
 * a second handle would drop the first one's locks), use a handle from one
 * thread, and never in a fork()ed child. */
int featdb_open(const char *path, int flags, featdb_t **out, char *err);
void featdb_close(featdb_t *db);

/* featdb_is_store_file: whether name (a file name, no folder) is one of
 * the files a store's folder holds (LMDB's data.mdb and lock.mdb, the
 * writer lock's extract.lock), which no output may replace. */
int featdb_is_store_file(const char *name);

/* featdb_lock_writer takes the store's writer lock (an exclusive flock on
 * path/extract.lock, the name extract has always used), held until *fd is
 * closed: extract, featdb merge and featdb remove take it before they
 * write, so that two writers never meet in one store, and the second
 * refuses clearly.  0, or
 * ERR_IO (another writer holds it; or the lock file cannot be made). */
int featdb_lock_writer(const char *path, int *fd, char *err);

/* featdb_meta_get reads the metadata; ERR_MISSING on a new, empty store. */
int featdb_meta_get(featdb_t *db, featdb_meta_t *meta, char *err);
void featdb_meta_free(featdb_meta_t *meta);

/* featdb_has: 1 when key is stored, 0 when not, <0 on error. */
int featdb_has(featdb_t *db, const char *key, char *err);

/* featdb_get copies key's record into *val (malloc'd, *len bytes).
 * ERR_MISSING when absent. */
int featdb_get(featdb_t *db, const char *key, uint8_t **val, size_t *len,
	       char *err);

/* featdb_write commits n records and the metadata in one transaction (all
 * or nothing).  When the map is full it is grown and the transaction
 * retried.  keys are NUL-terminated; vals[i] has lens[i] bytes, whose class
 * indices refer to meta->classes, or is NULL: keys[i]'s record is removed
 * (nothing when there is none; lens[i] is not read).  meta->count is
 * recomputed from the database.  When meta's class list differs from the
 * stored one (people added to the folder), every stored record's class is
 * renumbered in the same transaction, so indices always follow the names
 * in Keras' order; meta's list must hold every stored name (ERR_ARG
 * otherwise).  A stored record that does not decode (featdb_rec_decode) is
 * left as it is, still failing; one that decodes with a class outside the
 * stored list would pass, renumbered or not, for someone of the new list,
 * and stops the write (ERR_FORMAT), unless the write replaces or removes
 * it (its key is one of keys).
 * Errors: ERR_ARG (read-only store; meta's classes not in order and unique;
 * a key empty or longer than featdb_max_key; a record that does not decode
 * or whose dim, dtype or class does not fit meta), ERR_FORMAT (that stored
 * record of a class outside the stored list, named), ERR_IO (LMDB or the
 * disk, e.g. "No space left on device"; the store keeps its last committed
 * state). */
int featdb_write(featdb_t *db, featdb_meta_t *meta, int n, const char *const *keys,
		 const uint8_t *const *vals, const size_t *lens, char *err);

/* featdb_foreach calls fn for every record in key order, over one read
 * snapshot; key is NOT NUL-terminated.  A record that fails to decode is
 * passed with rec NULL and the reason in why.  fn returns 0 to go on, non-zero
 * to stop (featdb_foreach returns that value).  key and rec->data point into
 * the store's map and are valid only during the call; fn must not call other
 * featdb functions on db (LMDB allows one read transaction per thread). */
typedef int (*featdb_foreach_fn)(void *ctx, const char *key, size_t keylen,
				 const featdb_rec_t *rec, const char *why);
int featdb_foreach(featdb_t *db, featdb_foreach_fn fn, void *ctx, char *err);

/* featdb_scan = featdb_meta_get + featdb_foreach over one read snapshot:
 * *meta (filled before the first call of fn, which may read it through ctx)
 * describes exactly the records fn sees, even while a writer commits (a
 * count, or class indices after people were added, could differ between two
 * snapshots).  Returns as featdb_foreach (fn's non-zero value stops the
 * walk) with featdb_meta_get's errors besides.  *meta is the caller's to
 * featdb_meta_free whatever the result (empty when it could not be read). */
int featdb_scan(featdb_t *db, featdb_meta_t *meta, featdb_foreach_fn fn,
		void *ctx, char *err);

/* featdb_blocks walks the records as featdb_scan does (*meta filled first,
 * over the same snapshot) but hands fn up to n of them at a time, in key
 * order, undecoded: keys[i] (klens[i] bytes, NOT NUL-terminated) and
 * vals[i] (vlens[i] bytes, for featdb_rec_decode) point into the store's
 * map and are valid only during the call, which may decode them from any
 * thread (a large store streams through the map a block at a time, never
 * held in memory whole).  fn returns 0 to go on, non-zero to stop
 * (featdb_blocks returns that value); it must not call other featdb
 * functions on db.  Errors as featdb_scan's, and ERR_ARG (n < 1). */
typedef int (*featdb_block_fn)(void *ctx, int n, const char *const *keys,
			       const size_t *klens, const uint8_t *const *vals,
			       const size_t *vlens);
int featdb_blocks(featdb_t *db, featdb_meta_t *meta, int n, featdb_block_fn fn,
		  void *ctx, char *err);

/* featdb_threshold_put writes t as the metadata's "threshold.<t->metric>"
 * in one transaction (replacing that metric's, leaving everything else as
 * it is), growing the map when it is full.  The store must be open for
 * writing.  Errors: ERR_ARG (read-only; a metric name not [a-z0-9_]+ or
 * too long; records not "valid" or "all"; a value, far or tar that is not
 * finite), ERR_MISSING (the store has no metadata yet), ERR_IO. */
int featdb_threshold_put(featdb_t *db, const featdb_threshold_t *t, char *err);

/* featdb_max_key: the longest key the store accepts, in bytes. */
int featdb_max_key(featdb_t *db);

#endif
