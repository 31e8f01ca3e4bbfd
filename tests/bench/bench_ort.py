#!/usr/bin/env python3
"""ONNX Runtime peer of bench_extract (the Python API, onnxruntime from
PyPI):

  bench_ort.py MODEL.onnx IMAGES.f32 N BATCH THREADS REPS

Runs the model bench_torch.py exported (VGG16 through fc2, NHWC input "x",
batch dimension dynamic) over the N preprocessed images of IMAGES.f32
(N, 224, 224, 3) float32 in batches of BATCH, REPS times after one warm-up
batch, on the CPU execution provider with intra_op_num_threads = THREADS,
inter_op_num_threads = 1, sequential execution and every graph
optimisation (ORT_ENABLE_ALL).  Prints "img_per_s X" (the median of the
REPS passes), "peak_rss_mb X" and "version X".  Run with the development
environment: build/dev-env/bin/python (make dev-env).
"""
import resource
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    model, images = sys.argv[1], sys.argv[2]
    n, batch, threads, reps = (int(a) for a in sys.argv[3:7])
    x = np.fromfile(images, dtype=np.float32, count=n * 224 * 224 * 3)
    if x.size != n * 224 * 224 * 3:
        sys.exit("bench_ort: %s holds fewer than %d images" % (images, n))
    x = x.reshape(n, 224, 224, 3)

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name

    def run(b0, bn):
        sess.run(None, {name: x[b0:b0 + bn]})

    run(0, min(batch, n))
    rates = []
    for _ in range(reps):
        t = time.perf_counter()
        for b0 in range(0, n, batch):
            run(b0, min(batch, n - b0))
        rates.append(n / (time.perf_counter() - t))
    rates.sort()
    print("img_per_s %.3f" % rates[reps // 2])
    print("peak_rss_mb %.0f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
    print("version %s" % ort.__version__)


if __name__ == "__main__":
    main()
