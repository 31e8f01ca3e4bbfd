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
#ifndef COMMON_CLASSES_H
#define COMMON_CLASSES_H

#include <stddef.h>

/* classes_cmp compares two NUL-terminated names as Python compares the str
 * os.listdir returns for them: < 0, 0 or > 0. */
int classes_cmp(const char *a, const char *b);

/* classes_cmp_len: the same for the na bytes at a and the nb bytes at b
 * (parts of paths; NUL bytes compare as U+0000). */
int classes_cmp_len(const char *a, size_t na, const char *b, size_t nb);

#endif
