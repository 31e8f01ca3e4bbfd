/* classes.h - the order of class names, Keras' order.
 *
 * Keras' flow_from_directory numbers the people by `sorted(os.listdir())`:
 * Python compares the names as strings of code points, a file name's bytes
 * decoded as UTF-8 with each byte that is not part of a valid sequence
 * standing for the code point U+DC80..U+DCFF (surrogateescape).  For valid
 * UTF-8 that is the order of the bytes; for names with invalid bytes it can
 * differ (0xFF sorts before U+E000, a 3-byte character, in Python, after it
 * by bytes).  Every list of class names in this project, in a face folder,
 * a store's metadata or a merge, is kept in this order, so that a class's
 * index is the one Keras gives it.  The same order sorts the files of a
 * folder (dataset.h). */
#ifndef COMMON_DATASET_CLASSES_H
#define COMMON_DATASET_CLASSES_H

#include <stddef.h>

/* classes_cmp compares two NUL-terminated names as Python compares the str
 * os.listdir returns for them: < 0, 0 or > 0. */
int classes_cmp(const char *a, const char *b);

/* classes_cmp_len: the same for the na bytes at a and the nb bytes at b
 * (parts of paths; NUL bytes compare as U+0000). */
int classes_cmp_len(const char *a, size_t na, const char *b, size_t nb);

/* classes_union writes the names of a (na) and b (nb), each once, in
 * Keras' order into *out: a malloc'd array of *nout malloc'd copies (and a
 * NULL after them), the caller's; the lists need not be in order.  A list
 * of a store, a folder and a merge grows only by such a union, so that
 * the indices it gives follow Keras' order.  Returns 0, ERR_TOO_BIG (more
 * than INT_MAX names in all) or ERR_NOMEM; *out is NULL on failure. */
int classes_union(char *const *a, int na, char *const *b, int nb, char ***out,
		  int *nout, char *err);

/* classes_map writes into map[i] (nfrom entries) the index of from[i] in
 * to (nto names in Keras' order and unique, as classes_union writes
 * them), or -1 where to lacks it: 0, or ERR_MISSING naming the first
 * name to lacks. */
int classes_map(char *const *from, int nfrom, char *const *to, int nto, int *map,
		char *err);

/* classes_equal: 1 when a (na names) and b (nb) are the same list, name
 * for name, else 0. */
int classes_equal(char *const *a, int na, char *const *b, int nb);

#endif
