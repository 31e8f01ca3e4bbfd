/* img_check.h - what the image fuzz targets (fuzz_img, fuzz_tiff) check
 * after img_decode, beyond the sanitizers: img.h's promises.  A failure
 * leaves the image empty and says why, in one line naming the file; a
 * success gives a non-empty image within IMG_MAX_PIXELS (lowered for
 * fuzzing, see the Makefile) whose every pixel can be read, resized to
 * 224 x 224 and turned into VGG16's input, as extract does. */
#ifndef FUZZ_IMG_CHECK_H
#define FUZZ_IMG_CHECK_H

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "img/img.h"
#include "net/model.h"
#include "net/vgg.h"

static void fuzz_img_check(const uint8_t *data, size_t size)
{
	static float x[VGG_IN * VGG_IN * 3];
	img_t img, sized = {0, 0, NULL};
	char err[ERR_LEN] = "";
	unsigned sum = 0;

	int rc = img_decode(data, size, "fuzz", &img, err);
	if (rc) {
		assert(rc < 0 && img.rgb == NULL && img.w == 0 && img.h == 0);
		assert(strncmp(err, "fuzz: ", 6) == 0 && !strchr(err, '\n'));
		return;
	}
	assert(img.rgb && img.w > 0 && img.h > 0 &&
	       (uint64_t)img.w * (uint64_t)img.h <= IMG_MAX_PIXELS);
	/* Every byte was written: reading them lets MSan-like bugs (a row the
	 * decoder skipped) show as uninitialised data in valgrind, and ASan
	 * checks the bounds. */
	for (size_t i = 0; i < (size_t)img.w * (size_t)img.h * 3; i++)
		sum += img.rgb[i];
	rc = img_resize_nearest(&img, VGG_IN, VGG_IN, &sized, err);
	assert(rc == 0);
	img_preprocess(&sized, model_info(MODEL_VGG16)->mean_bgr, x);
	for (size_t i = 0; i < sizeof x / sizeof *x; i++)
		assert(x[i] >= -IMG_VGG_MEAN_R - 1 && x[i] <= 256);
	img_free(&sized);
	img_free(&img);
	img_free(&img); /* idempotent */
	(void)sum;
}

#endif
