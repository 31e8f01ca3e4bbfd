/* fuzz_tiff.c - libFuzzer target: TIFF decoding (img_tiff.c and
 * img_tiff_tags.c, libtiff behind them).  fuzz_img reaches TIFF only when a
 * mutation keeps its 4-byte magic; here every input is a TIFF: one whose
 * first bytes are no TIFF magic Pillow accepts gets "II*\0" or "MM\0*"
 * (chosen by its first byte) in their place.  Then img_check.h's checks. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "img_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char magic[][5] = { "II*\0", "MM\0*", "II+\0", "MM\0+",
					 "II\0*", "MM*\0" };
	uint8_t *buf;
	size_t i;
	int known = 0;

	if (size < 4)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (i = 0; i < sizeof magic / sizeof magic[0]; i++)
		known |= !memcmp(buf, magic[i], 4);
	if (!known)
		memcpy(buf, magic[data[0] & 1], 4);
	fuzz_img_check(buf, size);
	free(buf);
	return 0;
}
