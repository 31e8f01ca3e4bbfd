#!/usr/bin/env python3
"""Golden distances and neighbours for verify and nearest, by numpy.

Dev-only: the programs and `make test` never run Python.  This script reads
what `featdb export` wrote of a store and computes, in float64 with numpy,
DeepFace's three distances (deepface/modules/verification.py,
find_distance, as of DeepFace 0.0.9x):

    cosine        1 - a.b / (|a| |b|)          (np.dot, np.linalg.norm)
    euclidean     |a - b|                      (np.linalg.norm)
    euclidean_l2  |l2(a) - l2(b)|, l2(x) = x / (|x| + 1e-10)  (its l2_normalize)

for every pair of records, and each record's 5 nearest records (itself
included) under each, ties to the record first in key order (a stable
sort); the same again on the vectors rounded to float16 (numpy's
float16: IEEE binary16, round to nearest even, as featdb stores f16).

Writes the golden file that tests/test_recog.c compares against:
  /keys      (N) strings, the export's keys (key order)
  /features  (N, D) float32, the export's vectors
  /pairs     (P, 2) int32, every (i, j), i < j
  /<metric>, /f16_<metric>          (P) float64 distances of the pairs
  /nn_<metric>, /f16_nn_<metric>    (N, 5) int32, each record's nearest
  /nn_<metric>_dist, /f16_nn_<metric>_dist   (N, 5) float64
  attributes: numpy, h5py (versions); fingerprint, model (the export's);
             made_from (how the store was made)

Rerun from the repository root (make dev-env; `make` for the programs):
    build/demo/gen_faces --out /tmp/recog/faces --people 4 --images 4 --seed 26
    bin/extract --in /tmp/recog/faces --db /tmp/recog/s.lmdb \\
        --weights build/test-data/vgg16_seed1.h5 -q
    bin/featdb export /tmp/recog/s.lmdb --out /tmp/recog/export.h5
    build/dev-env/bin/python tests/ref/recog_ref.py /tmp/recog/export.h5 \\
        tests/golden/recog_golden.h5
"""
import sys

import h5py
import numpy as np

METRICS = ["cosine", "euclidean", "euclidean_l2"]
K = 5
MADE_FROM = ("gen_faces --people 4 --images 4 --seed 26; extract --weights "
             "build/test-data/vgg16_seed1.h5 (gen_weights --seed 1); featdb export")


def l2_normalize(x):
    return x / (np.linalg.norm(x) + 1e-10)


def distance(metric, a, b):
    if metric == "cosine":
        return 1 - np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    if metric == "euclidean":
        return np.linalg.norm(a - b)
    return np.linalg.norm(l2_normalize(a) - l2_normalize(b))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: recog_ref.py EXPORT.h5 OUT.h5")
    with h5py.File(sys.argv[1], "r") as f:
        keys = [k.decode("utf8") if isinstance(k, bytes) else k for k in f["keys"][:]]
        x32 = f["features"][:].astype(np.float32)
        fingerprint = f.attrs["fingerprint"]
        model = f.attrs["model"]
    n = len(keys)
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int32)
    out = {"pairs": pairs}
    for prefix, x in (("", x32.astype(np.float64)),
                      ("f16_", x32.astype(np.float16).astype(np.float64))):
        for m in METRICS:
            out[prefix + m] = np.array([distance(m, x[i], x[j]) for i, j in pairs])
            d = np.array([[distance(m, x[i], x[j]) for j in range(n)] for i in range(n)])
            order = np.argsort(d, axis=1, kind="stable")[:, :K]
            out[prefix + "nn_" + m] = order.astype(np.int32)
            out[prefix + "nn_" + m + "_dist"] = np.take_along_axis(d, order, axis=1)
    with h5py.File(sys.argv[2], "w") as g:
        g.create_dataset("keys", data=np.array([k.encode("utf8") for k in keys]))
        g.create_dataset("features", data=x32, compression="gzip", shuffle=True)
        for name, v in out.items():
            g.create_dataset(name, data=v)
        g.attrs["numpy"] = np.__version__
        g.attrs["h5py"] = h5py.__version__
        g.attrs["fingerprint"] = fingerprint
        g.attrs["model"] = model
        g.attrs["made_from"] = MADE_FROM


if __name__ == "__main__":
    main()
