/* fuzz_head.c - libFuzzer target: head_read (head_load in this process, so
 * that libhdf5's own faults show) on a file holding the input, as predict
 * reads a head.  A head it accepts has D, K >= 1, K class names
 * when it has names, and parameters that can all be read. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "head/head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	head_t h;
	head_meta_t m;
	char err[ERR_LEN];
	FILE *f;
	double sum = 0;

	if (!path[0])
		snprintf(path, sizeof path, "/tmp/fuzz_head.%d.h5", (int)getpid());
	f = fopen(path, "wb");
	assert(f);
	assert(fwrite(data, 1, size, f) == size || size == 0);
	assert(fclose(f) == 0);
	if (head_read(path, &h, &m, err) == 0) {
		assert(h.D >= 1 && h.K >= 1 && h.params && h.nlayers >= 1);
		assert(h.layer[0].in == h.D && h.layer[h.nlayers - 1].out == h.K);
		assert(!m.classes || m.nclasses == h.K);
		for (size_t i = 0; i < h.nparams; i++)
			sum += h.params[i];
		for (int c = 0; m.classes && c < m.nclasses; c++)
			assert(m.classes[c] && strlen(m.classes[c]) < 1 << 20);
		head_free(&h);
		head_meta_free(&m);
	} else {
		assert(!h.params && !m.classes);
	}
	unlink(path);
	return sum != sum ? 0 : 0;
}
