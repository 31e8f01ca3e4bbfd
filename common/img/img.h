/* img.h - decoding images and preparing them exactly as Keras does.
 *
 * Keras' recipe is `load_img(path, target_size=(224, 224))` followed by
 * `vgg16.preprocess_input` (or, for VGG-Face, keras-vggface's
 * preprocess_input(version=1): the same with other means).  load_img opens the file with Pillow, converts it
 * to mode RGB when it is not already, and resizes with Image.NEAREST only when
 * the size differs.  preprocess_input ("caffe" mode) flips RGB to BGR and
 * subtracts the ImageNet channel means, in float32, without scaling.
 *
 * Every step here reproduces Pillow's behaviour, including its quirks:
 *  - JPEG through libjpeg(-turbo) with the library defaults Pillow keeps
 *    (ISLOW DCT, fancy upsampling); CMYK/YCCK JPEGs are read as Adobe
 *    inverted CMYK and converted with Pillow's cmyk2rgb;
 *  - PNG: gray, gray+alpha, palette, RGB, RGBA at 1..16 bits; 16-bit colour
 *    keeps the high byte, 16-bit gray is clamped to 0..255 (Pillow's I -> RGB);
 *    alpha is dropped, never composited; no gamma;
 *  - PPM (P6) and PGM (P5) binary; BMP (uncompressed 1/4/8/24/32 bit);
 *  - TIFF (img_tiff.c): see below;
 *  - gray becomes RGB by copying; no EXIF rotation.
 *
 * Also read, Pillow's way: PBM (P4); netpbm maxvals other than 255 (scaled
 * with Python's round, 16-bit PGM clamped like mode I); OS/2 BMP headers and
 * the 32-bit BMP bit-field layouts Pillow knows; out-of-palette indices,
 * which Pillow shows as gray (i, i, i).  Truncation follows Pillow too: a
 * PNG may stop anywhere after its last row, a BMP may lose its last row's
 * padding, a JPEG may lose its EOI marker only if libjpeg needs no more
 * bytes to finish the last scanline.
 *
 * TIFF, the first image of the file (classic, or little-endian BigTIFF),
 * as Pillow reads it: its own parser picks a mode from the first IFD, its
 * raw decoder reads uncompressed strips and tiles, and libtiff (Debian's
 * 4.5, the one Pillow uses) the compressed ones, through the same calls:
 *  - kinds: 1-bit bilevel, 8-bit gray (MinIsBlack and MinIsWhite), 16-bit
 *    gray, palette of 1, 2, 4 or 8 bits, 8-bit RGB, RGBA and RGBX;
 *  - compressions: none, LZW, Deflate (8 and 32946), PackBits, JPEG (YCbCr,
 *    converted by libjpeg, or RGB or gray), CCITT RLE, Group 3 and 4, with
 *    any predictor libtiff knows; strips or tiles; contiguous or separate
 *    planes; FillOrder 2;
 *  - copied quirks: no PhotometricInterpretation means MinIsWhite; 16-bit
 *    gray is clamped to 0..255 (I;16 -> RGB), and little-endian 16-bit
 *    MinIsWhite is not inverted; FillOrder 2 on uncompressed 8-bit data
 *    reverses each byte's bits; ExtraSamples 1 (associated alpha) is
 *    un-premultiplied (c * 255 / a, integer, a = 0 black) before the alpha
 *    is dropped, and so is RGBA in separate planes whose ExtraSamples is
 *    missing or 0 (libtiff calls those "unspecified"); the Orientation tag
 *    is applied (2..8 flip, turn or transpose the image; a JPEG's EXIF
 *    orientation is not); palettes keep each ColorMap value's high byte;
 *    uncompressed separate planes of a single band use the raw mode's first
 *    letter (MinIsWhite is then not inverted); tag values are compared as
 *    Python numbers (a whole fraction or float counts); a damaged IFD
 *    keeps the tags before the damage; more strip or tile offsets than the
 *    image has blocks are decoded in Pillow's order (sorted by offset,
 *    later over earlier, up to 16 rounds);
 *  - where libtiff reports success but leaves part of a strip unwritten (a
 *    bad CCITT code word, JPEG or Deflate data shorter than its strip),
 *    Pillow shows whatever its buffer held, which is the previous strip or,
 *    for the first, uninitialised memory; so do we, with zero bytes in
 *    place of the uninitialised memory.
 * libtiff's messages go to the decode that caused them (handlers of the
 * TIFF handle, thread-safe), never to stderr, and libtiff's own allocations
 * are capped at IMG_MAX_PIXELS bytes each.
 *
 * Refused as ERR_UNSUPPORTED: plain (ASCII) netpbm P1-P3, RLE and 16-bit
 * BMP, BMP gray-ramp palettes at bit depths Pillow misreads, JPEGs with other
 * than 1, 3 or 4 components or 12-bit samples, GIF, WebP; TIFFs of other
 * kinds (2- and 4-bit gray, 16-bit colour, CMYK, CIELab, signed or float
 * samples, gray or palette with alpha), YCbCr TIFF other than JPEG in one
 * plane (Pillow hands it to libtiff's TIFFRGBAImage), old-style JPEG, LZMA,
 * Zstandard, WebP, LogLuv and other compressions, big-endian BigTIFF (which
 * Pillow 9.4 misreads), tag values that are not whole numbers where Pillow
 * needs one.  A zero width or height is ERR_TOO_BIG, like an oversized
 * header.  Error texts are one line, "<name>: <reason>", e.g.
 * "faces/a.jpg: truncated JPEG (Premature end of JPEG file)" or
 * "scan.tif: corrupt TIFF (LZWDecode: Not enough data at scanline 5 (short
 * 100 bytes))".
 */
#ifndef COMMON_IMG_IMG_H
#define COMMON_IMG_IMG_H

#include <stddef.h>
#include <stdint.h>

/* Pillow raises DecompressionBombError above 2 * MAX_IMAGE_PIXELS
 * (2 * 89478485): what Keras can load, we load; beyond it we refuse from the
 * header alone, before allocating.  The fuzzing build lowers it (-D), so
 * that a tiny input claiming a huge image costs little. */
#ifndef IMG_MAX_PIXELS
#define IMG_MAX_PIXELS 178956970ULL
#endif

/* The largest file img_load reads.  The biggest image we accept takes at
 * most 1.43 GB (a 16-bit RGBA PNG of IMG_MAX_PIXELS, stored); a larger file
 * is refused from its size, before it is read, so that a huge file with an
 * image's name cannot exhaust memory. */
#define IMG_MAX_FILE_BYTES ((uint64_t)1 << 31)

/* An 8-bit RGB image: rgb is (h, w, 3), row-major, owned by the struct. */
typedef struct img {
	int w, h;
	uint8_t *rgb;
} img_t;

/* img_decode decodes an in-memory file (JPEG, PNG, PPM/PGM/PBM, BMP or
 * TIFF, told apart by its magic bytes, never by its name) into *out.
 * name is used only in error messages (may be NULL).
 * Returns 0, or ERR_FORMAT (corrupt/truncated), ERR_UNSUPPORTED (a variant we
 * do not read), ERR_TOO_BIG (more than IMG_MAX_PIXELS), ERR_NOMEM.
 * On failure *out is left empty (rgb NULL). */
int img_decode(const uint8_t *buf, size_t len, const char *name, img_t *out,
	       char *err);

/* img_load reads a whole file and decodes it (ERR_MISSING when there is no
 * such file, ERR_IO when it cannot be read or is a FIFO or pipe that gave no
 * byte, ERR_FORMAT for an empty file, ERR_TOO_BIG past IMG_MAX_FILE_BYTES).
 * A FIFO with no writer never blocks it (base/infile.h). */
int img_load(const char *path, img_t *out, char *err);

/* img_free releases the pixels; accepts NULL and empty images. */
void img_free(img_t *img);

/* img_resize_nearest resamples src to w x h the way Pillow's
 * Image.resize(size, Image.NEAREST) does: per axis, step = in / out in
 * double, x = step / 2, and for each output index src = (int)x, x += step
 * (the coordinate is accumulated, not recomputed). */
int img_resize_nearest(const img_t *src, int w, int h, img_t *dst, char *err);

/* img_preprocess turns an RGB image into a network's input as Keras'
 * preprocess_input does in "caffe" mode: out is (h, w, 3) float32,
 * channels B, G, R, each minus its mean (mean_bgr: the model's,
 * net/model.h's model_info). */
void img_preprocess(const img_t *img, const float mean_bgr[3], float *out);

/* img_load_input = img_load, resized to side x side (Pillow's NEAREST,
 * only when the size differs, as load_img does), then img_preprocess.  out
 * is (side, side, 3) float32.  Returns img_load's errors, or ERR_ARG. */
int img_load_input(const char *path, int side, const float mean_bgr[3],
		   float *out, char *err);

#endif
