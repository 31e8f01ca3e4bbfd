/* tjson.c - see tjson.h. */
#include "tjson.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rd {
	const char *s, *p;
	char *why;
	int failed;
} rd_t;

static void bad(rd_t *r, const char *what)
{
	if (!r->failed)
		snprintf(r->why, 256, "%s at byte %zu", what, (size_t)(r->p - r->s));
	r->failed = 1;
}

static void ws(rd_t *r)
{
	while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
		r->p++;
}

static tj_t *node(int type)
{
	tj_t *v = calloc(1, sizeof *v);
	if (v)
		v->type = type;
	return v;
}

static int push(tj_t *v, char *key, tj_t *item)
{
	tj_t **items = realloc(v->items, (v->n + 1) * sizeof *items);
	if (!items)
		return -1;
	v->items = items;
	if (v->type == TJ_OBJ) {
		char **keys = realloc(v->keys, (v->n + 1) * sizeof *keys);
		if (!keys)
			return -1;
		v->keys = keys;
		keys[v->n] = key;
	}
	items[v->n++] = item;
	return 0;
}

static int hex4(rd_t *r, unsigned *u)
{
	*u = 0;
	for (int i = 0; i < 4; i++) {
		char c = *r->p++;
		*u <<= 4;
		if (c >= '0' && c <= '9')
			*u |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*u |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*u |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static size_t utf8_put(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* string reads a quoted string at r->p: malloc'd, decoded. */
static char *string(rd_t *r)
{
	size_t cap = strlen(r->p) + 1, n = 0; /* decoding never lengthens */
	char *o = malloc(cap);

	if (!o || *r->p != '"') {
		bad(r, "a string expected");
		free(o);
		return NULL;
	}
	r->p++;
	while (*r->p != '"') {
		unsigned char c = (unsigned char)*r->p;
		if (c == 0 || c < 0x20) {
			bad(r, "a string cut short or holding a control character");
			free(o);
			return NULL;
		}
		if (c != '\\') {
			o[n++] = (char)c;
			r->p++;
			continue;
		}
		r->p++;
		char e = *r->p++;
		unsigned u, lo;
		switch (e) {
		case '"': o[n++] = '"'; break;
		case '\\': o[n++] = '\\'; break;
		case '/': o[n++] = '/'; break;
		case 'b': o[n++] = '\b'; break;
		case 'f': o[n++] = '\f'; break;
		case 'n': o[n++] = '\n'; break;
		case 'r': o[n++] = '\r'; break;
		case 't': o[n++] = '\t'; break;
		case 'u':
			if (hex4(r, &u)) {
				bad(r, "a bad \\u escape");
				free(o);
				return NULL;
			}
			if (u >= 0xd800 && u < 0xdc00) {
				if (r->p[0] != '\\' || r->p[1] != 'u' || (r->p += 2, hex4(r, &lo)) ||
				    lo < 0xdc00 || lo > 0xdfff) {
					bad(r, "a lone high surrogate");
					free(o);
					return NULL;
				}
				u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				bad(r, "a lone low surrogate");
				free(o);
				return NULL;
			}
			n += utf8_put(o + n, u);
			break;
		default:
			bad(r, "an unknown escape");
			free(o);
			return NULL;
		}
	}
	r->p++;
	o[n] = 0;
	return o;
}

static tj_t *value(rd_t *r, int depth);

static tj_t *container(rd_t *r, int depth, int obj)
{
	tj_t *v = node(obj ? TJ_OBJ : TJ_ARR);
	char close = obj ? '}' : ']';

	r->p++;
	ws(r);
	if (*r->p == close) {
		r->p++;
		return v;
	}
	for (;;) {
		char *key = NULL;
		tj_t *item;
		ws(r);
		if (obj) {
			if (!(key = string(r)))
				break;
			ws(r);
			if (*r->p++ != ':') {
				bad(r, "':' expected");
				free(key);
				break;
			}
		}
		if (!(item = value(r, depth + 1)) || push(v, key, item)) {
			free(key);
			tj_free(item);
			break;
		}
		ws(r);
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p == close) {
			r->p++;
			return v;
		}
		bad(r, obj ? "',' or '}' expected" : "',' or ']' expected");
		break;
	}
	bad(r, "a bad container");
	tj_free(v);
	return NULL;
}

static tj_t *number(rd_t *r)
{
	const char *p = r->p;
	char *end;
	tj_t *v;

	/* JSON's grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		goto no;
	if (*p == '.') {
		if (!(*++p >= '0' && *p <= '9'))
			goto no;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			goto no;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	v = node(TJ_NUM);
	v->num = strtod(r->p, &end);
	if (end != p) {
		tj_free(v);
		goto no;
	}
	r->p = p;
	return v;
no:
	bad(r, "a bad number");
	return NULL;
}

static tj_t *value(rd_t *r, int depth)
{
	tj_t *v;

	ws(r);
	if (depth > 100) {
		bad(r, "nested too deep");
		return NULL;
	}
	switch (*r->p) {
	case '{': return container(r, depth, 1);
	case '[': return container(r, depth, 0);
	case '"':
		v = node(TJ_STR);
		if (!(v->str = string(r))) {
			tj_free(v);
			return NULL;
		}
		return v;
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = {"true", "false", "null"};
		for (int i = 0; i < 3; i++)
			if (strncmp(r->p, words[i], strlen(words[i])) == 0) {
				r->p += strlen(words[i]);
				v = node(i == 2 ? TJ_NULL : TJ_BOOL);
				v->boolean = i == 0;
				return v;
			}
		bad(r, "an unknown word");
		return NULL;
	}
	default:
		return number(r);
	}
}

tj_t *tj_parse(const char *text, char *why)
{
	rd_t r = {text, text, why, 0};
	tj_t *v = value(&r, 0);

	if (v) {
		ws(&r);
		if (*r.p) {
			bad(&r, "text after the value");
			tj_free(v);
			v = NULL;
		}
	}
	return v;
}

void tj_free(tj_t *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++) {
		tj_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->str);
	free(v);
}

const tj_t *tj_get(const tj_t *o, const char *key)
{
	if (!o || o->type != TJ_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

const char *tj_str(const tj_t *o, const char *key)
{
	const tj_t *v = tj_get(o, key);
	return v && v->type == TJ_STR ? v->str : NULL;
}
