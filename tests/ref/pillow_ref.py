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
libjpeg-turbo-progs).  Writes tests/golden/pillow_fixtures.h5 and, when
../shared/data exists, tests/golden/pillow_shared.h5:

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
    else:
        cuts += [10, 30, n - 2]
    return sorted({(0, c) for c in cuts if 0 < c < n} | {(1, f) for f in flips if 0 <= f < n})


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
