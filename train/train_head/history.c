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

int th_history_open(th_history_t *c, const char *path, char *err)
{
	c->epochs = 0;
	if (!(c->f = fopen(path, "w")))
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	fputs("epoch,accuracy,loss,val_accuracy,val_loss\r\n", c->f);
	return 0;
}

int th_history_epoch(th_history_t *c, const th_history_row_t *r, const char *path,
		 char *err)
{
	fprintf(c->f, "%d", c->epochs++);
	put_value(c->f, r->accuracy);
	put_value(c->f, r->loss);
	if (r->has_val) {
		put_value(c->f, r->val_accuracy);
		put_value(c->f, r->val_loss);
	} else {
		fputs(",NA,NA", c->f);
	}
	fputs("\r\n", c->f);
	if (fflush(c->f) != 0 || ferror(c->f))
		return err_set(err, ERR_IO, "%s: writing failed: %s", path, strerror(errno));
	return 0;
}

int th_history_close(th_history_t *c, const char *path, char *err)
{
	if (!c->f)
		return 0;
	int bad = ferror(c->f);
	int rc = fclose(c->f) != 0 || bad;
	c->f = NULL;
	return rc ? err_set(err, ERR_IO, "%s: writing failed", path) : 0;
}

/* Python's float repr (float_repr_style "short"): the fewest significant
 * digits that read back as v; positional when the decimal point falls
 * within 16 places of the first digit, else d.ddde+XX with at least two
 * exponent digits; ".0" added to a whole number. */
void th_py_float(double v, char buf[32])
{
	char sci[40], digits[20];
	int ndig = 0, exp10;

	if (isnan(v) || isinf(v)) {
		strcpy(buf, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
		if (strtod(sci, NULL) == v)
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
	if (decpt <= -4 || decpt > 16) {
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
