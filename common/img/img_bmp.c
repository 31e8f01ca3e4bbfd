/* img_bmp.c - uncompressed BMP files (Windows' info headers, and OS/2
 * 1.x's) as Pillow 9.4's BmpImagePlugin reads them: which headers, bit
 * depths and bit-field layouts it knows, what it makes of the height's
 * sign and of the palette, and how much data it insists on.  img.c picks
 * this decoder by the file's magic.  Dimension letters: w, h are the
 * image's width and height in pixels, y a row, x a column. */
#include "img/img_impl.h"

#include "error.h"
#include "base/le.h"

#include <string.h>

/* The 32-bit channel masks Pillow 9.4 accepts with BI_BITFIELDS (r, g, b,
 * a) and the byte offsets of red, green and blue they mean. */
static const struct {
	uint32_t mask[4];
	int r, g, b;
} bmp_masks32[] = {
	{ { 0xFF0000, 0xFF00, 0xFF, 0 }, 2, 1, 0 },
	{ { 0xFF000000, 0xFF0000, 0xFF00, 0 }, 3, 2, 1 },
	{ { 0xFF000000, 0xFF0000, 0xFF00, 0xFF }, 3, 2, 1 },
	{ { 0xFF, 0xFF00, 0xFF0000, 0xFF000000 }, 0, 1, 2 },
	{ { 0xFF0000, 0xFF00, 0xFF, 0xFF000000 }, 2, 1, 0 },
	{ { 0, 0, 0, 0 }, 2, 1, 0 },
};

/* One BMP decode: the file, and what its headers say, filled in by
 * bmp_read_header, bmp_read_fields and bmp_read_palette in that order. */
typedef struct bmp_job {
	const uint8_t *buf;
	size_t len;
	const char *name;
	char *err;
	uint32_t hs, bits, comp;       /* info header bytes, bits per pixel,
					  compression */
	uint64_t w, h, colors, offset; /* offset: the pixels' (0: right after
					  the palette) */
	size_t pos;                    /* the byte after what was read
					  (headers, masks, palette) */
	int topdown, padding;          /* padding: bytes per palette entry */
	int r, g, b;                   /* byte offsets of red, green, blue in
					  a pixel of 24 or 32 bits */
	uint8_t pal[256 * 3];          /* (npal, 3) */
	int npal;
} bmp_job_t;

/* The file header and the info header: size, bits per pixel, compression,
 * palette size, and where the pixels start. */
static int bmp_read_header(bmp_job_t *job)
{
	const uint8_t *buf = job->buf;
	const char *name = job->name;
	uint32_t wr, hr;

	if (job->len < 18)
		return err_set(job->err, ERR_FORMAT, "%s: truncated BMP header",
			       img_label(name));
	job->offset = le_get32(buf + 10);
	job->hs = le_get32(buf + 14);
	if (job->hs != 12 && job->hs != 40 && job->hs != 64 &&
	    job->hs != 108 && job->hs != 124)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: BMP info header of %u bytes", img_label(name),
			       (unsigned)job->hs);
	if (job->len - 14 < job->hs)
		return err_set(job->err, ERR_FORMAT, "%s: truncated BMP header",
			       img_label(name));
	job->pos = 14 + job->hs;
	if (job->hs == 12) {
		/* OS/2 1.x: 16-bit sizes, always bottom-up, BGR palette. */
		job->w = le_get16(buf + 18);
		job->h = le_get16(buf + 20);
		job->bits = le_get16(buf + 24);
		job->padding = 3;
	} else {
		/* Pillow calls the rows top-down only when the top byte of
		 * the height is 0xFF, and then uses 2^32 - height. */
		wr = le_get32(buf + 18);
		hr = le_get32(buf + 22);
		job->topdown = buf[25] == 0xFF;
		job->w = wr;
		job->h = job->topdown ? (1ULL << 32) - hr : hr;
		job->bits = le_get16(buf + 28);
		job->comp = le_get32(buf + 30);
		job->colors = le_get32(buf + 46);
	}
	if (job->bits != 1 && job->bits != 4 && job->bits != 8 &&
	    job->bits != 16 && job->bits != 24 && job->bits != 32)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: BMP with %u bits per pixel", img_label(name),
			       (unsigned)job->bits);
	if (!job->colors)
		job->colors = 1ULL << job->bits;
	/* Pillow skips a palette that the data offset leaves out. */
	if (job->offset == 14 + job->hs && job->bits <= 8)
		job->offset += 4 * job->colors;
	return 0;
}

/* The compression: none, or the bit fields (channel masks) Pillow knows,
 * which set where red, green and blue sit in a pixel. */
static int bmp_read_fields(bmp_job_t *job)
{
	const char *name = job->name;
	uint32_t bits = job->bits;

	if (job->comp == 3) {
		uint32_t m[4] = { 0, 0, 0, 0 };
		size_t i;
		int found = 0;

		/* Masks follow a 40-byte header (which has no alpha mask)
		 * and sit inside the longer ones. */
		if (job->hs == 40) {
			if (job->len - job->pos < 12)
				return err_set(job->err, ERR_FORMAT,
					       "%s: truncated BMP masks",
					       img_label(name));
			job->pos += 12;
		}
		for (i = 0; i < (job->hs == 40 ? 3u : 4u); i++)
			m[i] = le_get32(job->buf + 54 + 4 * i);
		if (bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 &&
		    m[2] == 0xFF)
			found = 1;
		for (i = 0; bits == 32 && i < sizeof bmp_masks32 / sizeof bmp_masks32[0]; i++) {
			if (!memcmp(m, bmp_masks32[i].mask, sizeof m)) {
				job->r = bmp_masks32[i].r;
				job->g = bmp_masks32[i].g;
				job->b = bmp_masks32[i].b;
				found = 1;
				break;
			}
		}
		if (!found)
			return err_set(job->err, ERR_UNSUPPORTED,
				       "%s: BMP bit fields layout for %u bits",
				       img_label(name), (unsigned)bits);
	} else if (job->comp == 1 || job->comp == 2) {
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: RLE-compressed BMP", img_label(name));
	} else if (job->comp != 0) {
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: BMP compression %u", img_label(name),
			       (unsigned)job->comp);
	}
	if (bits == 16)
		return err_set(job->err, ERR_UNSUPPORTED, "%s: 16-bit BMP",
			       img_label(name));
	return 0;
}

/* The palette of an image of 8 bits or fewer (BGR entries, then a pad
 * byte unless OS/2's). */
static int bmp_read_palette(bmp_job_t *job)
{
	const char *name = job->name;
	uint64_t colors = job->colors, i;
	size_t pal_bytes;
	int gray = 1;

	if (job->bits > 8)
		return 0;
	if (colors > 256)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: BMP palette of %llu colours",
			       img_label(name), (unsigned long long)colors);
	pal_bytes = (size_t)colors * job->padding;
	if (job->len - job->pos < pal_bytes)
		return err_set(job->err, ERR_FORMAT,
			       "%s: truncated BMP palette", img_label(name));
	job->npal = (int)colors;
	for (i = 0; i < colors; i++) {
		const uint8_t *p = job->buf + job->pos + i * job->padding;
		unsigned want = colors == 2 ? (unsigned)i * 255 : (unsigned)i;
		job->pal[3 * i] = p[2];
		job->pal[3 * i + 1] = p[1];
		job->pal[3 * i + 2] = p[0];
		gray &= p[0] == want && p[1] == want && p[2] == want;
	}
	job->pos += pal_bytes;
	/* Pillow reads a gray-ramp palette image as raw "1" or "L"
	 * whatever the bit depth: right only for these two. */
	if (gray && !(colors == 2 && job->bits == 1) &&
	    !(colors != 2 && job->bits == 8))
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: %u-bit BMP with a gray palette of %llu colours (Pillow 9.4 misreads it)",
			       img_label(name), (unsigned)job->bits,
			       (unsigned long long)colors);
	return 0;
}

/* The pixel rows, bottom-up unless the header said otherwise, each padded
 * to 4 bytes; out becomes (h, w, 3). */
static int bmp_read_rows(const bmp_job_t *job, img_t *out)
{
	const char *name = job->name;
	uint64_t w = job->w, h = job->h;
	uint32_t bits = job->bits;
	uint64_t start, stride, rowlen, need;
	size_t y, x;
	int rc;

	rc = img_check_size(w, h, name, job->err);
	if (rc)
		return rc;
	start = job->offset ? job->offset : job->pos;
	rowlen = (w * bits + 7) / 8;
	stride = ((w * bits + 31) >> 3) & ~3ULL;
	/* Pillow's raw decoder needs no padding after the last row. */
	need = (h - 1) * stride + rowlen;
	if (start > job->len || job->len - start < need)
		return err_set(job->err, ERR_FORMAT,
			       "%s: truncated BMP pixel data", img_label(name));
	rc = img_alloc_pixels(out, w, h, name, job->err);
	if (rc)
		return rc;

	for (y = 0; y < h; y++) {
		const uint8_t *in = job->buf + start + y * stride;
		uint8_t *o = out->rgb + (job->topdown ? y : h - 1 - y) * w * 3;

		for (x = 0; x < w; x++, o += 3) {
			if (bits <= 8) {
				img_palette_rgb(job->pal, job->npal,
						img_packed_sample(in, x, bits),
						o);
			} else {
				const uint8_t *p = in + x * (bits / 8);
				o[0] = p[job->r];
				o[1] = p[job->g];
				o[2] = p[job->b];
			}
		}
	}
	return 0;
}

int img_decode_bmp(const uint8_t *buf, size_t len, const char *name,
		   img_t *out, char *err)
{
	bmp_job_t job = { .buf = buf, .len = len, .name = name, .err = err,
			  .padding = 4, .r = 2, .g = 1, .b = 0 };
	int rc;

	rc = bmp_read_header(&job);
	if (!rc)
		rc = bmp_read_fields(&job);
	if (!rc)
		rc = bmp_read_palette(&job);
	if (!rc)
		rc = bmp_read_rows(&job, out);
	return rc;
}
