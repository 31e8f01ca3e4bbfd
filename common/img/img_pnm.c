/* img_pnm.c - binary netpbm files (P4 bitmaps, P5 gray, P6 colour) as
 * Pillow 9.4's PpmImagePlugin reads them: its tokenizer for the header,
 * its refusals of the plain and private variants, and its scaling of
 * maxvals other than 255.  img.c picks this decoder by the file's magic.
 * Dimension letters: w, h are the image's width and height in pixels, y a
 * row, x a column. */
#include "img/img_impl.h"

#include "error.h"

#include <math.h>
#include <string.h>

static int pnm_is_space(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Pillow's PpmImagePlugin._read_token: skip leading whitespace, stop at the
 * next whitespace (consumed) or after 11 bytes; '#' skips to the end of the
 * line even in the middle of a token, which then continues.
 * Returns the token length (0 at end of data, 11 when too long). */
static int pnm_token(const uint8_t *buf, size_t len, size_t *pos,
		     char tok[12])
{
	int n = 0;

	while (n <= 10 && *pos < len) {
		int c = buf[(*pos)++];

		if (pnm_is_space(c)) {
			if (n)
				break;
		} else if (c == '#') {
			while (*pos < len) {
				c = buf[(*pos)++];
				if (c == '\r' || c == '\n')
					break;
			}
		} else {
			tok[n++] = (char)c;
		}
	}
	tok[n] = '\0';
	return n;
}

/* Python's int() of a token: optional sign, decimal digits, single
 * underscores between digits.  Returns 0 and *v, or -1. */
static int pnm_int(const char *tok, long long *v)
{
	int neg = 0, digits = 0;
	long long x = 0;

	if (*tok == '+' || *tok == '-')
		neg = *tok++ == '-';
	for (; *tok; tok++) {
		if (*tok >= '0' && *tok <= '9') {
			x = x * 10 + (*tok - '0');
			digits++;
		} else if (*tok != '_' || !digits || tok[1] < '0' ||
			   tok[1] > '9') {
			return -1;
		}
	}
	if (!digits)
		return -1;
	*v = neg ? -x : x;
	return 0;
}

/* Pillow's sample scaling for maxval other than 255 (its PpmDecoder):
 * min(out_max, round(v / maxval * out_max)), in double, halves to even. */
static unsigned pnm_scale(unsigned v, unsigned maxval, unsigned out_max)
{
	double s = rint((double)v / maxval * out_max);

	return s > out_max ? out_max : (unsigned)s;
}

int img_decode_pnm(const uint8_t *buf, size_t len, const char *name,
		   img_t *out, char *err)
{
	char magic[7], tok[12];
	size_t pos = 0, need, i, npx;
	long long dim[3] = { 0, 0, 255 };
	int k, bands, in_bytes, rc;
	unsigned maxval;

	/* The magic runs to the first whitespace, at most 6 bytes. */
	for (k = 0; k < 6 && pos < len; k++) {
		int c = buf[pos++];
		if (pnm_is_space(c))
			break;
		magic[k] = (char)c;
	}
	magic[k] = '\0';
	if (!strcmp(magic, "P1") || !strcmp(magic, "P2") ||
	    !strcmp(magic, "P3"))
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: plain (ASCII) %s netpbm files are not supported",
			       img_label(name), magic);
	if (!strcmp(magic, "P0CMYK") || !strcmp(magic, "PyP") ||
	    !strcmp(magic, "PyRGBA") || !strcmp(magic, "PyCMYK"))
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: Pillow's private %s netpbm variant",
			       img_label(name), magic);
	if (strcmp(magic, "P4") && strcmp(magic, "P5") && strcmp(magic, "P6"))
		return err_set(err, ERR_FORMAT, "%s: not a netpbm file",
			       img_label(name));

	/* P4 has no maxval token. */
	for (k = 0; k < (magic[1] == '4' ? 2 : 3); k++) {
		int n = pnm_token(buf, len, &pos, tok);
		if (n == 0)
			return err_set(err, ERR_FORMAT,
				       "%s: truncated netpbm header",
				       img_label(name));
		if (n > 10 || pnm_int(tok, &dim[k]))
			return err_set(err, ERR_FORMAT,
				       "%s: bad netpbm header token '%s'",
				       img_label(name), tok);
	}
	if (dim[2] <= 0 || dim[2] >= 65536)
		return err_set(err, ERR_FORMAT,
			       "%s: netpbm maxval %lld is not in 1..65535",
			       img_label(name), dim[2]);
	if (dim[0] <= 0 || dim[1] <= 0)
		return err_set(err, ERR_TOO_BIG, "%s: image is %lldx%lld pixels",
			       img_label(name), dim[0], dim[1]);
	rc = img_check_size((uint64_t)dim[0], (uint64_t)dim[1], name, err);
	if (rc)
		return rc;

	maxval = (unsigned)dim[2];
	bands = magic[1] == '6' ? 3 : 1;
	in_bytes = maxval < 256 ? 1 : 2;
	npx = (size_t)dim[0] * (size_t)dim[1];
	if (magic[1] == '4')
		need = ((size_t)dim[0] + 7) / 8 * (size_t)dim[1];
	else
		need = npx * bands * in_bytes;
	if (len - pos < need)
		return err_set(err, ERR_FORMAT,
			       "%s: truncated netpbm data (%zu of %zu bytes)",
			       img_label(name), len - pos, need);
	rc = img_alloc_pixels(out, (uint64_t)dim[0], (uint64_t)dim[1], name, err);
	if (rc)
		return rc;

	buf += pos;
	if (magic[1] == '4') {
		/* Pillow's "1;I": a set bit is black. */
		size_t stride = ((size_t)out->w + 7) / 8;
		int x, y;
		for (y = 0; y < out->h; y++) {
			for (x = 0; x < out->w; x++) {
				uint8_t v = (buf[y * stride + x / 8] >>
					     (7 - x % 8)) & 1 ? 0 : 255;
				uint8_t *o = out->rgb + ((size_t)y * out->w + x) * 3;
				o[0] = o[1] = o[2] = v;
			}
		}
		return 0;
	}
	for (i = 0; i < npx; i++) {
		uint8_t *o = out->rgb + 3 * i;
		for (k = 0; k < bands; k++) {
			const uint8_t *p = buf + (i * bands + k) * in_bytes;
			unsigned v = in_bytes == 1 ? p[0] : (unsigned)p[0] << 8 | p[1];
			if (bands == 1 && maxval > 255) {
				/* P5 above 255 is Pillow's mode I, scaled
				 * to 0..65535 (unless already so), then
				 * clamped to 0..255 by I -> RGB. */
				if (maxval != 65535)
					v = pnm_scale(v, maxval, 65535);
				v = v > 255 ? 255 : v;
			} else if (maxval != 255) {
				v = pnm_scale(v, maxval, 255);
			}
			o[k] = (uint8_t)v;
		}
		if (bands == 1)
			o[1] = o[2] = o[0];
	}
	return 0;
}
