/* embed.c - images to vectors (embed.h): the step predict, verify and
 * nearest share. */
#include "embed.h"

#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "img/img.h"
#include "net/model.h"

int embed_none(const embed_images_t *im, const char *what, char *err)
{
	size_t ignored = 0;

	for (int i = 0; i < im->nsets; i++)
		ignored += im->sets[i].nignored;
	if (!ignored)
		return err_set(err, ERR_MISSING, "no image to %s (%zu skipped)", what,
			       im->skipped);
	return err_set(err, ERR_MISSING, "no image to %s (%zu skipped); %zu %s: an "
		       "image's name ends in " DATASET_EXTENSIONS " (in any case), as "
		       "extract takes images", what, im->skipped, ignored,
		       ignored == 1 ? "file was passed over for its name"
				    : "files were passed over for their names");
}

void embed_images_free(embed_images_t *im)
{
	for (int i = 0; im->sets && i < im->nsets; i++)
		dataset_free(&im->sets[i]);
	free(im->sets);
	free(im->paths);
	im->sets = NULL;
	im->paths = NULL;
	im->nsets = 0;
	im->n = 0;
}

int embed_list(const char *prog, char *const *inputs, int ninputs,
	       embed_images_t *im, char *err)
{
	size_t total = 0;
	int rc;

	if (!(im->sets = calloc((size_t)ninputs, sizeof *im->sets)))
		return err_set(err, ERR_NOMEM, "out of memory");
	im->nsets = ninputs;
	for (int i = 0; i < ninputs; i++) {
		if ((rc = dataset_scan_files(inputs[i], &im->sets[i], err)))
			return rc;
		for (size_t k = 0; k < im->sets[i].nproblems; k++) {
			fprintf(stderr, "%s: skipped %s: %s\n", prog,
				im->sets[i].problems[k].path,
				im->sets[i].problems[k].reason);
			im->skipped++;
		}
		total += im->sets[i].n;
	}
	if (!(im->paths = malloc((total ? total : 1) * sizeof *im->paths)))
		return err_set(err, ERR_NOMEM, "out of memory");
	for (int i = 0; i < ninputs; i++)
		for (size_t k = 0; k < im->sets[i].n; k++)
			im->paths[im->n++] = im->sets[i].items[k].path;
	return 0;
}

int embed_run(const char *prog, const embed_opts_t *o, const weights_t *w,
	      embed_images_t *im, embed_fn fn, void *ctx, size_t *done,
	      char *err)
{
	const int B = o->net.max_batch, D = model_tap_info(o->net.tap)->dim;
	const float *mean = model_info(o->model)->mean_bgr;
	float *x = malloc((size_t)B * VGG_IN_FLOATS * sizeof *x);
	float *vec = malloc((size_t)B * D * sizeof *vec);
	const char **paths = malloc((size_t)B * sizeof *paths);
	vgg_t *net = NULL;
	int rc = 0;

	if (!x || !vec || !paths) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = vgg_create_opts(w, &o->net, &net, err)))
		goto out;
	for (size_t i = 0; i < im->n;) {
		int n = 0;
		for (; i < im->n && n < B; i++) {
			char why[ERR_LEN];
			int lrc = img_load_input(im->paths[i], VGG_IN, mean,
						 x + (size_t)n * VGG_IN_FLOATS, why);
			if (lrc && o->strict) {
				rc = err_set(err, ERR_FORMAT, "%s", why);
				goto out;
			}
			if (lrc) {
				fprintf(stderr, "%s: skipped %s\n", prog, why);
				im->skipped++;
				continue;
			}
			paths[n++] = im->paths[i];
		}
		if (n == 0)
			continue;
		if ((rc = vgg_forward(net, x, n, vec, err)) ||
		    (rc = fn(ctx, n, paths, vec, D, err)))
			goto out;
		*done += (size_t)n;
	}
out:
	vgg_free(net);
	free(x);
	free(vec);
	free(paths);
	return rc;
}
