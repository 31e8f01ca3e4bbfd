/* img_png.c - PNG through libpng's progressive reader, with what Pillow
 * 9.4 does around the library: which chunks' CRCs it checks, where it
 * stops reading, and how its modes become RGB.  img.c picks this decoder
 * by the file's magic.  Dimension letters: w, h are the image's width and
 * height in pixels, y a row, x a column. */
#include "img/img_impl.h"

#include "error.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

typedef struct png_job {
	png_structp png;
	png_infop info;
	img_t *out;
	const char *name;
	char *err;
	int code;          /* our own reason to stop (no memory) */
	char msg[200];     /* libpng's reason to stop */
	int depth, ctype, interlaced;
	uint8_t pal[256 * 3];
	int npal;
	size_t rowbytes;
	uint8_t *raw;      /* interlaced: all rows as libpng fills them in */
	int done;          /* the last row of the last pass has arrived */
} png_job_t;

static void png_on_error(png_structp png, png_const_charp msg)
{
	png_job_t *job = png_get_error_ptr(png);

	snprintf(job->msg, sizeof job->msg, "%s", msg);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* One row of libpng's untransformed samples (big-endian when 16-bit) into
 * RGB, as Pillow's PNG modes and their convert("RGB") do it:
 *   gray 1/2/4 bit: scaled by 255, 85, 17 ("1", "L;2", "L;4");
 *   gray 16 bit: Pillow opens it as mode I; I -> RGB clamps to 0..255;
 *   colour 16 bit: the high byte ("RGB;16B"; gray+alpha reads as "LA;16B");
 *   alpha: dropped; palette: see img_palette_rgb. */
static void png_row_rgb(const png_job_t *job, const uint8_t *in, uint8_t *o,
			int w)
{
	int x, d = job->depth;

	for (x = 0; x < w; x++, o += 3) {
		unsigned v;

		switch (job->ctype) {
		case PNG_COLOR_TYPE_GRAY:
		case PNG_COLOR_TYPE_PALETTE:
			if (d == 16) {
				v = (unsigned)in[2 * x] << 8 | in[2 * x + 1];
				v = v > 255 ? 255 : v;
			} else if (d == 8) {
				v = in[x];
			} else {
				v = img_packed_sample(in, (size_t)x,
						      (unsigned)d);
			}
			if (job->ctype == PNG_COLOR_TYPE_PALETTE) {
				img_palette_rgb(job->pal, job->npal, v, o);
				continue;
			}
			if (d < 8)
				v *= 255u / ((1u << d) - 1);
			o[0] = o[1] = o[2] = (uint8_t)v;
			break;
		case PNG_COLOR_TYPE_GRAY_ALPHA:
			o[0] = o[1] = o[2] = in[(size_t)x * (d / 4)];
			break;
		case PNG_COLOR_TYPE_RGB:
		case PNG_COLOR_TYPE_RGB_ALPHA: {
			size_t step = (size_t)(d / 8),
			       px = step * (job->ctype == PNG_COLOR_TYPE_RGB ? 3 : 4);
			o[0] = in[x * px];
			o[1] = in[x * px + step];
			o[2] = in[x * px + 2 * step];
			break;
		}
		}
	}
}

static void png_on_info(png_structp png, png_infop info)
{
	png_job_t *job = png_get_progressive_ptr(png);
	png_uint_32 w, h;
	int ilace;
	png_colorp pal;
	int npal, i;
	size_t n;

	png_get_IHDR(png, info, &w, &h, &job->depth, &job->ctype, &ilace,
		     NULL, NULL);
	/* Pillow verifies the CRC of each chunk before the image data (set up
	 * in img_decode_png) and of none from the first IDAT on: it only skips
	 * over their CRCs. */
	png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
	job->interlaced = ilace != PNG_INTERLACE_NONE;
	if (job->interlaced)
		png_set_interlace_handling(png);
	png_read_update_info(png, info);
	job->rowbytes = png_get_rowbytes(png, info);

	if (job->ctype == PNG_COLOR_TYPE_PALETTE &&
	    png_get_PLTE(png, info, &pal, &npal)) {
		job->npal = npal < 256 ? npal : 256;
		for (i = 0; i < job->npal; i++) {
			job->pal[3 * i] = pal[i].red;
			job->pal[3 * i + 1] = pal[i].green;
			job->pal[3 * i + 2] = pal[i].blue;
		}
	}
	job->code = img_alloc_pixels(job->out, w, h, job->name, job->err);
	if (job->code)
		png_error(png, "out of memory");
	if (job->interlaced) {
		if (err_mul_size(job->rowbytes, h, &n) ||
		    !(job->raw = calloc(n ? n : 1, 1))) {
			job->code = err_set(job->err, ERR_NOMEM,
					    "%s: cannot allocate PNG rows",
					    img_label(job->name));
			png_error(png, "out of memory");
		}
	}
}

/* libpng reports every row of every pass (row NULL where the pass has no
 * pixels), so the image is complete at the last row of the last pass. */
static void png_on_row(png_structp png, png_bytep row, png_uint_32 y,
		       int pass)
{
	png_job_t *job = png_get_progressive_ptr(png);
	int w = job->out->w;

	if (job->interlaced) {
		if (row)
			png_progressive_combine_row(
				png, job->raw + (size_t)y * job->rowbytes, row);
	} else {
		png_row_rgb(job, row, job->out->rgb + (size_t)y * w * 3, w);
	}
	if (y == (png_uint_32)job->out->h - 1 && pass == (job->interlaced ? 6 : 0))
		job->done = 1;
}

static int png_run(png_job_t *job, const uint8_t *buf, size_t len)
{
	if (setjmp(png_jmpbuf(job->png))) {
		/* Pillow stops reading at the last row: what follows (the zlib
		 * checksum, IEND, garbage) cannot fail the image. */
		if (job->done)
			return 0;
		if (job->code)
			return job->code;
		return err_set(job->err, ERR_FORMAT, "%s: corrupt PNG (%s)",
			       img_label(job->name), job->msg);
	}
	/* libpng only reads the bytes; its prototype lacks the const. */
	png_process_data(job->png, job->info, (png_bytep)(uintptr_t)buf, len);
	if (!job->done)
		return err_set(job->err, ERR_FORMAT,
			       "%s: truncated PNG (the image data ends early)",
			       img_label(job->name));
	return 0;
}

int img_decode_png(const uint8_t *buf, size_t len, const char *name,
		   img_t *out, char *err)
{
	png_job_t *job;
	int rc, y;

	/* Pillow checks the size once the header chunks are read; libpng
	 * insists on IHDR first, so its fields refuse a bomb right away. */
	if (len >= 24 && !memcmp(buf + 12, "IHDR", 4)) {
		rc = img_check_size(img_rd_be32(buf + 16), img_rd_be32(buf + 20),
				    name, err);
		if (rc)
			return rc;
	}
	job = calloc(1, sizeof *job);
	if (!job)
		return err_set(err, ERR_NOMEM, "%s: out of memory",
			       img_label(name));
	job->out = out;
	job->name = name;
	job->err = err;
	job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job,
					  png_on_error, png_on_warning);
	if (job->png)
		job->info = png_create_info_struct(job->png);
	if (!job->png || !job->info) {
		rc = err_set(err, ERR_NOMEM, "%s: cannot create a PNG reader",
			     img_label(name));
		goto done;
	}
	/* Pillow limits the area only (img_check_size), not each side. */
	png_set_user_limits(job->png, 0x7fffffff, 0x7fffffff);
	/* Before the image data Pillow refuses a bad CRC in any chunk. */
	png_set_crc_action(job->png, PNG_CRC_DEFAULT, PNG_CRC_ERROR_QUIT);
	png_set_progressive_read_fn(job->png, job, png_on_info, png_on_row,
				    NULL);

	rc = png_run(job, buf, len);
	if (rc == 0 && job->interlaced) {
		for (y = 0; y < out->h; y++)
			png_row_rgb(job, job->raw + (size_t)y * job->rowbytes,
				    out->rgb + (size_t)y * out->w * 3, out->w);
	}
done:
	png_destroy_read_struct(&job->png, &job->info, NULL);
	free(job->raw);
	free(job);
	return rc;
}
