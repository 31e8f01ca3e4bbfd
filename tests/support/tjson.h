/* tjson.h - a tiny strict JSON reader for the tests: the text the
 * programs write (a whole-model file's model_config, base/jsonw.h's
 * output) parsed back into a tree, so that a test checks what the text
 * says, not how it is spelled.  RFC 8259: one value, whitespace around
 * tokens, \uXXXX escapes (surrogate pairs joined) decoded to UTF-8;
 * nothing else (no comments, no trailing commas, no NaN). */
#ifndef TESTS_TJSON_H
#define TESTS_TJSON_H

#include <stddef.h>

enum { TJ_NULL, TJ_BOOL, TJ_NUM, TJ_STR, TJ_ARR, TJ_OBJ };

typedef struct tj {
	int type;
	int boolean;        /* TJ_BOOL */
	double num;         /* TJ_NUM */
	char *str;          /* TJ_STR, decoded, NUL-terminated */
	size_t n;           /* TJ_ARR, TJ_OBJ: items */
	char **keys;        /* TJ_OBJ: the keys (n), in text order */
	struct tj **items;  /* (n) */
} tj_t;

/* tj_parse reads text whole: the tree (tj_free it), or NULL with the
 * reason and its byte offset in why (256 bytes). */
tj_t *tj_parse(const char *text, char *why);
void tj_free(tj_t *v);

/* tj_get: the value of key in object o (the first when repeated), or
 * NULL (also when o is not an object). */
const tj_t *tj_get(const tj_t *o, const char *key);

/* tj_str: the string at key in o, or NULL when absent or not a string. */
const char *tj_str(const tj_t *o, const char *key);

#endif
