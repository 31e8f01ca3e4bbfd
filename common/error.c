#include "error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

int err_set(char *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, ERR_LEN, fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *err_name(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_IO: return "io";
	case ERR_FORMAT: return "format";
	case ERR_NOMEM: return "nomem";
	case ERR_SHAPE: return "shape";
	case ERR_TOO_BIG: return "too-big";
	case ERR_UNSUPPORTED: return "unsupported";
	case ERR_ARG: return "arg";
	case ERR_MISSING: return "missing";
	case ERR_MISMATCH: return "mismatch";
	default: return "unknown";
	}
}

int err_mul_size(size_t a, size_t b, size_t *out)
{
	if (a != 0 && b > SIZE_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

int err_mul3_size(size_t a, size_t b, size_t c, size_t *out)
{
	size_t ab;
	if (err_mul_size(a, b, &ab))
		return -1;
	return err_mul_size(ab, c, out);
}
