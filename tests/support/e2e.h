/* e2e.h - what the end-to-end tests of extract share: generated face
 * folders, running extract, and feature stores read back whole and compared
 * record for record, or read and written with LMDB directly, behind featdb's
 * back.  No cmocka here (test generators link this file too): functions
 * return 0 or -1 and say why in a buffer of ERR_LEN bytes. */
#ifndef TESTS_E2E_H
#define TESTS_E2E_H

#include <stddef.h>
#include <stdint.h>

#include "store/featdb.h"

/* e2e_mkdirs creates root and every folder of the relative path rel up to
 * its last '/' (the file's folder). */
void e2e_mkdirs(const char *root, const char *rel);

/* e2e_write_pnm writes root/rel, a w x h binary PPM (P6), or PGM (P5) when
 * gray is set, of seeded smooth noise.  Returns 0 or -1. */
int e2e_write_pnm(const char *root, const char *rel, int w, int h, int gray,
		  uint64_t seed);

/* e2e_extract runs extract --in in --db db --weights (the test weights) -q
 * with the extra arguments (NULL-terminated), output to log; returns its
 * exit status (128 + signal when killed). */
int e2e_extract(const char *in, const char *db, const char *log, ...);

/* e2e_make_store writes a store of n records of dim D, made without the
 * network: people "ann", "bob", "cy" (record i is person i % 3, key
 * "<person>/<i>.jpg", split train), ReLU-like vectors from seed, weights
 * fingerprint "0123456789abcdef".  Returns 0 or -1. */
int e2e_make_store(const char *path, int n, int D, uint64_t seed, char *why);

/* e2e_store_meta reads the metadata of the store at db (opened read-only)
 * into *m, which the caller frees (featdb_meta_free).  Returns 0, or -1
 * with why. */
int e2e_store_meta(const char *db, featdb_meta_t *m, char *why);

/* e2e_store_count returns the records of the store at db as its metadata
 * counts them, or -1 when it cannot be read (yet). */
long e2e_store_count(const char *db);

/* e2e_raw_put stores val (len bytes) under key in the store's "features"
 * database with LMDB directly, replacing any value: a damaged record, as a
 * disk error or a foreign writer would leave it.  Returns 0 or -1. */
int e2e_raw_put(const char *db, const char *key, const void *val, size_t len,
		char *why);

/* e2e_raw_del_meta deletes key from the store's "meta" database with LMDB
 * directly: the metadata a writer from before that key left.  Returns 0
 * or -1 (also when the key is absent). */
int e2e_raw_del_meta(const char *db, const char *key, char *why);

/* e2e_raw_put_meta puts val (a string, without its NUL) under key in the
 * store's "meta" database with LMDB directly, replacing any value: the
 * metadata of a writer other than this library.  Returns 0 or -1. */
int e2e_raw_put_meta(const char *db, const char *key, const char *val, char *why);

/* e2e_env_info reads, with LMDB directly (read-only; the store must not be
 * open in this process), the store's map size, the bytes up to its last page,
 * and its page size; any output pointer may be NULL.  Returns 0 or -1. */
int e2e_env_info(const char *db, size_t *mapsize, size_t *used, size_t *psize,
		 char *why);

/* A whole store in key order: the keys (NUL-terminated) and the raw values. */
typedef struct e2e_dump {
	size_t n, cap;
	char **keys;
	uint8_t **vals;
	size_t *lens;
	size_t bad; /* records that did not decode */
} e2e_dump_t;

/* e2e_dump reads every record of the store at db (read-only). */
int e2e_dump(const char *db, e2e_dump_t *d, char *why);
void e2e_dump_free(e2e_dump_t *d);

/* e2e_same: the two dumps hold the same keys with identical bytes.
 * e2e_subset: every record of part is in whole with identical bytes. */
int e2e_same(const e2e_dump_t *a, const e2e_dump_t *b, char *why);
int e2e_subset(const e2e_dump_t *part, const e2e_dump_t *whole, char *why);

/* e2e_same_store: e2e_same on the dumps of the stores at a and b, each of
 * which must dump whole (every record decoding).  Returns 0 or -1. */
int e2e_same_store(const char *a, const char *b, char *why);

/* e2e_same_meta: the stores at a and b hold the same metadata (every entry
 * of the "meta" database: classes, count, fingerprint...), byte for byte.
 * Returns 0 or -1 (also when a holds none). */
int e2e_same_meta(const char *a, const char *b, char *why);

/* e2e_build_tree makes under base the tree a spec in the form of
 * tests/ref/keras_tree.txt describes (its image files as 1x1 PPMs).
 * Returns 0 or -1. */
int e2e_build_tree(const char *spec, const char *base, char *why);

/* What Keras' flow_from_directory listed for that tree
 * (tests/golden/keras_walk.txt), less what dataset.h documents as our
 * differences: entries with a hidden component, and hidden classes (the
 * others' indices then counted without them). */
typedef struct e2e_walk {
	int nclasses;
	char **classes;
	size_t n;
	char **files; /* relative to the face folder, in Keras' order */
	int *cls;
} e2e_walk_t;

/* e2e_keras_walk reads the listing made with follow_links = follow.
 * Returns 0 or -1. */
int e2e_keras_walk(const char *golden, int follow, e2e_walk_t *w, char *why);
void e2e_walk_free(e2e_walk_t *w);

/* e2e_mount_tmpfs mounts a tmpfs of size ("16k", "1m") on the folder dir,
 * made when missing, for a real full or read-only disk: 0, or -1 where
 * mount(8) is not allowed (not root: the test skips).  e2e_umount
 * detaches it (umount -l): 0 or -1. */
int e2e_mount_tmpfs(const char *dir, const char *size);
int e2e_umount(const char *dir);

/* e2e_fill fills the file system of dir but for leave bytes with a file at
 * path (of zeros; nothing when less is free): a disk full, or nearly, for
 * the write that comes next.  Returns 0 or -1. */
int e2e_fill(const char *dir, const char *path, long leave);

#endif
