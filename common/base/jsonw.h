/* jsonw.h - a small JSON writer: objects, arrays, strings, integers, reals,
 * true, false and null, into one growing text, written as Python's
 * json.dumps writes them with its defaults (", " between items, ": " after
 * a key, strings ASCII with \uXXXX escapes, reals as Python's repr), so
 * that a text built here can be compared byte for byte with the one Keras
 * writes.  No dependency; one text per jsonw_t, one thread.
 *
 * Usage: jsonw_t j = {0}; jsonw_begin_object(&j); jsonw_key(&j, "name");
 * jsonw_string(&j, "fc1"); ... jsonw_end_object(&j);
 * rc = jsonw_finish(&j, &text, err); ... free(text).
 *
 * The calls return nothing: the first failure (memory, nesting, a bad
 * string, a non-finite real) is remembered, every later call does nothing,
 * and jsonw_finish reports it.  So a caller writes the whole value and
 * checks once. */
#ifndef COMMON_BASE_JSONW_H
#define COMMON_BASE_JSONW_H

#include <stddef.h>

/* How deep objects and arrays may nest. */
#define JSONW_DEPTH 32

typedef struct jsonw {
	char *buf;
	size_t len, cap;
	int depth;
	int top; /* values written at the top level (one is allowed) */
	/* Per open container: items written so far; the top bit of the
	 * object's entry marks a key waiting for its value. */
	unsigned items[JSONW_DEPTH];
	char kind[JSONW_DEPTH]; /* '{' or '[' */
	int rc;                 /* the first failure, 0 while none */
	char why[128];          /* what it was */
} jsonw_t;

/* Containers.  In an object every value follows a jsonw_key. */
void jsonw_begin_object(jsonw_t *j);
void jsonw_end_object(jsonw_t *j);
void jsonw_begin_array(jsonw_t *j);
void jsonw_end_array(jsonw_t *j);

/* jsonw_key writes an object's key s (UTF-8, escaped as jsonw_string). */
void jsonw_key(jsonw_t *j, const char *s);

/* jsonw_string writes s (UTF-8): '"', '\\' and the control characters
 * escaped (\n, \r, \t, \b, \f, else \u00XX), every character past ASCII
 * as \uXXXX (a surrogate pair past U+FFFF).  Bytes that are not UTF-8
 * (an overlong form, a surrogate, past U+10FFFF, cut short) are a
 * failure: Keras' names are text. */
void jsonw_string(jsonw_t *j, const char *s);

/* jsonw_int writes v in decimal. */
void jsonw_int(jsonw_t *j, long long v);

/* jsonw_real writes v as Python's repr(float) does: the fewest digits that
 * read back as v, "0.5", "1.0", "1e-05", "1e+16"; NaN and the infinities
 * are a failure (Python would write NaN, which is not JSON). */
void jsonw_real(jsonw_t *j, double v);

void jsonw_bool(jsonw_t *j, int v);
void jsonw_null(jsonw_t *j);

/* jsonw_finish ends the text: *out receives it, NUL-terminated, malloc'd
 * (the caller frees it), and j is emptied.  Returns 0, or on the first
 * failure of any call (then *out is NULL and j is emptied too):
 * ERR_NOMEM (the text could not grow), ERR_ARG (a value where a key was
 * due or the reverse, a container closed that was not open, or left open,
 * nesting past JSONW_DEPTH, more than one top-level value, nothing
 * written, a string that is not UTF-8, a real that is not finite). */
int jsonw_finish(jsonw_t *j, char **out, char *err);

/* jsonw_free drops the text of an unfinished writer and empties it;
 * accepts NULL. */
void jsonw_free(jsonw_t *j);

#endif
