/* img_tiff_tags.c - what Pillow 9.4's TiffImagePlugin makes of a TIFF's
 * first IFD: its own parser (ImageFileDirectory_v2.load, not libtiff's),
 * then _setup, which picks the image's mode and the "raw mode" its bytes
 * unpack with from a table (OPEN_INFO) keyed by a few tags.  Copied with
 * what Pillow does with damage: it keeps the tags read before a break, and
 * compares values as Python numbers, so a whole fraction or float counts
 * as that integer.  img_tiff.c reads the pixels. */
#include "img/img_tiff.h"

#include "error.h"
#include "img/img_impl.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const uint16_t tiff_tag_id[T_NTAGS] = {
	256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 284, 320, 322, 323,
	324, 338, 339,
};

/* ---- the IFD, as ImageFileDirectory_v2.load reads it ------------------ */

/* Bytes per value of the types Pillow knows; it skips a tag of any other
 * type as if it were absent. */
static unsigned tiff_type_size(unsigned type)
{
	static const unsigned char size[17] = { 0, 1, 1, 2, 4, 8, 1, 1, 2, 4,
						8, 4, 8, 4, 0, 0, 8 };

	return type < sizeof size ? size[type] : 0;
}

static uint64_t tiff_rd(const tiff_job_t *job, const uint8_t *p, int bytes)
{
	switch (bytes) {
	case 2:
		return job->be ? img_rd_be16(p) : le_get16(p);
	case 4:
		return job->be ? img_rd_be32(p) : le_get32(p);
	default:
		return job->be ? img_rd_be64(p) : le_get64(p);
	}
}

/* A whole double as an integer (negative: two's complement), or -1. */
static int tiff_whole(double d, uint64_t *v)
{
	if (!(d == floor(d)) || d < -9.2e18 || d >= 1.8e19)
		return -1;
	*v = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
	return 0;
}

int img_tiff_num(const tiff_job_t *job, int t, uint64_t i, uint64_t *v)
{
	const tiff_entry_t *e = &job->tag[t];
	const uint8_t *p = e->data + i * tiff_type_size(e->type);
	int64_t num, den;
	uint32_t f32;
	uint64_t f64;
	float f;
	double d;

	switch (e->type) {
	case 3:
		*v = tiff_rd(job, p, 2);
		return 0;
	case 4:
	case 13:
		*v = tiff_rd(job, p, 4);
		return 0;
	case 16:
		*v = tiff_rd(job, p, 8);
		return 0;
	case 6:
		*v = (uint64_t)(int64_t)(int8_t)p[0];
		return 0;
	case 8:
		*v = (uint64_t)(int64_t)(int16_t)tiff_rd(job, p, 2);
		return 0;
	case 9:
		*v = (uint64_t)(int64_t)(int32_t)tiff_rd(job, p, 4);
		return 0;
	case 5:
	case 10:
		/* Pillow's IFDRational: a zero denominator is NaN. */
		num = e->type == 5 ? (int64_t)tiff_rd(job, p, 4) :
				     (int32_t)tiff_rd(job, p, 4);
		den = e->type == 5 ? (int64_t)tiff_rd(job, p + 4, 4) :
				     (int32_t)tiff_rd(job, p + 4, 4);
		if (den == 0 || num % den)
			return -1;
		*v = (uint64_t)(num / den);
		return 0;
	case 11:
		f32 = (uint32_t)tiff_rd(job, p, 4);
		memcpy(&f, &f32, 4);
		return tiff_whole(f, v);
	case 12:
		f64 = tiff_rd(job, p, 8);
		memcpy(&d, &f64, 8);
		return tiff_whole(d, v);
	default:
		return -1;
	}
}

/* Reads the header and the first IFD's entries for our tags.  Like Pillow,
 * an entry of an unknown type or with no values is skipped, a later entry
 * for the same tag wins, and the first entry that runs past the end of the
 * file (or whose values do) ends the IFD, keeping the tags before it. */
static int tiff_parse(tiff_job_t *job)
{
	const uint8_t *b = job->buf;
	size_t len = job->len, esize, inl;
	uint64_t ifd, pos, n, i;
	int t;

	/* Pillow tells BigTIFF by the third byte, 43 only in "II+\0"; it
	 * reads "MM\0+" as a classic TIFF and finds garbage. */
	if (!memcmp(b, "MM\0+", 4))
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: big-endian BigTIFF (Pillow 9.4 misreads its header)",
			       img_label(job->name));
	job->be = b[0] == 'M';
	job->big = b[2] == 43;
	if (len < (job->big ? 16u : 8u))
		return err_set(job->err, ERR_FORMAT, "%s: truncated TIFF header",
			       img_label(job->name));
	ifd = job->big ? tiff_rd(job, b + 8, 8) : tiff_rd(job, b + 4, 4);
	if (ifd == 0)
		return err_set(job->err, ERR_FORMAT,
			       "%s: TIFF without an image (no first IFD)",
			       img_label(job->name));
	esize = job->big ? 20 : 12;
	inl = job->big ? 8 : 4;
	if (ifd > len || len - ifd < (job->big ? 8u : 2u))
		return err_set(job->err, ERR_FORMAT,
			       "%s: truncated TIFF (its first IFD, at byte %llu, is past the end)",
			       img_label(job->name), (unsigned long long)ifd);
	n = job->big ? tiff_rd(job, b + ifd, 8) : tiff_rd(job, b + ifd, 2);
	pos = ifd + (job->big ? 8 : 2);
	for (i = 0; i < n && len - pos >= esize; i++, pos += esize) {
		const uint8_t *e = b + pos, *field = e + (job->big ? 12 : 8);
		unsigned tag = (unsigned)tiff_rd(job, e, 2);
		unsigned type = (unsigned)tiff_rd(job, e + 2, 2);
		uint64_t count = job->big ? tiff_rd(job, e + 4, 8) :
					    tiff_rd(job, e + 4, 4);
		uint64_t size, off;
		unsigned unit = tiff_type_size(type);

		if (!unit || count == 0)
			continue;
		if (count > len)
			break;
		size = count * unit;
		if (size > inl) {
			off = tiff_rd(job, field, (int)inl);
			if (off > len || size > len - off)
				break;
			field = b + off;
		}
		for (t = 0; t < T_NTAGS; t++) {
			if (tiff_tag_id[t] == tag) {
				job->tag[t].type = (uint16_t)type;
				job->tag[t].count = count;
				job->tag[t].data = field;
			}
		}
	}
	job->entries = n;
	job->read = i;
	return 0;
}

/* ---- _setup: mode and raw mode ---------------------------------------- */

int img_tiff_block_tag(int t)
{
	return t == T_STRIPOFFSETS || t == T_ROWSPERSTRIP ||
	       t == T_TILEOFFSETS || t == T_TILEWIDTH || t == T_TILELENGTH;
}

int img_tiff_bad_value(tiff_job_t *job, int t)
{
	return err_set(job->err, ERR_UNSUPPORTED,
		       "%s: TIFF tag %u holds type %u values that are not whole numbers",
		       img_label(job->name), tiff_tag_id[t], job->tag[t].type);
}

/* A tag of one value (Pillow takes the first of several), or def. */
static int tiff_scalar(tiff_job_t *job, int t, uint64_t def, uint64_t *v)
{
	*v = def;
	if (job->tag[t].count && img_tiff_num(job, t, 0, v))
		return img_tiff_bad_value(job, t);
	return 0;
}

int img_tiff_mode(const tiff_job_t *job, uint64_t fill, const char **mode,
		  const char **raw)
{
	static const char *const gray[2][2][2] = {
		{ { "1;I", "1;IR" }, { "1", "1;R" } },
		{ { "L;I", "L;IR" }, { "L", "L;R" } },
	};
	static const char *const pal[4][2] = {
		{ "P;1", "P;1R" }, { "P;2", "P;2R" }, { "P;4", "P;4R" }, { "P", "P;R" },
	};
	uint64_t p = job->photo, b = job->bps[0], i, e;
	int all8 = 1, f2 = fill == 2;

	*mode = *raw = NULL;
	if (fill != 1 && fill != 2)
		return -1;
	for (i = 0; i < job->nbps; i++)
		all8 &= job->bps[i] == 8;
	if (job->nbps == 1 && job->nextra == 0 && (p == 0 || p == 1)) {
		if (b == 1 || b == 8) {
			*mode = b == 1 ? "1" : "L";
			*raw = gray[b == 8][p][f2];
		} else if (b == 16 && !job->be && (!f2 || p == 1)) {
			/* Little-endian MinIsWhite is read as MinIsBlack. */
			*mode = "I;16";
			*raw = f2 ? "I;16R" : "I;16";
		} else if (b == 16 && job->be && !f2 && p == 1) {
			*mode = *raw = "I;16B";
		}
	} else if (job->nbps == 1 && job->nextra == 0 && p == 3 &&
		   (b == 1 || b == 2 || b == 4 || b == 8)) {
		*mode = "P";
		*raw = pal[b == 8 ? 3 : b / 2][f2];
	} else if (job->nbps == 3 && job->nextra == 0 && all8 && p == 2) {
		*mode = "RGB";
		*raw = f2 ? "RGB;R" : "RGB";
	} else if (job->nbps == 3 && job->nextra == 0 && all8 && p == 6 &&
		   !f2) {
		*mode = "RGB";
		*raw = "RGBX";
	} else if (job->nbps == 4 && all8 && p == 2 && !f2 &&
		   job->nextra <= 1) {
		/* ExtraSamples 0 (unspecified) is RGBX, 1 (associated)
		 * RGBa; 2 (unassociated), 999 (Corel Draw) or none RGBA. */
		e = job->nextra ? job->extra[0] : 2;
		if (e <= 2 || e == 999) {
			*mode = e == 0 ? "RGBX" : "RGBA";
			*raw = e == 0 ? "RGBX" : e == 1 ? "RGBa" : "RGBA";
		}
	}
	return *mode ? 0 : -1;
}

int img_tiff_refuse_kind(tiff_job_t *job)
{
	static const char *const photo[] = {
		"min-is-white gray", "gray", "RGB", "palette", "mask", "CMYK",
		"YCbCr", "photometric 7", "CIELab",
	};
	char what[40], bits[80] = "";
	uint64_t i;

	if (job->photo < sizeof photo / sizeof photo[0])
		snprintf(what, sizeof what, "%s", photo[job->photo]);
	else
		snprintf(what, sizeof what, "photometric %llu",
			 (unsigned long long)job->photo);
	for (i = 0; i < job->nbps; i++)
		snprintf(bits + strlen(bits), sizeof bits - strlen(bits), "%s%llu",
			 i ? "," : "", (unsigned long long)job->bps[i]);
	return err_set(job->err, ERR_UNSUPPORTED,
		       "%s: unsupported TIFF (%s, BitsPerSample %s, %llu extra samples, FillOrder %llu, %s-endian)",
		       img_label(job->name), what, bits,
		       (unsigned long long)job->nextra,
		       (unsigned long long)job->fill, job->be ? "big" : "little");
}

/* Pillow's palette: ColorMap holds all reds, then greens, then blues, 16
 * bits each; Pillow keeps value / 256 (its "RGB;L" layout), as many
 * entries as the tag has thirds, and more than 256 is an error. */
static int tiff_palette(tiff_job_t *job)
{
	uint64_t n = job->tag[T_COLORMAP].count / 3, i, v;
	unsigned type = job->tag[T_COLORMAP].type;
	int k;

	if (!job->tag[T_COLORMAP].count)
		return err_set(job->err, ERR_FORMAT,
			       "%s: palette TIFF without a ColorMap",
			       img_label(job->name));
	if (n > 256)
		return err_set(job->err, ERR_FORMAT,
			       "%s: TIFF ColorMap of %llu colours",
			       img_label(job->name), (unsigned long long)n);
	/* Pillow's o8(value // 256) fails on text and floats (and we take
	 * no fractions); a ColorMap of bytes it reads as values below 256,
	 * all black. */
	if (type == 2 || type == 5 || type == 10 || type == 11 || type == 12)
		return img_tiff_bad_value(job, T_COLORMAP);
	for (i = 0; i < n; i++) {
		for (k = 0; k < 3; k++) {
			v = 0;
			if (type != 1 && type != 7)
				img_tiff_num(job, T_COLORMAP,
					     (uint64_t)k * n + i, &v);
			job->pal[3 * i + (uint64_t)k] = (uint8_t)(v >> 8);
		}
	}
	job->npal = (int)n;
	return 0;
}

/* Pillow's COMPRESSION_INFO: the schemes it names (any other value it
 * refuses), and how we read each: 0 raw, 1 libtiff, -1 refused. */
static const struct {
	uint16_t id;
	const char *name;
	int how;
} tiff_compressions[] = {
	{ 1, "no", 0 },
	{ 2, "CCITT RLE", 1 },
	{ 3, "CCITT Group 3", 1 },
	{ 4, "CCITT Group 4", 1 },
	{ 5, "LZW", 1 },
	{ 6, "old-style JPEG (OJPEG)", -1 },
	{ 7, "JPEG", 1 },
	{ 8, "Deflate", 1 },
	{ 32771, "16-bit padded raw", -1 },
	{ 32773, "PackBits", 1 },
	{ 32809, "ThunderScan", -1 },
	{ 32946, "Deflate", 1 },
	{ 34676, "SGI LogLuv", -1 },
	{ 34677, "SGI LogLuv 24", -1 },
	{ 34925, "LZMA", -1 },
	{ 50000, "Zstandard", -1 },
	{ 50001, "WebP", -1 },
};

/* The samples: BitsPerSample (1 when absent) cut to SamplesPerPixel
 * values, or its one value repeated for each sample; ExtraSamples;
 * SampleFormat, all 1 (unsigned integers) for any mode we read. */
static int tiff_samples(tiff_job_t *job)
{
	const char *name = img_label(job->name);
	uint64_t nb = job->tag[T_BPS].count, i, f;
	int rc = tiff_scalar(job, T_SPP, 1, &job->spp);

	if (rc)
		return rc;
	for (i = 0; i < job->tag[T_SAMPLEFORMAT].count; i++) {
		if (img_tiff_num(job, T_SAMPLEFORMAT, i, &f))
			return img_tiff_bad_value(job, T_SAMPLEFORMAT);
		if (f != 1)
			return err_set(job->err, ERR_UNSUPPORTED,
				       "%s: TIFF of signed or floating-point samples (SampleFormat %llu)",
				       name, (unsigned long long)f);
	}
	if (job->spp > TIFF_MAX_SPP)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: TIFF with %llu samples per pixel", name,
			       (unsigned long long)job->spp);
	for (i = 0; i < job->spp; i++) {
		if (nb > 1 && i >= nb)
			return err_set(job->err, ERR_FORMAT,
				       "%s: TIFF BitsPerSample has %llu values for %llu samples",
				       name, (unsigned long long)nb,
				       (unsigned long long)job->spp);
		job->bps[i] = 1;
		if (nb && img_tiff_num(job, T_BPS, nb > 1 ? i : 0, &job->bps[i]))
			return img_tiff_bad_value(job, T_BPS);
	}
	job->nbps = job->spp;
	job->nextra = job->tag[T_EXTRASAMPLES].count;
	for (i = 0; i < job->nextra && i < TIFF_MAX_SPP; i++)
		if (img_tiff_num(job, T_EXTRASAMPLES, i, &job->extra[i]))
			return img_tiff_bad_value(job, T_EXTRASAMPLES);
	return 0;
}

static int tiff_setup(tiff_job_t *job)
{
	const char *name = img_label(job->name);
	size_t k, nc = sizeof tiff_compressions / sizeof tiff_compressions[0];
	int rc;

	if (!job->tag[T_WIDTH].count || !job->tag[T_HEIGHT].count)
		return err_set(job->err, ERR_FORMAT,
			       "%s: TIFF without ImageWidth or ImageLength",
			       name);
	if ((rc = tiff_scalar(job, T_WIDTH, 0, &job->w)) ||
	    (rc = tiff_scalar(job, T_HEIGHT, 0, &job->h)) ||
	    (rc = img_check_size(job->w, job->h, job->name, job->err)) ||
	    (rc = tiff_scalar(job, T_COMPRESSION, 1, &job->compression)))
		return rc;
	for (k = 0; k < nc && tiff_compressions[k].id != job->compression; k++)
		;
	if (k == nc)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: unknown TIFF compression %llu", name,
			       (unsigned long long)job->compression);
	/* Pillow compares PlanarConfiguration with 1 and 2 only, and never
	 * finds bytes, text or a broken fraction equal to either. */
	if (job->tag[T_PLANAR].count &&
	    img_tiff_num(job, T_PLANAR, 0, &job->planar))
		job->planar = 0;
	else if (!job->tag[T_PLANAR].count)
		job->planar = 1;
	/* An absent PhotometricInterpretation is MinIsWhite to Pillow. */
	if ((rc = tiff_scalar(job, T_PHOTOMETRIC, 0, &job->photo)) ||
	    (rc = tiff_scalar(job, T_FILLORDER, 1, &job->fill)) ||
	    (rc = tiff_samples(job)))
		return rc;
	if (job->compression == 6)
		job->photo = 6;
	if (img_tiff_mode(job, job->fill, &job->mode, &job->raw))
		return img_tiff_refuse_kind(job);
	if (tiff_compressions[k].how < 0)
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: TIFF with %s compression", name,
			       tiff_compressions[k].name);
	/* Pillow reads YCbCr through libjpeg's conversion, JPEG only; other
	 * YCbCr it unpacks wrongly (uncompressed) or hands to libtiff's
	 * TIFFRGBAImage, which we do not copy. */
	if (job->photo == 6 && (job->compression != 7 || job->planar != 1))
		return err_set(job->err, ERR_UNSUPPORTED,
			       "%s: YCbCr TIFF without JPEG compression in one plane",
			       name);
	/* Pillow looks the Orientation up in a table of 2..8: bytes, text
	 * and broken fractions match nothing. */
	job->orientation = 1;
	if (job->tag[T_ORIENTATION].count &&
	    img_tiff_num(job, T_ORIENTATION, 0, &job->orientation))
		job->orientation = 1;
	return strcmp(job->mode, "P") ? 0 : tiff_palette(job);
}

int img_tiff_read_tags(tiff_job_t *job)
{
	int rc = tiff_parse(job);

	if (rc)
		return rc;
	rc = tiff_setup(job);
	/* Pillow goes on with the tags before the damage; when they are not
	 * enough, the damage is the reason. */
	if ((rc == ERR_FORMAT || rc == ERR_UNSUPPORTED) && job->read < job->entries)
		rc = err_set(job->err, ERR_FORMAT,
			     "%s: truncated TIFF (its first IFD breaks off after %llu of %llu entries)",
			     img_label(job->name), (unsigned long long)job->read,
			     (unsigned long long)job->entries);
	return rc;
}
