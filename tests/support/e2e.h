/* e2e.h - what the end-to-end tests of extract share: generated face
 * folders, running extract, and feature stores read back whole and compared
 * record for record.  No cmocka here (test generators link this file too):
 * functions return 0 or -1 and say why in a buffer of ERR_LEN bytes. */
#ifndef TESTS_E2E_H
#define TESTS_E2E_H

#include <stddef.h>
#include <stdint.h>

/* e2e_mkdirs creates root and every folder of the relative path rel up to
 * its last '/' (the file's folder). */
void e2e_mkdirs(const char *root, const char *rel);

/* e2e_write_pnm writes root/rel, a w x h binary PPM (P6), or PGM (P5) when
 * gray is set, of seeded smooth noise.  Returns 0 or -1. */
int e2e_write_pnm(const char *root, const char *rel, int w, int h, int gray,
		  uint64_t seed);

/* e2e_slurp reads a whole file as a NUL-terminated string (malloc'd), or
 * returns NULL. */
char *e2e_slurp(const char *path);

/* e2e_extract runs extract --in in --db db --weights (the test weights) -q
 * with the extra arguments (NULL-terminated), output to log; returns its
 * exit status (128 + signal when killed). */
int e2e_extract(const char *in, const char *db, const char *log, ...);

/* e2e_make_store writes a store of n records of dim D, made without the
 * network: people "ann", "bob", "cy" (record i is person i % 3, key
 * "<person>/<i>.jpg", split train), ReLU-like vectors from seed, weights
 * fingerprint "0123456789abcdef".  Returns 0 or -1. */
int e2e_make_store(const char *path, int n, int D, uint64_t seed, char *why);

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

#endif
