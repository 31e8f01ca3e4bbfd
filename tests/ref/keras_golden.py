#!/usr/bin/env python3
"""Golden fc2 vectors computed by Keras itself (tf-keras, TensorFlow).

Dev-only: the programs and `make test` never run Python.  Where
tests/ref/keras_ref.py re-implements Keras' semantics (and could share a
misunderstanding with the C code), this script runs Keras' own code path,
with TF_USE_LEGACY_KERAS=1 (tf.keras is tf_keras, as the seed used):

    model = tf.keras.applications.vgg16.VGG16(weights=None)
    model.load_weights(FILE)           # each weights file given, in turn
    img = tf.keras.utils.load_img(path, target_size=(224, 224))
    x = tf.keras.applications.vgg16.preprocess_input(
            tf.keras.utils.img_to_array(img))
    tf.keras.Model(model.inputs, model.get_layer("fc2").output).predict(x)

Each weights file must load with load_weights, hold the same numbers as
the first (checked against h5py's reading of the file) and give bit for
bit the same vectors; any refusal is an error, not something to work around.
An image Keras refuses (load_img raises) is left out and listed in the
attribute `refused`.

Writes tests/golden/keras_fc2.h5, which tests/test_vgg.c compares against:
  /keys      (N) strings  "repo:<path>" or "shared:<path under ../shared/data>"
  /fc2       (N, 4096) float32, Keras' output
  /kernel_sum, /bias_sum, /kernel_abs_sum (15) float64: sums, in float64,
             of the weights Keras loaded (conv1_1 .. fc2), so the test can
             tell that it runs on the same weights
  attributes: tensorflow, tf_keras, Pillow, h5py, numpy (versions),
             layouts (the weights files' layouts, in order), refused
The images: a fixed list of fixtures (every decoder path: JPEG baseline,
progressive, arithmetic, CMYK, gray; PNG palette with and without tRNS,
16-bit, gray+alpha; BMP; PPM; PGM), the TIFF fixtures of TIFF_FIXTURES
that exist when it runs (one per way of storing pixels; rerun when one is
added), and three images of ../shared/data (which must be present).

Rerun from the repository root, in the development environment (make
dev-env), after `make build/demo/gen_weights build/test-data/vgg16_seed1.h5`:
    build/demo/gen_weights --seed 1 --layout keras2 \\
        --out /tmp/vgg16_seed1_keras2.h5
    build/dev-env/bin/python tests/ref/keras_golden.py \\
        build/test-data/vgg16_seed1.h5:official \\
        /tmp/vgg16_seed1_keras2.h5:keras2
(about a minute on 2 cores).
"""
import glob
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import PIL  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
OUT = os.path.join(ROOT, "tests", "golden", "keras_fc2.h5")
PINS = os.path.join(ROOT, "tests", "ref", "requirements-dev.txt")
VGG_LAYERS = 15  # 13 conv + fc1 + fc2: what the C network uses

FIXTURES = [
    "jpg_420_77x59.jpg",           # baseline, 4:2:0
    "jpg_prog_83x61.jpg",          # progressive
    "jpg_arith_restart_59x43.jpg", # arithmetic coding, restart markers
    "jpg_cmyk_67x49.jpg",          # Adobe CMYK
    "jpg_gray_71x53.jpg",          # one component
    "jpg_444_224x224.jpg",         # no resize
    "png_p8_61x47.png",            # palette, indices past its end
    "png_p4_trns_37x29.png",       # palette with transparency (tRNS)
    "png_rgb16_43x31.png",         # 16-bit RGB
    "png_ga8_47x35.png",           # gray + alpha
    "bmp_p8_45x33.bmp",            # palette, indices past its end
    "bmp_bitfields32_v4_39x27.bmp",
    "ppm_p6_29x21.ppm",
    "pgm_p5_31x23.pgm",
]
# One TIFF per way of storing pixels: tests/golden/pillow_fixtures.h5
# checks every TIFF fixture's decoding byte for byte already.  Those absent
# are skipped (rerun once they exist); the others are listed when it runs.
TIFF_FIXTURES = [
    "tif_rgb8_lzw_37x29.tif",
    "tif_rgb8_jpeg_ycbcr_37x29.tif",      # JPEG in TIFF
    "tif_rgb8_planar_lzw_37x29.tif",      # one plane per channel
    "tif_rgb8_tiled_lzw_37x29.tif",
    "tif_rgb8_orient6_lzw_23x17.tif",     # Pillow applies the Orientation tag
    "tif_rgba8_unassoc_lzw_37x29.tif",    # alpha dropped
    "tif_rgba8_assoc_none_37x29.tif",     # premultiplied alpha
    "tif_gray16_mm_lzw_pred2_29x21.tif",  # big-endian 16-bit, predictor
    "tif_pal8_lzw_45x33.tif",
    "tif_bw1_miniswhite_g4_53x41.tif",    # CCITT group 4
]
SHARED_KEYS = [
    "shared:lfw-dev/Alejandro_Toledo/Alejandro_Toledo_0001.jpg",
    "shared:lfw-dev/Serena_Williams/Serena_Williams_0002.jpg",
    "shared:orl/s1/1.pgm",
]


def keys():
    present = {os.path.basename(p) for p in
               glob.glob(os.path.join(ROOT, "tests", "fixtures", "tif_*.tif"))}
    tifs = [n for n in TIFF_FIXTURES if n in present]
    for n in TIFF_FIXTURES:
        if n not in present:
            print(f"absent, skipped: tests/fixtures/{n}")
    if present - set(tifs):
        print("TIFF fixtures left out:", " ".join(sorted(present - set(tifs))))
    return ["repo:tests/fixtures/" + n for n in FIXTURES + tifs] + SHARED_KEYS


def resolve(key):
    kind, rel = key.split(":", 1)
    path = os.path.join(ROOT if kind == "repo" else SHARED, rel)
    if not os.path.exists(path):
        sys.exit(f"{key}: {path} is missing")
    return path


def check_pins():
    """The goldens must come from the pinned Keras, TensorFlow and Pillow."""
    pins = {}
    with open(PINS) as f:
        for line in f:
            line = line.split("#")[0].strip()
            if "==" in line:
                name, version = line.split("==")
                pins[name.lower()] = version
    have = {"tensorflow-cpu": tf.__version__, "tf-keras": tf_keras.__version__,
            "pillow": PIL.__version__}
    for name, version in have.items():
        if pins.get(name) != version:
            sys.exit(f"{name} {version} is not the pinned {pins.get(name)} ({PINS})")
    if not tf.keras.__name__.startswith("tf_keras"):
        sys.exit(f"tf.keras is {tf.keras.__name__}, not tf_keras: TF_USE_LEGACY_KERAS ignored")


def file_weights(path):
    """The weighted layers' arrays as h5py reads them, in file order."""
    def names(g, attr):
        return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in g.attrs[attr]]
    with h5py.File(path, "r") as f:
        g = f if "layer_names" in f.attrs else f["model_weights"]
        out = []
        for layer in names(g, "layer_names"):
            wn = names(g[layer], "weight_names")
            if wn:
                out.append((layer, [np.asarray(g[layer][w]) for w in wn]))
    return out


def load_model(path):
    """VGG16 with path's weights, by load_weights; fails loudly otherwise."""
    model = tf.keras.applications.vgg16.VGG16(weights=None)
    model.load_weights(path)
    ours = [(l.name, l.get_weights()) for l in model.layers if l.get_weights()]
    theirs = file_weights(path)
    if [n for n, _ in ours] != [n for n, _ in theirs]:
        sys.exit(f"{path}: layers {[n for n, _ in theirs]} in the file, "
                 f"{[n for n, _ in ours]} in the model")
    for (name, a), (_, b) in zip(ours, theirs):
        if len(a) != len(b) or not all(np.array_equal(x, y) for x, y in zip(a, b)):
            sys.exit(f"{path}: layer {name}: Keras loaded other numbers than the file holds")
    return model, [w for _, w in ours[:VGG_LAYERS]]


def load_images(keys_):
    """(kept keys, (n, 224, 224, 3) float32 preprocessed, refusals)."""
    kept, xs, refused = [], [], []
    for key in keys_:
        try:
            img = tf.keras.utils.load_img(resolve(key), target_size=(224, 224))
        except Exception as e:  # what Keras raises is a refusal
            refused.append(f"{key}: {type(e).__name__}: {e}")
            print("refused", refused[-1])
            continue
        x = tf.keras.utils.img_to_array(img)
        xs.append(tf.keras.applications.vgg16.preprocess_input(x))
        kept.append(key)
    return kept, np.stack(xs), refused


def fc2(model, x):
    feat = tf.keras.Model(model.inputs, model.get_layer("fc2").output)
    return feat.predict(x, batch_size=4, verbose=0)


def main():
    args = sys.argv[1:]
    if not args or any(":" not in a for a in args):
        sys.exit("usage: keras_golden.py WEIGHTS.h5:LAYOUT [WEIGHTS.h5:LAYOUT ...]")
    check_pins()
    kept, x, refused = load_images(keys())
    first = None
    for arg in args:
        path, layout = arg.rsplit(":", 1)
        model, weights = load_model(path)
        out = fc2(model, x)
        print(f"{layout}: {path} loaded; fc2 max {out.max():.6g}, "
              f"nonzero {np.count_nonzero(out)} of {out.size}")
        if first is None:
            first = (weights, out)
            continue
        if not all(np.array_equal(a, b) for la, lb in zip(weights, first[0])
                   for a, b in zip(la, lb)):
            sys.exit(f"{path}: other weights than {args[0]}")
        if not np.array_equal(out, first[1]):
            sys.exit(f"{path}: fc2 differs from {args[0]}'s by up to "
                     f"{np.abs(out - first[1]).max():g}")
    weights, out = first
    with h5py.File(OUT, "w") as f:
        f["keys"] = np.array([k.encode("utf8") for k in kept])
        f.create_dataset("fc2", data=out.astype(np.float32), compression="gzip",
                         shuffle=True, compression_opts=9)
        f["kernel_sum"] = np.array([w[0].astype(np.float64).sum() for w in weights])
        f["bias_sum"] = np.array([w[1].astype(np.float64).sum() for w in weights])
        f["kernel_abs_sum"] = np.array([np.abs(w[0].astype(np.float64)).sum() for w in weights])
        f.attrs["tensorflow"] = tf.__version__
        f.attrs["tf_keras"] = tf_keras.__version__
        f.attrs["Pillow"] = PIL.__version__
        f.attrs["h5py"] = h5py.__version__
        f.attrs["numpy"] = np.__version__
        f.attrs["layouts"] = ",".join(a.rsplit(":", 1)[1] for a in args)
        f.attrs["refused"] = "\n".join(refused)
    print(f"wrote {OUT}: {len(kept)} vectors, {len(refused)} refused")


if __name__ == "__main__":
    main()
