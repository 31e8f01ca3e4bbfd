/* img.c - telling an image's format and handing it to its decoder,
 * loading a file, Pillow's NEAREST resize, and the VGG preprocessing: the
 * steps of Keras' load_img and preprocess_input around the decoding.
 *
 * Every decoder reproduces what Pillow 9.4 (Debian 12's python3-pil) makes
 * of the same bytes, because the reference features come from Keras'
 * load_img, which is Pillow.  Where Pillow has a quirk, the comment names it;
 * tests/test_img.c checks each one against Pillow's own output
 * (tests/ref/pillow_ref.py).  Each decoder has a file of its own
 * (img_jpeg.c, img_png.c, img_pnm.c, img_bmp.c; TIFF two, img_tiff.c for
 * the pixels and img_tiff_tags.c for the tags), and img_util.c the helpers
 * they share with this file.  Dimension letters: w, h are an image's width
 * and height in pixels, y a row, x a column. */
#include "img/img.h"

#include "base/infile.h"
#include "error.h"
#include "img/img_impl.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
		rc = img_decode_jpeg(buf, len, name, out, err);
	else if (len >= 8 && !memcmp(buf, png_sig, 8))
		rc = img_decode_png(buf, len, name, out, err);
	else if (len >= 2 && buf[0] == 'P' && buf[1] && strchr("0123456y", buf[1]))
		rc = img_decode_pnm(buf, len, name, out, err);
	else if (len >= 2 && buf[0] == 'B' && buf[1] == 'M')
		rc = img_decode_bmp(buf, len, name, out, err);
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
	if ((rc = infile_open(path, &fd, &st, err)))
		return rc;
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
	if (rc == 0 && len == 0)
		rc = infile_empty(path, &st, err);
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

/* img (h, w, 3) RGB; out (h, w, 3) BGR minus the means.  Keras subtracts
 * a Python float from a float32 array (keras-vggface in place, channel by
 * channel): numpy makes the mean float32 first, so this is one float32
 * subtraction. */
void img_preprocess(const img_t *img, const float mean_bgr[3], float *out)
{
	size_t i, n;

	assert(img && img->rgb && mean_bgr && out);
	n = (size_t)img->w * img->h;
	for (i = 0; i < n; i++) {
		const uint8_t *p = img->rgb + 3 * i;
		out[3 * i] = (float)p[2] - mean_bgr[0];
		out[3 * i + 1] = (float)p[1] - mean_bgr[1];
		out[3 * i + 2] = (float)p[0] - mean_bgr[2];
	}
}

int img_load_input(const char *path, int side, const float mean_bgr[3],
		   float *out, char *err)
{
	img_t img = { 0, 0, NULL }, sized = { 0, 0, NULL };
	int rc;

	if (!out || !mean_bgr || side < 1)
		return err_set(err, ERR_ARG, "img_load_input: bad arguments");
	rc = img_load(path, &img, err);
	if (rc)
		goto done;
	/* load_img resizes only when the size differs. */
	if (img.w != side || img.h != side) {
		rc = img_resize_nearest(&img, side, side, &sized, err);
		if (rc)
			goto done;
		img_preprocess(&sized, mean_bgr, out);
	} else {
		img_preprocess(&img, mean_bgr, out);
	}
done:
	img_free(&img);
	img_free(&sized);
	return rc;
}
