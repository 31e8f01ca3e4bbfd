/* fuzz_img.c - libFuzzer target: decoding any bytes as an image, then
 * Keras' preprocessing (the resize to 224 x 224 and img_preprocess), as
 * extract does for every file; img_check.h says what is checked. */
#include <stddef.h>
#include <stdint.h>

#include "img_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_img_check(data, size);
	return 0;
}
