/* img_tiff.h - what the two halves of the TIFF decoder share; private to
 * img_tiff.c (the pixels) and img_tiff_tags.c (what Pillow makes of the
 * tags).  Dimension letters: w, h are the image's width and height. */
#ifndef COMMON_IMG_IMG_TIFF_H
#define COMMON_IMG_IMG_TIFF_H

#include <stddef.h>
#include <stdint.h>

#include "img/img.h"

/* The tags Pillow's TiffImagePlugin reads (img_tiff_tags.c has their
 * numbers). */
enum {
	T_WIDTH, T_HEIGHT, T_BPS, T_COMPRESSION, T_PHOTOMETRIC, T_FILLORDER,
	T_STRIPOFFSETS, T_ORIENTATION, T_SPP, T_ROWSPERSTRIP, T_PLANAR,
	T_COLORMAP, T_TILEWIDTH, T_TILELENGTH, T_TILEOFFSETS, T_EXTRASAMPLES,
	T_SAMPLEFORMAT, T_NTAGS
};

/* Pillow's MAX_SAMPLESPERPIXEL: more samples than any mode it knows. */
#define TIFF_MAX_SPP 6

/* One tag as the IFD stores it: count values of a type, in the file's byte
 * order, at data (inside the file's buffer).  count 0: absent. */
typedef struct tiff_entry {
	uint16_t type;
	uint64_t count;
	const uint8_t *data;
} tiff_entry_t;

/* One TIFF decode: the file, what Pillow's _setup makes of its first IFD
 * (img_tiff_read_tags fills these), and the decode's state. */
typedef struct tiff_job {
	const uint8_t *buf;
	size_t len;
	const char *name;
	char *err;
	img_t *out;
	int be;                        /* big-endian ("MM") */
	int big;                       /* BigTIFF, as Pillow tells it */
	uint64_t entries, read;        /* the first IFD's entries; how many
					  Pillow could read */
	tiff_entry_t tag[T_NTAGS];
	uint64_t w, h, compression, photo, fill, planar, spp, orientation;
	uint64_t bps[TIFF_MAX_SPP], extra[TIFF_MAX_SPP];
	uint64_t nbps, nextra;
	const char *mode, *raw;        /* Pillow's mode and raw mode */
	uint8_t pal[256 * 3];          /* (npal, 3) */
	int npal;
	uint8_t *alpha;                /* (h, w), for libtiff's RGBA planes */
	uint64_t pos;                  /* libtiff's read position */
	char msg[256], last[256];      /* libtiff's first and last errors */
	int errors;                    /* how many libtiff reported */
} tiff_job_t;

/* Reads the header and the first IFD as Pillow does, and what its _setup
 * makes of them: size (checked against IMG_MAX_PIXELS), compression, mode,
 * raw mode, palette, orientation.  Returns 0, or ERR_FORMAT,
 * ERR_UNSUPPORTED, ERR_TOO_BIG with the reason in job->err. */
int img_tiff_read_tags(tiff_job_t *job);

/* Value i (< count) of tag t as Pillow compares it: integers as they are
 * (a negative one as its two's complement, which fails every check an
 * absurd value fails), fractions and floats when they are whole.  Returns
 * 0, or -1 for a fraction or float that is not whole, or a tag Pillow
 * holds as bytes or text. */
int img_tiff_num(const tiff_job_t *job, int t, uint64_t i, uint64_t *v);

/* Pillow's OPEN_INFO for the kinds we read: the mode and raw mode of the
 * job's tags with FillOrder fill (libtiff undoes FillOrder 2, so Pillow
 * asks again with 1).  Returns 0, or -1 for a key Pillow lacks or a kind
 * we do not read. */
int img_tiff_mode(const tiff_job_t *job, uint64_t fill, const char **mode,
		  const char **raw);

/* Refuses the job's kind of image with ERR_UNSUPPORTED, naming it. */
int img_tiff_refuse_kind(tiff_job_t *job);

/* Whether tag t places blocks (strips or tiles): Pillow reads those tags
 * for uncompressed data only, so only img_tiff.c's raw path checks them. */
int img_tiff_block_tag(int t);

/* Refuses tag t as holding something other than whole numbers. */
int img_tiff_bad_value(tiff_job_t *job, int t);

#endif
