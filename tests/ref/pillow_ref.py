#!/usr/bin/python3
"""What Keras' load_img makes of the test images, recorded with Pillow 9.4.

Dev-only reference for tests/test_img.c; the C code shares nothing with it.
Keras' recipe: Image.open on the file's bytes, convert("RGB") when the mode
differs, resize((224, 224), Image.NEAREST) when the size differs; then
vgg16.preprocess_input (BGR, float32 mean subtraction).

Rerun from the repository root with Debian's Python (python3-pil 9.4,
python3-numpy, python3-h5py), not the pyenv python3 on PATH:
    /usr/bin/python3 tests/ref/pillow_ref.py               # goldens only
    /usr/bin/python3 tests/ref/pillow_ref.py --fixtures    # fixtures too
--fixtures rewrites tests/fixtures/ (one JPEG needs cjpeg from
libjpeg-turbo-progs; the TIFFs tiffcp and tiffset from libtiff-tools and
ImageMagick's /usr/bin/convert).  Writes tests/golden/pillow_fixtures.h5
and, when ../shared/data exists, tests/golden/pillow_shared.h5:

pillow_fixtures.h5
  fixtures/names (N, 64) u8     file names in tests/fixtures, NUL-padded
  fixtures/<name>/decoded       (h, w, 3) u8, after convert("RGB")
  fixtures/<name>/vgg224        (224, 224, 3) u8, what load_img returns
                                (a hard link to decoded when not resized)
  variants/source (M, 64) u8    a fixture, changed in place by the test:
  variants/kind (M) i32         0: keep the first `arg` bytes,
  variants/arg (M) i64          1: xor the byte at `arg` with 0xFF
  variants/refused (M) u8       1 when Pillow raises
  variants/width, height (M) i32, variants/hash224 (M) u64 (0 if refused)
  resize/in, resize/out (K) i32, resize/index (sum of out) i32: the source
                                index of each output column, NEAREST
  vgg/rgb (256, 3) u8, vgg/out (256, 3) f32: preprocess_input, Keras' code
pillow_shared.h5 (../shared/data/lfw-dev and orl; about 40 s to hash)
  path (N, 96) u8 (under ../shared/data), width, height (N) i32,
  refused (N) u8, hash224 (N) u64
hash224 is FNV-1a 64 over the 224x224x3 bytes in (y, x, channel) order.
"""
import io
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np
import PIL
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
GOLDEN = os.path.join(ROOT, "tests", "golden")
SHARED = os.path.join(ROOT, "..", "shared", "data")
MEAN_BGR = [103.939, 116.779, 123.68]


def keras_load(data):
    """load_img(path, target_size=(224, 224)) on these bytes: (decoded, 224)."""
    img = Image.open(io.BytesIO(data))
    # Loading a TIFF applies its Orientation, which may swap width and
    # height, and np.asarray takes the size before it loads.  load_img
    # resizes whenever the size before loading is not 224 x 224, and the
    # resize loads first (a square keeps its size): it sees the loaded
    # image, so load first here too.
    img.load()
    if img.mode != "RGB":
        img = img.convert("RGB")
    decoded = np.asarray(img)
    if img.size != (224, 224):
        img = img.resize((224, 224), Image.NEAREST)
    return decoded, np.asarray(img)


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def try_load(data):
    """(decoded, 224 array), or None when Pillow refuses the bytes."""
    try:
        return keras_load(data)
    except Exception as e:  # any exception is a refusal in Keras too
        print(f"  refused: {type(e).__name__}: {e}")
        return None


# ---- fixtures ---------------------------------------------------------------

def scene(w, h, seed, noise=10.0):
    """A smooth, seeded RGB picture with edges and some noise."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 110 * np.sin(x / (2.5 + seed % 4) + y / 6.0)
    g = 255 * x / max(w - 1, 1)
    b = 255 * y / max(h - 1, 1)
    disc = (x - w / 3) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 4) ** 2
    img = np.stack([r, g, b], -1) + rng.normal(0, noise, (h, w, 3))
    img[disc] = 255 - img[disc]
    return np.clip(img, 0, 255).astype(np.uint8)


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_filter(ftype, row, prev, bpp):
    out = bytearray(len(row))
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 0:
            p = 0
        elif ftype == 1:
            p = a
        elif ftype == 2:
            p = b
        elif ftype == 3:
            p = (a + b) // 2
        else:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (v - p) & 0xFF
    return bytes(out)


def png_pack_row(samples, depth):
    """One row of raw sample values (w, channels) into PNG bytes."""
    flat = samples.reshape(-1).astype(np.int64)
    if depth == 16:
        return flat.astype(">u2").tobytes()
    if depth == 8:
        return flat.astype(np.uint8).tobytes()
    bits = "".join(format(int(v), f"0{depth}b") for v in flat)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def write_png(name, samples, depth, ctype, plte=None, trns=None, interlace=False, text_after=False):
    """A PNG of raw samples (h, w, channels); rows cycle through all five
    filter types, the data is split over two IDAT chunks."""
    h, w, ch = samples.shape
    bpp = max(1, ch * depth // 8)
    raw = b""
    for x0, y0, dx, dy in ADAM7 if interlace else [(0, 0, 1, 1)]:
        sub = samples[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prev = bytes(len(png_pack_row(sub[0], depth)))
        for i, row in enumerate(sub):
            packed = png_pack_row(row, depth)
            raw += bytes([i % 5]) + png_filter(i % 5, packed, prev, bpp)
            prev = packed
    z = zlib.compress(raw, 9)
    out = b"\x89PNG\r\n\x1a\n"
    out += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    out += png_chunk(b"tEXt", b"Comment\0before the image data")
    if plte is not None:
        out += png_chunk(b"PLTE", bytes(np.asarray(plte, np.uint8).reshape(-1)))
    if trns is not None:
        out += png_chunk(b"tRNS", bytes(trns))
    half = len(z) // 2
    out += png_chunk(b"IDAT", z[:half]) + png_chunk(b"IDAT", z[half:])
    if text_after:
        out += png_chunk(b"tEXt", b"Comment\0after the image data")
    out += png_chunk(b"IEND", b"")
    save(name, out)


def write_bmp(name, rows, w, h, bits, palette=None, topdown=False, masks=None, header=40):
    """rows: top-to-bottom row bytes (unpadded); palette: (n, 3) RGB."""
    stride = ((w * bits + 31) >> 3) & ~3
    data = b"".join(r + b"\0" * (stride - len(r)) for r in (rows if topdown else rows[::-1]))
    pal = b""
    if palette is not None:
        pal = b"".join(bytes([b, g, r, 0]) for r, g, b in np.asarray(palette, np.uint8))
    info = struct.pack("<IiiHHIIiiII", header, w, -h if topdown else h, 1, bits,
                       3 if masks else 0, len(data), 2835, 2835,
                       0 if palette is None else len(palette), 0)
    if masks:
        info += struct.pack("<IIII", *masks)
    info += b"\0" * (header - len(info))
    offset = 14 + len(info) + len(pal)
    save(name, b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + info + pal + data)


def pack_indices(idx, bits):
    return [png_pack_row(r[:, None], bits) for r in idx]


SHORT, LONG = 3, 4


def build_tiff(tags, blocks, bo="<", order=None):
    """A TIFF of one image: tags {number: (type, [values])} plus the block
    offsets and byte counts (StripOffsets/StripByteCounts, or the Tile ones
    when TileWidth is given), then the IFD, its long values, the blocks.
    order: which block each offset names (default: each in turn)."""
    order = order or list(range(len(blocks)))
    off_tag, cnt_tag = (324, 325) if 322 in tags else (273, 279)
    fmt = {3: "H", 4: "L"}

    def entries(offsets):
        e = dict(tags)
        e[off_tag] = (LONG, [offsets[k] for k in order])
        e.setdefault(cnt_tag, (LONG, [len(blocks[k]) for k in order]))
        return e

    def packed(t, v):
        return struct.pack(bo + fmt[t] * len(v), *v)

    e = entries([0] * len(blocks))
    ifd_size = 2 + len(e) * 12 + 4
    outside = sum(-(-len(packed(t, v)) // 2) * 2 for t, v in e.values() if len(packed(t, v)) > 4)
    pos = 8 + ifd_size + outside
    offsets = []
    for b in blocks:
        offsets.append(pos)
        pos += len(b)
    e = entries(offsets)
    ifd, extra = struct.pack(bo + "H", len(e)), b""
    for tag in sorted(e):
        t, v = e[tag]
        vb = packed(t, v)
        if len(vb) > 4:
            at = 8 + ifd_size + len(extra)
            extra += vb + b"\0" * (len(vb) % 2)
            vb = struct.pack(bo + "L", at)
        ifd += struct.pack(bo + "HHL", tag, t, len(v)) + vb.ljust(4, b"\0")
    out = (b"II" if bo == "<" else b"MM") + struct.pack(bo + "HL", 42, 8)
    out += ifd + struct.pack(bo + "L", 0) + extra
    assert len(out) == 8 + ifd_size + outside
    return out + b"".join(blocks)


def tiff_tags(w, h, bps, photo, rows=None, more=None):
    """The usual tags of a w x h image with BitsPerSample bps (a list)."""
    t = {256: (LONG, [w]), 257: (LONG, [h]), 258: (SHORT, bps), 259: (SHORT, [1]), 262: (SHORT, [photo]),
         277: (SHORT, [len(bps)]), 278: (LONG, [rows or h])}
    t.update(more or {})
    return t


def strips(pixels, rows):
    """Row blocks of an (h, w, ...) uint8 array, rows at a time, packed."""
    return [pixels[y:y + rows].tobytes() for y in range(0, pixels.shape[0], rows)]


def pack_bits(rows, bits):
    """(h, w) values of `bits` bits each into packed rows, MSB first."""
    return np.frombuffer(b"".join(png_pack_row(r[:, None], bits) for r in rows), np.uint8)


def tool(args, data):
    """Runs a file tool (tiffcp, tiffset, convert) from one temporary
    TIFF to another; returns the result's bytes."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.tif"), os.path.join(d, "out.tif")
        with open(src, "wb") as f:
            f.write(data)
        argv = [a.replace("IN", src).replace("OUT", dst) for a in args]
        subprocess.run(argv, check=True, capture_output=True)
        with open(dst if "OUT" in args else src, "rb") as f:
            return f.read()


def tiffcp(opts, data):
    return tool(["tiffcp"] + opts + ["IN", "OUT"], data)


def tiffset(tag, value, data):
    return tool(["tiffset", "-s", str(tag), str(value), "IN"], data)


def make_tiff_fixtures():
    """TIFF: each kind Keras meets in face datasets, each compression Pillow
    hands to libtiff, and the tags where Pillow is not obvious; written by
    hand (uncompressed, tags exactly as wanted), by tiffcp (libtiff: the
    IFD after the data) and by ImageMagick."""
    rng = np.random.RandomState(12)

    # 8-bit gray (JAFFE's kind), uncompressed in strips; MinIsWhite, and
    # no PhotometricInterpretation at all, which Pillow reads as MinIsWhite.
    g = scene(37, 29, 20)[..., 1]
    save("tif_gray8_none_37x29.tif", build_tiff(tiff_tags(37, 29, [8], 1, 8), strips(g, 8)))
    g = scene(31, 23, 21)[..., 0]
    save("tif_gray8_miniswhite_31x23.tif", build_tiff(tiff_tags(31, 23, [8], 0, 5), strips(g, 5), bo=">"))
    tags = tiff_tags(17, 13, [8], 1)
    del tags[262]
    save("tif_gray8_nophotometric_17x13.tif", build_tiff(tags, strips(rng.randint(0, 256, (13, 17)).astype(np.uint8), 13)))
    # FillOrder 2 on 8-bit samples: Pillow reverses each byte's bits.
    save("tif_gray8_fillorder2_19x11.tif",
         build_tiff(tiff_tags(19, 11, [8], 1, 4, more={266: (SHORT, [2])}), strips(rng.randint(0, 256, (11, 19)).astype(np.uint8), 4)))
    # Separate planes of one band: Pillow unpacks them with the raw
    # mode's first letter, "L" for MinIsWhite's "L;I": not inverted.
    save("tif_gray8_miniswhite_planar_13x5.tif",
         build_tiff(tiff_tags(13, 5, [8], 0, more={284: (SHORT, [2])}), strips(rng.randint(0, 256, (5, 13)).astype(np.uint8), 5)))
    # Four offsets for two strips: Pillow decodes them sorted by offset,
    # drops one the next repeats, later over earlier.  The offsets name
    # blocks 1, 2, 0, 3 of the file: the strips show blocks 1 and 3.
    g = rng.randint(0, 256, (12, 11)).astype(np.uint8)
    save("tif_gray8_extraoffsets_11x6.tif",
         build_tiff(tiff_tags(11, 6, [8], 1, 3), strips(g, 3), order=[1, 2, 0, 3]))
    raw_gray = build_tiff(tiff_tags(41, 31, [8], 1), strips(scene(41, 31, 22)[..., 2], 31))
    save("tif_gray8_lzw_pred2_41x31.tif", tiffcp(["-c", "lzw:2", "-r", "7"], raw_gray))
    save("tif_gray8_jpeg_41x31.tif", tiffcp(["-c", "jpeg", "-r", "16"], raw_gray))

    # 16-bit gray: Pillow's I;16 -> RGB clamps to 0..255; little-endian
    # MinIsWhite is not inverted.
    g16 = rng.randint(0, 700, (23, 31)).astype(np.uint16)
    save("tif_gray16_none_31x23.tif", build_tiff(tiff_tags(31, 23, [16], 1, 6), strips(g16.astype("<u2"), 6)))
    save("tif_gray16_mm_none_21x15.tif", build_tiff(tiff_tags(21, 15, [16], 1), strips(g16[:15, :21].astype(">u2"), 15), bo=">"))
    save("tif_gray16_miniswhite_19x11.tif", build_tiff(tiff_tags(19, 11, [16], 0), strips(g16[:11, :19].astype("<u2"), 11)))
    save("tif_gray16_fillorder2_13x7.tif",
         build_tiff(tiff_tags(13, 7, [16], 1, more={266: (SHORT, [2])}), strips(g16[:7, :13].astype("<u2"), 7)))
    save("tif_gray16_mm_lzw_pred2_29x21.tif",
         tiffcp(["-B", "-c", "lzw:2"], build_tiff(tiff_tags(29, 21, [16], 1), strips(g16[:21, :29].astype("<u2"), 21))))

    # Bilevel: MinIsWhite (fax), MinIsBlack, FillOrder 2.
    bits = (scene(53, 41, 23)[..., 0] > 128).astype(np.uint8)
    bw_white = build_tiff(tiff_tags(53, 41, [1], 0), [pack_bits(1 - bits, 1).tobytes()])
    save("tif_bw1_miniswhite_none_53x41.tif", bw_white)
    save("tif_bw1_miniswhite_g4_53x41.tif", tiffcp(["-c", "g4"], bw_white))
    save("tif_bw1_miniswhite_g3_53x41.tif", tiffcp(["-c", "g3:2d"], bw_white))
    bits = rng.randint(0, 2, (27, 45)).astype(np.uint8)
    bw_black = build_tiff(tiff_tags(45, 27, [1], 1, 9), [pack_bits(bits[y:y + 9], 1).tobytes() for y in range(0, 27, 9)])
    save("tif_bw1_packbits_45x27.tif", tiffcp(["-c", "packbits"], bw_black))
    rev = np.array([int(f"{i:08b}"[::-1], 2) for i in range(256)], np.uint8)
    save("tif_bw1_fillorder2_45x27.tif",
         build_tiff(tiff_tags(45, 27, [1], 1, 27, more={266: (SHORT, [2])}), [rev[pack_bits(bits, 1)].tobytes()]))

    # Palette: 8-bit with LZW, 4-bit uncompressed, 1-bit Deflate.
    def palette_tags(w, h, b, rows=None):
        cmap = rng.randint(0, 65536, (3, 1 << b))
        return tiff_tags(w, h, [b], 3, rows, more={320: (SHORT, list(cmap.reshape(-1)))})
    idx = rng.randint(0, 256, (33, 45)).astype(np.uint8)
    save("tif_pal8_lzw_45x33.tif", tiffcp(["-c", "lzw"], build_tiff(palette_tags(45, 33, 8), strips(idx, 33))))
    idx = rng.randint(0, 16, (29, 37))
    save("tif_pal4_none_37x29.tif",
         build_tiff(palette_tags(37, 29, 4, 10), [pack_bits(idx[y:y + 10], 4).tobytes() for y in range(0, 29, 10)]))
    idx = rng.randint(0, 2, (21, 35))
    save("tif_pal1_deflate_35x21.tif", tiffcp(["-c", "zip"], build_tiff(palette_tags(35, 21, 1), [pack_bits(idx, 1).tobytes()])))

    # RGB: every compression, strips and tiles, both byte orders, planes.
    px = scene(37, 29, 24)
    rgb = build_tiff(tiff_tags(37, 29, [8, 8, 8], 2, 6), strips(px, 6))
    save("tif_rgb8_none_37x29.tif", rgb)
    save("tif_rgb8_mm_none_27x19.tif", build_tiff(tiff_tags(27, 19, [8, 8, 8], 2, 4), strips(scene(27, 19, 25), 4), bo=">"))
    save("tif_rgb8_lzw_37x29.tif", tiffcp(["-c", "lzw"], rgb))
    save("tif_rgb8_lzw_pred2_37x29.tif", tiffcp(["-c", "lzw:2", "-r", "5"], rgb))
    save("tif_rgb8_deflate_37x29.tif", tiffcp(["-c", "zip:2"], rgb))
    save("tif_rgb8_deflate32946_37x29.tif", tiffset(259, 32946, tiffcp(["-c", "zip"], rgb)))
    save("tif_rgb8_packbits_37x29.tif", tiffcp(["-c", "packbits"], rgb))
    save("tif_rgb8_jpeg_ycbcr_37x29.tif", tiffcp(["-c", "jpeg", "-r", "16"], rgb))
    save("tif_rgb8_jpeg_rgb_37x29.tif", tiffcp(["-c", "jpeg:r", "-r", "16"], rgb))
    save("tif_rgb8_jpeg_ycbcr_tiled_37x29.tif", tiffcp(["-c", "jpeg", "-t", "-w", "16", "-l", "16"], rgb))
    save("tif_rgb8_tiled_none_37x29.tif", tiffcp(["-t", "-w", "16", "-l", "16"], rgb))
    save("tif_rgb8_tiled_lzw_37x29.tif", tiffcp(["-c", "lzw:2", "-t", "-w", "32", "-l", "16"], rgb))
    save("tif_rgb8_planar_none_37x29.tif", tiffcp(["-p", "separate", "-r", "10"], rgb))
    save("tif_rgb8_planar_lzw_37x29.tif", tiffcp(["-p", "separate", "-c", "lzw"], rgb))
    save("tif_rgb8_fillorder2_lzw_37x29.tif", tiffcp(["-c", "lzw", "-f", "lsb2msb"], rgb))
    save("tif_rgb8_bigtiff_lzw_37x29.tif", tiffcp(["-8", "-c", "lzw"], rgb))
    save("tif_rgb8_imagemagick_lzw_37x29.tif",
         tool(["/usr/bin/convert", "IN", "-compress", "lzw", "-define", "tiff:rows-per-strip=8", "OUT"], rgb))
    # The first page only; the second is another size.
    with tempfile.TemporaryDirectory() as d:
        for i, data in enumerate([rgb, build_tiff(tiff_tags(20, 10, [8], 1), strips(scene(20, 10, 26)[..., 0], 10))]):
            with open(os.path.join(d, f"{i}.tif"), "wb") as f:
                f.write(data)
        subprocess.run(["tiffcp", "-c", "lzw", os.path.join(d, "0.tif"), os.path.join(d, "1.tif"),
                        os.path.join(d, "m.tif")], check=True)
        with open(os.path.join(d, "m.tif"), "rb") as f:
            save("tif_rgb8_multipage_lzw_37x29.tif", f.read())
    # Orientation, which Pillow's TIFF plugin applies (not EXIF's in JPEG).
    px = scene(23, 17, 27)
    save("tif_rgb8_orient6_lzw_23x17.tif",
         tiffcp(["-c", "lzw"], build_tiff(tiff_tags(23, 17, [8, 8, 8], 2, more={274: (SHORT, [6])}), strips(px, 17))))
    save("tif_rgb8_orient3_none_23x17.tif", build_tiff(tiff_tags(23, 17, [8, 8, 8], 2, 5, more={274: (SHORT, [3])}), strips(px, 5)))

    # RGBA: alpha dropped, never composited.  ExtraSamples 1 (associated)
    # is un-premultiplied by Pillow; 0 (unspecified) is RGBX; with no
    # ExtraSamples in separate planes libtiff calls it unspecified and
    # Pillow un-premultiplies that too.
    a = np.concatenate([scene(37, 29, 28), rng.randint(0, 256, (29, 37, 1))], -1).astype(np.uint8)
    a[3, :5, 3] = [0, 1, 254, 255, 128]
    rgba = lambda extra, rows=29: build_tiff(
        tiff_tags(37, 29, [8, 8, 8, 8], 2, rows, more=None if extra is None else {338: (SHORT, [extra])}), strips(a, rows))
    save("tif_rgba8_unassoc_lzw_37x29.tif", tiffcp(["-c", "lzw"], rgba(2)))
    save("tif_rgba8_assoc_none_37x29.tif", rgba(1, 7))
    save("tif_rgba8_assoc_deflate_37x29.tif", tiffcp(["-c", "zip"], rgba(1)))
    save("tif_rgba8_noextra_planar_lzw_37x29.tif", tiffcp(["-p", "separate", "-c", "lzw"], rgba(None)))
    save("tif_rgbx8_packbits_37x29.tif", tiffcp(["-c", "packbits"], rgba(0)))


def save(name, data):
    assert len(data) < 30000, f"{name} is {len(data)} bytes"
    with open(os.path.join(FIXTURES, name), "wb") as f:
        f.write(data)


def save_pil(name, img, **kw):
    buf = io.BytesIO()
    img.save(buf, **kw)
    save(name, buf.getvalue())


def make_fixtures():
    os.makedirs(FIXTURES, exist_ok=True)
    for f in os.listdir(FIXTURES):
        os.remove(os.path.join(FIXTURES, f))
    rng = np.random.RandomState(7)

    # JPEG: baseline 4:2:0 / 4:2:2, progressive, gray, CMYK, exactly 224.
    save_pil("jpg_420_77x59.jpg", Image.fromarray(scene(77, 59, 1)), format="JPEG", quality=85)
    save_pil("jpg_422_65x45.jpg", Image.fromarray(scene(65, 45, 2)), format="JPEG", quality=90, subsampling=1)
    # Cut before its EOI marker, every scanline still decodes: Pillow keeps it.
    save_pil("jpg_420_42x31.jpg", Image.fromarray(scene(42, 31, 15)), format="JPEG", quality=85, subsampling=2)
    save_pil("jpg_prog_83x61.jpg", Image.fromarray(scene(83, 61, 3)), format="JPEG", quality=80, progressive=True)
    save_pil("jpg_gray_71x53.jpg", Image.fromarray(scene(71, 53, 4)[..., 1]), format="JPEG", quality=85)
    cmyk = np.concatenate([scene(67, 49, 5), scene(67, 49, 6)[..., :1]], -1)
    save_pil("jpg_cmyk_67x49.jpg", Image.fromarray(cmyk, "CMYK"), format="JPEG", quality=90)
    # Flat blocks and a few edges keep its decoded golden small.
    y, x = np.mgrid[0:224, 0:224]
    flat = np.stack([np.where((x // 32 + y // 32) % 2, 200, 40), np.where(x > 100, 180, 60),
                     np.where((x - 112) ** 2 + (y - 112) ** 2 < 60 ** 2, 230, 20)], -1).astype(np.uint8)
    save_pil("jpg_444_224x224.jpg", Image.fromarray(flat), format="JPEG", quality=90, subsampling=0)
    # Arithmetic coding and restart markers, which Pillow cannot write.
    with tempfile.NamedTemporaryFile(suffix=".ppm") as t:
        Image.fromarray(scene(59, 43, 9)).save(t.name)
        save("jpg_arith_restart_59x43.jpg",
             subprocess.run(["cjpeg", "-arithmetic", "-restart", "1", "-quality", "85", t.name],
                            check=True, capture_output=True).stdout)

    # PNG: every colour type and depth Pillow maps differently.
    idx = rng.randint(0, 256, (47, 61))
    write_png("png_p8_61x47.png", idx[..., None], 8, 3, plte=rng.randint(0, 256, (200, 3)))  # indices past PLTE
    idx = rng.randint(0, 16, (29, 37))
    write_png("png_p4_trns_37x29.png", idx[..., None], 4, 3, plte=rng.randint(0, 256, (16, 3)),
              trns=rng.randint(0, 256, 10))
    write_png("png_p1_interlaced_9x1.png", rng.randint(0, 2, (1, 9, 1)), 1, 3, plte=[[10, 200, 30], [250, 5, 90]],
              interlace=True)
    write_png("png_g1_45x33.png", rng.randint(0, 2, (33, 45, 1)), 1, 0)
    write_png("png_g2_interlaced_13x11.png", rng.randint(0, 4, (11, 13, 1)), 2, 0, interlace=True)
    write_png("png_g4_53x41.png", rng.randint(0, 16, (41, 53, 1)), 4, 0)
    write_png("png_g8_interlaced_1x9.png", rng.randint(0, 256, (9, 1, 1)), 8, 0, interlace=True)
    write_png("png_g16_40x30.png", rng.randint(0, 1024, (30, 40, 1)), 16, 0)
    write_png("png_ga8_47x35.png", np.concatenate([scene(47, 35, 10)[..., :1], rng.randint(0, 256, (35, 47, 1))], -1),
              8, 4)
    write_png("png_ga16_23x17.png", rng.randint(0, 65536, (17, 23, 2)), 16, 4)
    write_png("png_rgb8_1x1.png", np.array([[[12, 200, 77]]]), 8, 2)
    write_png("png_rgb8_interlaced_57x43.png", scene(57, 43, 11), 8, 2, interlace=True, text_after=True)
    write_png("png_rgb8_interlaced_3x2.png", scene(3, 2, 12), 8, 2, interlace=True)
    write_png("png_rgb8_interlaced_1x1.png", np.array([[[31, 41, 59]]]), 8, 2, interlace=True)
    write_png("png_rgb16_43x31.png", rng.randint(0, 65536, (31, 43, 3)), 16, 2)
    write_png("png_rgba8_50x38.png", np.concatenate([scene(50, 38, 13), rng.randint(0, 256, (38, 50, 1))], -1), 8, 6)
    write_png("png_rgba16_21x19.png", rng.randint(0, 65536, (19, 21, 4)), 16, 6)

    # Netpbm: binary only, maxvals that take Pillow's other paths.
    px = scene(31, 23, 14)
    save("pgm_p5_31x23.pgm", b"P5\n# a comment\n31 23\n255\n" + px[..., 0].tobytes())
    save("ppm_p6_29x21.ppm", b"P6\n2#a comment inside a token\n9 21\n255\n" + scene(29, 21, 15).tobytes())
    save("pgm_p5_max15_17x13.pgm", b"P5 17 13 15\n" + rng.randint(0, 20, (13, 17)).astype(np.uint8).tobytes())
    save("pgm_p5_max1000_19x11.pgm", b"P5 19 11 1000\n" + rng.randint(0, 1100, (11, 19)).astype(">u2").tobytes())
    save("pgm_p5_max65535_15x9.pgm", b"P5 15 9 65535\n" + rng.randint(0, 600, (9, 15)).astype(">u2").tobytes())
    save("ppm_p6_max4095_21x15.ppm", b"P6 21 15 4095\n" + rng.randint(0, 4096, (15, 21, 3)).astype(">u2").tobytes())
    save("ppm_p6_max100_13x7.ppm", b"P6 13 7 100\n" + rng.randint(0, 101, (7, 13, 3)).astype(np.uint8).tobytes())
    bits = rng.randint(0, 2, (13, 19))
    save("pbm_p4_19x13.pbm", b"P4\n19 13\n" + b"".join(png_pack_row(r[:, None], 1) for r in bits))

    # BMP: bottom-up and top-down, palettes, bit fields.
    px = scene(61, 47, 16)
    write_bmp("bmp_rgb24_61x47.bmp", [r[:, ::-1].tobytes() for r in px], 61, 47, 24)
    px = scene(39, 27, 17)
    bgrx = np.concatenate([px[..., ::-1], rng.randint(0, 256, (27, 39, 1))], -1).astype(np.uint8)
    write_bmp("bmp_rgb32_topdown_39x27.bmp", [r.tobytes() for r in bgrx], 39, 27, 32, topdown=True)
    rgba = np.concatenate([px, rng.randint(0, 256, (27, 39, 1))], -1).astype(np.uint8)
    write_bmp("bmp_bitfields32_v4_39x27.bmp", [r.tobytes() for r in rgba], 39, 27, 32,
              masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000), header=108)
    idx = rng.randint(0, 256, (33, 45))
    write_bmp("bmp_p8_45x33.bmp", pack_indices(idx, 8), 45, 33, 8, palette=rng.randint(0, 256, (200, 3)))
    write_bmp("bmp_gray8_35x25.bmp", pack_indices(rng.randint(0, 256, (25, 35)), 8), 35, 25, 8,
              palette=np.repeat(np.arange(256)[:, None], 3, 1))
    write_bmp("bmp_p4_37x29.bmp", pack_indices(rng.randint(0, 16, (29, 37)), 4), 37, 29, 4,
              palette=rng.randint(0, 256, (16, 3)))
    write_bmp("bmp_p1_35x21.bmp", pack_indices(rng.randint(0, 2, (21, 35)), 1), 35, 21, 1,
              palette=[[200, 30, 60], [20, 220, 140]])
    write_bmp("bmp_bw1_33x17.bmp", pack_indices(rng.randint(0, 2, (17, 33)), 1), 33, 17, 1,
              palette=[[0, 0, 0], [255, 255, 255]])

    make_tiff_fixtures()


# ---- goldens ----------------------------------------------------------------

def png_chunks(data):
    """[(tag, offset of the chunk, data length)] of a PNG."""
    out, pos = [], 8
    while pos + 8 <= len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        out.append((data[pos + 4:pos + 8], pos, n))
        pos += 12 + n
    return out


def variants(name, data):
    """(kind, arg) changes to a fixture: cuts at telling places, flipped bytes."""
    n = len(data)
    cuts = [n // 3, n // 2, n - 1]
    flips = []
    if name.endswith(".jpg"):
        cuts += [2, 3, 20, 200, n - 200, n - 10, n - 3, n - 2]
        flips += [n // 2, n - 30]  # inside the entropy-coded data
    elif name.endswith(".png"):
        chunks = png_chunks(data)
        idat_end = max(p + 8 + ln for t, p, ln in chunks if t == b"IDAT")
        # 4 bytes of zlib checksum end the last IDAT; before them, the data.
        cuts += [20, 40, idat_end, idat_end - 4, idat_end - 5, idat_end - 8]
        flips += [p + 8 + ln for t, p, ln in chunks]  # each chunk's CRC
        flips += [p + 8 for t, p, ln in chunks if t == b"IDAT"]  # zlib header
        flips += [idat_end - 1]  # zlib checksum
        flips += [p + 4 for t, p, ln in chunks if t == b"IEND"]  # a broken chunk after the image
    elif name.endswith(".tif"):
        ifd, entries, esize, low_byte, first_value = tiff_entries(data)
        cuts += [8, ifd, ifd + 2 + esize * 3, ifd + 2 + esize * (len(entries) - 1) + 6]
        blocks = 273 if 273 in entries else 324
        cuts += [first_value(blocks) + 1, first_value(blocks) + 40]  # inside the first strip or tile
        flips += [ifd, n // 2]  # the entry count; a byte of the data (or of the IFD)
        # Compression, where the blocks are, BitsPerSample, RowsPerStrip;
        # not the last in JPEG: its strips would then hold fewer rows than
        # libtiff wants, libtiff leaves the rest of Pillow's buffer as it
        # was, and Pillow shows uninitialised memory there.
        flips += [low_byte(tag) for tag in (259, 273, 324, 258) if tag in entries]
        flips += [low_byte(278)] if 278 in entries and first_value(259) != 7 else []
    else:
        cuts += [10, 30, n - 2]
    return sorted({(0, c) for c in cuts if 0 < c < n} | {(1, f) for f in flips if 0 <= f < n})


def tiff_entries(data):
    """A TIFF's first IFD: (its offset, {tag: entry offset}, entry size,
    low_byte(tag): where the low byte of the tag's first value, or of the
    offset of its values, is, first_value(tag))."""
    bo = ">" if data[:2] == b"MM" else "<"
    big = data[2] == 43
    ifd = struct.unpack(bo + "Q", data[8:16])[0] if big else struct.unpack(bo + "L", data[4:8])[0]
    esize, inline, cfmt = (20, 8, "Q") if big else (12, 4, "L")
    count = struct.unpack(bo + ("Q" if big else "H"), data[ifd:ifd + (8 if big else 2)])[0]
    entries = {}
    for i in range(count):
        pos = ifd + (8 if big else 2) + i * esize
        entries[struct.unpack(bo + "H", data[pos:pos + 2])[0]] = pos
    unit = {3: 2, 4: 4, 16: 8}

    def field(tag):
        pos = entries[tag]
        typ, cnt = struct.unpack(bo + "H" + cfmt, data[pos + 2:pos + 4 + inline])
        size = unit[typ] * cnt
        return pos + 4 + inline, unit[typ], size <= inline

    def low_byte(tag):
        at, u, inl = field(tag)
        return at if bo == "<" else at + (u if inl else inline) - 1

    def first_value(tag):
        at, u, inl = field(tag)
        if not inl:
            at = struct.unpack(bo + cfmt, data[at:at + inline])[0]
        return struct.unpack(bo + {2: "H", 4: "L", 8: "Q"}[u], data[at:at + u])[0]

    return ifd, entries, esize, low_byte, first_value


def apply(data, kind, arg):
    if kind == 0:
        return data[:arg]
    b = bytearray(data)
    b[arg] ^= 0xFF
    return bytes(b)


def names_array(names, width):
    out = np.zeros((len(names), width), np.uint8)
    for i, s in enumerate(names):
        b = s.encode()
        assert len(b) < width, s
        out[i, :len(b)] = np.frombuffer(b, np.uint8)
    return out


def gz(group, key, arr):
    # One chunk per array: gzip then sees the rows that NEAREST repeats.
    group.create_dataset(key, data=arr, chunks=arr.shape, compression="gzip", compression_opts=9)


def write_fixture_golden():
    names = sorted(os.listdir(FIXTURES))
    var_rows = []
    with h5py.File(os.path.join(GOLDEN, "pillow_fixtures.h5"), "w", libver="latest") as f:
        fx = f.create_group("fixtures")
        gz(fx, "names", names_array(names, 64))
        for name in names:
            print(name)
            with open(os.path.join(FIXTURES, name), "rb") as fh:
                data = fh.read()
            decoded, out224 = keras_load(data)  # committed fixtures must load
            g = fx.create_group(name)
            gz(g, "decoded", decoded)
            if decoded.shape == out224.shape:
                g["vgg224"] = g["decoded"]  # not resized: a hard link, stored once
            else:
                gz(g, "vgg224", out224)
            for kind, arg in variants(name, data):
                got = try_load(apply(data, kind, arg))
                if got is None:
                    var_rows.append((name, kind, arg, 1, 0, 0, 0))
                else:
                    dec, o = got
                    var_rows.append((name, kind, arg, 0, dec.shape[1], dec.shape[0], fnv1a64(o.tobytes())))
        v = f.create_group("variants")
        cols = list(zip(*var_rows))
        gz(v, "source", names_array(cols[0], 64))
        for key, col, dt in (("kind", 1, np.int32), ("arg", 2, np.int64), ("refused", 3, np.uint8),
                             ("width", 4, np.int32), ("height", 5, np.int32), ("hash224", 6, np.uint64)):
            gz(v, key, np.array(cols[col], dt))
        print(f"{len(var_rows)} variants, {sum(cols[3])} refused")

        # Source column of each output column, from an image whose pixels
        # are their own x: sizes where accumulating the step matters
        # (64 -> 224), odd ones, and widths just past 2^24, which Pillow's
        # float box rounds (their indices still fit the test's 24 bits).
        sizes = [(64, 224), (128, 224), (192, 224), (250, 224), (61, 224), (1, 224), (224, 224), (1216, 224),
                 (3, 1), (7, 3), (500, 97), (97, 500), (16777217, 224), (16777219, 224)]
        index = []
        for n, m in sizes:
            row = Image.fromarray(np.arange(n, dtype=np.int32)[None, :], "I")
            index.append(np.asarray(row.resize((m, 1), Image.NEAREST))[0])
        r = f.create_group("resize")
        gz(r, "in", np.array([s[0] for s in sizes], np.int32))
        gz(r, "out", np.array([s[1] for s in sizes], np.int32))
        gz(r, "index", np.concatenate(index).astype(np.int32))

        # preprocess_input's numpy path, as Keras writes it.
        rgb = np.stack([np.arange(256), (np.arange(256) + 85) % 256, (np.arange(256) + 170) % 256], -1)
        x = rgb.astype(np.float32)[None]
        x = x[..., ::-1]
        x[..., 0] -= MEAN_BGR[0]
        x[..., 1] -= MEAN_BGR[1]
        x[..., 2] -= MEAN_BGR[2]
        vg = f.create_group("vgg")
        gz(vg, "rgb", rgb.astype(np.uint8))
        gz(vg, "out", x[0].astype(np.float32))


def write_shared_golden():
    paths = []
    for sub in ("lfw-dev", "orl"):
        for d, _, files in os.walk(os.path.join(SHARED, sub)):
            paths += [os.path.relpath(os.path.join(d, fn), SHARED) for fn in files if not fn.startswith("README")]
    paths.sort()
    rows = []
    for i, p in enumerate(paths):
        if i % 200 == 0:
            print(f"shared {i}/{len(paths)}")
        with open(os.path.join(SHARED, p), "rb") as fh:
            got = try_load(fh.read())
        if got is None:
            rows.append((1, 0, 0, 0))
        else:
            dec, o = got
            rows.append((0, dec.shape[1], dec.shape[0], fnv1a64(o.tobytes())))
    cols = list(zip(*rows))
    with h5py.File(os.path.join(GOLDEN, "pillow_shared.h5"), "w", libver="latest") as f:
        gz(f, "path", names_array(paths, 96))
        gz(f, "refused", np.array(cols[0], np.uint8))
        gz(f, "width", np.array(cols[1], np.int32))
        gz(f, "height", np.array(cols[2], np.int32))
        gz(f, "hash224", np.array(cols[3], np.uint64))
    print(f"{len(paths)} shared images, {sum(cols[0])} refused")


def main():
    assert PIL.__version__.startswith("9.4."), f"Pillow {PIL.__version__}: use /usr/bin/python3"
    if "--fixtures" in sys.argv[1:]:
        make_fixtures()
    os.makedirs(GOLDEN, exist_ok=True)
    write_fixture_golden()
    if os.path.isdir(SHARED):
        write_shared_golden()
    else:
        print(f"{SHARED} is absent: pillow_shared.h5 left as it is")


if __name__ == "__main__":
    main()
