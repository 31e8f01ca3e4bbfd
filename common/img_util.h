/* img_util.h - what img.c shares with the decoders kept in files of their
 * own (img_tiff.c).  Private to the img module: callers use img.h.
 * Dimension letters as in img.c: w, h an image's width and height. */
#ifndef COMMON_IMG_UTIL_H
#define COMMON_IMG_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "le.h"

#include "img.h"

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

/* Unsigned integers stored big-endian (TIFF's "MM" files); the
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

/* img_decode_tiff decodes a TIFF (buf starts with a TIFF or BigTIFF
 * header) as Pillow 9.4 does; img.h lists what it reads.  Returns as
 * img_decode does; on failure out->rgb may be set: the caller frees it. */
int img_decode_tiff(const uint8_t *buf, size_t len, const char *name,
		    img_t *out, char *err);

#endif
