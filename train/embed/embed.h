/* embed.h - images to vectors, as predict, verify and nearest take them:
 * the inputs listed (a folder gives its images, recursively, in key
 * order), decoded and preprocessed as Keras' load_img and the model's
 * preprocess_input do, a batch at a time, and run through the network;
 * each batch's vectors are handed to the caller.  One home for that step,
 * so that the three programs see an image exactly as extract stored it.
 *
 * Letters: B images in a batch, D the vector's length (the network's).
 * Functions return 0 or a negative ERR_* code with the reason in err
 * (error.h); what they print on the standard error is a note naming the
 * program (an input skipped, and why), never an error. */
#ifndef TRAIN_EMBED_H
#define TRAIN_EMBED_H

#include <stddef.h>

#include "dataset/dataset.h"
#include "net/vgg.h"
#include "net/weights.h"

/* The images of the inputs, in order: every input expanded (a folder gives
 * its images in key order). */
typedef struct embed_images {
	dataset_t *sets;     /* (nsets) */
	int nsets;
	const char **paths;  /* (n) into sets */
	size_t n;
	size_t skipped;      /* files that are not images, images that did
			      * not decode (embed_run adds those) */
} embed_images_t;

/* embed_list expands the ninputs paths into im, printing "prog: skipped
 * PATH: REASON" for what it passes over.  Returns 0, ERR_NOMEM or
 * dataset_scan_files' errors (an input that does not exist); im is the
 * caller's to free either way. */
int embed_list(const char *prog, char *const *inputs, int ninputs,
	       embed_images_t *im, char *err);

/* embed_none: the error when the inputs listed in im gave no image to
 * `what` ("predict", "look up"), in err: ERR_MISSING.  A file whose name
 * is not an image's is passed over without a word, as Keras and extract
 * pass it over (a folder of photos holds other files); when nothing else
 * was found, those were the photos (.webp, .heic), and it says so. */
int embed_none(const embed_images_t *im, const char *what, char *err);

/* embed_images_free releases im; accepts an empty one. */
void embed_images_free(embed_images_t *im);

/* How embed_run runs. */
typedef struct embed_opts {
	vgg_opts_t net;  /* the network (vgg_opts_init): max_batch is B */
	int model;       /* whose means the images are preprocessed with */
	/* An image that does not decode is an error (ERR_FORMAT and its
	 * reason), not a note and a skip. */
	int strict;
} embed_opts_t;

/* A batch's vectors: paths (n) and vec (n, dim), the i-th vector path i's;
 * valid during the call.  Returns 0 to go on, or an ERR_* code (with its
 * reason in err) that stops embed_run. */
typedef int (*embed_fn)(void *ctx, int n, const char *const *paths,
			const float *vec, int dim, char *err);

/* embed_run runs the network over w on im's images, B at a time in their
 * order, and calls fn on each batch; an image that does not decode is
 * passed over with "prog: skipped REASON" (counted in im->skipped), or,
 * strict, stops the run.  *done counts the images handed to fn.  Returns
 * 0, fn's code, ERR_FORMAT (strict), or vgg_create_opts' and
 * vgg_forward's errors. */
int embed_run(const char *prog, const embed_opts_t *o, const weights_t *w,
	      embed_images_t *im, embed_fn fn, void *ctx, size_t *done,
	      char *err);

#endif
