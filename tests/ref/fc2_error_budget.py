#!/usr/bin/python3
"""Where our fc2 vector's rounding comes from: the convolutions or the two
dense layers (dev-only; docs/fidelity.md, "Against the exact model").

  fc2_error_budget.py [--bin bin] [--conv winograd|direct] --weights W.h5
                      IMAGE...

extract stores each image's vector at three taps (block5_pool, fc1, fc2) on
the --conv path (keras_model.py's our_vectors); tests/ref/keras_ref.py's
float64 network (PyTorch, its own loader and preprocessing) gives the exact
ones.  Then, each as max
|difference| / max |reference| over the images:
  - pool5, ours against the exact: the convolutions' rounding;
  - fc2 of our pool5 through fc1 and fc2 in float64, against the exact
    fc2: the convolutions' share of fc2's;
  - our fc1 against fc1 in float64 on our pool5, our fc2 against fc2 in
    float64 on our fc1: each dense layer's own float32 sums;
  - our fc2 against fc1 and fc2 in float64 on our pool5: the dense
    layers' share;
  - our fc2 against the exact: all of it.
Run by Debian's python3 (numpy, h5py, torch, Pillow), not the dev
environment.
"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keras_model  # noqa: E402
import keras_ref  # noqa: E402

TAPS = ("block5_pool", "fc1", "fc2")


def exact(weights, images):
    """The float64 network's pool5 (flattened H, W, C), fc1 and fc2, and the
    dense layers [(kernel, bias)] in float64."""
    torch.set_grad_enabled(False)
    layers = keras_ref.load_keras_weights(weights)
    p = np.concatenate([keras_ref.pool5(layers, keras_ref.preprocess_input_caffe(
        keras_ref.load_img_keras(path))).numpy() for path in images])
    dense = [(layers[i][0], layers[i][1]) for i in (13, 14)]
    f1 = dense_relu(p, dense[0])
    return p, f1, dense_relu(f1, dense[1]), dense


def dense_relu(x, layer):
    return np.maximum(x @ layer[0] + layer[1], 0)


def rel(a, b, ref):
    return float((np.abs(a - b).max(1) / np.abs(ref).max(1)).max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--conv", default="winograd", choices=("winograd", "direct"))
    ap.add_argument("--weights", required=True)
    ap.add_argument("images", nargs="+")
    a = ap.parse_args()
    a.bin, a.weights = os.path.abspath(a.bin), os.path.abspath(a.weights)
    d = tempfile.mkdtemp(prefix="fc2_budget.")
    try:
        o = {tap: keras_model.our_vectors(a, a.weights, a.images, os.path.join(d, tap),
                                          tap).astype(np.float64) for tap in TAPS}
    finally:
        shutil.rmtree(d, ignore_errors=True)
    p64, f1_64, f2_64, dense = exact(a.weights, a.images)
    f1_on_ours = dense_relu(o["block5_pool"], dense[0])
    f2_on_ours = dense_relu(f1_on_ours, dense[1])
    print("%d images, %s, extract --conv %s" % (len(a.images), a.weights, a.conv))
    print("pool5, ours against the exact:                        %.3g"
          % rel(o["block5_pool"], p64, p64))
    print("fc2 of our pool5 in float64, against the exact:       %.3g  (the convolutions' share)"
          % rel(f2_on_ours, f2_64, f2_64))
    print("our fc1 against fc1 in float64 on our pool5:          %.3g  (fc1's own sums)"
          % rel(o["fc1"], f1_on_ours, f1_on_ours))
    print("our fc2 against fc2 in float64 on our fc1:            %.3g  (fc2's own sums)"
          % rel(o["fc2"], dense_relu(o["fc1"], dense[1]), dense_relu(o["fc1"], dense[1])))
    print("our fc2 against fc1, fc2 in float64 on our pool5:     %.3g  (the dense layers' share)"
          % rel(o["fc2"], f2_on_ours, f2_on_ours))
    print("our fc2 against the exact:                            %.3g  (all of it)"
          % rel(o["fc2"], f2_64, f2_64))
    return 0


if __name__ == "__main__":
    sys.exit(main())
