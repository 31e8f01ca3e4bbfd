/* img_jpeg.c - JPEG through libjpeg(-turbo), with what Pillow 9.4 does
 * around the library: the component counts it reads, its silence about
 * libjpeg's warnings, where it finds the end of the data, and its CMYK
 * conversion.  img.c picks this decoder by the file's magic.  Dimension
 * letters: w, h are the image's width and height in pixels, x a column. */
#include "img/img_impl.h"

#include "error.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>
#include <jerror.h>

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

int img_decode_jpeg(const uint8_t *buf, size_t len, const char *name,
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
