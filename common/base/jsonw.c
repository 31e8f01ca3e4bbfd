/* jsonw.c - see jsonw.h. */
#include "base/jsonw.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The top bit of an object's items: a key was written, its value is due. */
#define KEY_DUE 0x80000000u

/* fail remembers the first failure; later calls do nothing. */
static void fail(jsonw_t *j, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(jsonw_t *j, int code, const char *fmt, ...)
{
	va_list ap;

	if (j->rc)
		return;
	j->rc = code;
	va_start(ap, fmt);
	vsnprintf(j->why, sizeof j->why, fmt, ap);
	va_end(ap);
}

/* put appends n bytes of s, growing the text by doubling. */
static void put(jsonw_t *j, const char *s, size_t n)
{
	if (j->rc)
		return;
	if (j->cap - j->len < n + 1) {
		size_t cap = j->cap ? j->cap : 256;
		while (cap - j->len < n + 1) {
			if (cap > SIZE_MAX / 2) {
				fail(j, ERR_NOMEM, "the text outgrew memory");
				return;
			}
			cap *= 2;
		}
		char *b = realloc(j->buf, cap);
		if (!b) {
			fail(j, ERR_NOMEM, "out of memory for a %zu-byte text", cap);
			return;
		}
		j->buf = b;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void puts_(jsonw_t *j, const char *s)
{
	put(j, s, strlen(s));
}

/* value_starts: the separator before a value, and the checks that a value
 * may stand here.  0, or -1 after a failure. */
static int value_starts(jsonw_t *j)
{
	if (j->rc)
		return -1;
	if (j->depth == 0) {
		if (j->top++ > 0)
			fail(j, ERR_ARG, "a second value at the top level");
		return j->rc ? -1 : 0;
	}
	unsigned *items = &j->items[j->depth - 1];
	if (j->kind[j->depth - 1] == '{') {
		if (!(*items & KEY_DUE))
			fail(j, ERR_ARG, "a value in an object without its key");
		*items &= ~KEY_DUE;
	} else if ((*items)++ > 0) {
		puts_(j, ", ");
	}
	return j->rc ? -1 : 0;
}

static void open_(jsonw_t *j, char kind)
{
	if (value_starts(j))
		return;
	if (j->depth == JSONW_DEPTH) {
		fail(j, ERR_ARG, "nested deeper than %d", JSONW_DEPTH);
		return;
	}
	j->kind[j->depth] = kind;
	j->items[j->depth++] = 0;
	put(j, &kind, 1);
}

static void close_(jsonw_t *j, char kind)
{
	if (j->rc)
		return;
	if (j->depth == 0 || j->kind[j->depth - 1] != kind) {
		fail(j, ERR_ARG, "'%c' closed where it was not open", kind == '{' ? '}' : ']');
		return;
	}
	if (j->items[j->depth - 1] & KEY_DUE) {
		fail(j, ERR_ARG, "an object closed after a key without its value");
		return;
	}
	j->depth--;
	put(j, kind == '{' ? "}" : "]", 1);
}

void jsonw_begin_object(jsonw_t *j) { open_(j, '{'); }
void jsonw_end_object(jsonw_t *j) { close_(j, '{'); }
void jsonw_begin_array(jsonw_t *j) { open_(j, '['); }
void jsonw_end_array(jsonw_t *j) { close_(j, '['); }

/* utf8_next decodes the character at s (strictly: no overlong form, no
 * surrogate, nothing past U+10FFFF): its length, or 0 when the bytes are
 * not UTF-8. */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
	int n;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2, *cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, *cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4, *cp = s[0] & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* the NUL that ends s stops here too */
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if (*cp < least[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* text writes s quoted, escaped as json.dumps(ensure_ascii=True) does. */
static void text(jsonw_t *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	char esc[16];

	put(j, "\"", 1);
	while (*p && !j->rc) {
		uint32_t cp;
		int n = utf8_next(p, &cp);
		if (n == 0) {
			fail(j, ERR_ARG, "a string that is not UTF-8 (byte 0x%02x at %zu)",
			     *p, (size_t)(p - (const unsigned char *)s));
			break;
		}
		p += n;
		switch (cp) {
		case '"': puts_(j, "\\\""); continue;
		case '\\': puts_(j, "\\\\"); continue;
		case '\n': puts_(j, "\\n"); continue;
		case '\r': puts_(j, "\\r"); continue;
		case '\t': puts_(j, "\\t"); continue;
		case '\b': puts_(j, "\\b"); continue;
		case '\f': puts_(j, "\\f"); continue;
		}
		if (cp >= 0x20 && cp < 0x7f) {
			char c = (char)cp;
			put(j, &c, 1);
		} else if (cp < 0x10000) {
			snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
			puts_(j, esc);
		} else {
			cp -= 0x10000;
			snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xd800u | (unsigned)(cp >> 10),
				 0xdc00u | (unsigned)(cp & 0x3ff));
			puts_(j, esc);
		}
	}
	put(j, "\"", 1);
}

void jsonw_key(jsonw_t *j, const char *s)
{
	if (j->rc)
		return;
	if (j->depth == 0 || j->kind[j->depth - 1] != '{' ||
	    (j->items[j->depth - 1] & KEY_DUE)) {
		fail(j, ERR_ARG, "a key where a value was due");
		return;
	}
	if (j->items[j->depth - 1]++ > 0)
		puts_(j, ", ");
	text(j, s ? s : "");
	puts_(j, ": ");
	j->items[j->depth - 1] |= KEY_DUE;
}

void jsonw_string(jsonw_t *j, const char *s)
{
	if (value_starts(j) == 0)
		text(j, s ? s : "");
}

void jsonw_int(jsonw_t *j, long long v)
{
	char b[32];
	if (value_starts(j) == 0) {
		snprintf(b, sizeof b, "%lld", v);
		puts_(j, b);
	}
}

/* repr writes v (finite) as Python's repr: the shortest digits that read
 * back as v (the correctly rounded ones of the least precision that
 * does), placed as float_repr_style 'short' places them: positional when
 * the decimal point falls within -4 < decpt <= 16 of the digits, with
 * ".0" for a whole number, else d[.ddd]e[+-]XX. */
static void repr(jsonw_t *j, double v)
{
	char e[40], digits[20], out[64];
	int nd = 0, exp10 = 0, decpt, o = 0;

	for (int prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e is [-]d[.ddd]e[+-]XX */
	const char *p = e;
	if (*p == '-') {
		out[o++] = '-';
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	exp10 = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	decpt = exp10 + 1; /* v = 0.d1d2... x 10^decpt */
	if (digits[0] == '0') /* zero: "0.0" */
		decpt = 1;
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			o += snprintf(out + o, sizeof out - (size_t)o, "0.");
			for (int i = 0; i < -decpt; i++)
				out[o++] = '0';
			memcpy(out + o, digits, (size_t)nd), o += nd;
		} else if (decpt < nd) {
			memcpy(out + o, digits, (size_t)decpt), o += decpt;
			out[o++] = '.';
			memcpy(out + o, digits + decpt, (size_t)(nd - decpt)), o += nd - decpt;
		} else {
			memcpy(out + o, digits, (size_t)nd), o += nd;
			for (int i = nd; i < decpt; i++)
				out[o++] = '0';
			out[o++] = '.', out[o++] = '0';
		}
	} else {
		out[o++] = digits[0];
		if (nd > 1) {
			out[o++] = '.';
			memcpy(out + o, digits + 1, (size_t)(nd - 1)), o += nd - 1;
		}
		o += snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+',
			      exp10 < 0 ? -exp10 : exp10);
	}
	put(j, out, (size_t)o);
}

void jsonw_real(jsonw_t *j, double v)
{
	if (j->rc)
		return;
	if (!isfinite(v)) {
		fail(j, ERR_ARG, "a real that is not finite (%g)", v);
		return;
	}
	if (value_starts(j) == 0)
		repr(j, v);
}

void jsonw_bool(jsonw_t *j, int v)
{
	if (value_starts(j) == 0)
		puts_(j, v ? "true" : "false");
}

void jsonw_null(jsonw_t *j)
{
	if (value_starts(j) == 0)
		puts_(j, "null");
}

int jsonw_finish(jsonw_t *j, char **out, char *err)
{
	int rc;

	*out = NULL;
	if (!j->rc && j->depth > 0)
		fail(j, ERR_ARG, "%d container(s) left open", j->depth);
	if (!j->rc && j->top == 0)
		fail(j, ERR_ARG, "no value written");
	if ((rc = j->rc)) {
		err_set(err, rc, "JSON: %s", j->why);
		jsonw_free(j);
		return rc;
	}
	*out = j->buf;
	j->buf = NULL;
	jsonw_free(j);
	return 0;
}

void jsonw_free(jsonw_t *j)
{
	if (!j)
		return;
	free(j->buf);
	memset(j, 0, sizeof *j);
}
