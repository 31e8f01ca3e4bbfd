/* test_split.c - train-head's validation and test splits by the hash of
 * each key (train/train_head/split.c): stable values, and stable as
 * records are added. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "train_head.h"

static void test_key_unit_is_stable(void **state)
{
	(void)state;
	/* Fixed values: a change here moves existing stores' images between
	 * training and validation. */
	double u = th_key_unit("alice/0001.jpg", 14);
	double v = th_key_unit("alice/0002.jpg", 14);
	assert_true(u >= 0 && u < 1 && v >= 0 && v < 1 && u != v);
	assert_true(th_key_unit("alice/0001.jpg", 14) == u);
	assert_true(u == 0.5383720176261715);
	assert_true(v == 0.6404766261257328);
}

static void test_holdout_stable_when_adding(void **state)
{
	(void)state;
	int K = 30;
	size_t n1 = 3000, n2 = 4500;
	double *unit = malloc(n2 * sizeof *unit);
	int32_t *cls = malloc(n2 * sizeof *cls);
	uint8_t *h1 = malloc(n2), *h2 = malloc(n2);
	size_t held = 0;
	assert_true(unit && cls && h1 && h2);
	for (size_t i = 0; i < n2; i++) {
		char key[64];
		int c = (int)(i % (size_t)K);
		int len = snprintf(key, sizeof key, "person%02d/img_%05zu.jpg", c, i);
		unit[i] = th_key_unit(key, (size_t)len);
		cls[i] = c;
	}
	assert_int_equal(th_holdout(n1, unit, cls, K, 0.2, 0, h1, NULL), 0);
	/* Later, 1500 more images of the same people (and stored in another
	 * order: the split does not depend on it). */
	assert_int_equal(th_holdout(n2, unit, cls, K, 0.2, 0, h2, NULL), 0);
	for (size_t i = 0; i < n1; i++) {
		assert_int_equal(h1[i], h2[i]);
		held += h1[i];
	}
	assert_true(held > 0.17 * n1 && held < 0.23 * n1);
	/* Per class, close to the fraction, and never all of a class. */
	for (int k = 0; k < K; k++) {
		size_t nk = 0, hk = 0;
		for (size_t i = 0; i < n2; i++)
			if (cls[i] == k) {
				nk++;
				hk += h2[i];
			}
		assert_true(hk < nk);
		assert_true(hk > 0.08 * nk && hk < 0.32 * nk);
	}
	/* A class of one record stays in training, even below the fraction. */
	double u1[2] = {0.01, 0.5};
	int32_t c1[2] = {0, 1};
	uint8_t o[2];
	assert_int_equal(th_holdout(2, u1, c1, 2, 0.2, 0, o, NULL), 0);
	assert_true(o[0] == 0 && o[1] == 0);
	/* Two records of a class, both below: the larger unit stays. */
	double u2[2] = {0.05, 0.1};
	int32_t c2[2] = {0, 0};
	assert_int_equal(th_holdout(2, u2, c2, 1, 0.2, 0, o, NULL), 0);
	assert_true(o[0] == 1 && o[1] == 0);
	assert_int_equal(th_holdout(2, u2, c2, 1, 1.0, 0, o, NULL), ERR_ARG);
	c2[1] = 3;
	assert_int_equal(th_holdout(2, u2, c2, 1, 0.2, 0, o, NULL), ERR_ARG);
	free(unit), free(cls), free(h1), free(h2);
}

/* --test-split: the test set is the records of the top units, the same
 * whatever --val-split, stable as records are added, apart from the
 * validation set; every class keeps a training record. */
static void test_holdout_test_split(void **state)
{
	(void)state;
	int K = 30;
	size_t n1 = 3000, n2 = 4500;
	double *unit = malloc(n2 * sizeof *unit);
	int32_t *cls = malloc(n2 * sizeof *cls);
	uint8_t *a = malloc(n2), *b = malloc(n2), *c = malloc(n2);
	size_t ntest = 0, nval = 0;
	assert_true(unit && cls && a && b && c);
	for (size_t i = 0; i < n2; i++) {
		char key[64];
		int k = (int)(i % (size_t)K);
		int len = snprintf(key, sizeof key, "person%02d/img_%05zu.jpg", k, i);
		unit[i] = th_key_unit(key, (size_t)len);
		cls[i] = k;
	}
	assert_int_equal(th_holdout(n1, unit, cls, K, 0.2, 0.1, a, NULL), 0);
	assert_int_equal(th_holdout(n1, unit, cls, K, 0.0, 0.1, b, NULL), 0);
	assert_int_equal(th_holdout(n2, unit, cls, K, 0.3, 0.1, c, NULL), 0);
	for (size_t i = 0; i < n1; i++) {
		assert_true(a[i] <= 2);
		/* The same test set whatever the validation fraction, and after
		 * adding records. */
		assert_int_equal(a[i] == 2, b[i] == 2);
		assert_int_equal(a[i] == 2, c[i] == 2);
		if (a[i] == 2)
			assert_true(unit[i] >= 0.9);
		if (a[i] == 1)
			assert_true(unit[i] < 0.2);
		/* Without validation, nothing is held for it. */
		assert_true(b[i] != 1);
		ntest += a[i] == 2;
		nval += a[i] == 1;
	}
	assert_true(ntest > 0.08 * n1 && ntest < 0.12 * n1);
	assert_true(nval > 0.17 * n1 && nval < 0.23 * n1);
	for (int k = 0; k < K; k++) {
		size_t train = 0;
		for (size_t i = 0; i < n1; i++)
			train += cls[i] == k && a[i] == 0;
		assert_true(train > 0);
	}
	/* One record per class, each in a held-out range: it stays in
	 * training. */
	double u1[3] = {0.95, 0.05, 0.5};
	int32_t c1[3] = {0, 1, 2};
	uint8_t o[3];
	assert_int_equal(th_holdout(3, u1, c1, 3, 0.2, 0.1, o, NULL), 0);
	assert_true(o[0] == 0 && o[1] == 0 && o[2] == 0);
	/* All of a class's records above 1 - test: the smallest stays. */
	double u2[3] = {0.97, 0.92, 0.99};
	int32_t c2[3] = {0, 0, 0};
	assert_int_equal(th_holdout(3, u2, c2, 1, 0.2, 0.1, o, NULL), 0);
	assert_true(o[0] == 2 && o[1] == 0 && o[2] == 2);
	/* The largest below 1 - test stays, even below val. */
	double u3[3] = {0.05, 0.1, 0.95};
	assert_int_equal(th_holdout(3, u3, c2, 1, 0.2, 0.1, o, NULL), 0);
	assert_true(o[0] == 1 && o[1] == 0 && o[2] == 2);
	assert_int_equal(th_holdout(3, u3, c2, 1, 0.5, 0.5, o, NULL), ERR_ARG);
	assert_int_equal(th_holdout(3, u3, c2, 1, 0.2, -0.1, o, NULL), ERR_ARG);
	free(unit), free(cls), free(a), free(b), free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_unit_is_stable),
		cmocka_unit_test(test_holdout_stable_when_adding),
		cmocka_unit_test(test_holdout_test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
