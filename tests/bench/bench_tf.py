#!/usr/bin/env python3
"""TensorFlow peer of bench_extract: Keras' own VGG16 through fc2, the
seed's library, on the same weights file and the same preprocessed images.

  bench_tf.py WEIGHTS.h5 IMAGES.f32 N BATCH THREADS REPS [--mode M]

    base = tf.keras.applications.vgg16.VGG16(weights=None)
    base.load_weights(WEIGHTS)
    net = tf.keras.Model(base.input, base.get_layer('fc2').output)

IMAGES.f32 holds at least N images (N, 224, 224, 3) float32, already
through vgg16.preprocess_input (BGR, ImageNet means subtracted), as
bench_extract --dump writes them.  Times REPS passes over the N images,
after a warm-up, and prints "img_per_s X" (the median), "peak_rss_mb X",
"version X" (TensorFlow's), "keras X" (tf_keras'), "onednn on|off" and
"mode M".

--mode predict (default): net.predict(x, batch_size=BATCH, verbose=0), what
a Keras user calls: one traced graph (tf.function, optimised by Grappler)
run per batch over a tf.data pipeline, as fit runs its steps.
--mode call: net(x[b0:b0+BATCH], training=False) per batch, eagerly.
--mode both: the two alternate, pass by pass, in one process; prints
img_per_s_predict and img_per_s_call, and img_per_s/mode of the faster.
predict is the default because it is the faster here: --mode both on 8
images, 3 passes, gave predict 1.54 img/s and call 1.11 (2 cores of the
development machine, busy with other jobs at the time).

Threads: tf.config.threading intra-op THREADS, inter-op 1, set before the
runtime starts.  oneDNN as TensorFlow ships it: TF_ENABLE_ONEDNN_OPTS is
left alone (TF's default turns oneDNN on only on CPUs with AVX-512 VNNI,
BF16 or AMX; set TF_ENABLE_ONEDNN_OPTS=1 to force it).  Run with the
development environment, build/dev-env/bin/python (make dev-env);
TF_USE_LEGACY_KERAS=1 is set here, so tf.keras is Keras 2 (tf_keras), the
seed's API.
"""
import argparse
import os
import resource
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def onednn_state():
    """Whether TensorFlow's oneDNN custom operations are on in this process
    (an internal API, used only for the label)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
        return "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except Exception:  # noqa: BLE001 - only a label
        return "unknown"


def keras_version():
    try:
        import tf_keras
        return tf_keras.__version__
    except Exception:  # noqa: BLE001 - only a label
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description="TensorFlow peer of bench_extract")
    ap.add_argument("weights")
    ap.add_argument("images")
    ap.add_argument("n", type=int)
    ap.add_argument("batch", type=int)
    ap.add_argument("threads", type=int)
    ap.add_argument("reps", type=int)
    ap.add_argument("--mode", choices=("predict", "call", "both"), default="predict")
    a = ap.parse_args()
    n, batch = a.n, a.batch

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    x = np.fromfile(a.images, dtype=np.float32, count=n * 224 * 224 * 3)
    if x.size != n * 224 * 224 * 3:
        sys.exit("bench_tf: %s holds fewer than %d images" % (a.images, n))
    x = x.reshape(n, 224, 224, 3)

    base = tf.keras.applications.vgg16.VGG16(weights=None)
    base.load_weights(a.weights)
    net = tf.keras.Model(base.input, base.get_layer("fc2").output)

    def by_predict():
        net.predict(x, batch_size=batch, verbose=0)

    def by_call():
        for b0 in range(0, n, batch):
            net(x[b0:b0 + batch], training=False)

    runs = {"predict": by_predict, "call": by_call}
    modes = ["predict", "call"] if a.mode == "both" else [a.mode]
    for m in modes:  # warm up: trace predict's graph, first allocations
        if m == "predict":
            net.predict(x[:batch], batch_size=batch, verbose=0)
            if n % batch:  # and the last, smaller batch's shape
                net.predict(x[: n % batch], batch_size=batch, verbose=0)
        else:
            net(x[:batch], training=False)
    rates = {m: [] for m in modes}
    for _ in range(a.reps):  # with --mode both, the two alternate
        for m in modes:
            t = time.perf_counter()
            runs[m]()
            rates[m].append(n / (time.perf_counter() - t))
    med = {m: sorted(r)[len(r) // 2] for m, r in rates.items()}
    best = max(med, key=med.get)
    if a.mode == "both":
        for m in modes:
            print("img_per_s_%s %.3f" % (m, med[m]))
    print("img_per_s %.3f" % med[best])
    print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print("version %s" % tf.__version__)
    print("keras %s" % keras_version())
    print("onednn %s" % onednn_state())
    print("mode %s" % best)


if __name__ == "__main__":
    main()
