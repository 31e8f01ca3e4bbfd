/* fuzz_weights.c - libFuzzer target: weights_read (weights_load in this
 * process, so that libhdf5's own faults show) on a file holding the input.  Real weights are 553 MB; the seeds are small files in Keras'
 * layouts (tests/fuzz/make_seeds.c) whose shapes are wrong, layers missing,
 * attributes of other types, so that the fuzzer works on the walk through
 * the HDF5 structure: layer_names, weight_names, the groups and datasets
 * they name, their types and shapes.  Failing leaves the struct empty. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "net/weights.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	weights_t w;
	char err[ERR_LEN];
	FILE *f;

	if (!path[0])
		snprintf(path, sizeof path, "/tmp/fuzz_weights.%d.h5", (int)getpid());
	f = fopen(path, "wb");
	assert(f);
	assert(fwrite(data, 1, size, f) == size || size == 0);
	assert(fclose(f) == 0);
	if (weights_read(path, &w, err) == 0) {
		assert(strlen(w.fingerprint) == 16);
		for (int i = 0; i < WEIGHTS_NLAYERS; i++)
			assert(w.kernel[i] && w.bias[i]);
		weights_free(&w);
	} else {
		for (int i = 0; i < WEIGHTS_NLAYERS; i++)
			assert(!w.kernel[i] && !w.bias[i]);
		assert(!strchr(err, '\n'));
	}
	unlink(path);
	return 0;
}
