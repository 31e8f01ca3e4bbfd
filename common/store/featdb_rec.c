/* featdb_rec.c - the record codec of featdb.h: a vector and its class and
 * split to and from the bytes of one record (explicit little-endian fields,
 * CRC-32, IEEE binary16), a stored record checked against its store's
 * metadata (featdb verify's check, and extract's), and the dtypes' names.
 * No LMDB here: the store keeps the bytes, this file gives them their
 * meaning. */
#include "store/featdb.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "error.h"
#include "store/featdb_impl.h"
#include "base/le.h"

static uint32_t float_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}

static float bits_float(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* ---- CRC-32 ---- */

/* zlib's own (its braided implementation: 2.1 GB/s here against 1.2 GB/s
 * for the slicing-by-8 code this project carried before; docs/format.md,
 * "The CRC"). */
uint32_t featdb_crc32(uint32_t crc, const void *buf, size_t len)
{
	return (uint32_t)crc32_z(crc, buf, len);
}

/* The record's CRC skips bytes 16..23: the CRC itself and the reserved word. */
uint32_t featdb_rec_crc(const uint8_t *buf, size_t len)
{
	uint32_t crc = featdb_crc32(0, buf, 16);
	return featdb_crc32(crc, buf + FEATDB_HEADER, len - FEATDB_HEADER);
}

/* ---- IEEE binary16 ---- */

uint16_t featdb_f32_to_f16(float f)
{
	uint32_t x = float_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t a = x & 0x7fffffff;
	uint32_t q, rem, half;

	if (a >= 0x7f800000) {
		if (a == 0x7f800000)
			return sign | 0x7c00;
		/* Keep the top of the payload; the quiet bit keeps it a NaN
		 * even when those bits are all zero. */
		return (uint16_t)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
	}
	if (a >= 0x47800000) /* >= 65536: beyond even the rounding to inf */
		return sign | 0x7c00;
	if (a < 0x38800000) {
		/* Below 2^-14: a subnormal half, in units of 2^-24.  The value
		 * is m * 2^(e-150), that is (m >> (126 - e)) units. */
		uint32_t e = a >> 23, m = (a & 0x7fffff) | 0x800000, shift;
		if (e < 102) /* below 2^-25, which itself ties to 0 */
			return sign;
		shift = 126 - e;
		q = m >> shift;
		rem = m & ((1u << shift) - 1);
		half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return (uint16_t)(sign | q); /* q = 0x400 is the smallest normal */
	}
	/* Rebias the exponent (127 -> 15) and drop 13 mantissa bits; a carry
	 * out of the mantissa correctly bumps the exponent, up to inf. */
	a -= (uint32_t)112 << 23;
	q = a >> 13;
	rem = a & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
		q++;
	return (uint16_t)(sign | q);
}

float featdb_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff;

	if (e == 0) {
		/* m * 2^-24 is exact in float and never a float subnormal,
		 * so flush-to-zero modes cannot touch it. */
		float v = (float)m * 0x1p-24f;
		return bits_float(float_bits(v) | sign);
	}
	if (e == 31)
		return bits_float(sign | 0x7f800000 | m << 13);
	return bits_float(sign | (e + 112) << 23 | m << 13);
}

/* ---- records ---- */

static size_t dtype_size(int dtype)
{
	return dtype == FEATDB_F32 ? 4 : dtype == FEATDB_F16 ? 2 : 0;
}

const char *featdb_dtype_name(int dtype)
{
	return dtype == FEATDB_F32 ? "f32" : dtype == FEATDB_F16 ? "f16" : "?";
}

int featdb_dtype_parse(const char *s)
{
	if (!s)
		return -1;
	if (strcmp(s, featdb_dtype_name(FEATDB_F32)) == 0)
		return FEATDB_F32;
	if (strcmp(s, featdb_dtype_name(FEATDB_F16)) == 0)
		return FEATDB_F16;
	return -1;
}

size_t featdb_rec_size(int dtype, int dim)
{
	size_t es = dtype_size(dtype), n;

	if (!es || dim <= 0 || err_mul_size((size_t)dim, es, &n) ||
	    n > SIZE_MAX - FEATDB_HEADER)
		return 0;
	return n + FEATDB_HEADER;
}

int featdb_rec_encode(const float *vec, int dim, int dtype, int32_t cls,
		      int split, uint8_t *out, char *err)
{
	size_t size = featdb_rec_size(dtype, dim);
	uint8_t *p = out + FEATDB_HEADER;

	if (!vec || !out)
		return err_set(err, ERR_ARG, "featdb_rec_encode: NULL vector or output");
	if (!size)
		return err_set(err, ERR_ARG, "featdb_rec_encode: dtype %d with dim %d "
			       "is not a record", dtype, dim);
	if (split < FEATDB_TRAIN || split > FEATDB_TEST)
		return err_set(err, ERR_ARG, "featdb_rec_encode: split %d is not 0, 1 or 2",
			       split);
	memcpy(out, FEATDB_MAGIC, 4);
	le_put16(out + 4, FEATDB_VERSION);
	out[6] = (uint8_t)dtype;
	out[7] = (uint8_t)split;
	le_put32(out + 8, (uint32_t)dim);
	le_put32(out + 12, (uint32_t)cls);
	le_put32(out + 20, 0);
	if (dtype == FEATDB_F32) {
		for (int i = 0; i < dim; i++, p += 4)
			le_put32(p, float_bits(vec[i]));
	} else {
		for (int i = 0; i < dim; i++, p += 2)
			le_put16(p, featdb_f32_to_f16(vec[i]));
	}
	le_put32(out + 16, featdb_rec_crc(out, size));
	return 0;
}

int featdb_rec_decode(const void *buf, size_t len, featdb_rec_t *rec, char *err)
{
	const uint8_t *b = buf;
	uint32_t version, dtype, split, dim, cls, crc, want;
	size_t size;

	if (!b || len < FEATDB_HEADER)
		return err_set(err, ERR_FORMAT, "record is %zu bytes, shorter than "
			       "the %d-byte header", b ? len : 0, FEATDB_HEADER);
	if (memcmp(b, FEATDB_MAGIC, 4) != 0)
		return err_set(err, ERR_FORMAT, "bad magic %02x %02x %02x %02x "
			       "(not a " FEATDB_MAGIC " record)", b[0], b[1], b[2], b[3]);
	version = le_get16(b + 4);
	if (version != FEATDB_VERSION)
		return err_set(err, ERR_FORMAT, "record format version %u, this "
			       "program reads version %d", version, FEATDB_VERSION);
	dtype = b[6];
	if (!dtype_size((int)dtype))
		return err_set(err, ERR_FORMAT, "unknown dtype %u (1 float32, "
			       "2 float16)", dtype);
	split = b[7];
	if (split > FEATDB_TEST)
		return err_set(err, ERR_FORMAT, "split %u is not 0 (train), "
			       "1 (valid) or 2 (test)", split);
	dim = le_get32(b + 8);
	if (dim == 0 || dim > INT_MAX)
		return err_set(err, ERR_FORMAT, "dim %u is out of range", dim);
	if (le_get32(b + 20) != 0)
		return err_set(err, ERR_FORMAT, "reserved bytes 20..23 are not zero");
	size = featdb_rec_size((int)dtype, (int)dim);
	if (!size || len != size)
		return err_set(err, ERR_FORMAT, "record is %zu bytes, its header "
			       "says %zu (dim %u, dtype %u)", len, size, dim, dtype);
	crc = le_get32(b + 16);
	want = featdb_rec_crc(b, len);
	if (crc != want)
		return err_set(err, ERR_FORMAT, "CRC mismatch: stored %08x, "
			       "computed %08x", crc, want);
	cls = le_get32(b + 12);
	if (rec) {
		rec->dtype = (int)dtype;
		rec->split = (int)split;
		rec->dim = (int)dim;
		/* Two's complement by arithmetic: the conversion of a uint32
		 * above INT32_MAX to int32_t is implementation-defined. */
		rec->cls = cls <= INT32_MAX ? (int32_t)cls : -(int32_t)(~cls) - 1;
		rec->data = b + FEATDB_HEADER;
	}
	return 0;
}

void featdb_rec_vector(const featdb_rec_t *rec, float *out)
{
	const uint8_t *p = rec->data;

	if (rec->dtype == FEATDB_F32) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* The record's bytes are the host's floats: a copy (nearest
		 * widens 1.6 GB of them per search). */
		memcpy(out, p, (size_t)rec->dim * sizeof *out);
#else
		for (int i = 0; i < rec->dim; i++, p += 4)
			out[i] = bits_float(le_get32(p));
#endif
	} else {
		for (int i = 0; i < rec->dim; i++, p += 2)
			out[i] = featdb_f16_to_f32(le_get16(p));
	}
}

int featdb_rec_check(const featdb_meta_t *meta, const void *buf, size_t len,
		     float *vec, char *err)
{
	featdb_rec_t rec;
	int rc = featdb_rec_decode(buf, len, &rec, err);

	return rc ? rc : featdb_rec_sound(meta, &rec, vec, err);
}

int featdb_rec_sound(const featdb_meta_t *meta, const featdb_rec_t *rec,
		     float *vec, char *err)
{
	if (rec->dim != meta->dim || rec->dtype != meta->dtype)
		return err_set(err, ERR_FORMAT, "%d-d %s, the store says %d-d %s",
			       rec->dim, featdb_dtype_name(rec->dtype), meta->dim,
			       featdb_dtype_name(meta->dtype));
	if (rec->cls < 0 || rec->cls >= meta->nclasses)
		return err_set(err, ERR_FORMAT, "class %d, the store has %d",
			       (int)rec->cls, meta->nclasses);
	featdb_rec_vector(rec, vec);
	for (int i = 0; i < rec->dim; i++)
		if (!isfinite(vec[i]) || vec[i] < 0)
			/* Every tap ends in a ReLU (the pools take the maximum
			 * or the mean of ReLU outputs): a NaN, an infinity or a
			 * negative value cannot come from the network. */
			return err_set(err, ERR_FORMAT, "element %d is %g, not a "
				       "ReLU output", i, vec[i]);
	return 0;
}
