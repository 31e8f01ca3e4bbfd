#!/usr/bin/python3
"""Independent reference for VGG16's fc2 vector, with Keras' semantics.

Dev-only: the runtime programs never need Python.  This script shares no
code with the C implementation: it reads the weights file with h5py the way
Keras' legacy HDF5 loader does (root attribute layer_names, each group's
weight_names, weighted layers matched in order), loads images the way
`tf.keras.utils.load_img(path, target_size=(224, 224))` does (Pillow,
convert('RGB') when needed, resize with Image.NEAREST only when the size
differs), applies `vgg16.preprocess_input` (RGB->BGR, float32 mean
subtraction) and runs the network in float64 with PyTorch, flattening pool5
in Keras' H, W, C order.

Writes tests/golden/fc2_golden.h5, which `make test` compares against:
  /keys      (N) strings  "repo:<path>" or "shared:<path under ../shared/data>"
  /fc2       (N, 4096) float32
  /kernel_sum, /bias_sum, /kernel_abs_sum (15) float64: sums of each layer's
             weights, so the test can tell that it runs on the same weights.
Rerun (after `make build/test-data/vgg16_seed1.h5`):
  /usr/bin/python3 tests/ref/keras_ref.py build/test-data/vgg16_seed1.h5 \
      tests/golden/fc2_golden.h5 KEY...
"""
import os
import sys

import h5py
import numpy as np
import torch
from PIL import Image

VGG_LAYERS = 15  # 13 conv + fc1 + fc2
POOL_AFTER = {1, 3, 6, 9, 12}  # indices of the conv layers followed by a pool
MEAN_BGR = [103.939, 116.779, 123.68]
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")


def _strings(values):
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def load_keras_weights(path):
    """[(kernel, bias)] for the first 15 weighted layers, in file order."""
    with h5py.File(path, "r") as f:
        g = f["model_weights"] if "layer_names" not in f.attrs else f
        layers = []
        for name in _strings(g.attrs["layer_names"]):
            names = _strings(g[name].attrs["weight_names"])
            if names:
                layers.append([np.asarray(g[name][w], dtype=np.float64) for w in names])
    return layers[:VGG_LAYERS]


def load_img_keras(path):
    img = Image.open(path)
    if img.mode != "RGB":
        img = img.convert("RGB")
    if img.size != (224, 224):
        img = img.resize((224, 224), Image.NEAREST)
    return np.asarray(img, dtype=np.float32)  # (224, 224, 3), like img_to_array


def preprocess_input_caffe(x):
    x = x[..., ::-1].copy()  # RGB -> BGR
    for c in range(3):
        x[..., c] -= MEAN_BGR[c]  # float32 arithmetic, as in Keras
    return x


def fc2(layers, x):
    """x: (224, 224, 3) float32 BGR. Returns (4096,) float64."""
    t = torch.from_numpy(x.astype(np.float64)).permute(2, 0, 1)[None]  # NCHW
    for i in range(13):
        k, b = layers[i]
        w = torch.from_numpy(k).permute(3, 2, 0, 1)  # HWIO -> OIHW
        t = torch.relu(torch.nn.functional.conv2d(t, w, torch.from_numpy(b), padding=1))
        if i in POOL_AFTER:
            t = torch.nn.functional.max_pool2d(t, 2)
    t = t.permute(0, 2, 3, 1).reshape(1, -1)  # Keras Flatten: H, W, C order
    for i in (13, 14):
        k, b = layers[i]
        t = torch.relu(t @ torch.from_numpy(k) + torch.from_numpy(b))
    return t[0].numpy()


def resolve(key):
    kind, rel = key.split(":", 1)
    return rel if kind == "repo" else os.path.join(SHARED, rel)


def main():
    weights, out, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
    torch.set_grad_enabled(False)
    layers = load_keras_weights(weights)
    assert len(layers) == VGG_LAYERS, "need 15 weighted layers"
    vecs = []
    for key in keys:
        vecs.append(fc2(layers, preprocess_input_caffe(load_img_keras(resolve(key)))))
        print(f"{key}: max {vecs[-1].max():.6g}, nonzero {np.count_nonzero(vecs[-1])}")
    with h5py.File(out, "w") as f:
        f["keys"] = np.array([k.encode("utf8") for k in keys])
        f.create_dataset("fc2", data=np.array(vecs, dtype=np.float32), compression="gzip")
        f["kernel_sum"] = np.array([l[0].sum() for l in layers])
        f["bias_sum"] = np.array([l[1].sum() for l in layers])
        f["kernel_abs_sum"] = np.array([np.abs(l[0]).sum() for l in layers])


if __name__ == "__main__":
    main()
