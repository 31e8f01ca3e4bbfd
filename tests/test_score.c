/* test_score.c - the test set's score (train/train_head/score.c): the
 * report sklearn's classification_report prints, byte for byte against
 * tests/golden/classification_report.txt (tests/ref/sklearn_report.py),
 * the confusion matrix's CSV and the most-confused pairs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "testutil.h"
#include "train_head.h"

#define GOLDEN "tests/golden/classification_report.txt"

/* A score of K classes from the true and predicted labels. */
static th_score_t score_of(int K, const int *t, const int *p, size_t n)
{
	th_score_t sc = {.K = K, .n = n};
	sc.confusion = calloc((size_t)K * K, sizeof *sc.confusion);
	assert_non_null(sc.confusion);
	for (size_t i = 0; i < n; i++) {
		sc.confusion[(size_t)t[i] * K + p[i]]++;
		sc.correct += t[i] == p[i];
	}
	return sc;
}

/* What f (a stream train-head's function wrote) holds, as a string. */
static char *written(void (*fill)(FILE *, const th_score_t *, char *const *),
		     const th_score_t *sc, char *const *classes)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	fill(f, sc, classes);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Reads the labels of a golden line "key N N N ..." into v; their count. */
static size_t labels(const char *line, const char *key, int *v, size_t max)
{
	size_t n = 0, kl = strlen(key);
	assert_true(strncmp(line, key, kl) == 0 && line[kl] == ' ');
	for (const char *s = line + kl; *s && *s != '\n' && n < max;) {
		char *end;
		v[n++] = (int)strtol(s, &end, 10);
		if (end == s)
			break;
		s = end;
	}
	return n;
}

static void test_report_is_sklearns(void **state)
{
	(void)state;
	char *text = tu_slurp(GOLDEN), *save = NULL;
	int cases = 0, t[256], p[256];
	char *classes[16], line_classes[1024];

	assert_non_null(text);
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "case ", 5) != 0)
			continue;
		char name[64];
		snprintf(name, sizeof name, "%s", line + 5);
		/* classes A|B|C */
		line = strtok_r(NULL, "\n", &save);
		assert_true(strncmp(line, "classes ", 8) == 0);
		snprintf(line_classes, sizeof line_classes, "%s", line + 8);
		int K = 0;
		char *cs = NULL;
		for (char *c = strtok_r(line_classes, "|", &cs); c; c = strtok_r(NULL, "|", &cs))
			classes[K++] = c;
		size_t n = labels(strtok_r(NULL, "\n", &save), "true", t, 256);
		assert_int_equal(labels(strtok_r(NULL, "\n", &save), "pred", p, 256), n);
		line = strtok_r(NULL, "\n", &save);
		int nl = atoi(line + 7);
		/* The report: nl lines (strtok skips the empty ones, so take them
		 * from the text itself). */
		char *start = line + strlen(line) + 1, *end = start;
		for (int i = 0; i < nl - 1; i++)
			end = strchr(end, '\n') + 1;
		size_t len = (size_t)(end - start);
		char *want = strndup(start, len);
		save = end;
		th_score_t sc = score_of(K, t, p, n);
		char *got = written(th_score_report, &sc, classes);
		if (strcmp(got, want) != 0)
			fail_msg("case %s: train-head's report\n%s\nsklearn's\n%s", name, got, want);
		print_message("case %s: %d people, %zu records: sklearn's report, byte for "
			      "byte\n", name, K, n);
		free(got), free(want);
		th_score_free(&sc);
		cases++;
	}
	assert_int_equal(cases, 5);
	free(text);
}

/* The confusion matrix's CSV: a header of the names, a row per true
 * class; names quoted as RFC 4180 asks. */
static void test_confusion_csv(void **state)
{
	(void)state;
	static const int t[] = {0, 0, 1, 2, 2, 2}, p[] = {0, 1, 1, 2, 0, 2};
	char a[] = "plain", b[] = "with, comma", c[] = "with \"quote\"";
	char *classes[3] = {a, b, c};
	th_score_t sc = score_of(3, t, p, 6);
	const char *dir = tu_tmpdir();
	char path[600], err[ERR_LEN];

	snprintf(path, sizeof path, "%s/c.csv", dir);
	assert_int_equal(th_score_csv(path, &sc, classes, err), 0);
	char *got = tu_slurp(path);
	assert_string_equal(got, "true\\predicted,plain,\"with, comma\",\"with \"\"quote\"\"\"\r\n"
				 "plain,1,1,0\r\n"
				 "\"with, comma\",0,1,0\r\n"
				 "\"with \"\"quote\"\"\",1,0,2\r\n");
	free(got);
	snprintf(path, sizeof path, "%s/no/such/c.csv", dir);
	assert_int_equal(th_score_csv(path, &sc, classes, err), ERR_IO);
	assert_non_null(strstr(err, "--confusion"));
	th_score_free(&sc);
	tu_rm_rf(dir);
}

/* The pairs most often taken for each other, both ways counted, the more
 * frequent way first; ten at most. */
static void test_most_confused(void **state)
{
	(void)state;
	enum { K = 13 };
	char *classes[K], names[K][16];
	th_score_t sc = {.K = K};
	sc.confusion = calloc(K * K, sizeof *sc.confusion);
	assert_non_null(sc.confusion);
	for (int k = 0; k < K; k++) {
		snprintf(names[k], sizeof names[k], "p%02d", k);
		classes[k] = names[k];
		sc.confusion[k * K + k] = 10;
	}
	/* p01 taken for p00 5 times, p00 for p01 once; p03 for p02 4 times;
	 * then twelve pairs of 1, of which the first ten in index order. */
	sc.confusion[1 * K + 0] = 5;
	sc.confusion[0 * K + 1] = 1;
	sc.confusion[3 * K + 2] = 4;
	for (int k = 4; k < K - 1; k++)
		sc.confusion[k * K + k + 1] = 1;
	sc.confusion[12 * K + 0] = 1;
	for (int a = 0; a < K; a++)
		for (int b = 0; b < K; b++)
			sc.n += (size_t)sc.confusion[a * K + b];
	sc.correct = 10 * K;
	char *got = written(th_score_print, &sc, classes);
	const char *pairs = strstr(got, "Most confused");
	assert_non_null(pairs);
	assert_non_null(strstr(pairs, "\n   6  p01 as p00 5/15, p00 as p01 1/11\n"
				      "   4  p03 as p02 4/14\n"
				      "   1  p12 as p00 1/11\n"
				      "   1  p04 as p05 1/11\n"));
	int lines = 0;
	for (const char *s = pairs; (s = strchr(s, '\n')); s++)
		lines++;
	assert_int_equal(lines, 1 + 10);
	free(got);
	th_score_free(&sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_report_is_sklearns),
		cmocka_unit_test(test_confusion_csv),
		cmocka_unit_test(test_most_confused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
