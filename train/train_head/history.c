/* history.c - the training history files (train_head.h), as Keras'
 * CSVLogger writes them. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "train_head.h"

/* What CSVLogger's row holds: the logs' value, a Python float made from
 * the float32 metric. */
static void put_value(FILE *f, double v)
{
	char buf[32];
	th_py_float((double)(float)v, buf);
	fputc(',', f);
	fputs(buf, f);
}

int th_history_open(th_history_t *c, const char *path, int lr, char *err)
{
	*c = (th_history_t){.lr = lr};
	if (th_output_open(&c->w, "--history", path))
		return fsutil_path_error(path, errno, ERR_IO, err);
	c->opened = 1;
	fputs(lr ? "epoch,accuracy,loss,lr,val_accuracy,val_loss\r\n"
		 : "epoch,accuracy,loss,val_accuracy,val_loss\r\n", c->w.f);
	return 0;
}

void th_history_epoch(th_history_t *c, const th_history_row_t *r)
{
	FILE *f = c->w.f;

	if (!f)
		return;
	fprintf(f, "%d", c->epochs++);
	put_value(f, r->accuracy);
	put_value(f, r->loss);
	if (c->lr) {
		char buf[32];
		th_py_float32(r->lr, buf);
		fputc(',', f);
		fputs(buf, f);
	}
	if (r->has_val) {
		put_value(f, r->val_accuracy);
		put_value(f, r->val_loss);
	} else {
		fputs(",NA,NA", f);
	}
	fputs("\r\n", f);
	if (fsutil_whole_flush(&c->w))
		fsutil_whole_abandon(&c->w);
}

void th_history_finish(th_history_t *c)
{
	if (c->opened)
		(void)fsutil_whole_finish(&c->w);
}

int th_history_commit(th_history_t *c, char *err)
{
	if (!c->opened)
		return 0;
	c->opened = 0;
	if (fsutil_whole_commit(&c->w))
		return fsutil_whole_failed(&c->w, err_set(err, ERR_IO, "%s: writing "
							   "failed: %s", c->w.dest.given,
							   strerror(errno)), err);
	return 0;
}

void th_history_abandon(th_history_t *c)
{
	fsutil_whole_abandon(&c->w);
	c->opened = 0;
}

/* py_repr: the text of v whose significant digits are the fewest that
 * read back (as a double, or as a float32 when f32) as v, as Python's
 * float repr (float_repr_style "short") writes a double and numpy 2's
 * str() a float32: positional, ".0" added to a whole number, or d.ddde+XX
 * with at least two exponent digits: for a double when the decimal point
 * falls more than 16 places from the first digit (Python's rule), for a
 * float32 when |v| < 1e-4 or |v| >= 1e6 (numpy's, compared in double:
 * float32(1e-4) is below 1e-4). */
static void py_repr(double v, int f32, char buf[32])
{
	char sci[40], digits[20];
	int ndig = 0, exp10;

	if (isnan(v) || isinf(v)) {
		strcpy(buf, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
		if (f32 ? strtof(sci, NULL) == (float)v : strtod(sci, NULL) == v)
			break;
	}
	/* sci is [-]d[.ddd]e[+-]XX */
	const char *p = sci;
	char *o = buf;
	if (*p == '-')
		*o++ = *p++;
	for (; *p != 'e'; p++)
		if (*p != '.')
			digits[ndig++] = *p;
	exp10 = atoi(p + 1);
	while (ndig > 1 && digits[ndig - 1] == '0')
		ndig--;
	/* The decimal point sits after decpt digits (Python's decpt). */
	int decpt = exp10 + 1;
	if (f32 ? v != 0 && (fabs(v) < 1e-4 || fabs(v) >= 1e6) : decpt <= -4 || decpt > 16) {
		*o++ = digits[0];
		if (ndig > 1) {
			*o++ = '.';
			memcpy(o, digits + 1, (size_t)ndig - 1);
			o += ndig - 1;
		}
		snprintf(o, (size_t)(buf + 32 - o), "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
		return;
	}
	if (decpt <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -decpt; i++)
			*o++ = '0';
		memcpy(o, digits, (size_t)ndig);
		o += ndig;
	} else {
		for (int i = 0; i < decpt; i++)
			*o++ = i < ndig ? digits[i] : '0';
		*o++ = '.';
		if (ndig > decpt) {
			memcpy(o, digits + decpt, (size_t)(ndig - decpt));
			o += ndig - decpt;
		} else {
			*o++ = '0';
		}
	}
	*o = 0;
}

void th_py_float(double v, char buf[32])
{
	py_repr(v, 0, buf);
}

void th_py_float32(float v, char buf[32])
{
	py_repr((double)v, 1, buf);
}

int th_history_run_path(const char *path, int run, char *buf, size_t len,
		    char *err)
{
	const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
	if (dot && ((slash && dot < slash) || dot == (slash ? slash + 1 : path)))
		dot = NULL; /* a dot in a folder's name, or a hidden file's */
	size_t stem = dot ? (size_t)(dot - path) : strlen(path);
	int n = snprintf(buf, len, "%.*s.run%d%s", (int)stem, path, run, dot ? dot : "");
	if (n < 0 || (size_t)n >= len)
		return err_set(err, ERR_ARG, "%s: too long a path", path);
	return 0;
}
