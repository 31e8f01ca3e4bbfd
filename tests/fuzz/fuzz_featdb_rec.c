/* fuzz_featdb_rec.c - libFuzzer target: the feature-record parser
 * (featdb_rec_decode) on any bytes.  A record it accepts must convert to
 * floats (featdb_rec_vector reads exactly its dim elements) and encode back
 * to the same bytes (float32 always; float16 up to NaN payloads, which the
 * conversion quiets). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store/featdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	featdb_rec_t rec;
	char err[ERR_LEN];
	float *v;
	uint8_t *back;
	int nan = 0;

	/* An unaligned copy of exactly size bytes, so ASan sees any read past
	 * the end. */
	uint8_t *buf = malloc(size ? size : 1);
	assert(buf);
	memcpy(buf, data, size);
	if (featdb_rec_decode(buf, size, &rec, err) != 0) {
		free(buf);
		return 0;
	}
	assert(featdb_rec_size(rec.dtype, rec.dim) == size);
	assert(rec.split >= FEATDB_TRAIN && rec.split <= FEATDB_TEST);
	v = malloc((size_t)rec.dim * sizeof *v);
	back = malloc(size);
	assert(v && back);
	featdb_rec_vector(&rec, v);
	for (int i = 0; i < rec.dim; i++)
		nan |= v[i] != v[i];
	assert(featdb_rec_encode(v, rec.dim, rec.dtype, rec.cls, rec.split, back,
				 err) == 0);
	assert(featdb_rec_decode(back, size, NULL, err) == 0);
	if (rec.dtype == FEATDB_F32 || !nan)
		assert(memcmp(back, buf, size) == 0);
	free(v);
	free(back);
	free(buf);
	return 0;
}
