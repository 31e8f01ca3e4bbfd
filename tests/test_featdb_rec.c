/* test_featdb_rec.c - the record codec of featdb.h against hand-written
 * bytes and independent references: a bit-at-a-time CRC, a table search for
 * float16 rounding in double, byte-by-byte little-endian fields (le.h's
 * too); every decode rejection; the record check of verify and extract
 * (featdb_rec_check); the dtypes' names.  The store itself is
 * test_featdb.c's.  Letters: D vector length (dim). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "store/featdb.h"
#include "base/le.h"
#include "testutil.h"

/* ---- helpers ---- */

/* Bit-at-a-time CRC-32 (reflected, poly 0xEDB88320), the textbook form,
 * to check the table-driven one. */
static uint32_t crc_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* The width-byte little-endian unsigned integer at p, a byte at a time. */
static uint64_t ref_get(const uint8_t *p, int width)
{
	uint64_t v = 0;
	for (int i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* v's low width bytes into p, least significant first. */
static void ref_put(uint8_t *p, int width, uint64_t v)
{
	for (int i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes a record's CRC the reference way, so that a mutated header is
 * rejected for the field itself and not merely for its CRC. */
static void fix_crc(uint8_t *r, size_t len)
{
	uint8_t *tmp = malloc(len);
	assert_non_null(tmp);
	memcpy(tmp, r, 16);
	memcpy(tmp + 16, r + 24, len - 24);
	ref_put(r + 16, 4, crc_ref(tmp, len - 8));
	free(tmp);
}

static void expect_err(int ret, int code, const char *err, const char *substr)
{
	if (ret != code || (substr && !strstr(err, substr))) {
		print_error("got %d (%s) \"%s\", want %d (%s) with \"%s\"\n", ret,
			    err_name(ret), err, code, err_name(code), substr ? substr : "");
		fail();
	}
}

/* ---- CRC ---- */

static void test_crc32_known(void **state)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	rng_t r = {42};
	uint8_t buf[1000];

	(void)state;
	assert_int_equal(featdb_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(featdb_crc32(0, "", 0), 0);
	assert_int_equal(featdb_crc32(0, "a", 1), 0xE8B7BE43u);
	assert_int_equal(featdb_crc32(0, fox, strlen(fox)), 0x414FA339u);
	/* Running values chain, as with zlib. */
	assert_int_equal(featdb_crc32(featdb_crc32(0, "12345", 5), "6789", 4), 0xCBF43926u);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (uint8_t)rng_next(&r);
	for (size_t n = 0; n <= sizeof buf; n += 1 + n / 7)
		assert_int_equal(featdb_crc32(0, buf, n), crc_ref(buf, n));
	/* Every start alignment and tail length of the 8-byte steps, and
	 * chaining across a split inside a step. */
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n < 40; n++) {
			assert_int_equal(featdb_crc32(0, buf + off, n), crc_ref(buf + off, n));
			for (size_t cut = 0; cut <= n; cut += 3)
				assert_int_equal(featdb_crc32(featdb_crc32(0, buf + off, cut),
							      buf + off + cut, n - cut),
						 crc_ref(buf + off, n));
		}
}

/* ---- records ---- */

static void test_rec_layout(void **state)
{
	static const float vec[2] = {1.0f, -2.5f};
	static const uint8_t head[16] = {'V', 'G', 'G', 'F', 1, 0, 1, 1, 2, 0, 0, 0,
					 0xfd, 0xff, 0xff, 0xff};
	uint8_t r[32], tmp[24], h[28];
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(featdb_rec_size(FEATDB_F32, 2), 32);
	assert_int_equal(featdb_rec_size(FEATDB_F16, 2), 28);
	assert_int_equal(featdb_rec_size(3, 2), 0);
	assert_int_equal(featdb_rec_size(FEATDB_F32, 0), 0);
	assert_int_equal(featdb_rec_size(FEATDB_F32, -1), 0);

	assert_int_equal(featdb_rec_encode(vec, 2, FEATDB_F32, -3, FEATDB_VALID, r, err), 0);
	assert_memory_equal(r, head, 16);
	assert_memory_equal(r + 20, "\0\0\0\0", 4);
	assert_memory_equal(r + 24, "\x00\x00\x80\x3f\x00\x00\x20\xc0", 8);
	memcpy(tmp, r, 16);
	memcpy(tmp + 16, r + 24, 8);
	assert_int_equal(ref_get(r + 16, 4), crc_ref(tmp, 24));

	assert_int_equal(featdb_rec_encode(vec, 2, FEATDB_F16, 7, FEATDB_TEST, h, err), 0);
	assert_memory_equal(h, "VGGF\x01\x00\x02\x02\x02\x00\x00\x00\x07\x00\x00\x00", 16);
	assert_memory_equal(h + 24, "\x00\x3c\x00\xc1", 4);

	expect_err(featdb_rec_encode(vec, 2, FEATDB_F32, 0, 3, r, err), ERR_ARG, err, "split");
	expect_err(featdb_rec_encode(vec, 0, FEATDB_F32, 0, 0, r, err), ERR_ARG, err, "dim");
	expect_err(featdb_rec_encode(vec, 2, 9, 0, 0, r, err), ERR_ARG, err, "dtype");
}

static void roundtrip(int dtype, int D, rng_t *rng)
{
	static const int32_t classes[] = {0, 5, -1, INT32_MAX, INT32_MIN};
	float *vec = malloc((size_t)D * sizeof *vec), *back = malloc((size_t)D * sizeof *back);
	size_t n = featdb_rec_size(dtype, D);
	uint8_t *r = malloc(n);
	featdb_rec_t rec;
	char err[ERR_LEN];

	assert_true(vec && back && r);
	for (int j = 0; j < D; j++)
		vec[j] = (float)((rng_uniform(rng) - 0.5) * 200.0);
	if (dtype == FEATDB_F32 && D >= 7) {
		/* Bit patterns must survive, specials included. */
		vec[0] = -0.0f;
		vec[1] = INFINITY;
		vec[2] = -INFINITY;
		vec[3] = NAN;
		vec[4] = 1e-45f;
		vec[5] = 3.4028235e38f;
	}
	for (int c = 0; c < 5; c++) {
		int split = c % 3;
		assert_int_equal(featdb_rec_encode(vec, D, dtype, classes[c], split, r, err), 0);
		assert_int_equal(featdb_rec_decode(r, n, &rec, err), 0);
		assert_int_equal(rec.dtype, dtype);
		assert_int_equal(rec.split, split);
		assert_int_equal(rec.dim, D);
		assert_int_equal(rec.cls, classes[c]);
		assert_ptr_equal(rec.data, r + FEATDB_HEADER);
		featdb_rec_vector(&rec, back);
		for (int j = 0; j < D; j++) {
			float want = dtype == FEATDB_F32 ? vec[j] :
				     featdb_f16_to_f32(featdb_f32_to_f16(vec[j]));
			if (memcmp(&want, &back[j], sizeof want) != 0) {
				print_error("D %d element %d: %a != %a\n", D, j, back[j], want);
				fail();
			}
		}
	}
	free(vec);
	free(back);
	free(r);
}

static void test_rec_roundtrip_f32(void **state)
{
	rng_t r = {1};
	(void)state;
	roundtrip(FEATDB_F32, 1, &r);
	roundtrip(FEATDB_F32, 7, &r);
	roundtrip(FEATDB_F32, 4097, &r);
}

static void test_rec_roundtrip_f16(void **state)
{
	rng_t r = {2};
	(void)state;
	roundtrip(FEATDB_F16, 1, &r);
	roundtrip(FEATDB_F16, 13, &r);
	roundtrip(FEATDB_F16, 4095, &r);
}

/* Copies rec, sets len bytes of it at off to v (little-endian), recomputes
 * the CRC and expects decode to fail naming substr. */
static void reject_field(const uint8_t *rec, size_t len, size_t off, int width,
			 uint32_t v, const char *substr)
{
	uint8_t *r = malloc(len);
	char err[ERR_LEN];

	assert_non_null(r);
	memcpy(r, rec, len);
	ref_put(r + off, width, v);
	fix_crc(r, len);
	expect_err(featdb_rec_decode(r, len, NULL, err), ERR_FORMAT, err, substr);
	free(r);
}

static void test_rec_decode_rejects(void **state)
{
	static const float vec[5] = {1.5f, -2.25f, 0.0f, 100.0f, -0.125f};
	size_t len = featdb_rec_size(FEATDB_F16, 5);
	uint8_t *good = malloc(len), *r = malloc(len + 1);
	featdb_rec_t rec;
	char err[ERR_LEN];

	(void)state;
	assert_true(good && r);
	assert_int_equal(featdb_rec_encode(vec, 5, FEATDB_F16, 2, FEATDB_VALID, good, err), 0);
	assert_int_equal(featdb_rec_decode(good, len, &rec, err), 0);

	/* Every single-bit change of the header is caught. */
	for (size_t i = 0; i < FEATDB_HEADER; i++)
		for (int b = 0; b < 8; b++) {
			memcpy(r, good, len);
			r[i] ^= (uint8_t)(1u << b);
			err[0] = '\0';
			if (featdb_rec_decode(r, len, &rec, err) != ERR_FORMAT || !err[0]) {
				print_error("header byte %zu bit %d flipped: accepted\n", i, b);
				fail();
			}
		}
	/* Every vector byte is under the CRC. */
	for (size_t i = FEATDB_HEADER; i < len; i++) {
		memcpy(r, good, len);
		r[i] ^= 0x5a;
		expect_err(featdb_rec_decode(r, len, &rec, err), ERR_FORMAT, err, "CRC");
	}
	/* Every truncation, and one byte too many. */
	for (size_t n = 0; n < len; n++)
		expect_err(featdb_rec_decode(good, n, &rec, err), ERR_FORMAT, err, NULL);
	memcpy(r, good, len);
	r[len] = 0;
	expect_err(featdb_rec_decode(r, len + 1, &rec, err), ERR_FORMAT, err, "header says");

	/* Each check, with the CRC made right so that it is the field that
	 * is refused. */
	expect_err(featdb_rec_decode(good, 10, &rec, err), ERR_FORMAT, err, "shorter");
	expect_err(featdb_rec_decode(NULL, 0, &rec, err), ERR_FORMAT, err, "shorter");
	reject_field(good, len, 0, 1, 'X', "magic");
	reject_field(good, len, 3, 1, 'f', "magic");
	reject_field(good, len, 4, 2, 2, "version");
	reject_field(good, len, 4, 2, 0, "version");
	reject_field(good, len, 6, 1, 0, "dtype");
	reject_field(good, len, 6, 1, 3, "dtype");
	reject_field(good, len, 7, 1, 3, "split");
	reject_field(good, len, 7, 1, 255, "split");
	reject_field(good, len, 8, 4, 0, "dim");
	reject_field(good, len, 8, 4, 0x80000000u, "dim");
	reject_field(good, len, 8, 4, 6, "header says");
	reject_field(good, len, 8, 4, 4, "header says");
	reject_field(good, len, 6, 1, FEATDB_F32, "header says");
	reject_field(good, len, 20, 4, 1, "reserved");
	reject_field(good, len, 23, 1, 0x80, "reserved");
	/* A changed class without a new CRC. */
	memcpy(r, good, len);
	r[12] = 9;
	expect_err(featdb_rec_decode(r, len, &rec, err), ERR_FORMAT, err, "CRC");
	free(good);
	free(r);
}

/* featdb_rec_check: what featdb verify calls bad and extract extracts
 * again, each fault with its reason, on both dtypes; a sound record passes
 * and its vector is left in the scratch. */
static void check_rec_faults(int dtype)
{
	enum { D = 7 };
	featdb_meta_t meta = {.dim = D, .dtype = dtype, .nclasses = 3};
	float vec[D] = {0, 1, 2.5f, 0, 3, 0.25f, 8}, bad[D], got[D];
	size_t len = featdb_rec_size(dtype, D);
	uint8_t *r = malloc(len);
	char err[ERR_LEN];

	assert_non_null(r);
	assert_int_equal(featdb_rec_encode(vec, D, dtype, 2, FEATDB_VALID, r, err), 0);
	assert_int_equal(featdb_rec_check(&meta, r, len, got, err), 0);
	assert_memory_equal(got, vec, sizeof vec);

	r[len - 1] ^= 1; /* a flipped bit */
	expect_err(featdb_rec_check(&meta, r, len, got, err), ERR_FORMAT, err,
		   "CRC mismatch");
	r[len - 1] ^= 1;
	expect_err(featdb_rec_check(&meta, r, len - 2, got, err), ERR_FORMAT, err,
		   "its header says");
	expect_err(featdb_rec_check(&meta, r, 10, got, err), ERR_FORMAT, err,
		   "shorter than");

	/* Sound records (their CRCs right) that no network of this store made. */
	static const float faults[] = {NAN, INFINITY, -1.0f};
	for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
		memcpy(bad, vec, sizeof vec);
		bad[4] = faults[i];
		assert_int_equal(featdb_rec_encode(bad, D, dtype, 0, 0, r, err), 0);
		expect_err(featdb_rec_check(&meta, r, len, got, err), ERR_FORMAT, err,
			   "element 4 is");
	}
	assert_int_equal(featdb_rec_encode(vec, D, dtype, 3, 0, r, err), 0);
	expect_err(featdb_rec_check(&meta, r, len, got, err), ERR_FORMAT, err,
		   "class 3, the store has 3");
	assert_int_equal(featdb_rec_encode(vec, D, dtype, -1, 0, r, err), 0);
	expect_err(featdb_rec_check(&meta, r, len, got, err), ERR_FORMAT, err,
		   "class -1");
	free(r);

	/* Another dim, or the other dtype: the store's scratch is not read past. */
	size_t len6 = featdb_rec_size(dtype, D - 1);
	int other = dtype == FEATDB_F32 ? FEATDB_F16 : FEATDB_F32;
	size_t leno = featdb_rec_size(other, D);
	r = malloc(len6 > leno ? len6 : leno);
	assert_non_null(r);
	assert_int_equal(featdb_rec_encode(vec, D - 1, dtype, 0, 0, r, err), 0);
	expect_err(featdb_rec_check(&meta, r, len6, got, err), ERR_FORMAT, err,
		   "6-d");
	assert_int_equal(featdb_rec_encode(vec, D, other, 0, 0, r, err), 0);
	expect_err(featdb_rec_check(&meta, r, leno, got, err), ERR_FORMAT, err,
		   "the store says 7-d");
	free(r);
}

static void test_rec_check(void **state)
{
	(void)state;
	check_rec_faults(FEATDB_F32);
	check_rec_faults(FEATDB_F16);
}

/* ---- float16 ---- */

/* The value of every finite non-negative half, by the definition, in double;
 * entry 0x7c00 stands for 65536, where rounding overflows to inf. */
static double half_values[0x7c01];

static void half_table(void)
{
	for (int h = 0; h < 0x7c00; h++) {
		int e = h >> 10, m = h & 0x3ff;
		half_values[h] = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
	}
	half_values[0x7c00] = 65536.0;
}

/* The half nearest to x, ties to even, by searching the table; x not NaN. */
static uint16_t f16_ref(float x)
{
	uint16_t sign = signbit(x) ? 0x8000 : 0;
	double a = fabs((double)x);
	int lo = 0, hi = 0x7c00;

	if (a >= 65536.0)
		return sign | 0x7c00;
	/* Largest lo with half_values[lo] <= a. */
	while (hi - lo > 1) {
		int mid = (lo + hi) / 2;
		if (half_values[mid] <= a)
			lo = mid;
		else
			hi = mid;
	}
	hi = lo + 1;
	/* Both differences are exact (Sterbenz), so the comparison is. */
	if (a - half_values[lo] < half_values[hi] - a)
		return sign | (uint16_t)lo;
	if (a - half_values[lo] > half_values[hi] - a)
		return sign | (uint16_t)hi;
	return sign | (uint16_t)((lo & 1) ? hi : lo);
}

static void test_f16_exhaustive(void **state)
{
	int bad = 0;

	(void)state;
	half_table();
	for (uint32_t h = 0; h < 65536; h++) {
		float f = featdb_f16_to_f32((uint16_t)h);
		uint16_t back = featdb_f32_to_f16(f);
		int e = (h >> 10) & 0x1f, m = h & 0x3ff, neg = (h & 0x8000) != 0;
		if (e == 31 && m) {
			if (!isnan(f) || !!signbit(f) != neg || (back & 0x7c00) != 0x7c00 ||
			    !(back & 0x3ff) || (back & 0x8000) != (h & 0x8000))
				bad++;
			continue;
		}
		double want = e == 31 ? INFINITY : half_values[h & 0x7fff];
		if (neg)
			want = -want;
		if ((double)f != want || !!signbit(f) != neg || back != h) {
			if (bad < 5)
				print_error("half %04x: %a (want %a), back %04x\n", h, f, want, back);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static int sweep_one(float x, int *shown)
{
	uint16_t got = featdb_f32_to_f16(x);
	uint32_t bits;

	if (isnan(x)) {
		if ((got & 0x7c00) == 0x7c00 && (got & 0x3ff) &&
		    !!(got & 0x8000) == !!signbit(x))
			return 0;
	} else if (got == f16_ref(x)) {
		return 0;
	}
	memcpy(&bits, &x, sizeof bits);
	if ((*shown)++ < 5)
		print_error("f32 %a (%08x): %04x, want %04x\n", x, bits, got,
			    isnan(x) ? 0x7e00 : f16_ref(x));
	return 1;
}

static void test_f32_to_f16_sweep(void **state)
{
	rng_t r = {16};
	int bad = 0, shown = 0;
	static const float special[] = {0.0f, 65504.0f, 65519.99f, 65520.0f, 65536.0f,
					0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x3p-26f,
					0x1p-14f, 0x1.ff8p-15f, 1e-45f, 1.17549435e-38f,
					3.4028235e38f, INFINITY, NAN, 1.0f, 2049.0f,
					2051.0f, 0.1f};

	(void)state;
	half_table();
	for (size_t i = 0; i < sizeof special / sizeof *special; i++) {
		bad += sweep_one(special[i], &shown);
		bad += sweep_one(-special[i], &shown);
	}
	/* Around every rounding boundary: each half, the midpoint to the next
	 * (exact in float: at most 12 significant bits) and its neighbours. */
	for (int h = 0; h < 0x7c00; h++) {
		float lo = (float)half_values[h];
		float mid = (float)((half_values[h] + half_values[h + 1]) / 2);
		const float xs[5] = {lo, nextafterf(lo, INFINITY), mid,
				     nextafterf(mid, 0.0f), nextafterf(mid, INFINITY)};
		for (int k = 0; k < 5; k++) {
			bad += sweep_one(xs[k], &shown);
			bad += sweep_one(-xs[k], &shown);
		}
	}
	/* A stride over every float bit pattern, and random ones. */
	for (uint64_t b = 0; b < ((uint64_t)1 << 32); b += 4093) {
		uint32_t u = (uint32_t)b;
		float x;
		memcpy(&x, &u, sizeof x);
		bad += sweep_one(x, &shown);
	}
	for (int i = 0; i < 1000000; i++) {
		uint32_t u = (uint32_t)rng_next(&r);
		float x;
		memcpy(&x, &u, sizeof x);
		bad += sweep_one(x, &shown);
	}
	assert_int_equal(bad, 0);
}


/* ---- little-endian fields (le.h) ---- */

/* Every read width at every offset of random bytes, and the extremes. */
static void test_le_get(void **state)
{
	static const uint8_t seq[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	static const uint8_t ones[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	rng_t r = {8};
	uint8_t buf[64];

	(void)state;
	for (int round = 0; round < 100; round++) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (uint8_t)rng_next(&r);
		for (size_t off = 0; off + 8 <= sizeof buf; off++) {
			assert_int_equal(le_get16(buf + off), ref_get(buf + off, 2));
			assert_int_equal(le_get32(buf + off), ref_get(buf + off, 4));
			assert_true(le_get64(buf + off) == ref_get(buf + off, 8));
		}
	}
	assert_int_equal(le_get16(seq), 0x0201);
	assert_int_equal(le_get32(seq), 0x04030201u);
	assert_true(le_get64(seq) == 0x0807060504030201ull);
	assert_int_equal(le_get16(ones), 0xffff);
	assert_int_equal(le_get32(ones), 0xffffffffu);
	assert_true(le_get64(ones) == UINT64_MAX);
}

/* Writes at every offset give the reference's bytes, touch nothing around
 * them, and read back. */
static void test_le_put(void **state)
{
	static const uint32_t edge[] = {0, 1, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
					0x10000, 0x7fffffffu, 0x80000000u, 0xffffffffu};
	rng_t r = {9};
	uint8_t got[16], want[16];

	(void)state;
	for (size_t k = 0; k < 1000 + sizeof edge / sizeof *edge; k++) {
		uint32_t v = k < sizeof edge / sizeof *edge ? edge[k] :
			     (uint32_t)rng_next(&r);
		for (size_t off = 0; off + 4 <= sizeof got; off++) {
			memset(got, 0xa5, sizeof got);
			memset(want, 0xa5, sizeof want);
			le_put16(got + off, (uint16_t)v);
			ref_put(want + off, 2, v);
			assert_memory_equal(got, want, sizeof got);
			assert_int_equal(le_get16(got + off), (uint16_t)v);

			memset(got, 0x5a, sizeof got);
			memset(want, 0x5a, sizeof want);
			le_put32(got + off, v);
			ref_put(want + off, 4, v);
			assert_memory_equal(got, want, sizeof got);
			assert_int_equal(le_get32(got + off), v);
		}
	}
}

/* ---- dtype names ---- */

static void test_dtype_names(void **state)
{
	static const char *const not_names[] = {"", "?", "F32", "F16", "f32 ", " f16",
						"f3", "f1", "f64", "f8", "float32",
						"f32\n"};
	static const int not_dtypes[] = {0, 3, -1, 255, INT_MAX, INT_MIN};

	(void)state;
	assert_string_equal(featdb_dtype_name(FEATDB_F32), "f32");
	assert_string_equal(featdb_dtype_name(FEATDB_F16), "f16");
	for (size_t i = 0; i < sizeof not_dtypes / sizeof *not_dtypes; i++)
		assert_string_equal(featdb_dtype_name(not_dtypes[i]), "?");

	assert_int_equal(featdb_dtype_parse("f32"), FEATDB_F32);
	assert_int_equal(featdb_dtype_parse("f16"), FEATDB_F16);
	assert_int_equal(featdb_dtype_parse(NULL), -1);
	for (size_t i = 0; i < sizeof not_names / sizeof *not_names; i++)
		assert_int_equal(featdb_dtype_parse(not_names[i]), -1);
	/* Each is the other's inverse. */
	assert_int_equal(featdb_dtype_parse(featdb_dtype_name(FEATDB_F32)), FEATDB_F32);
	assert_int_equal(featdb_dtype_parse(featdb_dtype_name(FEATDB_F16)), FEATDB_F16);
	assert_int_equal(featdb_dtype_parse(featdb_dtype_name(0)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_known),
		cmocka_unit_test(test_rec_layout),
		cmocka_unit_test(test_rec_roundtrip_f32),
		cmocka_unit_test(test_rec_roundtrip_f16),
		cmocka_unit_test(test_rec_decode_rejects),
		cmocka_unit_test(test_rec_check),
		cmocka_unit_test(test_f16_exhaustive),
		cmocka_unit_test(test_f32_to_f16_sweep),
		cmocka_unit_test(test_le_get),
		cmocka_unit_test(test_le_put),
		cmocka_unit_test(test_dtype_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
