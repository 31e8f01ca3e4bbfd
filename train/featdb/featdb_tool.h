/* featdb_tool.h - the featdb program's commands, one file each (train/featdb/),
 * and what they share; train/featdb.c parses the command line and runs one.
 *
 * Each command takes its operands, checked by featdb.c, and returns the
 * program's exit status (cli.h: CLI_OK or CLI_ERROR), having printed its
 * report, or its error as "featdb: error: ..." (cli_error). */
#ifndef TRAIN_FEATDB_TOOL_H
#define TRAIN_FEATDB_TOOL_H

#include "error.h"
#include "store/featdb.h"

#define PROG "featdb"
/* Records per transaction when merging; rows per HDF5 write when exporting. */
#define FEATDB_TOOL_BATCH 256

/* info DB: records, people per split, model, dimension, dtype, fingerprint,
 * size on disk (info.c). */
int fdb_info(const char *db);

/* verify DB: every record read and checked by threads compute threads
 * (1..256); the bad keys listed in key order, the same for any number of
 * threads (verify.c). */
int fdb_verify(const char *db, int threads);

/* export DB --out F.h5: the HDF5 file for numpy and Keras users (export.c). */
int fdb_export(const char *db, const char *out);

/* merge OUT IN...: the nin stores in, made with the same weights and
 * settings, into out (merge.c), a damaged record of out replaced by an
 * input's sound one. */
int fdb_merge(const char *out, int nin, char **in);

/* remove DB KEY... or remove DB --damaged (damaged non-zero, nkeys 0): the
 * records of the keys, every one held, or every record verify reports bad,
 * removed in one commit under the store's writer lock, the metadata's count
 * rewritten to the records that remain, the class list kept (remove.c). */
int fdb_remove(const char *db, int nkeys, char **keys, int damaged);

/* fdb_help: the text featdb's --help prints (help.c): the command cmd's
 * own help, or, when cmd is NULL or names no command, the overview of them
 * all.  The text lives until the next call. */
const char *fdb_help(const char *cmd);

/* fdb_is_command: whether word names one of featdb's commands. */
int fdb_is_command(const char *word);

/* fdb_commands: the commands' names, as a message lists them ("info,
 * export, verify, merge or remove"); static storage. */
const char *fdb_commands(void);

/* fdb_help_dev: the text of --help-dev. */
extern const char fdb_help_dev[];

/* fdb_strays_t: OUT's records that decode with a class outside OUT's list
 * (merge_strays.c), which would pass for one of the people a merge adds
 * (featdb_write refuses to renumber them): each key, why it is damaged,
 * and the input whose sound record replaces it (NULL: none). */
typedef struct fdb_stray {
	char *key;
	char why[ERR_LEN];
	const char *from;
} fdb_stray_t;
typedef struct fdb_strays {
	int nclasses; /* OUT's list's, as stored */
	fdb_stray_t *v;
	size_t n, cap;
	char err[ERR_LEN];
} fdb_strays_t;

/* fdb_strays_find lists OUT's strays into s (zeroed; ometa OUT's metadata)
 * and, for each, the first of the nin inputs in (metadata ins) that holds
 * its key sound: the merge replaces it, as any damaged record of OUT (an
 * input before that one holds it damaged, if at all: passed over); the
 * others stop the renumbering.  vec: scratch (dim floats).  0, or the
 * error in err. */
int fdb_strays_find(featdb_t *out, const featdb_meta_t *ometa, int nin, char **in,
		    const featdb_meta_t *ins, float *vec, fdb_strays_t *s, char *err);

/* fdb_stray_replaced: the stray of key an input replaces, or NULL (s may
 * be NULL). */
const fdb_stray_t *fdb_stray_replaced(const fdb_strays_t *s, const char *key);

void fdb_strays_free(fdb_strays_t *s);

/* fdb_open_store opens path read-only with its metadata into *db and *meta,
 * printing the error (an empty store is one); returns 0 or the error. */
int fdb_open_store(const char *path, featdb_t **db, featdb_meta_t *meta);

/* fdb_same_store: whether the paths a and b name one store, however they
 * are spelled (./s.lmdb, s.lmdb/, a link to it). */
int fdb_same_store(const char *a, const char *b);

/* fdb_merge_refused, before a merge writes: 0 when no input holds a
 * damaged record (featdb verify's checks, by ins[i]) of a key that neither
 * OUT nor an earlier input holds; else ERR_FORMAT, err naming the input,
 * the record and what to do (fdb_damaged_way).  Such a record stops the
 * merge, which then writes nothing.  Read-only, without OUT's writer lock:
 * merge_one checks it again as it goes.  vec: scratch (dim floats). */
int fdb_merge_refused(const char *outpath, int nin, char **in,
		      const featdb_meta_t *ins, float *vec, char *err);

/* fdb_merge_refusal: the error that stops a merge at input inpath's
 * damaged record key (why it is damaged) that no other store holds,
 * whether the pass before the merge finds it or the merge itself: sets
 * err and returns ERR_FORMAT. */
int fdb_merge_refusal(const char *inpath, const char *key, const char *why,
		      char *err);

/* fdb_damaged_way puts into buf (len bytes) and returns what to do about a
 * damaged record of the store path that stopped a command (`then`, say
 * "export"): extract its image again, or featdb remove --damaged. */
const char *fdb_damaged_way(const char *path, const char *then, char *buf,
			    size_t len);

/* fdb_empty_why: rc, after the library's ERR_MISSING for a store with no
 * metadata (an extract stopped before its first commit) is put in err in
 * featdb's words, with the way on (path: the store as named). */
int fdb_empty_why(int rc, const char *path, char *err);

/* fdb_scan reads the metadata and every record of path (opened read-only)
 * in one snapshot, so that they agree while an extract writes; fn reports
 * its own failures in err.  0, or non-zero with err set.  fdb_scan_store
 * also prints the error. */
int fdb_scan(const char *path, featdb_meta_t *meta, featdb_foreach_fn fn,
	     void *ctx, char *err);
int fdb_scan_store(const char *path, featdb_meta_t *meta, featdb_foreach_fn fn,
		   void *ctx, char *err);

/* fdb_scan_blocks: the same walk as fdb_scan_store, n records at a time,
 * undecoded (featdb_blocks). */
int fdb_scan_blocks(const char *path, featdb_meta_t *meta, int n, featdb_block_fn fn,
		    void *ctx, char *err);

#endif
