/* img_tiff.c - the pixels of a TIFF, read the way Pillow 9.4 reads them.
 *
 * Pillow's TiffImagePlugin first makes its own sense of the first IFD
 * (img_tiff_tags.c: the mode, and the "raw mode" the stored bytes unpack
 * with); then
 *  - uncompressed data goes through Pillow's raw decoder, strip by strip or
 *    tile by tile, at the offsets the tags give; libtiff never sees it
 *    (tiff_raw_decode);
 *  - compressed data goes to libtiff, through the calls Pillow's
 *    TiffDecode.c makes, so that libtiff's answers and errors are Pillow's
 *    (tiff_lib_decode).
 * The pixels are unpacked straight into RGB, as convert("RGB") makes them
 * from each mode; then the Orientation tag is applied, as Pillow's TIFF
 * plugin does.  Only the first image of the file is read (Keras reads the
 * first frame).
 *
 * Dimension letters: w, h are the image's width and height, x a column and
 * y a row; a strip or tile ("block") is bw x bh pixels. */
#include "img/img_tiff.h"

#include "error.h"
#include "img/img_impl.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

/* The largest single allocation libtiff may make for us (its
 * TIFFOpenOptionsSetMaxSingleMemAlloc): strip offset tables and codec
 * buffers of a file we accept stay far below; a hostile header's claims
 * do not. */
#define TIFF_MAX_LIB_ALLOC ((tmsize_t)IMG_MAX_PIXELS)

typedef struct tiff_unpacker tiff_unpacker_t;

/* Unpacks n pixels of one row: in holds them as stored, o receives RGB
 * (n, 3), alpha (n) the alpha plane when one is kept, else NULL. */
typedef void (*tiff_unpack_fn)(const tiff_job_t *job,
			       const tiff_unpacker_t *u, uint8_t *o,
			       uint8_t *alpha, const uint8_t *in, uint64_t n);

/* One of Pillow's unpackers: mode and raw mode name it as Pillow does
 * (Unpack.c), bits is its bits per pixel. */
struct tiff_unpacker {
	const char *mode, *raw;
	int bits;
	tiff_unpack_fn fn;
	int arg;      /* fn's variant: inverted, byte order, bits, channel */
	int reversed; /* ";R": each byte's bits come reversed (FillOrder 2) */
};

/* ---- unpacking --------------------------------------------------------- */

static uint8_t tiff_rev8(uint8_t b)
{
	b = (uint8_t)((b & 0xF0) >> 4 | (b & 0x0F) << 4);
	b = (uint8_t)((b & 0xCC) >> 2 | (b & 0x33) << 2);
	return (uint8_t)((b & 0xAA) >> 1 | (b & 0x55) << 1);
}

static uint8_t tiff_byte(const tiff_unpacker_t *u, const uint8_t *in,
			 uint64_t i)
{
	return u->reversed ? tiff_rev8(in[i]) : in[i];
}

/* Pillow's mode "1" stores 0 or 255; "1;I" (MinIsWhite) reads a set bit
 * as black. */
static void unpack_1(const tiff_job_t *job, const tiff_unpacker_t *u,
		     uint8_t *o, uint8_t *alpha, const uint8_t *in, uint64_t n)
{
	uint64_t x;

	for (x = 0; x < n; x++, o += 3) {
		int bit = tiff_byte(u, in, x / 8) >> (7 - x % 8) & 1;
		o[0] = o[1] = o[2] = (uint8_t)(bit ^ u->arg ? 255 : 0);
	}
}

static void unpack_l(const tiff_job_t *job, const tiff_unpacker_t *u,
		     uint8_t *o, uint8_t *alpha, const uint8_t *in, uint64_t n)
{
	uint64_t x;

	for (x = 0; x < n; x++, o += 3) {
		uint8_t v = tiff_byte(u, in, x);
		o[0] = o[1] = o[2] = u->arg ? (uint8_t)(255 - v) : v;
	}
}

enum { I16_LE, I16_BE, I16_NATIVE };

/* Modes I;16 and I;16B become RGB through L: clamped to 0..255. */
static void unpack_i16(const tiff_job_t *job, const tiff_unpacker_t *u,
		       uint8_t *o, uint8_t *alpha, const uint8_t *in,
		       uint64_t n)
{
	uint64_t x;

	for (x = 0; x < n; x++, o += 3) {
		uint8_t p[2] = { tiff_byte(u, in, 2 * x),
				 tiff_byte(u, in, 2 * x + 1) };
		uint16_t v;

		if (u->arg == I16_NATIVE)
			memcpy(&v, p, 2);
		else
			v = (uint16_t)(u->arg == I16_BE ? img_rd_be16(p) :
							  le_get16(p));
		o[0] = o[1] = o[2] = (uint8_t)(v > 255 ? 255 : v);
	}
}

/* Indices of arg bits each, the first pixel in a byte's high bits. */
static void unpack_p(const tiff_job_t *job, const tiff_unpacker_t *u,
		     uint8_t *o, uint8_t *alpha, const uint8_t *in, uint64_t n)
{
	uint64_t x;
	unsigned d = (unsigned)u->arg;

	for (x = 0; x < n; x++, o += 3) {
		uint64_t bit = x * d;
		unsigned idx = tiff_byte(u, in, bit / 8) >> (8 - d - bit % 8) &
			       ((1u << d) - 1);
		img_palette_rgb(job->pal, job->npal, idx, o);
	}
}

/* RGB, or RGBA / RGBX with the fourth byte dropped (convert("RGB") never
 * composites alpha); arg is the bytes per pixel. */
static void unpack_rgb(const tiff_job_t *job, const tiff_unpacker_t *u,
		       uint8_t *o, uint8_t *alpha, const uint8_t *in,
		       uint64_t n)
{
	uint64_t x;
	int k;

	for (x = 0; x < n; x++, o += 3, in += u->arg)
		for (k = 0; k < 3; k++)
			o[k] = u->reversed ? tiff_rev8(in[k]) : in[k];
}

/* Pillow's unpackRGBa: premultiplied (associated) alpha is undone, in
 * integers, as c * 255 / a clipped to 255; a = 0 gives black. */
static void unpremultiply(uint8_t *o, unsigned a)
{
	int k;

	for (k = 0; k < 3; k++) {
		unsigned v = a ? o[k] * 255u / a : 0;
		o[k] = (uint8_t)(v > 255 ? 255 : v);
	}
}

static void unpack_rgba_premul(const tiff_job_t *job,
			       const tiff_unpacker_t *u, uint8_t *o,
			       uint8_t *alpha, const uint8_t *in, uint64_t n)
{
	uint64_t x;

	for (x = 0; x < n; x++, o += 3, in += 4) {
		memcpy(o, in, 3);
		unpremultiply(o, in[3]);
	}
}

/* One band of separate planes: arg is the channel (3: alpha, 4: dropped). */
static void unpack_band(const tiff_job_t *job, const tiff_unpacker_t *u,
			uint8_t *o, uint8_t *alpha, const uint8_t *in,
			uint64_t n)
{
	uint64_t x;

	if (u->arg < 3) {
		for (x = 0; x < n; x++)
			o[3 * x + (unsigned)u->arg] = in[x];
	} else if (u->arg == 3 && alpha) {
		memcpy(alpha, in, (size_t)n);
	}
}

/* The (mode, raw mode) pairs of Pillow 9.4 that TIFFs of the kinds we read
 * can ask for.  Pillow has no "L;IR", "P;1R", "P;2R", "P;4R" or "a": files
 * that need them are refused by Pillow, and here. */
static const tiff_unpacker_t tiff_unpackers[] = {
	{ "1", "1", 1, unpack_1, 0, 0 },
	{ "1", "1;I", 1, unpack_1, 1, 0 },
	{ "1", "1;R", 1, unpack_1, 0, 1 },
	{ "1", "1;IR", 1, unpack_1, 1, 1 },
	{ "L", "L", 8, unpack_l, 0, 0 },
	{ "L", "L;I", 8, unpack_l, 1, 0 },
	{ "L", "L;R", 8, unpack_l, 0, 1 },
	{ "I;16", "I;16", 16, unpack_i16, I16_LE, 0 },
	{ "I;16", "I;16R", 16, unpack_i16, I16_LE, 1 },
	{ "I;16", "I;16N", 16, unpack_i16, I16_NATIVE, 0 },
	{ "I;16B", "I;16B", 16, unpack_i16, I16_BE, 0 },
	{ "I;16B", "I;16N", 16, unpack_i16, I16_NATIVE, 0 },
	{ "P", "P;1", 1, unpack_p, 1, 0 },
	{ "P", "P;2", 2, unpack_p, 2, 0 },
	{ "P", "P;4", 4, unpack_p, 4, 0 },
	{ "P", "P", 8, unpack_p, 8, 0 },
	{ "P", "P;R", 8, unpack_p, 8, 1 },
	{ "RGB", "RGB", 24, unpack_rgb, 3, 0 },
	{ "RGB", "RGB;R", 24, unpack_rgb, 3, 1 },
	{ "RGBA", "RGBA", 32, unpack_rgb, 4, 0 },
	{ "RGBA", "RGBa", 32, unpack_rgba_premul, 0, 0 },
	{ "RGBX", "RGBX", 32, unpack_rgb, 4, 0 },
	{ "RGB", "R", 8, unpack_band, 0, 0 },
	{ "RGB", "G", 8, unpack_band, 1, 0 },
	{ "RGB", "B", 8, unpack_band, 2, 0 },
	{ "RGBA", "R", 8, unpack_band, 0, 0 },
	{ "RGBA", "G", 8, unpack_band, 1, 0 },
	{ "RGBA", "B", 8, unpack_band, 2, 0 },
	{ "RGBA", "A", 8, unpack_band, 3, 0 },
	{ "RGBX", "R", 8, unpack_band, 0, 0 },
	{ "RGBX", "G", 8, unpack_band, 1, 0 },
	{ "RGBX", "B", 8, unpack_band, 2, 0 },
	{ "RGBX", "X", 8, unpack_band, 4, 0 },
};

static const tiff_unpacker_t *tiff_unpacker(const char *mode, const char *raw)
{
	size_t i;

	for (i = 0; i < sizeof tiff_unpackers / sizeof tiff_unpackers[0]; i++)
		if (!strcmp(tiff_unpackers[i].mode, mode) &&
		    !strcmp(tiff_unpackers[i].raw, raw))
			return &tiff_unpackers[i];
	return NULL;
}

static uint8_t *tiff_row(const tiff_job_t *job, uint64_t x, uint64_t y)
{
	return job->out->rgb + ((size_t)y * (size_t)job->w + (size_t)x) * 3;
}

static uint8_t *tiff_alpha(const tiff_job_t *job, uint64_t x, uint64_t y)
{
	return job->alpha ? job->alpha + (size_t)y * (size_t)job->w + x : NULL;
}

/* ---- uncompressed: Pillow's raw decoder -------------------------------- */

/* Pillow's "stride" of a block: 0 (rows packed) unless the block runs past
 * the right edge; then bw * sum(BitsPerSample) / 8, divided by the bands
 * in separate planes, truncated (Python's int() of a float division,
 * exact for any width that fits the file).  Saturates for absurd widths. */
static uint64_t tiff_raw_stride(const tiff_job_t *job, uint64_t x,
				uint64_t bw)
{
	uint64_t sum = 0, bands, i;

	if (bw <= job->w - x)
		return 0;
	for (i = 0; i < job->nbps; i++)
		sum += job->bps[i];
	/* Pillow's bps_count: the photometric's colour bands plus extras. */
	bands = (job->photo == 2 || job->photo == 6 || job->photo == 8) ? 3 :
		job->photo == 5 ? 4 : 1;
	bands += job->nextra;
	if (bw > UINT64_MAX / 128)
		return UINT64_MAX;
	return job->planar == 2 ? bw * sum / 8 / bands : bw * sum / 8;
}

/* Block i of Pillow's list: left to right, top to bottom, then (more
 * offsets than blocks) from the top left again, one "layer" further. */
typedef struct tiff_grid {
	uint64_t bw, bh, across, cells;
} tiff_grid_t;

/* Pillow's raw mode for block i: the raw mode's letter for its layer in
 * separate planes ("RGB" gives "R", "G", "B"; "L;I" gives "L"), else the
 * raw mode; NULL where Pillow has no unpacker or no letter. */
static const tiff_unpacker_t *tiff_raw_unpacker(const tiff_job_t *job,
						 const tiff_grid_t *g,
						 uint64_t i)
{
	uint64_t layer = i / g->cells;
	char band[2] = { 0, 0 };

	if (job->planar != 2)
		return tiff_unpacker(job->mode, job->raw);
	if (layer >= strlen(job->raw))
		return NULL;
	band[0] = job->raw[layer];
	return tiff_unpacker(job->mode, band);
}

static int tiff_raw_block(tiff_job_t *job, const tiff_grid_t *g, uint64_t i,
			  uint64_t off)
{
	const tiff_unpacker_t *u = tiff_raw_unpacker(job, g, i);
	uint64_t c = i % g->cells;
	uint64_t x0 = c % g->across * g->bw, y0 = c / g->across * g->bh;
	uint64_t x1 = g->bw > job->w - x0 ? job->w : x0 + g->bw;
	uint64_t y1 = g->bh > job->h - y0 ? job->h : y0 + g->bh;
	uint64_t bytes, skip = 0, rows = y1 - y0, need, stride, y;

	if (!u)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: TIFF that Pillow unpacks with a raw mode it lacks (%s, plane %llu)",
			       img_label(job->name), job->raw,
			       (unsigned long long)(i / g->cells));
	/* Pillow's raw decoder needs whole rows, and no padding after the
	 * last one. */
	bytes = ((x1 - x0) * (uint64_t)u->bits + 7) / 8;
	stride = tiff_raw_stride(job, x0, g->bw);
	if (stride) {
		if (stride < bytes)
			return err_set(job->err, ERR_FORMAT,
				       "%s: TIFF tile rows of %llu bytes hold %llu",
				       img_label(job->name),
				       (unsigned long long)stride,
				       (unsigned long long)bytes);
		skip = stride - bytes;
	}
	need = rows > 1 && skip > job->len ? UINT64_MAX :
					     rows * bytes + (rows - 1) * skip;
	if (off > job->len || need > job->len - off)
		return err_set(job->err, ERR_FORMAT,
			       "%s: truncated TIFF (%llu bytes of pixels at byte %llu, the file has %zu)",
			       img_label(job->name), (unsigned long long)need,
			       (unsigned long long)off, job->len);
	for (y = 0; y < rows; y++)
		u->fn(job, u, tiff_row(job, x0, y0 + y), NULL,
		      job->buf + off + y * (bytes + skip), x1 - x0);
	return 0;
}

typedef struct tiff_order {
	uint64_t off, i;
} tiff_order_t;

static int tiff_order_cmp(const void *a, const void *b)
{
	const tiff_order_t *p = a, *q = b;

	if (p->off != q->off)
		return p->off < q->off ? -1 : 1;
	return p->i < q->i ? -1 : p->i > q->i;
}

/* More offsets than blocks: Pillow sorts its blocks by offset (stably),
 * drops each that the next repeats (same place, same raw mode), and
 * decodes the rest in that order, later ones over earlier ones.  We follow
 * it for up to 16 rounds of the image's blocks, which bounds the work. */
static int tiff_raw_reordered(tiff_job_t *job, const tiff_grid_t *g, int t,
			      uint64_t n)
{
	tiff_order_t *o;
	uint64_t k;
	int rc = 0;

	if (n > 16 * g->cells * (job->planar == 2 ? job->spp : 1) ||
	    n > (1u << 22))
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: TIFF lists %llu blocks of pixels for %llu",
			       img_label(job->name), (unsigned long long)n,
			       (unsigned long long)g->cells);
	o = malloc((size_t)n * sizeof *o);
	if (!o)
		return err_set(job->err, ERR_NOMEM,
			       "%s: cannot allocate %llu TIFF block offsets",
			       img_label(job->name), (unsigned long long)n);
	for (k = 0; k < n && !rc; k++) {
		o[k].i = k;
		if (img_tiff_num(job, t, k, &o[k].off))
			rc = img_tiff_bad_value(job, t);
	}
	if (!rc)
		qsort(o, (size_t)n, sizeof *o, tiff_order_cmp);
	for (k = 0; k < n && !rc; k++) {
		if (k + 1 < n && o[k].i % g->cells == o[k + 1].i % g->cells &&
		    tiff_raw_unpacker(job, g, o[k].i) ==
			    tiff_raw_unpacker(job, g, o[k + 1].i))
			continue;
		rc = tiff_raw_block(job, g, o[k].i, o[k].off);
	}
	free(o);
	return rc;
}

/* Pillow's raw path: one block per offset in StripOffsets (bw = w, bh =
 * RowsPerStrip) or else TileOffsets (bw x bh = TileWidth x TileLength), in
 * the order tiff_grid_t gives; in separate planes each layer is the next
 * plane.  Pixels no block covers keep Pillow's zeros. */
static int tiff_raw_decode(tiff_job_t *job)
{
	int strips = job->tag[T_STRIPOFFSETS].count != 0;
	int t = strips ? T_STRIPOFFSETS : T_TILEOFFSETS;
	uint64_t n = job->tag[t].count, i, off, down;
	uint8_t zero[3] = { 0, 0, 0 };
	size_t p, npx = (size_t)job->w * (size_t)job->h;
	tiff_grid_t g;
	int rc = 0;

	if (!n)
		return err_set(job->err, ERR_FORMAT,
			       "%s: TIFF without StripOffsets or TileOffsets",
			       img_label(job->name));
	if (!strips && (!job->tag[T_TILEWIDTH].count ||
			!job->tag[T_TILELENGTH].count))
		return err_set(job->err, ERR_FORMAT,
			       "%s: tiled TIFF without TileWidth or TileLength",
			       img_label(job->name));
	g.bw = job->w;
	g.bh = job->h;
	if (strips && job->tag[T_ROWSPERSTRIP].count &&
	    img_tiff_num(job, T_ROWSPERSTRIP, 0, &g.bh))
		return img_tiff_bad_value(job, T_ROWSPERSTRIP);
	if (!strips && img_tiff_num(job, T_TILEWIDTH, 0, &g.bw))
		return img_tiff_bad_value(job, T_TILEWIDTH);
	if (!strips && img_tiff_num(job, T_TILELENGTH, 0, &g.bh))
		return img_tiff_bad_value(job, T_TILELENGTH);
	if (g.bw == 0 || g.bh == 0 || g.bw > INT64_MAX || g.bh > INT64_MAX)
		return err_set(job->err, ERR_FORMAT,
			       "%s: TIFF %s of %llux%llu pixels",
			       img_label(job->name), strips ? "strips" : "tiles",
			       (unsigned long long)g.bw, (unsigned long long)g.bh);
	g.across = job->w / g.bw + (job->w % g.bw != 0);
	down = job->h / g.bh + (job->h % g.bh != 0);
	g.cells = g.across * down;

	if (!strcmp(job->mode, "P"))
		img_palette_rgb(job->pal, job->npal, 0, zero);
	for (p = 0; p < npx; p++)
		memcpy(job->out->rgb + 3 * p, zero, 3);
	/* Blocks no more than the image has never overlap: their order
	 * does not matter. */
	if (n > g.cells * (job->planar == 2 ? job->spp : 1))
		return tiff_raw_reordered(job, &g, t, n);
	for (i = 0; i < n && !rc; i++) {
		if (img_tiff_num(job, t, i, &off))
			return img_tiff_bad_value(job, t);
		rc = tiff_raw_block(job, &g, i, off);
	}
	return rc;
}

/* ---- compressed: libtiff, as Pillow's TiffDecode.c calls it ------------ */

/* libtiff reads the file from memory through these (Pillow's _tiffReadProc
 * and friends), mapped, as Pillow opens it ("r" maps the file). */
static tmsize_t tiff_io_read(thandle_t h, void *b, tmsize_t n)
{
	tiff_job_t *job = h;
	uint64_t left;

	if (n <= 0 || job->pos >= job->len)
		return 0;
	left = job->len - job->pos;
	if ((uint64_t)n > left)
		n = (tmsize_t)left;
	memcpy(b, job->buf + job->pos, (size_t)n);
	job->pos += (uint64_t)n;
	return n;
}

static tmsize_t tiff_io_write(thandle_t h, void *b, tmsize_t n)
{
	return 0;
}

static toff_t tiff_io_seek(thandle_t h, toff_t off, int whence)
{
	tiff_job_t *job = h;

	if (whence == SEEK_SET)
		job->pos = off;
	else if (whence == SEEK_CUR)
		job->pos += off;
	else
		job->pos = job->len + off;
	return job->pos;
}

static int tiff_io_close(thandle_t h)
{
	return 0;
}

static toff_t tiff_io_size(thandle_t h)
{
	return ((tiff_job_t *)h)->len;
}

static int tiff_io_map(thandle_t h, void **base, toff_t *size)
{
	tiff_job_t *job = h;

	/* libtiff only reads a file opened "r"; its prototype lacks const. */
	*base = (void *)(uintptr_t)job->buf;
	*size = job->len;
	return 1;
}

static void tiff_io_unmap(thandle_t h, void *base, toff_t size)
{
}

/* libtiff's messages go to the decode that caused them (handlers of this
 * TIFF handle, libtiff >= 4.5: no process-wide state, so threads decoding
 * at once do not mix their messages); returning 1 keeps libtiff from also
 * calling its process-wide handlers, which print to stderr. */
static int tiff_on_error(TIFF *tif, void *user, const char *module,
			 const char *fmt, va_list ap)
{
	tiff_job_t *job = user;
	char text[200], *m = job->errors++ ? job->last : job->msg, *c;

	vsnprintf(text, sizeof text, fmt, ap);
	/* The module is a function's name, or the file's, which we leave
	 * empty (the message names the file already). */
	if (module && *module)
		snprintf(m, sizeof job->msg, "%s: %s", module, text);
	else
		snprintf(m, sizeof job->msg, "%s", text);
	for (c = m; *c; c++)
		if ((unsigned char)*c < ' ')
			*c = ' ';
	return 1;
}

/* Pillow silences libtiff's warnings (TIFFSetWarningHandler(NULL)): the
 * image is whatever libtiff made of the data. */
static int tiff_on_warning(TIFF *tif, void *user, const char *module,
			   const char *fmt, va_list ap)
{
	return 1;
}

/* A libtiff call failed: its first message says what it found first, its
 * last why it gave up. */
static int tiff_lib_failed(tiff_job_t *job, const char *what)
{
	if (job->errors > 1)
		return err_set(job->err, ERR_FORMAT, "%s: corrupt TIFF (%s; %s)",
			       img_label(job->name), job->msg, job->last);
	return err_set(job->err, ERR_FORMAT, "%s: corrupt TIFF (%s)",
		       img_label(job->name), job->errors ? job->msg : what);
}

/* Pillow's "libtiff and the tags disagree" checks (IMAGING_CODEC_BROKEN). */
static int tiff_mismatch(tiff_job_t *job, const char *what)
{
	return err_set(job->err, ERR_FORMAT,
		       "%s: corrupt TIFF (%s does not match the tags)",
		       img_label(job->name), what);
}

/* Pillow's _decodeStrip: each strip read whole by TIFFReadEncodedStrip,
 * plane by plane, each row unpacked from TIFFScanlineSize apart. */
static int tiff_lib_strips(tiff_job_t *job, TIFF *tif, int planes,
			   const tiff_unpacker_t **u)
{
	uint32_t rps = 0;
	tmsize_t size = TIFFStripSize(tif), row = TIFFScanlineSize(tif);
	uint64_t unpacked = (job->w * (uint64_t)u[0]->bits + 7) / 8, y, r;
	uint8_t *block;
	int p, rc = 0;

	if (!TIFFGetField(tif, TIFFTAG_ROWSPERSTRIP, &rps) || rps == UINT32_MAX)
		rps = (uint32_t)job->h;
	if (rps == 0 || rps > INT_MAX)
		return tiff_mismatch(job, "RowsPerStrip");
	if (size <= 0 || size > INT_MAX - 1 ||
	    (uint64_t)size > unpacked * rps)
		return tiff_mismatch(job, "libtiff's strip size");
	if (row <= 0 || unpacked > (uint64_t)row)
		return tiff_mismatch(job, "libtiff's row size");
	block = calloc((size_t)size, 1);
	if (!block)
		return err_set(job->err, ERR_NOMEM,
			       "%s: cannot allocate a TIFF strip of %lld bytes",
			       img_label(job->name), (long long)size);
	for (y = 0; y < job->h && !rc; y += rps) {
		uint64_t rows = job->h - y < rps ? job->h - y : rps;

		for (p = 0; p < planes && !rc; p++) {
			uint32_t s = TIFFComputeStrip(tif, (uint32_t)y,
						      (uint16_t)p);

			if (TIFFReadEncodedStrip(tif, s, block, size) == -1) {
				rc = tiff_lib_failed(job, "cannot read a strip");
				break;
			}
			if ((rows - 1) * (uint64_t)row + unpacked > (uint64_t)size) {
				rc = tiff_mismatch(job, "libtiff's strip size");
				break;
			}
			for (r = 0; r < rows; r++)
				u[p]->fn(job, u[p], tiff_row(job, 0, y + r),
					 tiff_alpha(job, 0, y + r),
					 block + r * (uint64_t)row, job->w);
		}
	}
	free(block);
	return rc;
}

/* Pillow's _decodeTile: TIFFReadTile per tile and plane, rows
 * TIFFTileRowSize apart; tiles past the right or bottom edge are cut. */
static int tiff_lib_tiles(tiff_job_t *job, TIFF *tif, int planes,
			  const tiff_unpacker_t **u)
{
	uint32_t bw = 0, bh = 0;
	tmsize_t size = TIFFTileSize(tif), row = TIFFTileRowSize(tif);
	uint64_t x, y, r;
	uint8_t *block;
	int p, rc = 0;

	if (size <= 0 || row <= 0 || row > size || size > INT_MAX - 1)
		return tiff_mismatch(job, "libtiff's tile size");
	TIFFGetField(tif, TIFFTAG_TILEWIDTH, &bw);
	TIFFGetField(tif, TIFFTAG_TILELENGTH, &bh);
	if (bw == 0 || bh == 0 || bw > INT_MAX || bh > INT_MAX)
		return tiff_mismatch(job, "the tile size");
	/* Pillow's own bound on the tile's bytes. */
	if ((uint64_t)size > ((uint64_t)bh * (uint64_t)u[0]->bits + 7) / 8 * bw)
		return tiff_mismatch(job, "libtiff's tile size");
	block = calloc((size_t)size, 1);
	if (!block)
		return err_set(job->err, ERR_NOMEM,
			       "%s: cannot allocate a TIFF tile of %lld bytes",
			       img_label(job->name), (long long)size);
	for (y = 0; y < job->h && !rc; y += bh) {
		uint64_t rows = job->h - y < bh ? job->h - y : bh;

		for (p = 0; p < planes && !rc; p++) {
			for (x = 0; x < job->w; x += bw) {
				uint64_t cols = job->w - x < bw ? job->w - x : bw;
				uint64_t need = (cols * (uint64_t)u[p]->bits + 7) / 8;

				if (TIFFReadTile(tif, block, (uint32_t)x,
						 (uint32_t)y, 0, (uint16_t)p) == -1) {
					rc = tiff_lib_failed(job, "cannot read a tile");
					break;
				}
				if ((rows - 1) * (uint64_t)row + need > (uint64_t)size) {
					rc = tiff_mismatch(job, "libtiff's tile size");
					break;
				}
				for (r = 0; r < rows; r++)
					u[p]->fn(job, u[p], tiff_row(job, x, y + r),
						 tiff_alpha(job, x, y + r),
						 block + r * (uint64_t)row, cols);
			}
		}
	}
	free(block);
	return rc;
}

/* Pillow's ImagingLibTiffDecode, for what img_tiff_read_tags lets
 * through: libtiff reads the first IFD again and must agree on the size;
 * YCbCr JPEG is converted by libjpeg (JPEGCOLORMODE_RGB); separate planes
 * of more than one band are unpacked plane by plane, and RGBA planes whose
 * first extra sample libtiff calls unspecified or associated are then
 * un-premultiplied (libtiff calls an RGBA without ExtraSamples
 * "unspecified", so Pillow un-premultiplies those too). */
static int tiff_lib_run(tiff_job_t *job, TIFF *tif)
{
	uint32_t w = 0, h = 0;
	uint16_t photo = 0, comp = 1, planar = PLANARCONFIG_CONTIG, bps = 8;
	uint16_t nextra = 0, *extra = NULL;
	const tiff_unpacker_t *u[4];
	const char *raw = job->raw;
	int planes = 1, bands, p, rc;
	size_t i, npx = (size_t)job->w * (size_t)job->h;

	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
	if (w != job->w || h != job->h)
		return tiff_mismatch(job, "libtiff's image size");
	TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo);
	TIFFGetField(tif, TIFFTAG_COMPRESSION, &comp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
	if (photo == PHOTOMETRIC_YCBCR) {
		if (comp != COMPRESSION_JPEG || planar != PLANARCONFIG_CONTIG)
			return err_set(job->err, ERR_UNSUPPORTED,
				       "%s: TIFF that libtiff reads as YCbCr without JPEG",
				       img_label(job->name));
		TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
	}

	/* Pillow's raw mode for libtiff's output: FillOrder undone by
	 * libtiff, 16-bit samples in the machine's order, YCbCr JPEG as
	 * RGB. */
	if (job->fill == 2 && img_tiff_mode(job, 1, &job->mode, &raw))
		return img_tiff_refuse_kind(job);
	if (!strcmp(raw, "I;16") || !strcmp(raw, "I;16B"))
		raw = "I;16N";
	if (job->photo == 6)
		raw = "RGB";
	u[0] = tiff_unpacker(job->mode, raw);
	if (!u[0])
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: TIFF that needs Pillow's raw mode %s for mode %s",
			       img_label(job->name), raw, job->mode);
	bands = !strcmp(job->mode, "RGB") ? 3 :
		!strcmp(job->mode, "RGBA") || !strcmp(job->mode, "RGBX") ? 4 : 1;
	if (planar == PLANARCONFIG_SEPARATE && bands > 1) {
		TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
		if (bps != 8)
			return tiff_mismatch(job, "libtiff's BitsPerSample");
		planes = bands;
		for (p = 0; p < planes; p++)
			u[p] = tiff_unpacker("RGBA", (const char[]){ "RGBA"[p], '\0' });
		if (!strcmp(job->mode, "RGBA")) {
			job->alpha = calloc(npx, 1);
			if (!job->alpha)
				return err_set(job->err, ERR_NOMEM,
					       "%s: cannot allocate an alpha plane",
					       img_label(job->name));
		}
	}

	rc = TIFFIsTiled(tif) ? tiff_lib_tiles(job, tif, planes, u) :
				tiff_lib_strips(job, tif, planes, u);
	if (rc || !job->alpha)
		return rc;
	TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
	if (nextra >= 1 && extra &&
	    (extra[0] == EXTRASAMPLE_UNSPECIFIED ||
	     extra[0] == EXTRASAMPLE_ASSOCALPHA))
		for (i = 0; i < npx; i++)
			unpremultiply(job->out->rgb + 3 * i, job->alpha[i]);
	return 0;
}

static int tiff_lib_decode(tiff_job_t *job)
{
	TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
	TIFF *tif;
	int rc;

	if (!opts)
		return err_set(job->err, ERR_NOMEM, "%s: out of memory",
			       img_label(job->name));
	TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_on_error, job);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_on_warning, job);
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, TIFF_MAX_LIB_ALLOC);
	tif = TIFFClientOpenExt("", "r", job, tiff_io_read, tiff_io_write,
				tiff_io_seek, tiff_io_close, tiff_io_size,
				tiff_io_map, tiff_io_unmap, opts);
	TIFFOpenOptionsFree(opts);
	if (!tif)
		return tiff_lib_failed(job, "libtiff cannot open it");
	rc = tiff_lib_run(job, tif);
	TIFFClose(tif);
	return rc;
}

/* ---- orientation -------------------------------------------------------- */

/* Pillow's TIFF plugin applies the Orientation tag after decoding (its
 * load_end): 2 mirrors, 3 turns half way, 4 flips, 5 transposes, 6 turns
 * clockwise, 7 transverses, 8 turns counter-clockwise; other values do
 * nothing. */
static int tiff_orient(tiff_job_t *job)
{
	img_t *img = job->out, t = { 0, 0, NULL };
	uint64_t o = job->orientation, w = job->w, h = job->h, x, y;
	int swap = o >= 5, rc;

	if (o < 2 || o > 8)
		return 0;
	rc = img_alloc_pixels(&t, swap ? h : w, swap ? w : h, job->name,
			      job->err);
	if (rc)
		return rc;
	for (y = 0; y < (uint64_t)t.h; y++) {
		for (x = 0; x < (uint64_t)t.w; x++) {
			uint64_t sx, sy;

			switch (o) {
			case 2: sx = w - 1 - x; sy = y; break;
			case 3: sx = w - 1 - x; sy = h - 1 - y; break;
			case 4: sx = x; sy = h - 1 - y; break;
			case 5: sx = y; sy = x; break;
			case 6: sx = y; sy = h - 1 - x; break;
			case 7: sx = w - 1 - y; sy = h - 1 - x; break;
			default: sx = w - 1 - y; sy = x; break;
			}
			memcpy(t.rgb + (y * (uint64_t)t.w + x) * 3,
			       img->rgb + (sy * w + sx) * 3, 3);
		}
	}
	img_free(img);
	*img = t;
	return 0;
}

/* ---- public ------------------------------------------------------------- */

int img_decode_tiff(const uint8_t *buf, size_t len, const char *name,
		    img_t *out, char *err)
{
	tiff_job_t *job = calloc(1, sizeof *job);
	int rc;

	if (!job)
		return err_set(err, ERR_NOMEM, "%s: out of memory",
			       img_label(name));
	job->buf = buf;
	job->len = len;
	job->name = name;
	job->err = err;
	job->out = out;
	rc = img_tiff_read_tags(job);
	if (!rc)
		rc = img_alloc_pixels(out, job->w, job->h, name, err);
	if (!rc)
		rc = job->compression == 1 ? tiff_raw_decode(job) :
					     tiff_lib_decode(job);
	if (!rc)
		rc = tiff_orient(job);
	free(job->alpha);
	free(job);
	return rc;
}
