/* img_util.c - the helpers img.c and the decoders share (img_impl.h). */
#include "img/img_impl.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

const char *img_label(const char *name)
{
	return name ? name : "image";
}

int img_check_size(uint64_t w, uint64_t h, const char *name, char *err)
{
	if (w == 0 || h == 0)
		return err_set(err, ERR_TOO_BIG, "%s: image is %llux%llu pixels",
			       img_label(name), (unsigned long long)w,
			       (unsigned long long)h);
	if (w > IMG_MAX_PIXELS || h > IMG_MAX_PIXELS || w * h > IMG_MAX_PIXELS)
		return err_set(err, ERR_TOO_BIG,
			       "%s: image is %llux%llu pixels, more than %llu",
			       img_label(name), (unsigned long long)w,
			       (unsigned long long)h, IMG_MAX_PIXELS);
	return 0;
}

int img_alloc_pixels(img_t *img, uint64_t w, uint64_t h, const char *name,
		     char *err)
{
	size_t n;

	if (err_mul3_size((size_t)w, (size_t)h, 3, &n))
		return err_set(err, ERR_NOMEM, "%s: %llux%llu pixels overflow",
			       img_label(name), (unsigned long long)w,
			       (unsigned long long)h);
	img->rgb = malloc(n);
	if (!img->rgb)
		return err_set(err, ERR_NOMEM,
			       "%s: cannot allocate %zu bytes of pixels",
			       img_label(name), n);
	img->w = (int)w;
	img->h = (int)h;
	return 0;
}

void img_palette_rgb(const uint8_t *pal, int n, unsigned idx, uint8_t *o)
{
	if (n > 0 && idx < (unsigned)n) {
		memcpy(o, pal + 3 * idx, 3);
	} else {
		o[0] = o[1] = o[2] = (uint8_t)idx;
	}
}
