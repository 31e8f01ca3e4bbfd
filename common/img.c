/* img.c - decoding images and preparing them exactly as Keras does.
 *
 * Every decoder reproduces what Pillow 9.4 (Debian 12's python3-pil) makes
 * of the same bytes, because the reference features come from Keras'
 * load_img, which is Pillow.  Where Pillow has a quirk, the comment names it;
 * tests/test_img.c checks each one against Pillow's own output
 * (tests/ref/pillow_ref.py).  TIFF has files of its own (img_tiff.c, the
 * pixels; img_tiff_tags.c, the tags), and img_util.c the helpers they
 * share with this file.  Dimension letters: w, h are an image's width and
 * height in pixels, y a row, x a column. */
#include "img.h"

#include "error.h"
#include "img_util.h"
#include "le.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

/* ---- JPEG ------------------------------------------------------------- */

/* libjpeg's callbacks receive only cinfo; jerr comes first so that
 * cinfo->err leads back to the whole job. */
typedef struct jpeg_job {
	struct jpeg_error_mgr jerr;
	struct jpeg_decompress_struct cinfo;
	struct jpeg_source_mgr src;
	jmp_buf jump;
	int eof;       /* the decoder asked for bytes past the end */
	int rows;      /* scanlines stored in out so far */
	uint8_t *line; /* one scanline when it needs converting (gray, CMYK) */
	img_t *out;
	const char *name;
	char *err;
} jpeg_job_t;

static void jpeg_on_error(j_common_ptr cinfo)
{
	longjmp(((jpeg_job_t *)cinfo->err)->jump, 1);
}

/* Pillow silences libjpeg's warnings ("Corrupt JPEG data: ..."): the image
 * is whatever libjpeg recovered. */
static void jpeg_on_output(j_common_ptr cinfo)
{
	(void)cinfo;
}

static void jpeg_src_nop(j_decompress_ptr cinfo)
{
	(void)cinfo;
}

/* The whole file is in the buffer, so a request for more is the end of the
 * data.  Pillow's suspending source would wait for bytes that never come and
 * fail with "image file is truncated"; libjpeg's memory source would instead
 * invent an EOI marker and return a gray-filled image. */
static boolean jpeg_src_fill(j_decompress_ptr cinfo)
{
	jpeg_job_t *job = (jpeg_job_t *)cinfo->err;

	job->eof = 1;
	longjmp(job->jump, 1);
}

static void jpeg_src_skip(j_decompress_ptr cinfo, long n)
{
	struct jpeg_source_mgr *src = cinfo->src;

	if (n <= 0)
		return;
	if ((unsigned long)n > src->bytes_in_buffer)
		jpeg_src_fill(cinfo);
	src->next_input_byte += n;
	src->bytes_in_buffer -= (size_t)n;
}

/* Pillow's cmyk2rgb on its "CMYK;I" (Adobe-inverted) reading: with
 * c = 255 - raw and nk = 255 - k, channel = nk - MULDIV255(c, nk), where
 * MULDIV255(a, b) = (t + (t >> 8)) >> 8 with t = a * b + 128.  The result
 * lies in 0..nk, so Pillow's clip to 0..255 never acts. */
static uint8_t jpeg_cmyk_channel(uint8_t raw, uint8_t raw_k)
{
	int c = 255 - raw, nk = raw_k;
	int t = c * nk + 128;

	return (uint8_t)(nk - (((t >> 8) + t) >> 8));
}

static void jpeg_store_line(jpeg_job_t *job, uint8_t *o)
{
	const uint8_t *in = job->line;
	int x, w = job->out->w;

	if (job->cinfo.output_components == 1) {
		for (x = 0; x < w; x++)
			o[3 * x] = o[3 * x + 1] = o[3 * x + 2] = in[x];
		return;
	}
	for (x = 0; x < w; x++, in += 4) {
		o[3 * x] = jpeg_cmyk_channel(in[0], in[3]);
		o[3 * x + 1] = jpeg_cmyk_channel(in[1], in[3]);
		o[3 * x + 2] = jpeg_cmyk_channel(in[2], in[3]);
	}
}

/* Called when libjpeg gave up (error or end of data). */
static int jpeg_failure(jpeg_job_t *job)
{
	char msg[JMSG_LENGTH_MAX];
	int code = ERR_FORMAT;
	const char *what = "corrupt";

	/* Pillow is done once every scanline is out: it ignores whatever
	 * jpeg_finish_decompress finds missing (a lost EOI marker). */
	if (job->eof && job->out->rgb && job->rows == job->out->h)
		return 0;
	if (job->eof) {
		job->jerr.msg_code = JWRN_JPEG_EOF;
		what = "truncated";
	} else if (job->jerr.msg_code == JERR_BAD_PRECISION) {
		code = ERR_UNSUPPORTED;
		what = "unsupported";
	} else if (job->jerr.msg_code == JERR_OUT_OF_MEMORY) {
		code = ERR_NOMEM;
		what = "out of memory reading";
	}
	job->jerr.format_message((j_common_ptr)&job->cinfo, msg);
	return err_set(job->err, code, "%s: %s JPEG (%s)",
		       img_label(job->name), what, msg);
}

/* The setjmp lives here and all state in *job, outside this frame, so that
 * nothing a longjmp skips over is left indeterminate. */
static int jpeg_run(jpeg_job_t *job)
{
	struct jpeg_decompress_struct *ci = &job->cinfo;
	int rc, n;

	if (setjmp(job->jump))
		return jpeg_failure(job);
	jpeg_create_decompress(ci);
	ci->src = &job->src;
	jpeg_read_header(ci, TRUE);

	/* Pillow maps 1, 3 and 4 components to L, RGB and CMYK and refuses
	 * any other count; it keeps libjpeg's guess of the colour space. */
	n = ci->num_components;
	if (n != 1 && n != 3 && n != 4)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: JPEG with %d components",
			       img_label(job->name), n);
	rc = img_check_size(ci->image_width, ci->image_height, job->name,
			    job->err);
	if (rc)
		return rc;
	ci->out_color_space = n == 1 ? JCS_GRAYSCALE :
			      n == 3 ? JCS_RGB : JCS_CMYK;
	jpeg_start_decompress(ci);

	rc = img_alloc_pixels(job->out, ci->output_width, ci->output_height,
			  job->name, job->err);
	if (rc)
		return rc;
	if (n != 3) {
		job->line = malloc((size_t)ci->output_width * (size_t)n);
		if (!job->line)
			return err_set(job->err, ERR_NOMEM,
				       "%s: cannot allocate a JPEG scanline",
				       img_label(job->name));
	}
	while (job->rows < job->out->h) {
		uint8_t *o = job->out->rgb + (size_t)job->rows * job->out->w * 3;
		JSAMPROW row = n == 3 ? o : job->line;

		if (jpeg_read_scanlines(ci, &row, 1) != 1)
			return err_set(job->err, ERR_FORMAT,
				       "%s: corrupt JPEG (no scanline %d)",
				       img_label(job->name), job->rows);
		if (n != 3)
			jpeg_store_line(job, o);
		job->rows++;
	}
	jpeg_finish_decompress(ci);
	return 0;
}

static int decode_jpeg(const uint8_t *buf, size_t len, const char *name,
		       img_t *out, char *err)
{
	jpeg_job_t *job = calloc(1, sizeof *job);
	int rc;

	if (!job)
		return err_set(err, ERR_NOMEM, "%s: out of memory",
			       img_label(name));
	job->out = out;
	job->name = name;
	job->err = err;
	job->cinfo.err = jpeg_std_error(&job->jerr);
	job->jerr.error_exit = jpeg_on_error;
	job->jerr.output_message = jpeg_on_output;
	job->src.next_input_byte = buf;
	job->src.bytes_in_buffer = len;
	job->src.init_source = jpeg_src_nop;
	job->src.fill_input_buffer = jpeg_src_fill;
	job->src.skip_input_data = jpeg_src_skip;
	job->src.resync_to_restart = jpeg_resync_to_restart;
	job->src.term_source = jpeg_src_nop;

	rc = jpeg_run(job);
	jpeg_destroy_decompress(&job->cinfo);
	free(job->line);
	free(job);
	return rc;
}

/* ---- PNG -------------------------------------------------------------- */

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
				unsigned bit = (unsigned)x * (unsigned)d;
				v = (in[bit / 8] >> (8 - d - bit % 8)) &
				    ((1u << d) - 1);
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
	 * in decode_png) and of none from the first IDAT on: it only skips
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

static int decode_png(const uint8_t *buf, size_t len, const char *name,
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

/* ---- PPM / PGM / PBM -------------------------------------------------- */

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

static int decode_pnm(const uint8_t *buf, size_t len, const char *name,
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

/* ---- BMP -------------------------------------------------------------- */

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

static int decode_bmp(const uint8_t *buf, size_t len, const char *name,
		      img_t *out, char *err)
{
	uint32_t hs, bits, comp = 0, wr, hr;
	uint64_t w, h, colors = 0, offset, start, stride, rowlen, need;
	size_t pos, y, x, pal_bytes = 0;
	int topdown = 0, padding = 4, npal = 0, r = 2, g = 1, b = 0, rc;
	uint8_t pal[256 * 3];

	if (len < 18)
		return err_set(err, ERR_FORMAT, "%s: truncated BMP header",
			       img_label(name));
	offset = le_get32(buf + 10);
	hs = le_get32(buf + 14);
	if (hs != 12 && hs != 40 && hs != 64 && hs != 108 && hs != 124)
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: BMP info header of %u bytes", img_label(name),
			       (unsigned)hs);
	if (len - 14 < hs)
		return err_set(err, ERR_FORMAT, "%s: truncated BMP header",
			       img_label(name));
	pos = 14 + hs;
	if (hs == 12) {
		/* OS/2 1.x: 16-bit sizes, always bottom-up, BGR palette. */
		w = le_get16(buf + 18);
		h = le_get16(buf + 20);
		bits = le_get16(buf + 24);
		padding = 3;
	} else {
		/* Pillow calls the rows top-down only when the top byte of
		 * the height is 0xFF, and then uses 2^32 - height. */
		wr = le_get32(buf + 18);
		hr = le_get32(buf + 22);
		topdown = buf[25] == 0xFF;
		w = wr;
		h = topdown ? (1ULL << 32) - hr : hr;
		bits = le_get16(buf + 28);
		comp = le_get32(buf + 30);
		colors = le_get32(buf + 46);
	}
	if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 &&
	    bits != 32)
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: BMP with %u bits per pixel", img_label(name),
			       (unsigned)bits);
	if (!colors)
		colors = 1ULL << bits;
	/* Pillow skips a palette that the data offset leaves out. */
	if (offset == 14 + hs && bits <= 8)
		offset += 4 * colors;

	if (comp == 3) {
		uint32_t m[4] = { 0, 0, 0, 0 };
		size_t i;
		int found = 0;

		/* Masks follow a 40-byte header (which has no alpha mask)
		 * and sit inside the longer ones. */
		if (hs == 40) {
			if (len - pos < 12)
				return err_set(err, ERR_FORMAT,
					       "%s: truncated BMP masks",
					       img_label(name));
			pos += 12;
		}
		for (i = 0; i < (hs == 40 ? 3u : 4u); i++)
			m[i] = le_get32(buf + 54 + 4 * i);
		if (bits == 24 && m[0] == 0xFF0000 && m[1] == 0xFF00 &&
		    m[2] == 0xFF)
			found = 1;
		for (i = 0; bits == 32 && i < sizeof bmp_masks32 / sizeof bmp_masks32[0]; i++) {
			if (!memcmp(m, bmp_masks32[i].mask, sizeof m)) {
				r = bmp_masks32[i].r;
				g = bmp_masks32[i].g;
				b = bmp_masks32[i].b;
				found = 1;
				break;
			}
		}
		if (!found)
			return err_set(err, ERR_UNSUPPORTED,
				       "%s: BMP bit fields layout for %u bits",
				       img_label(name), (unsigned)bits);
	} else if (comp == 1 || comp == 2) {
		return err_set(err, ERR_UNSUPPORTED,
			       "%s: RLE-compressed BMP", img_label(name));
	} else if (comp != 0) {
		return err_set(err, ERR_UNSUPPORTED, "%s: BMP compression %u",
			       img_label(name), (unsigned)comp);
	}
	if (bits == 16)
		return err_set(err, ERR_UNSUPPORTED, "%s: 16-bit BMP",
			       img_label(name));

	if (bits <= 8) {
		uint64_t i;
		int gray = 1;

		if (colors > 256)
			return err_set(err, ERR_UNSUPPORTED,
				       "%s: BMP palette of %llu colours",
				       img_label(name), (unsigned long long)colors);
		pal_bytes = (size_t)colors * padding;
		if (len - pos < pal_bytes)
			return err_set(err, ERR_FORMAT,
				       "%s: truncated BMP palette",
				       img_label(name));
		npal = (int)colors;
		for (i = 0; i < colors; i++) {
			const uint8_t *p = buf + pos + i * padding;
			unsigned want = colors == 2 ? (unsigned)i * 255 : (unsigned)i;
			pal[3 * i] = p[2];
			pal[3 * i + 1] = p[1];
			pal[3 * i + 2] = p[0];
			gray &= p[0] == want && p[1] == want && p[2] == want;
		}
		pos += pal_bytes;
		/* Pillow reads a gray-ramp palette image as raw "1" or "L"
		 * whatever the bit depth: right only for these two. */
		if (gray && !(colors == 2 && bits == 1) &&
		    !(colors != 2 && bits == 8))
			return err_set(err, ERR_UNSUPPORTED,
				       "%s: %u-bit BMP with a gray palette of %llu colours (Pillow 9.4 misreads it)",
				       img_label(name), (unsigned)bits,
				       (unsigned long long)colors);
	}

	rc = img_check_size(w, h, name, err);
	if (rc)
		return rc;
	start = offset ? offset : pos;
	rowlen = (w * bits + 7) / 8;
	stride = ((w * bits + 31) >> 3) & ~3ULL;
	/* Pillow's raw decoder needs no padding after the last row. */
	need = (h - 1) * stride + rowlen;
	if (start > len || len - start < need)
		return err_set(err, ERR_FORMAT,
			       "%s: truncated BMP pixel data", img_label(name));
	rc = img_alloc_pixels(out, w, h, name, err);
	if (rc)
		return rc;

	for (y = 0; y < h; y++) {
		const uint8_t *in = buf + start + y * stride;
		uint8_t *o = out->rgb + (topdown ? y : h - 1 - y) * w * 3;

		for (x = 0; x < w; x++, o += 3) {
			if (bits <= 8) {
				size_t bit = x * bits;
				unsigned idx = (in[bit / 8] >> (8 - bits - bit % 8)) &
					       ((1u << bits) - 1);
				img_palette_rgb(pal, npal, idx, o);
			} else {
				const uint8_t *p = in + x * (bits / 8);
				o[0] = p[r];
				o[1] = p[g];
				o[2] = p[b];
			}
		}
	}
	return 0;
}

/* ---- public ----------------------------------------------------------- */

/* The TIFF headers Pillow's TiffImagePlugin accepts: classic and BigTIFF in
 * either byte order, and the two with the version's bytes swapped. */
static int is_tiff(const uint8_t *buf)
{
	static const char magic[][5] = { "II*\0", "MM\0*", "II+\0", "MM\0+",
					 "II\0*", "MM*\0" };
	size_t i;

	for (i = 0; i < sizeof magic / sizeof magic[0]; i++)
		if (!memcmp(buf, magic[i], 4))
			return 1;
	return 0;
}

int img_decode(const uint8_t *buf, size_t len, const char *name, img_t *out,
	       char *err)
{
	static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n' };
	int rc;

	if (!out || (!buf && len))
		return err_set(err, ERR_ARG, "%s: img_decode: bad arguments",
			       img_label(name));
	out->w = out->h = 0;
	out->rgb = NULL;
	if (len == 0)
		return err_set(err, ERR_FORMAT, "%s: empty file", img_label(name));

	/* Told apart by magic, as Pillow's plugins' _accept functions do. */
	if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
		rc = decode_jpeg(buf, len, name, out, err);
	else if (len >= 8 && !memcmp(buf, png_sig, 8))
		rc = decode_png(buf, len, name, out, err);
	else if (len >= 2 && buf[0] == 'P' && buf[1] && strchr("0123456y", buf[1]))
		rc = decode_pnm(buf, len, name, out, err);
	else if (len >= 2 && buf[0] == 'B' && buf[1] == 'M')
		rc = decode_bmp(buf, len, name, out, err);
	else if (len >= 6 && (!memcmp(buf, "GIF87a", 6) || !memcmp(buf, "GIF89a", 6)))
		rc = err_set(err, ERR_UNSUPPORTED, "%s: GIF is not supported",
			     img_label(name));
	else if (len >= 4 && is_tiff(buf))
		rc = img_decode_tiff(buf, len, name, out, err);
	else if (len >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4))
		rc = err_set(err, ERR_UNSUPPORTED, "%s: WebP is not supported",
			     img_label(name));
	else
		rc = err_set(err, ERR_FORMAT,
			     "%s: not a JPEG, PNG, netpbm, BMP or TIFF file",
			     img_label(name));
	if (rc)
		img_free(out);
	return rc;
}

/* Reads all of fd: the size from fstat is only a first guess, so that
 * pipes and files that change under us still work. */
static int read_all(int fd, size_t guess, const char *path, uint8_t **out,
		    size_t *len, char *err)
{
	size_t cap = guess + 1, n = 0;
	uint8_t *buf = malloc(cap), *bigger;
	ssize_t got;

	if (!buf)
		return err_set(err, ERR_NOMEM, "%s: cannot allocate %zu bytes",
			       path, cap);
	for (;;) {
		if (n > IMG_MAX_FILE_BYTES) {
			free(buf);
			return err_set(err, ERR_TOO_BIG, "%s: more than %llu bytes, "
				       "larger than any image we read", path,
				       (unsigned long long)IMG_MAX_FILE_BYTES);
		}
		if (n == cap) {
			if (err_mul_size(cap, 2, &cap) ||
			    !(bigger = realloc(buf, cap))) {
				free(buf);
				return err_set(err, ERR_NOMEM,
					       "%s: file too large to read",
					       path);
			}
			buf = bigger;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			free(buf);
			return err_set(err, ERR_IO, "%s: %s", path, strerror(e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*out = buf;
	*len = n;
	return 0;
}

int img_load(const char *path, img_t *out, char *err)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0, guess = 0;
	int fd, rc;

	if (!path || !out)
		return err_set(err, ERR_ARG, "img_load: bad arguments");
	out->w = out->h = 0;
	out->rgb = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = err_set(err, ERR_IO, "%s: %s", path, strerror(EISDIR));
		goto done;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > IMG_MAX_FILE_BYTES) {
		rc = err_set(err, ERR_TOO_BIG, "%s: a file of %llu bytes, larger "
			     "than any image we read", path,
			     (unsigned long long)st.st_size);
		goto done;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0)
		guess = (size_t)st.st_size;
	else
		guess = 65536;
	rc = read_all(fd, guess, path, &buf, &len, err);
	if (rc == 0)
		rc = img_decode(buf, len, path, out, err);
done:
	free(buf);
	close(fd);
	return rc;
}

void img_free(img_t *img)
{
	if (!img)
		return;
	free(img->rgb);
	img->rgb = NULL;
	img->w = img->h = 0;
}

/* Pillow's Image.resize(NEAREST) is ImagingScaleAffine: per axis
 * step = in / out (in taken as the float of its box, exact below 2^24),
 * x = step / 2, and output index i reads input (int)x before x += step.
 * The accumulated x differs from (i + 0.5) * step in the last bit, which
 * decides exact halves: 64 -> 224 maps i = 3 to 0, not 1.  An index that
 * lands outside the input stays black, as in Pillow (never seen in practice). */
static void nearest_map(int in, int out, int *map)
{
	double step = (double)(float)in / out;
	double x = step * 0.5;
	int i;

	for (i = 0; i < out; i++) {
		int s = (int)x;
		map[i] = s < in ? s : -1;
		x += step;
	}
}

/* src is (src->h, src->w, 3), dst becomes (h, w, 3). */
int img_resize_nearest(const img_t *src, int w, int h, img_t *dst, char *err)
{
	int *xmap = NULL, *ymap = NULL, x, y, rc;

	if (!src || !src->rgb || src->w <= 0 || src->h <= 0 || !dst ||
	    w <= 0 || h <= 0)
		return err_set(err, ERR_ARG, "img_resize_nearest: bad arguments");
	dst->w = dst->h = 0;
	dst->rgb = NULL;
	rc = img_check_size((uint64_t)w, (uint64_t)h, "resize target", err);
	if (rc)
		return rc;
	xmap = malloc((size_t)w * sizeof *xmap);
	ymap = malloc((size_t)h * sizeof *ymap);
	if (!xmap || !ymap) {
		rc = err_set(err, ERR_NOMEM, "img_resize_nearest: out of memory");
		goto done;
	}
	rc = img_alloc_pixels(dst, (uint64_t)w, (uint64_t)h, "resize target", err);
	if (rc)
		goto done;
	nearest_map(src->w, w, xmap);
	nearest_map(src->h, h, ymap);
	for (y = 0; y < h; y++) {
		uint8_t *o = dst->rgb + (size_t)y * w * 3;
		const uint8_t *row;

		if (ymap[y] < 0) {
			memset(o, 0, (size_t)w * 3);
			continue;
		}
		row = src->rgb + (size_t)ymap[y] * src->w * 3;
		for (x = 0; x < w; x++, o += 3) {
			if (xmap[x] < 0)
				memset(o, 0, 3);
			else
				memcpy(o, row + (size_t)xmap[x] * 3, 3);
		}
	}
done:
	free(xmap);
	free(ymap);
	return rc;
}

/* img is (224, 224, 3) RGB; out is (224, 224, 3) BGR minus the means.
 * Keras subtracts a Python float from a float32 array (keras-vggface in
 * place, channel by channel): numpy makes the mean float32 first, so this
 * is one float32 subtraction. */
void img_vgg_input_mean(const img_t *img, const float mean_bgr[3], float *out)
{
	size_t i, n = (size_t)IMG_VGG_SIZE * IMG_VGG_SIZE;

	assert(img && img->rgb && img->w == IMG_VGG_SIZE &&
	       img->h == IMG_VGG_SIZE && mean_bgr && out);
	for (i = 0; i < n; i++) {
		const uint8_t *p = img->rgb + 3 * i;
		out[3 * i] = (float)p[2] - mean_bgr[0];
		out[3 * i + 1] = (float)p[1] - mean_bgr[1];
		out[3 * i + 2] = (float)p[0] - mean_bgr[2];
	}
}

static const float vgg16_means[3] = {IMG_VGG_MEAN_B, IMG_VGG_MEAN_G,
				     IMG_VGG_MEAN_R};

void img_vgg_input(const img_t *img, float *out)
{
	img_vgg_input_mean(img, vgg16_means, out);
}

int img_load_vgg_mean(const char *path, const float mean_bgr[3], float *out,
		      char *err)
{
	img_t img = { 0, 0, NULL }, sized = { 0, 0, NULL };
	int rc;

	if (!out || !mean_bgr)
		return err_set(err, ERR_ARG, "img_load_vgg: bad arguments");
	rc = img_load(path, &img, err);
	if (rc)
		goto done;
	/* load_img resizes only when the size differs. */
	if (img.w != IMG_VGG_SIZE || img.h != IMG_VGG_SIZE) {
		rc = img_resize_nearest(&img, IMG_VGG_SIZE, IMG_VGG_SIZE,
					&sized, err);
		if (rc)
			goto done;
		img_vgg_input_mean(&sized, mean_bgr, out);
	} else {
		img_vgg_input_mean(&img, mean_bgr, out);
	}
done:
	img_free(&img);
	img_free(&sized);
	return rc;
}

int img_load_vgg(const char *path, float *out, char *err)
{
	return img_load_vgg_mean(path, vgg16_means, out, err);
}
