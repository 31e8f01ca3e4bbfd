/* test_hostile.c - hostile input through the real programs (issue 7).
 *
 * A face folder of bad files, built here: empty, random bytes named .jpg,
 * JPEGs and PNGs cut at many offsets, PNGs with a bad CRC, a JPEG whose
 * header claims 60000 x 60000 pixels, a 1x1 image, CMYK, progressive,
 * 16-bit and palette images, non-UTF-8 and unicode names, names with
 * spaces and newlines, symbolic link loops, a dangling link, a FIFO, a
 * 3 GiB sparse file, a GIF named .png, a folder named like an image, a
 * file deleted while the run is in progress, and TIFFs: cut at many
 * offsets, a 60000 x 60000 header, strips past the end, a 4 GiB strip byte
 * count, a tag of 2^30 values, CMYK, an IFD chain that loops to itself
 * (Keras reads the first page and never follows the chain, so neither do
 * we).  extract decodes each or skips it with its reason, and goes on.
 *
 * Then damaged files for every program that reads them: a truncated,
 * garbage or damaged data.mdb, a record of the wrong size (extract, train-head,
 * featdb info/verify/export/merge); truncated, foreign or wrongly shaped
 * weights (extract, predict); damaged heads (predict).  Each gives one clear
 * error line and a non-zero status (or, for one bad record, the documented
 * per-record report), never a crash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "error.h"
#include "img/img.h"
#include "proc.h"
#include "testutil.h"

static void put(const char *dir, const char *rel, const void *b, size_t n)
{
	char p[8400];
	e2e_mkdirs(dir, rel);
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	assert_int_equal(tu_write_file(p, b, n), 0);
}

static uint8_t *fixture(const char *name, size_t *len)
{
	char p[512];
	snprintf(p, sizeof p, "tests/fixtures/%s", name);
	uint8_t *b = tu_read_file(p, len);
	assert_non_null(b);
	return b;
}

static void copy_fixture(const char *dir, const char *rel, const char *name)
{
	size_t n;
	uint8_t *b = fixture(name, &n);
	put(dir, rel, b, n);
	free(b);
}

/* Whether extract's output has the line "skipped <path>: ..." with the
 * reason in it. */
static int skipped_for(const char *out, const char *path, const char *reason)
{
	char needle[8600];
	snprintf(needle, sizeof needle, "skipped %s: ", path);
	const char *p = strstr(out, needle);
	if (!p)
		return 0;
	p += strlen(needle);
	const char *r = strstr(p, reason), *nl = strchr(p, '\n');
	return r && (!nl || r < nl);
}

/* Offset of the first chunk of type t (4 letters) in a PNG. */
static size_t png_chunk(const uint8_t *b, size_t n, const char *t)
{
	for (size_t off = 8; off + 12 <= n;) {
		size_t len = (size_t)b[off] << 24 | (size_t)b[off + 1] << 16 |
			     (size_t)b[off + 2] << 8 | b[off + 3];
		if (memcmp(b + off + 4, t, 4) == 0)
			return off;
		off += 12 + len;
	}
	fail_msg("no %s chunk", t);
	return 0;
}

typedef struct expect {
	const char *rel;    /* under faces/ */
	const char *reason; /* NULL: decodes and is stored */
} expect_t;

static const expect_t g_expect[] = {
	{"ann/good.ppm", NULL},
	{"ann/1x1.png", NULL},
	{"ann/cmyk.jpg", NULL},
	{"ann/progressive.jpg", NULL},
	{"ann/gray16.png", NULL},
	{"ann/rgba16.png", NULL},
	{"ann/palette.png", NULL},
	{"ann/palette_trns.png", NULL},
	{"ann/bad_idat_crc.png", NULL}, /* Pillow checks no CRC from IDAT on */
	{"ann/UPPER.JPG", NULL},
	{"ann/caf\xe9.ppm", NULL},
	{"ann/Jos\xc3\xa9 \xe5\x90\x8d\xe5\x89\x8d.ppm", NULL},
	{"ann/with space.ppm", NULL},
	{"ann/two\nlines.ppm", NULL},
	{"ann/folder.jpg/inside.ppm", NULL},
	{"ann/zero.jpg", "empty file"},
	{"ann/random.jpg", "not a JPEG, PNG, netpbm, BMP or TIFF file"},
	{"ann/bad_ihdr_crc.png", "corrupt PNG"},
	{"ann/huge.jpg", "more than 178956970"},
	{"ann/gif.png", "GIF is not supported"},
	{"ann/big.jpg", "larger than any image we read"},
	{"ann/fifo.jpg", "not a regular file"},
	{"ann/self.jpg", "Too many levels of symbolic links"},
	{"ann/loop", "symbolic link loop, not followed"},
	{"ann/dangling.png", "No such file or directory"},
	{"ann/jaffe.tiff", NULL},
	{"ann/scan.TIF", NULL},
	{"ann/pages.tif", NULL},      /* the first page */
	{"ann/ifd_loop.tif", NULL},   /* Keras never follows the IFD chain */
	{"ann/huge.tif", "more than 178956970"},
	{"ann/cmyk.tif", "unsupported TIFF (CMYK"},
	{"ann/bad_offset.tif", "truncated TIFF (418 bytes of pixels at byte 2147483647"},
	{"ann/bad_offset_lzw.tif", "corrupt TIFF (TIFFFillStrip: Read error on strip 0"},
	{"ann/huge_bytecount.tif", "Too large strip byte count 4294967280"},
	{"ann/huge_tag_count.tif", "its first IFD breaks off after 0 of 9 entries"},
};

#define LATTICE 24

static const size_t g_jpeg_cuts[] = {1, 2, 3, 4, 20, 100, 160, 330, 600, 1200,
				     2000, 2400, 2433, 2434};
static const size_t g_png_cuts[] = {1, 8, 12, 29, 33, 50, 100, 691, 800, 2000,
				    3600, 3635, 3639, 3646};
/* tif_rgb8_lzw_37x29.tif: LZW strips, then the IFD at 3862. */
static const size_t g_tif_cuts[] = {1, 4, 8, 9, 100, 2000, 3861, 3862, 3863,
				    3900, 4000, 4035};

/* The value field of a tag's entry in a little-endian classic TIFF's first
 * IFD. */
static size_t tif_value(const uint8_t *b, unsigned tag)
{
	size_t ifd = b[4] | (size_t)b[5] << 8 | (size_t)b[6] << 16 | (size_t)b[7] << 24;
	unsigned n = b[ifd] | b[ifd + 1] << 8;

	for (unsigned i = 0; i < n; i++) {
		const uint8_t *e = b + ifd + 2 + 12 * i;
		if ((unsigned)(e[0] | e[1] << 8) == tag)
			return (size_t)(e + 8 - b);
	}
	fail_msg("no TIFF tag %u", tag);
	return 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

/* Hostile TIFFs, from the fixtures: a header claiming 60000 x 60000, a
 * CMYK one, a strip far past the end (uncompressed, and LZW, which
 * libtiff reads), a strip byte count of 4 GiB, a tag claiming 2^30
 * values, an IFD whose next IFD is itself; and good ones. */
static void make_hostile_tiffs(const char *in)
{
	size_t n;
	uint8_t *b;

	copy_fixture(in, "ann/jaffe.tiff", "tif_gray8_none_37x29.tif");
	copy_fixture(in, "ann/scan.TIF", "tif_rgb8_lzw_pred2_37x29.tif");
	copy_fixture(in, "ann/pages.tif", "tif_rgb8_multipage_lzw_37x29.tif");

	b = fixture("tif_gray8_none_37x29.tif", &n);
	put_le32(b + 118, 8); /* the next IFD: this one */
	put(in, "ann/ifd_loop.tif", b, n);
	put_le32(b + 118, 0);
	put_le32(b + tif_value(b, 256), 60000);
	put_le32(b + tif_value(b, 257), 60000);
	put(in, "ann/huge.tif", b, n);
	free(b);

	b = fixture("tif_gray8_none_37x29.tif", &n);
	b[10] = 0xE8, b[11] = 0xFD; /* ImageWidth becomes tag 65000 ... */
	put_le32(b + 14, 1u << 30); /* ... of 2^30 LONGs */
	put(in, "ann/huge_tag_count.tif", b, n);
	free(b);

	b = fixture("tif_rgba8_assoc_none_37x29.tif", &n);
	b[tif_value(b, 262)] = 5; /* PhotometricInterpretation: CMYK */
	put(in, "ann/cmyk.tif", b, n);
	free(b);

	b = fixture("tif_gray16_miniswhite_19x11.tif", &n);
	put_le32(b + tif_value(b, 273), 0x7FFFFFFF);
	put(in, "ann/bad_offset.tif", b, n);
	free(b);

	b = fixture("tif_rgb8_orient6_lzw_23x17.tif", &n);
	size_t offsets = tif_value(b, 273), counts = tif_value(b, 279);
	put_le32(b + offsets, 0x7FFFFFFF);
	put(in, "ann/bad_offset_lzw.tif", b, n);
	put_le32(b + offsets, 8);
	put_le32(b + counts, 0xFFFFFFF0);
	put(in, "ann/huge_bytecount.tif", b, n);
	free(b);
}

static void make_hostile(const char *in)
{
	char p[4200];
	size_t n;
	uint8_t *b;
	rng_t r = {99};

	assert_int_equal(e2e_write_pnm(in, "ann/good.ppm", 40, 30, 0, 1), 0);
	assert_int_equal(e2e_write_pnm(in, "bob/good.ppm", 30, 40, 0, 2), 0);
	copy_fixture(in, "ann/1x1.png", "png_rgb8_1x1.png");
	copy_fixture(in, "ann/cmyk.jpg", "jpg_cmyk_67x49.jpg");
	copy_fixture(in, "ann/progressive.jpg", "jpg_prog_83x61.jpg");
	copy_fixture(in, "ann/gray16.png", "png_g16_40x30.png");
	copy_fixture(in, "ann/rgba16.png", "png_rgba16_21x19.png");
	copy_fixture(in, "ann/palette.png", "png_p8_61x47.png");
	copy_fixture(in, "ann/palette_trns.png", "png_p4_trns_37x29.png");
	copy_fixture(in, "ann/UPPER.JPG", "jpg_444_224x224.jpg");
	assert_int_equal(e2e_write_pnm(in, "ann/caf\xe9.ppm", 20, 20, 0, 3), 0);
	assert_int_equal(e2e_write_pnm(in, "ann/Jos\xc3\xa9 \xe5\x90\x8d\xe5\x89\x8d.ppm",
				       21, 20, 0, 4), 0);
	assert_int_equal(e2e_write_pnm(in, "ann/with space.ppm", 22, 20, 0, 5), 0);
	assert_int_equal(e2e_write_pnm(in, "ann/two\nlines.ppm", 23, 20, 1, 6), 0);
	assert_int_equal(e2e_write_pnm(in, "ann/folder.jpg/inside.ppm", 24, 20, 0, 7), 0);

	put(in, "ann/zero.jpg", "", 0);
	uint8_t rnd[3000];
	for (size_t i = 0; i < sizeof rnd; i++)
		rnd[i] = (uint8_t)rng_next(&r);
	rnd[0] = 'x'; /* no image's magic */
	put(in, "ann/random.jpg", rnd, sizeof rnd);

	/* A PNG's CRC: refused before the image data, ignored from IDAT on. */
	b = fixture("png_rgb8_interlaced_57x43.png", &n);
	b[29 + 3] ^= 0x5a; /* IHDR's CRC */
	put(in, "ann/bad_ihdr_crc.png", b, n);
	b[29 + 3] ^= 0x5a;
	size_t idat = png_chunk(b, n, "IDAT");
	size_t idat_len = (size_t)b[idat + 2] << 8 | b[idat + 3];
	b[idat + 8 + idat_len] ^= 0x5a;
	put(in, "ann/bad_idat_crc.png", b, n);
	free(b);

	/* SOF0 of this fixture is at 158: height and width are bytes 5..8. */
	b = fixture("jpg_420_77x59.jpg", &n);
	assert_true(b[158] == 0xFF && b[159] == 0xC0);
	b[163] = 0xEA, b[164] = 0x60, b[165] = 0xEA, b[166] = 0x60; /* 60000 */
	put(in, "ann/huge.jpg", b, n);
	free(b);

	put(in, "ann/gif.png", "GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14);
	snprintf(p, sizeof p, "%s/ann/big.jpg", in);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)3 << 30), 0); /* sparse: no disk */
	close(fd);
	snprintf(p, sizeof p, "%s/ann/fifo.jpg", in);
	assert_int_equal(mkfifo(p, 0644), 0);
	snprintf(p, sizeof p, "%s/ann/self.jpg", in);
	assert_int_equal(symlink("self.jpg", p), 0);
	snprintf(p, sizeof p, "%s/ann/loop", in);
	assert_int_equal(symlink(".", p), 0);
	snprintf(p, sizeof p, "%s/ann/dangling.png", in);
	assert_int_equal(symlink("nowhere.png", p), 0);

	/* A lattice of links: each of cy/l0..l23 links twice to the next, so
	 * there are 2^24 paths to cy/l24/deep.ppm; the real folders are few. */
	for (int i = 0; i < LATTICE; i++) {
		for (int k = 0; k < 2; k++) {
			char rel[64], target[32];
			snprintf(rel, sizeof rel, "cy/l%02d/%c", i, "ab"[k]);
			snprintf(target, sizeof target, "../l%02d", i + 1);
			e2e_mkdirs(in, rel);
			snprintf(p, sizeof p, "%s/%s", in, rel);
			assert_int_equal(symlink(target, p), 0);
		}
	}
	snprintf(p, sizeof p, "cy/l%02d/deep.ppm", LATTICE);
	assert_int_equal(e2e_write_pnm(in, p, 20, 20, 0, 8), 0);

	/* Truncated JPEGs and PNGs. */
	b = fixture("jpg_420_77x59.jpg", &n);
	assert_int_equal(n, 2435);
	for (size_t i = 0; i < sizeof g_jpeg_cuts / sizeof *g_jpeg_cuts; i++) {
		snprintf(p, sizeof p, "bob/cut_%04zu.jpg", g_jpeg_cuts[i]);
		put(in, p, b, g_jpeg_cuts[i]);
	}
	free(b);
	b = fixture("png_p8_61x47.png", &n);
	assert_int_equal(n, 3647);
	for (size_t i = 0; i < sizeof g_png_cuts / sizeof *g_png_cuts; i++) {
		snprintf(p, sizeof p, "bob/cut_%04zu.png", g_png_cuts[i]);
		put(in, p, b, g_png_cuts[i]);
	}
	free(b);
	b = fixture("tif_rgb8_lzw_37x29.tif", &n);
	assert_int_equal(n, 4036);
	for (size_t i = 0; i < sizeof g_tif_cuts / sizeof *g_tif_cuts; i++) {
		snprintf(p, sizeof p, "bob/cut_%04zu.tif", g_tif_cuts[i]);
		put(in, p, b, g_tif_cuts[i]);
	}
	free(b);
	make_hostile_tiffs(in);
}

static int stored(const e2e_dump_t *d, const char *key)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->keys[i], key) == 0)
			return 1;
	return 0;
}

static void test_hostile_folder(void **state)
{
	(void)state;
	const char *dir = tu_tmpdir();
	char in[600], db[600], log[600], path[4400], why[ERR_LEN];
	snprintf(in, sizeof in, "%s/faces", dir);
	snprintf(db, sizeof db, "%s/feats.lmdb", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	make_hostile(in);

	/* --follow-links: the loop and the lattice of links below are walked
	 * (the default, Keras', names links to folders and enters none). */
	int st = e2e_extract(in, db, log, "--batch", "8", "--follow-links", NULL);
	char *out = tu_slurp(log);
	if (st != 0)
		print_error("extract exited %d:\n%s\n", st, out);
	assert_int_equal(st, 0);
	e2e_dump_t d;
	if (e2e_dump(db, &d, why))
		print_error("%s\n", why);
	assert_int_equal(d.bad, 0);

	size_t want_stored = 1, want_skipped = 0; /* bob/good.ppm */
	for (size_t i = 0; i < sizeof g_expect / sizeof *g_expect; i++) {
		const expect_t *e = &g_expect[i];
		snprintf(path, sizeof path, "%s/%s", in, e->rel);
		if (!e->reason) {
			if (!stored(&d, e->rel))
				fail_msg("%s was not stored:\n%s", e->rel, out);
			want_stored++;
			continue;
		}
		if (!skipped_for(out, path, e->reason))
			fail_msg("%s: want skipped with '%s':\n%s", e->rel, e->reason, out);
		assert_false(stored(&d, e->rel));
		want_skipped++;
	}
	/* A cut file is stored exactly when it decodes, and skipped with the
	 * decoder's reason otherwise. */
	int cut_ok = 0, cut_bad = 0;
	static const struct {
		const char *ext;
		const size_t *cuts;
		size_t n;
	} kinds[] = {
		{"jpg", g_jpeg_cuts, sizeof g_jpeg_cuts / sizeof *g_jpeg_cuts},
		{"png", g_png_cuts, sizeof g_png_cuts / sizeof *g_png_cuts},
		{"tif", g_tif_cuts, sizeof g_tif_cuts / sizeof *g_tif_cuts},
	};
	for (size_t kind = 0; kind < sizeof kinds / sizeof *kinds; kind++) {
		const size_t *cuts = kinds[kind].cuts;
		for (size_t i = 0; i < kinds[kind].n; i++) {
			char key[64];
			img_t img;
			snprintf(key, sizeof key, "bob/cut_%04zu.%s", cuts[i],
				 kinds[kind].ext);
			snprintf(path, sizeof path, "%s/%s", in, key);
			int rc = img_load(path, &img, why);
			img_free(&img);
			if (rc == 0) {
				if (!stored(&d, key))
					fail_msg("%s decodes but was not stored", key);
				cut_ok++;
			} else {
				char line[ERR_LEN + 16];
				snprintf(line, sizeof line, "skipped %s", why);
				if (!strstr(out, line) || stored(&d, key))
					fail_msg("%s: want '%s':\n%s", key, line, out);
				cut_bad++;
			}
		}
	}
	/* The lattice: the image once, every second way to a folder noted. */
	int deep = 0;
	for (size_t i = 0; i < d.n; i++)
		deep += strstr(d.keys[i], "/deep.ppm") != NULL;
	assert_int_equal(deep, 1);
	int again = tu_count(out, "already walked through another link");
	assert_int_equal(again, 2 * LATTICE);
	print_message("%zu bad files skipped with their reason, %zu odd ones stored; "
		      "of %d cut files %d decode (stored), %d are skipped; a lattice "
		      "of 2^%d link paths walked once\n", want_skipped, want_stored,
		      cut_ok + cut_bad, cut_ok, cut_bad, LATTICE);
	assert_true(cut_ok >= 3 && cut_bad >= 20);
	assert_int_equal(d.n, want_stored + (size_t)cut_ok + 1);
	char summary[128];
	snprintf(summary, sizeof summary, "extracted %zu, already present 0, skipped %zu",
		 d.n, want_skipped + (size_t)cut_bad + (size_t)again);
	if (!strstr(out, summary))
		fail_msg("want '%s':\n%s", summary, out);
	free(out);
	e2e_dump_free(&d);

	/* The run goes on the same way again: everything good is present. */
	assert_int_equal(e2e_extract(in, db, log, "--follow-links", NULL), 0);
	out = tu_slurp(log);
	assert_non_null(strstr(out, "extracted 0, already present"));
	free(out);
	tu_rm_rf(dir);
}

/* A file removed after the scan, while the run works on the others. */
static void test_file_vanishes(void **state)
{
	(void)state;
	const char *dir = tu_tmpdir();
	char in[600], db[600], log[600], last[700];
	snprintf(in, sizeof in, "%s/faces", dir);
	snprintf(db, sizeof db, "%s/feats.lmdb", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	snprintf(last, sizeof last, "%s/zed/last.ppm", in);
	for (int i = 0; i < 6; i++) {
		char rel[32];
		snprintf(rel, sizeof rel, "%s/%d.ppm", i < 4 ? "ann" : "bob", i);
		assert_int_equal(e2e_write_pnm(in, rel, 30, 30, 0, (uint64_t)i), 0);
	}
	assert_int_equal(e2e_write_pnm(in, "zed/last.ppm", 30, 30, 0, 9), 0);
	char *argv[] = {proc_bin("extract"), "--in", in, "--db", db, "--weights",
			(char *)tu_weights_path(), "--batch", "1", "--decode-threads", "1",
			"-q", NULL};
	pid_t pid = proc_spawn(argv, log);
	/* Decoders work at most 3 images ahead: once the first record is in,
	 * the last image is still to come. */
	while (e2e_store_count(db) <= 0)
		proc_sleep(0.01);
	assert_int_equal(unlink(last), 0);
	assert_int_equal(proc_wait(pid), 0);
	char *out = tu_slurp(log);
	if (!skipped_for(out, last, "No such file or directory"))
		fail_msg("want %s skipped as gone:\n%s", last, out);
	assert_non_null(strstr(out, "extracted 6, already present 0, skipped 1"));
	free(out);
	tu_rm_rf(dir);
}

/* ---- damaged stores, weights and heads ------------------------------------ */

/* Runs argv; its status must be `status`, its output hold want and at most
 * one error line (featdb verify lists bad records instead). */
static void expect_run(char *const argv[], const char *log, int status,
		       const char *want)
{
	int st = proc_run(argv, log);
	char *out = tu_slurp(log);
	if (st != status || (want && !strstr(out, want)) ||
	    tu_count(out, "error:") > 1)
		fail_msg("%s %s: exit %d (want %d), output:\n%s(want '%s' and, on "
			 "failure, one error line)", argv[0], argv[1], st, status, out,
			 want ? want : "");
	free(out);
}

/* Every program that reads a store, on db: each fails with want. */
static void all_readers_fail(const char *db, const char *scratch, const char *want)
{
	char log[700], h5[700], out[700], faces[700], head[700];
	snprintf(log, sizeof log, "%s/log", scratch);
	snprintf(h5, sizeof h5, "%s/x.h5", scratch);
	snprintf(head, sizeof head, "%s/head.h5", scratch);
	snprintf(out, sizeof out, "%s/merged.lmdb", scratch);
	snprintf(faces, sizeof faces, "%s/faces", scratch);
	char *cmds[][12] = {
		{proc_bin("featdb"), "info", (char *)db, NULL},
		{proc_bin("featdb"), "verify", (char *)db, NULL},
		{proc_bin("featdb"), "export", (char *)db, "--out", h5, NULL},
		{proc_bin("featdb"), "merge", out, (char *)db, NULL},
		{proc_bin("train-head"), "--db", (char *)db, "--epochs", "1", "-q",
		 "--out", head, NULL},
		{proc_bin("extract"), "--in", faces, "--db", (char *)db, "--weights",
		 (char *)tu_weights_path(), "-q", NULL},
	};
	for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
		expect_run(cmds[i], log, 1, want);
	struct stat st;
	assert_true(stat(h5, &st) != 0); /* no half export left */
	tu_rm_rf(out);
}

static void copy_store(const char *from, const char *to, size_t keep)
{
	char src[700], dst[700];
	size_t n;
	snprintf(src, sizeof src, "%s/data.mdb", from);
	snprintf(dst, sizeof dst, "%s/data.mdb", to);
	tu_rm_rf(to);
	assert_int_equal(mkdir(to, 0777), 0);
	uint8_t *b = tu_read_file(src, &n);
	assert_non_null(b);
	assert_int_equal(tu_write_file(dst, b, keep < n ? keep : n), 0);
	free(b);
}

static void patch(const char *db, size_t off, const void *bytes, size_t n)
{
	char p[700];
	snprintf(p, sizeof p, "%s/data.mdb", db);
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void test_damaged_store(void **state)
{
	(void)state;
	const char *dir = tu_tmpdir();
	char good[600], bad[600], why[ERR_LEN];
	size_t psize;
	snprintf(good, sizeof good, "%s/good.lmdb", dir);
	snprintf(bad, sizeof bad, "%s/bad.lmdb", dir);
	if (e2e_make_store(good, 24, 4096, 5, why))
		fail_msg("%s", why);
	assert_int_equal(e2e_write_pnm(dir, "faces/ann/1.ppm", 20, 20, 0, 1), 0);
	size_t used;
	if (e2e_env_info(good, NULL, &used, &psize, why))
		fail_msg("%s", why);

	/* Cut short, in the data pages and in the meta pages. */
	copy_store(good, bad, used / 2);
	all_readers_fail(bad, dir, "truncated");
	copy_store(good, bad, psize + 100);
	all_readers_fail(bad, dir, "truncated");
	/* Not LMDB at all. */
	copy_store(good, bad, 0);
	uint8_t junk[65536];
	rng_t r = {3};
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)rng_next(&r);
	patch(bad, 0, junk, sizeof junk);
	all_readers_fail(bad, dir, "LMDB");
	/* A meta page with an impossible page size (LMDB itself would map past
	 * the file: a SIGBUS). */
	copy_store(good, bad, (size_t)-1);
	patch(bad, psize + 43, "\x7f", 1);
	all_readers_fail(bad, dir, "meta page 1 is damaged");
	/* A node offset of a leaf page pointing out of its page (LMDB itself
	 * would read wild memory: a SIGSEGV): the root of the main database, a
	 * leaf holding the two named ones, as the newer meta page gives it
	 * (LMDB's format: the transaction id at byte 144, the main root at
	 * 128). */
	copy_store(good, bad, (size_t)-1);
	size_t n;
	char data[700];
	snprintf(data, sizeof data, "%s/data.mdb", bad);
	uint8_t *b = tu_read_file(data, &n);
	assert_non_null(b);
	uint64_t id[2], root;
	memcpy(&id[0], b + 144, 8);
	memcpy(&id[1], b + psize + 144, 8);
	memcpy(&root, b + (id[1] > id[0] ? psize : 0) + 128, 8);
	assert_true(root >= 2 && (root + 1) * psize <= used);
	assert_int_equal(b[root * psize + 10], 2); /* a leaf */
	free(b);
	patch(bad, (size_t)root * psize + 16 + 1, "\xf0", 1);
	all_readers_fail(bad, dir, "is damaged");
	tu_rm_rf(dir);
}

/* Seeded random damage to the pages LMDB trusts (the meta pages, the
 * branch and leaf pages of every tree), with featdb verify and featdb info
 * opening each damaged copy: they may find nothing wrong (a byte that does
 * not matter) or refuse the store, but never crash. */
static void test_random_page_damage(void **state)
{
	(void)state;
	const char *dir = tu_tmpdir();
	char good[600], bad[600], data[700], log[700], lock[700], why[ERR_LEN];
	size_t psize, n;
	snprintf(good, sizeof good, "%s/good.lmdb", dir);
	snprintf(bad, sizeof bad, "%s/bad.lmdb", dir);
	snprintf(data, sizeof data, "%s/data.mdb", bad);
	snprintf(lock, sizeof lock, "%s/lock.mdb", bad);
	snprintf(log, sizeof log, "%s/log", dir);
	if (e2e_make_store(good, 24, 4096, 5, why))
		fail_msg("%s", why);
	size_t used;
	if (e2e_env_info(good, NULL, &used, &psize, why))
		fail_msg("%s", why);
	copy_store(good, bad, used);
	uint8_t *src = tu_read_file(data, &n);
	assert_non_null(src);
	assert_int_equal(n, used);
	/* Pages whose flags say meta (8), branch (1) or leaf (2). */
	size_t pages[64], np = 0;
	for (size_t pg = 0; pg < used / psize && np < 64; pg++)
		if (src[pg * psize + 11] == 0 && (src[pg * psize + 10] & 0x0b))
			pages[np++] = pg;
	assert_true(np >= 5);
	uint8_t *b = malloc(used);
	assert_non_null(b);
	rng_t r = {11};
	int refused = 0, trials = 200;
	for (int t = 0; t < trials; t++) {
		memcpy(b, src, used);
		size_t pg = pages[rng_next(&r) % np];
		int k = 1 + (int)(rng_next(&r) % 4);
		for (int j = 0; j < k; j++) {
			/* Mostly the headers (page, node offsets, meta fields). */
			size_t span = rng_next(&r) % 2 ? 160 : psize;
			b[pg * psize + rng_next(&r) % span] = (uint8_t)rng_next(&r);
		}
		assert_int_equal(tu_write_file(data, b, used), 0);
		unlink(lock);
		char *argv[] = {proc_bin("featdb"), t % 2 ? "info" : "verify", bad, NULL};
		int st = proc_run(argv, log);
		if (st != 0 && st != 1) {
			char *out = tu_slurp(log);
			fail_msg("trial %d: featdb %s exited %d:\n%s", t, argv[1], st, out);
		}
		refused += st == 1;
	}
	print_message("%d random damages to meta, branch and leaf pages: %d refused, "
		      "%d harmless, no crash\n", trials, refused, trials - refused);
	assert_true(refused >= trials / 10);
	free(b);
	free(src);
	tu_rm_rf(dir);
}

static void test_record_wrong_size(void **state)
{
	(void)state;
	const char *dir = tu_tmpdir();
	char db[600], log[600], h5[600], out[600], why[ERR_LEN], in[600], head[600];
	snprintf(db, sizeof db, "%s/s.lmdb", dir);
	snprintf(head, sizeof head, "%s/head.h5", dir);
	snprintf(log, sizeof log, "%s/log", dir);
	snprintf(h5, sizeof h5, "%s/x.h5", dir);
	snprintf(out, sizeof out, "%s/merged.lmdb", dir);
	snprintf(in, sizeof in, "%s/faces", dir);
	if (e2e_make_store(db, 24, 4096, 5, why))
		fail_msg("%s", why);
	uint8_t rec[100];
	memset(rec, 0, sizeof rec);
	memcpy(rec, "VGGF\1\0\1\0\0\x10", 10); /* dim 4096 */
	if (e2e_raw_put(db, "ann/003.jpg", rec, sizeof rec, why))
		fail_msg("%s", why);

	char *verify[] = {proc_bin("featdb"), "verify", db, NULL};
	expect_run(verify, log, 1, "bad\tann/003.jpg\trecord is 100 bytes");
	char *info[] = {proc_bin("featdb"), "info", db, NULL};
	expect_run(info, log, 0, "damaged:     1 records");
	char *exp[] = {proc_bin("featdb"), "export", db, "--out", h5, NULL};
	expect_run(exp, log, 1, "record 'ann/003.jpg': record is 100 bytes");
	char *merge[] = {proc_bin("featdb"), "merge", out, db, NULL};
	expect_run(merge, log, 1, "record 'ann/003.jpg'");
	/* train-head: a damaged record costs that image, not the run. */
	char *train[] = {proc_bin("train-head"), "--db", db, "--epochs", "1",
			 "--val-split", "0", "-q", "--out", head, NULL};
	expect_run(train, log, 0, "skipped record 'ann/003.jpg': record is 100 bytes");

	/* extract: on a store of these weights (made by extract), a new person
	 * needs every record renumbered; the damaged one is left as it is by
	 * that and extracted again, in whichever commit: a store that
	 * verifies. */
	tu_rm_rf(db);
	assert_int_equal(e2e_write_pnm(in, "bob/1.ppm", 20, 20, 0, 1), 0);
	assert_int_equal(e2e_write_pnm(in, "cy/1.ppm", 20, 20, 0, 2), 0);
	assert_int_equal(e2e_extract(in, db, log, NULL), 0);
	if (e2e_raw_put(db, "bob/1.ppm", rec, sizeof rec, why))
		fail_msg("%s", why);
	assert_int_equal(e2e_write_pnm(in, "al/1.ppm", 20, 20, 0, 3), 0);
	assert_int_equal(e2e_write_pnm(in, "dee/1.ppm", 20, 20, 0, 4), 0);
	char *ext[] = {proc_bin("extract"), "--in", in, "--db", db, "--weights",
		       (char *)tu_weights_path(), "--batch", "1", "-q", NULL};
	expect_run(ext, log, 0, "extracted 3 (1 over a damaged record), already "
		   "present 1, skipped 0");
	expect_run(verify, log, 0, "4 records, all good");
	tu_rm_rf(dir);
}

/* What predict needs, under a fresh folder: a face folder of one image,
 * a store of 12 records, a head trained on it, and a log file. */
typedef struct trained {
	char dir[600], in[700], db[700], head[700], log[700];
} trained_t;

static void make_trained(trained_t *t)
{
	char why[ERR_LEN];
	snprintf(t->dir, sizeof t->dir, "%s", tu_tmpdir());
	snprintf(t->in, sizeof t->in, "%s/faces", t->dir);
	snprintf(t->db, sizeof t->db, "%s/s.lmdb", t->dir);
	snprintf(t->head, sizeof t->head, "%s/head.h5", t->dir);
	snprintf(t->log, sizeof t->log, "%s/log", t->dir);
	assert_int_equal(e2e_write_pnm(t->in, "ann/1.ppm", 20, 20, 0, 1), 0);
	if (e2e_make_store(t->db, 12, 4096, 5, why))
		fail_msg("%s", why);
	char *train[] = {proc_bin("train-head"), "--db", t->db, "--out", t->head,
			 "--epochs", "1", "--val-split", "0", "-q", NULL};
	assert_int_equal(proc_run(train, t->log), 0);
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	uint8_t *b = tu_read_file(from, &n);
	assert_non_null(b);
	assert_int_equal(tu_write_file(to, b, n), 0);
	free(b);
}

/* Weights that are not VGG16's: cut short, not HDF5, empty, wrongly shaped
 * (a full file's layers, a _notop file's: read as one since the taps,
 * test_taps.c).  extract and predict each give one error line. */
static void test_bad_weights(void **state)
{
	(void)state;
	trained_t t;
	char w[800];
	make_trained(&t);
	snprintf(w, sizeof w, "%s/w.h5", t.dir);

	/* The first megabyte of the real file: HDF5 sees the end missing. */
	int src = open(tu_weights_path(), O_RDONLY);
	assert_true(src >= 0);
	static uint8_t mb[1 << 20];
	assert_int_equal(read(src, mb, sizeof mb), (ssize_t)sizeof mb);
	close(src);
	static const struct {
		const char *file; /* from the fuzz seeds, or NULL: the bytes below */
		size_t len;
		const char *want;
	} cases[] = {
		{NULL, sizeof mb, "damaged or truncated HDF5 file"},
		{NULL, 0, "HDF5"},
		{NULL, 4096, "not an HDF5 file"},
		{"tests/fuzz/corpus/fuzz_weights/official_small", 0,
		 "expected (3, 3, 3, 64)"},
		{"tests/fuzz/corpus/fuzz_weights/notop_small", 0,
		 "expected (3, 3, 3, 64)"},
		{"tests/fuzz/corpus/fuzz_weights/int_kernel", 0, "2 layers with weights"},
		{"tests/fuzz/corpus/fuzz_weights/theano_small", 0, "Theano backend"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (cases[i].file) {
			copy_file(cases[i].file, w);
		} else {
			if (i == 2)
				memset(mb, 'x', 4096);
			assert_int_equal(tu_write_file(w, mb, cases[i].len), 0);
		}
		char *ext[] = {proc_bin("extract"), "--in", t.in, "--db", t.db,
			       "--weights", w, "-q", NULL};
		expect_run(ext, t.log, 1, cases[i].want);
		char *pred[] = {proc_bin("predict"), "--head", t.head, "--weights", w,
				t.in, NULL};
		expect_run(pred, t.log, 1, cases[i].want);
	}
	tu_rm_rf(t.dir);
}

/* Heads that are not heads: cut short, empty, random, wrongly shaped. */
static void test_bad_heads(void **state)
{
	(void)state;
	trained_t t;
	char bad[800];
	make_trained(&t);
	snprintf(bad, sizeof bad, "%s/bad.h5", t.dir);
	size_t n;
	uint8_t *h = tu_read_file(t.head, &n);
	assert_non_null(h);

	static const struct {
		const char *file;
		size_t cut; /* of the real head, when file is NULL */
		const char *want;
	} cases[] = {
		{NULL, 0, "bad.h5"},
		{NULL, 100, "bad.h5"},
		{NULL, 3000, "bad.h5"},
		{NULL, (size_t)-2, "bad.h5"}, /* all but the last 2 bytes */
		{"tests/fuzz/corpus/fuzz_head/kernel_3d", 0, "bad.h5"},
		{"tests/fuzz/corpus/fuzz_head/bias_short", 0, "bad.h5"},
		{"tests/fuzz/corpus/fuzz_head/names_mismatch", 0, "bad.h5"},
		{"tests/fuzz/corpus/fuzz_head/keras_plain", 0, "no class names"},
		{"tests/fuzz/corpus/fuzz_weights/official_small", 0, "bad.h5"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		if (cases[i].file) {
			copy_file(cases[i].file, bad);
		} else {
			size_t cut = cases[i].cut == (size_t)-2 ? n - 2 : cases[i].cut;
			assert_int_equal(tu_write_file(bad, h, cut), 0);
		}
		char *pred[] = {proc_bin("predict"), "--head", bad, "--weights",
				(char *)tu_weights_path(), t.in, NULL};
		expect_run(pred, t.log, 1, cases[i].want);
	}
	free(h);
	tu_rm_rf(t.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_folder),
		cmocka_unit_test(test_file_vanishes),
		cmocka_unit_test(test_damaged_store),
		cmocka_unit_test(test_random_page_damage),
		cmocka_unit_test(test_record_wrong_size),
		cmocka_unit_test(test_bad_weights),
		cmocka_unit_test(test_bad_heads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
