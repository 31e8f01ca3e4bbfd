/* ring.c - the decode ring (run.h): decoder threads load and preprocess
 * the images, in list order, into a ring of RING batches; the network
 * takes one batch at a time and gives its slots back. */
#include <stdlib.h>
#include <string.h>

#include "img/img.h"
#include "run.h"
#include "net/vgg.h"

#define RING 3

/* A slot's image: not decoded yet, decoded, or skipped (why says why). */
enum { SLOT_EMPTY, SLOT_OK, SLOT_BAD };

static void *decoder(void *arg)
{
	ring_t *r = arg;
	size_t ring = (size_t)RING * r->batch;

	pthread_mutex_lock(&r->mu);
	for (;;) {
		while (!r->stop && r->next < r->n && r->next >= r->done_upto + ring)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop || r->next >= r->n)
			break;
		size_t i = r->next++, s = i % ring;
		pthread_mutex_unlock(&r->mu);

		char why[ERR_LEN];
		int rc = img_load_input(r->todo[i]->path, VGG_IN, r->mean_bgr,
					   r->slots + s * VGG_IN_FLOATS, why);

		pthread_mutex_lock(&r->mu);
		r->state[s] = rc ? SLOT_BAD : SLOT_OK;
		if (rc)
			memcpy(r->why[s], why, ERR_LEN);
		else
			r->why[s][0] = 0; /* dist_batch_t's mark of an extracted image */
		pthread_cond_broadcast(&r->cv);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

int ring_init(ring_t *r, dataset_item_t **todo, size_t n, int batch,
	      const float *mean_bgr, int threads, char *err)
{
	size_t ring = (size_t)RING * batch;

	*r = (ring_t){.todo = todo, .n = n, .batch = batch, .mean_bgr = mean_bgr,
		      .want = threads};
	r->slots = malloc(ring * VGG_IN_FLOATS * sizeof(float));
	r->state = calloc(ring, sizeof *r->state);
	r->why = malloc(ring * sizeof *r->why);
	r->threads = malloc((size_t)threads * sizeof *r->threads);
	if (!r->slots || !r->state || !r->why || !r->threads)
		return err_set(err, ERR_NOMEM, "out of memory for a batch of %d", batch);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	r->ready = 1;
	return 0;
}

int ring_start(ring_t *r, char *err)
{
	for (; r->nthreads < r->want && r->n; r->nthreads++)
		if (pthread_create(&r->threads[r->nthreads], NULL, decoder, r) != 0)
			return err_set(err, ERR_NOMEM, "cannot start a decoding thread");
	return 0;
}

void ring_wait(ring_t *r, size_t b0, ring_batch_t *b)
{
	size_t s0 = b0 % ((size_t)RING * r->batch);

	*b = (ring_batch_t){.b0 = b0, .x = r->slots + s0 * VGG_IN_FLOATS, .why = r->why + s0};
	b->n = r->n - b0 < (size_t)r->batch ? (int)(r->n - b0) : r->batch;
	pthread_mutex_lock(&r->mu);
	for (int k = 0; k < b->n; k++)
		while (r->state[s0 + (size_t)k] == SLOT_EMPTY)
			pthread_cond_wait(&r->cv, &r->mu);
	pthread_mutex_unlock(&r->mu);
	/* The good images go together, for one forward pass. */
	for (int k = 0; k < b->n; k++) {
		if (r->state[s0 + (size_t)k] == SLOT_BAD)
			continue;
		if (b->good != k)
			memcpy(b->x + (size_t)b->good * VGG_IN_FLOATS, b->x + (size_t)k * VGG_IN_FLOATS,
			       VGG_IN_FLOATS * sizeof(float));
		b->good++;
	}
}

void ring_release(ring_t *r, const ring_batch_t *b)
{
	size_t s0 = b->b0 % ((size_t)RING * r->batch);

	pthread_mutex_lock(&r->mu);
	for (int k = 0; k < b->n; k++)
		r->state[s0 + (size_t)k] = SLOT_EMPTY;
	r->done_upto = b->b0 + (size_t)b->n;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

void ring_stop(ring_t *r)
{
	if (!r->ready)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	for (int t = 0; t < r->nthreads; t++)
		pthread_join(r->threads[t], NULL);
	r->nthreads = 0;
}

void ring_free(ring_t *r)
{
	ring_stop(r);
	if (r->ready) {
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
	}
	free(r->slots);
	free(r->state);
	free(r->why);
	free(r->threads);
	*r = (ring_t){0};
}
