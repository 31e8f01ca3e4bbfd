/* error.h - the project's error convention.
 *
 * Library functions return int: 0 on success, a negative ERR_* code on
 * failure, and write a one-line, human-readable reason (no trailing newline)
 * into a caller-provided buffer of ERR_LEN bytes.  The buffer may be NULL when
 * the caller does not want the text.  Only main() and CLI helpers print. */
#ifndef COMMON_ERROR_H
#define COMMON_ERROR_H

#include <stddef.h>

#define ERR_LEN 512

enum {
	ERR_OK = 0,
	ERR_IO = -1,          /* open/read/write/stat failed (errno in the text) */
	ERR_FORMAT = -2,      /* the bytes are not what the format says */
	ERR_NOMEM = -3,       /* allocation failed or a size overflowed */
	ERR_SHAPE = -4,       /* a tensor has the wrong shape */
	ERR_TOO_BIG = -5,     /* a header claims more than we accept */
	ERR_UNSUPPORTED = -6, /* valid, but a variant we do not handle */
	ERR_ARG = -7,         /* a caller passed a bad argument */
	ERR_MISSING = -8,     /* a file, layer or key does not exist */
	ERR_MISMATCH = -9,    /* data made with other weights or settings */
};

/* err_set formats the reason into err (when non-NULL) and returns code, so
 * that callers can write `return err_set(err, ERR_IO, "...", ...);`. */
int err_set(char *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* err_name returns a short constant name for a code ("io", "format", ...). */
const char *err_name(int code);

/* Checked size arithmetic: return 0 and set *out, or return -1 on overflow. */
int err_mul_size(size_t a, size_t b, size_t *out);
int err_mul3_size(size_t a, size_t b, size_t c, size_t *out);

#endif
