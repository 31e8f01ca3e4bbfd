/* classes.c - see classes.h. */
#include "dataset/classes.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

/* The code point at *p, advancing *p: a valid UTF-8 sequence as Python's
 * strict decoder accepts it (no overlong forms, no surrogates, at most
 * U+10FFFF), else the byte alone as U+DC00 + byte.  (A byte that ends an
 * invalid sequence is a continuation byte, never the start of a valid one,
 * so escaping one byte at a time escapes what Python escapes.) */
static uint32_t next_code_point(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *s = *p;
	unsigned c = s[0];
	int n;
	unsigned lo = 0x80, hi = 0xBF;

	if (c < 0x80) {
		*p = s + 1;
		return c;
	}
	if (c >= 0xC2 && c <= 0xDF)
		n = 1;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
	else
		goto escape;
	if (end - s <= n)
		goto escape;
	uint32_t cp = c & (0x3F >> n);
	for (int i = 1; i <= n; i++) {
		unsigned b = s[i];
		if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF))
			goto escape;
		cp = cp << 6 | (b & 0x3F);
	}
	*p = s + n + 1;
	return cp;
escape:
	*p = s + 1;
	return 0xDC00 + c;
}

int classes_cmp_len(const char *a, size_t na, const char *b, size_t nb)
{
	const unsigned char *p = (const unsigned char *)a, *q = (const unsigned char *)b;
	const unsigned char *pe = p + na, *qe = q + nb;

	while (p < pe && q < qe) {
		uint32_t x = next_code_point(&p, pe), y = next_code_point(&q, qe);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return (p < pe) - (q < qe);
}

int classes_cmp(const char *a, const char *b)
{
	return classes_cmp_len(a, strlen(a), b, strlen(b));
}

static int cmp_names(const void *a, const void *b)
{
	return classes_cmp(*(char *const *)a, *(char *const *)b);
}

int classes_union(char *const *a, int na, char *const *b, int nb, char ***out,
		  int *nout, char *err)
{
	/* Two lists of up to INT_MAX names each: count in size_t. */
	size_t total = (size_t)na + (size_t)nb;
	char **all = NULL, **u = NULL;
	int n = 0, rc = 0;

	*out = NULL;
	*nout = 0;
	if (total > INT_MAX)
		return err_set(err, ERR_TOO_BIG, "%zu class names, more than %d", total,
			       INT_MAX);
	all = malloc((total ? total : 1) * sizeof *all);
	u = calloc(total + 1, sizeof *u);
	if (!all || !u) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if (na)
		memcpy(all, a, (size_t)na * sizeof *all);
	if (nb)
		memcpy(all + na, b, (size_t)nb * sizeof *all);
	qsort(all, total, sizeof *all, cmp_names);
	for (size_t i = 0; i < total; i++) {
		if (n && strcmp(all[i], u[n - 1]) == 0)
			continue;
		if (!(u[n] = strdup(all[i]))) {
			rc = err_set(err, ERR_NOMEM, "out of memory");
			goto out;
		}
		n++;
	}
	*out = u;
	*nout = n;
	u = NULL;
out:
	for (int i = 0; u && i < n; i++)
		free(u[i]);
	free(u);
	free(all);
	return rc;
}

int classes_map(char *const *from, int nfrom, char *const *to, int nto, int *map,
		char *err)
{
	int rc = 0;

	for (int i = 0; i < nfrom; i++) {
		int lo = 0, hi = nto - 1;
		map[i] = -1;
		while (lo <= hi) {
			int mid = lo + (hi - lo) / 2, c = classes_cmp(to[mid], from[i]);
			if (c == 0) {
				map[i] = mid;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid - 1;
		}
		if (map[i] < 0 && rc == 0)
			rc = err_set(err, ERR_MISSING, "class '%s' is not in the list",
				     from[i]);
	}
	return rc;
}

int classes_equal(char *const *a, int na, char *const *b, int nb)
{
	if (na != nb)
		return 0;
	for (int i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}
