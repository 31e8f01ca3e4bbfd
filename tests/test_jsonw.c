/* test_jsonw.c - base/jsonw.h: the text is Python's json.dumps' (the
 * expected strings below are what Python 3.11 printed for the same
 * values), strings are escaped and read back whole by a separate reader
 * (tests/support/tjson.h), reals are Python's repr and read back as the
 * same double, and every misuse is refused with ERR_ARG and no text. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "base/jsonw.h"
#include "base/rng.h"
#include "tjson.h"

static char *finish(jsonw_t *j)
{
	char err[ERR_LEN], *out = NULL;
	int rc = jsonw_finish(j, &out, err);
	if (rc)
		fail_msg("jsonw_finish: %s", err);
	return out;
}

/* The separators, nesting and literals of json.dumps, and the escapes of
 * its ensure_ascii: json.dumps({"a\"b\\c\n\t\x01\x7f\u00e9\U0001F600/":
 * [1, -2, True, False, None, {}, []], "x": {"y": 0.5}}). */
static void test_python_text(void **state)
{
	(void)state;
	static const char key[] = "a\"b\\c\n\t\x01\x7f\xc3\xa9\xf0\x9f\x98\x80/";
	jsonw_t j = {0};
	jsonw_begin_object(&j);
	jsonw_key(&j, key);
	jsonw_begin_array(&j);
	jsonw_int(&j, 1);
	jsonw_int(&j, -2);
	jsonw_bool(&j, 1);
	jsonw_bool(&j, 0);
	jsonw_null(&j);
	jsonw_begin_object(&j);
	jsonw_end_object(&j);
	jsonw_begin_array(&j);
	jsonw_end_array(&j);
	jsonw_end_array(&j);
	jsonw_key(&j, "x");
	jsonw_begin_object(&j);
	jsonw_key(&j, "y");
	jsonw_real(&j, 0.5);
	jsonw_end_object(&j);
	jsonw_end_object(&j);
	char *s = finish(&j);
	assert_string_equal(s, "{\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\\u00e9\\ud83d\\ude00/\": "
			    "[1, -2, true, false, null, {}, []], \"x\": {\"y\": 0.5}}");

	/* Read back by the other reader: the same key, the same values. */
	char why[256];
	tj_t *v = tj_parse(s, why);
	assert_non_null(v);
	assert_int_equal(v->type, TJ_OBJ);
	assert_int_equal(v->n, 2);
	assert_string_equal(v->keys[0], key);
	const tj_t *a = v->items[0];
	assert_int_equal(a->type, TJ_ARR);
	assert_int_equal(a->n, 7);
	assert_true(a->items[0]->num == 1 && a->items[1]->num == -2);
	assert_true(a->items[2]->type == TJ_BOOL && a->items[2]->boolean);
	assert_true(a->items[3]->type == TJ_BOOL && !a->items[3]->boolean);
	assert_int_equal(a->items[4]->type, TJ_NULL);
	assert_true(a->items[5]->type == TJ_OBJ && a->items[5]->n == 0);
	assert_true(a->items[6]->type == TJ_ARR && a->items[6]->n == 0);
	assert_true(tj_get(tj_get(v, "x"), "y")->num == 0.5);
	tj_free(v);
	free(s);
}

/* Reals as Python's repr writes them (json.dumps of each). */
static void test_reals(void **state)
{
	(void)state;
	static const struct { double v; const char *text; } cases[] = {
		{0.5, "0.5"}, {0.1, "0.1"}, {1e-05, "1e-05"}, {0.0001, "0.0001"},
		{100.0, "100.0"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{1.5e-7, "1.5e-07"}, {-0.0, "-0.0"}, {0.0, "0.0"},
		{123456.789, "123456.789"}, {5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.1 + 0.2, "0.30000000000000004"}, {2.5e-05, "2.5e-05"},
		{1.0 / 3, "0.3333333333333333"}, {-2.0, "-2.0"},
		{9999999999999998.0, "9999999999999998.0"}, {1e22, "1e+22"},
		{0.001, "0.001"}, {12345678901234567890.0, "1.2345678901234567e+19"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		jsonw_t j = {0};
		jsonw_real(&j, cases[i].v);
		char *s = finish(&j);
		if (strcmp(s, cases[i].text) != 0)
			fail_msg("%a: wrote %s, Python writes %s", cases[i].v, s, cases[i].text);
		free(s);
	}

	/* Any double reads back as itself (random bit patterns, the finite
	 * ones), in no more than 17 significant digits. */
	rng_t r = {42};
	for (int i = 0; i < 20000; i++) {
		uint64_t bits = rng_next(&r);
		double v;
		memcpy(&v, &bits, sizeof v);
		if (!isfinite(v))
			continue;
		jsonw_t j = {0};
		jsonw_real(&j, v);
		char *s = finish(&j), why[256];
		tj_t *t = tj_parse(s, why);
		if (!t || t->type != TJ_NUM || memcmp(&t->num, &v, sizeof v) != 0)
			fail_msg("%a written as %s does not read back", v, s);
		tj_free(t);
		free(s);
	}
}

/* Each misuse: ERR_ARG, the reason, no text. */
static void expect_refused(jsonw_t *j, const char *words)
{
	char err[ERR_LEN], *out = (char *)"x";
	assert_int_equal(jsonw_finish(j, &out, err), ERR_ARG);
	assert_null(out);
	if (!strstr(err, words))
		fail_msg("'%s' does not say '%s'", err, words);
	assert_null(j->buf);
}

static void test_refusals(void **state)
{
	(void)state;
	jsonw_t j = {0};

	jsonw_begin_object(&j);
	jsonw_int(&j, 1);
	expect_refused(&j, "without its key");

	jsonw_begin_array(&j);
	jsonw_key(&j, "k");
	expect_refused(&j, "a key where a value was due");

	jsonw_begin_object(&j);
	jsonw_key(&j, "k");
	jsonw_key(&j, "k2");
	expect_refused(&j, "a key where a value was due");

	jsonw_begin_object(&j);
	jsonw_key(&j, "k");
	jsonw_end_object(&j);
	expect_refused(&j, "without its value");

	jsonw_begin_array(&j);
	jsonw_end_object(&j);
	expect_refused(&j, "closed where it was not open");

	jsonw_end_array(&j);
	expect_refused(&j, "closed where it was not open");

	jsonw_begin_array(&j);
	expect_refused(&j, "left open");

	jsonw_int(&j, 1);
	jsonw_int(&j, 2);
	expect_refused(&j, "a second value");

	expect_refused(&j, "no value");

	for (int i = 0; i <= JSONW_DEPTH; i++)
		jsonw_begin_array(&j);
	expect_refused(&j, "nested deeper");

	jsonw_real(&j, NAN);
	expect_refused(&j, "not finite");
	jsonw_real(&j, -INFINITY);
	expect_refused(&j, "not finite");

	/* Not UTF-8: cut short, overlong, a surrogate, past U+10FFFF, a
	 * stray continuation byte. */
	static const char *const bad[] = {"a\xc3", "\xc0\xaf", "\xed\xa0\x80",
		"\xf4\x90\x80\x80", "\x80"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		jsonw_string(&j, bad[i]);
		expect_refused(&j, "not UTF-8");
	}

	/* After the first failure nothing more is written, and that failure
	 * is the one reported. */
	jsonw_begin_object(&j);
	jsonw_int(&j, 1);
	jsonw_key(&j, "k");
	jsonw_string(&j, "v");
	jsonw_end_object(&j);
	expect_refused(&j, "without its key");
}

/* A text larger than the first buffer grows as it must. */
static void test_growth(void **state)
{
	(void)state;
	jsonw_t j = {0};
	jsonw_begin_array(&j);
	for (int i = 0; i < 10000; i++)
		jsonw_string(&j, "layer");
	jsonw_end_array(&j);
	char *s = finish(&j), why[256];
	assert_int_equal(strlen(s), 2 + 10000 * 7 + 9999 * 2);
	tj_t *t = tj_parse(s, why);
	assert_non_null(t);
	assert_int_equal(t->n, 10000);
	assert_string_equal(t->items[9999]->str, "layer");
	tj_free(t);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_python_text),
		cmocka_unit_test(test_reals),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
