/* img_impl.h - what img.c and the decoders share: the helpers they all
 * use, and each decoder's entry point, which img.c's dispatch calls.
 * Private to the img module: callers use img.h.  The entry points are
 * listed here together rather than in a header per codec because img.c is
 * their one caller and they share one signature; a header of a codec's own
 * (img_tiff.h) holds only what the files of a codec split in two share.
 * Dimension letters: w, h are an image's width and height, x a column. */
#ifndef COMMON_IMG_IMG_IMPL_H
#define COMMON_IMG_IMG_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/le.h"

#include "img/img.h"

/* The name for messages: name itself, or "image" when it is NULL. */
const char *img_label(const char *name);

/* Pillow refuses more than IMG_MAX_PIXELS in Image.open, from the header;
 * a zero side could never be resized to 224 x 224 either.  Call it before
 * any pixel memory exists, with the header's values.  Returns 0 or
 * ERR_TOO_BIG. */
int img_check_size(uint64_t w, uint64_t h, const char *name, char *err);

/* img->rgb becomes (h, w, 3), uninitialised.  Only after img_check_size:
 * w and h then fit an int.  Returns 0 or ERR_NOMEM. */
int img_alloc_pixels(img_t *img, uint64_t w, uint64_t h, const char *name,
		     char *err);

/* Palette lookup as Pillow does it: its palettes start as the gray ramp
 * (entry i is i, i, i) and the file's n entries (pal is (n, 3)) overwrite
 * the first n, so an index past the file's palette comes out gray, not
 * black.  o receives one RGB pixel. */
void img_palette_rgb(const uint8_t *pal, int n, unsigned idx, uint8_t *o);

/* Unsigned integers stored big-endian (TIFF's "MM" files, PNG's chunks); the
 * little-endian ones are le.h's. */
static inline uint32_t img_rd_be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static inline uint32_t img_rd_be32(const uint8_t *p)
{
	return img_rd_be16(p) << 16 | img_rd_be16(p + 2);
}

static inline uint64_t img_rd_be64(const uint8_t *p)
{
	return (uint64_t)img_rd_be32(p) << 32 | (uint64_t)img_rd_be32(p + 4);
}

/* Sample x of a row of packed samples of bits bits each (1, 2, 4 or 8),
 * the first in a byte's high bits, as PNG and BMP store them. */
static inline unsigned img_packed_sample(const uint8_t *row, size_t x,
					 unsigned bits)
{
	size_t bit = x * bits;

	return (row[bit / 8] >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
}

/* The decoders, one file each.  Each decodes the whole file in buf (len
 * bytes, at least the magic img_decode told it by) as Pillow 9.4 does;
 * img.h lists what each reads.  They return as img_decode does; on
 * failure out->rgb may be set: the caller frees it. */

/* JPEG (img_jpeg.c): buf starts FF D8 FF. */
int img_decode_jpeg(const uint8_t *buf, size_t len, const char *name,
		    img_t *out, char *err);

/* PNG (img_png.c): buf starts with the PNG signature. */
int img_decode_png(const uint8_t *buf, size_t len, const char *name,
		   img_t *out, char *err);

/* Netpbm (img_pnm.c): buf starts with 'P'; it refuses the variants it
 * does not read by their magic. */
int img_decode_pnm(const uint8_t *buf, size_t len, const char *name,
		   img_t *out, char *err);

/* BMP (img_bmp.c): buf starts "BM". */
int img_decode_bmp(const uint8_t *buf, size_t len, const char *name,
		   img_t *out, char *err);

/* TIFF (img_tiff.c, img_tiff_tags.c): buf starts with a TIFF or BigTIFF
 * header. */
int img_decode_tiff(const uint8_t *buf, size_t len, const char *name,
		    img_t *out, char *err);

#endif
