#!/usr/bin/python3
"""Independent reference for VGG16's fc2 vector (and VGG-Face's fc7), with
Keras' semantics.

Dev-only: the runtime programs never need Python.  This script shares no
code with the C implementation: it reads the weights file with h5py the way
Keras' legacy HDF5 loader does (root attribute layer_names, each group's
weight_names, weighted layers matched in order), loads images the way
`tf.keras.utils.load_img(path, target_size=(224, 224))` does (Pillow,
convert('RGB') when needed, resize with Image.NEAREST only when the size
differs), applies `vgg16.preprocess_input` (RGB->BGR, float32 mean
subtraction) and runs the network in float64 with PyTorch, flattening pool5
in Keras' H, W, C order.

With --model vggface the weights are keras-vggface's
(`VGGFace(model='vgg16')`, rcmalli_vggface_tf_vgg16.h5): the same network,
its weighted layers named conv1_1 .. conv5_3, fc6, fc7 (this script checks
the names, its own way of telling the model), and its preprocess_input
(version=1): RGB->BGR, minus 93.5940, 104.7624, 129.1863 in float32; the
vector is fc7 after its ReLU.

Writes tests/golden/fc2_golden.h5 (vggface: vggface_fc7_golden.h5), which
`make test` compares against:
  /keys      (N) strings  "repo:<path>" or "shared:<path under ../shared/data>"
  /fc2       (N, 4096) float32 (vggface: /fc7)
  /kernel_sum, /bias_sum, /kernel_abs_sum (15) float64: sums of each layer's
             weights, so the test can tell that it runs on the same weights.
  (vggface only) root attributes model, preprocess, and the versions of
             torch, h5py, numpy and Pillow that made it.
Rerun (after `make build/test-data/vgg16_seed1.h5`):
  /usr/bin/python3 tests/ref/keras_ref.py build/test-data/vgg16_seed1.h5 \
      tests/golden/fc2_golden.h5 KEY...
and (build/demo/gen_weights --seed 1 --layout vggface --out vggface.h5):
  /usr/bin/python3 tests/ref/keras_ref.py --model vggface vggface.h5 \
      tests/golden/vggface_fc7_golden.h5 \
      repo:tests/fixtures/jpg_420_77x59.jpg repo:tests/fixtures/png_p8_61x47.png \
      repo:tests/fixtures/jpg_gray_71x53.jpg repo:tests/fixtures/jpg_444_224x224.jpg \
      shared:lfw-dev/Angelina_Jolie/Angelina_Jolie_0001.jpg \
      shared:lfw-dev/Serena_Williams/Serena_Williams_0002.jpg
(each golden file's /keys lists the images it was made from).

  keras_ref.py [--model vggface] --inputs W.h5 X.npy OUT.npy
takes images already loaded and preprocessed, X (N, 224, 224, 3) float32
BGR, and writes their vectors in float64, OUT (N, 4096): the exact model
that tests/ref/keras_model.py sets Keras and predict beside.
"""
import os
import sys

import h5py
import numpy as np
import torch
import PIL
from PIL import Image

VGG_LAYERS = 15  # 13 conv + fc1 + fc2
POOL_AFTER = {1, 3, 6, 9, 12}  # indices of the conv layers followed by a pool
MEAN_BGR = [103.939, 116.779, 123.68]
# keras_vggface.utils.preprocess_input(version=1), after the flip to BGR.
VGGFACE_MEAN_BGR = [93.5940, 104.7624, 129.1863]
VGGFACE_NAMES = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2",
                 "conv3_3", "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2",
                 "conv5_3", "fc6", "fc7"]
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def _strings(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def load_keras_weights(path, want_names=None):
    """[(kernel, bias)] for the first 15 weighted layers, in file order.
    When want_names is given, those layers must carry these names.  A layer
    name may hold a "/" (keras-vggface's "fc6/relu"): h5py follows it into
    the nested group, as Keras' loader does."""
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "layer_names" not in f.attrs else f
        layers, found = [], []
        for name in _strings(g.attrs["layer_names"]):
            names = _strings(g[name].attrs["weight_names"])
            if names:
                layers.append([np.asarray(g[name][w], dtype=np.float64) for w in names])
                found.append(name)
    if want_names is not None:
        assert found[:VGG_LAYERS] == want_names, f"layers with weights: {found}"
    return layers[:VGG_LAYERS]


def load_img_keras(path):
    img = Image.open(path)
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.size != (224, 224):
        img = img.resize((224, 224), Image.NEAREST)
    return np.asarray(img, dtype=np.float32)  # (224, 224, 3), like img_to_array


def preprocess_input_caffe(x, mean_bgr=MEAN_BGR):
    x = x[..., ::-1].copy()  # RGB -> BGR
    for c in range(3):
        x[..., c] -= mean_bgr[c]  # float32 arithmetic, as in Keras
    return x


def pool5(layers, x):
    """x: (224, 224, 3) float32 BGR. Returns (1, 25088) float64: the 13
    convolutions and 5 pools, flattened in Keras' H, W, C order."""
    t = torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None]  # NCHW
    for i in range(13):
        k, b = layers[i]
        w = torch.from_numpy(k).permute(3, 2, 0, 1)  # HWIO -> OIHW
        t = torch.relu(torch.nn.functional.conv2d(t, w, torch.from_numpy(b), padding=1))
        if i in POOL_AFTER:
            t = torch.nn.functional.max_pool2d(t, 2)
    return t.permute(0, 2, 3, 1).reshape(1, -1)  # Keras Flatten: H, W, C order


def fc2(layers, x):
    """x: (224, 224, 3) float32 BGR. Returns (4096,) float64: the second
    dense layer after its ReLU (VGG16's fc2, VGG-Face's fc7)."""
    t = pool5(layers, x)
    for i in (13, 14):
        k, b = layers[i]
        t = torch.relu(t @ torch.from_numpy(k) + torch.from_numpy(b))
    return t[0].numpy()


def resolve(key):
    kind, rel = key.split(":", 1)
    return rel if kind == "repo" else os.path.join(SHARED, rel)


def inputs_main(weights, x_path, out, vggface=False):
    """--inputs: the float64 vectors of preprocessed images."""
    torch.set_grad_enabled(False)
    layers = load_keras_weights(weights, VGGFACE_NAMES if vggface else None)
    assert len(layers) == VGG_LAYERS, "need 15 weighted layers"
    x = np.load(x_path)
    np.save(out, np.stack([fc2(layers, x[i]) for i in range(len(x))]))


def main():
    args = sys.argv[1:]
    vggface = args[:2] == ["--model", "vggface"]
    if vggface:
        args = args[2:]
    if args[:1] == ["--inputs"]:
        return inputs_main(*args[1:], vggface=vggface)
    weights, out, keys = args[0], args[1], args[2:]
    torch.set_grad_enabled(False)
    layers = load_keras_weights(weights, VGGFACE_NAMES if vggface else None)
    assert len(layers) == VGG_LAYERS, "need 15 weighted layers"
    mean = VGGFACE_MEAN_BGR if vggface else MEAN_BGR
    vecs = []
    for key in keys:
        vecs.append(fc2(layers, preprocess_input_caffe(load_img_keras(resolve(key)), mean)))
        print(f"{key}: max {vecs[-1].max():.6g}, nonzero {np.count_nonzero(vecs[-1])}")
    with h5py.File(out, "w") as f:
        f["keys"] = np.array([k.encode("utf8") for k in keys])
        f.create_dataset("fc7" if vggface else "fc2", data=np.array(vecs, dtype=np.float32),
                         compression="gzip")
        f["kernel_sum"] = np.array([l[0].sum() for l in layers])
        f["bias_sum"] = np.array([l[1].sum() for l in layers])
        f["kernel_abs_sum"] = np.array([np.abs(l[0]).sum() for l in layers])
        if vggface:
            f.attrs["model"] = "vggface-fc7"
            f.attrs["preprocess"] = "rgb2bgr;mean-" + ",".join(f"{m:.4f}" for m in mean)
            for name, mod in (("torch", torch), ("h5py", h5py), ("numpy", np),
                              ("Pillow", PIL)):
                f.attrs[name] = str(mod.__version__)


if __name__ == "__main__":
    main()
