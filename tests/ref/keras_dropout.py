#!/usr/bin/env python3
"""Dropout in train-head against Dropout in tf.keras: the same val_accuracy
within noise, over seeds.

Dev-only (the programs and `make test` never need Python).  Dropout's
masks come from each library's own random stream, so a run cannot be
replayed across the two (tests/ref/keras_head.py replays everything
else).  This script shows instead that the two reach the same accuracy:

 1. train-head --db STORE --trace ... --seed S for S in --seeds, with the
    options given after `--` (say --dropout 0.5 --lr 1e-3 --epochs 15);
    each run's per-epoch val_accuracy comes from its trace, which also
    holds the training and validation sets (the same for every seed: the
    split is by a hash of each key);
 2. tf.keras (tf_keras 2.21) on those sets, for the same seeds
    (tf.keras.utils.set_random_seed(S)): Sequential([Input, Dropout(rate),
    [Dense(H, relu), Dropout(rate)], Dense(K, softmax)]), Adam with the
    run's hyperparameters, batch size, L2 and epochs, fit(...,
    shuffle=True) from Keras' own initial weights and shuffles;
 3. prints each seed's final and best val_accuracy for both, their means
    and standard deviations, and Welch's t of the difference of the means
    (|t| < 2: no difference the seeds can show);
 4. prints Dropout's mean activation in training (training=True) and in
    inference on the training features, for Keras (train-head's:
    test_head's test_dropout_scale).

  build/dev-env/bin/python tests/ref/keras_dropout.py --bin bin \\
      --db build/lfw/lfw_real.lmdb --seeds 1,2,3,4,5 -- \\
      --dropout 0.5 --lr 1e-3 --epochs 15
"""
import argparse
import math
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402


def ours(exe, db, seed, args, tmp):
    """train-head's per-epoch val_accuracy for seed, and its trace."""
    trace = os.path.join(tmp, "trace%d.h5" % seed)
    subprocess.run([exe, "--db", db, "--seed", str(seed), "--trace", trace, "--out",
                    os.path.join(tmp, "head%d.h5" % seed), "-q"] + args, check=True)
    with h5py.File(trace, "r") as f:
        t = {k: np.asarray(f[k]) for k in ("train_x", "train_y", "valid_x", "valid_y",
                                           "hparams", "metrics")}
        t["dropout"] = float(f.attrs["dropout"])
        t["hidden"] = int(f.attrs["hidden"])
    return t["metrics"][:, 3], t


def keras_run(tf, t, seed):
    """tf.keras' per-epoch val_accuracy for seed on t's sets."""
    tf.keras.utils.set_random_seed(seed)
    hp = t["hparams"]
    lr, b1, b2, eps, l2, batch, epochs = hp[0], hp[1], hp[2], hp[3], hp[4], int(hp[5]), int(hp[6])
    K = int(max(t["train_y"].max(), t["valid_y"].max())) + 1
    reg = lambda: tf.keras.regularizers.l2(l2) if l2 else None  # noqa: E731
    layers = [tf.keras.Input((t["train_x"].shape[1],)), tf.keras.layers.Dropout(t["dropout"])]
    if t["hidden"]:
        layers += [tf.keras.layers.Dense(t["hidden"], activation="relu",
                                         kernel_regularizer=reg()),
                   tf.keras.layers.Dropout(t["dropout"])]
    layers.append(tf.keras.layers.Dense(K, activation="softmax", kernel_regularizer=reg()))
    model = tf.keras.Sequential(layers)
    model.compile(tf.keras.optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=eps),
                  "categorical_crossentropy", metrics=["accuracy"])
    onehot = lambda y: np.eye(K, dtype=np.float32)[y]  # noqa: E731
    h = model.fit(t["train_x"], onehot(t["train_y"]), batch_size=batch, epochs=epochs,
                  shuffle=True, verbose=0,
                  validation_data=(t["valid_x"], onehot(t["valid_y"])))
    return np.asarray(h.history["val_accuracy"]), model


def stats(v):
    v = np.asarray(v, dtype=np.float64)
    return v.mean(), v.std(ddof=1) if len(v) > 1 else 0.0


def welch(a, b):
    (ma, sa), (mb, sb) = stats(a), stats(b)
    se = math.sqrt(sa * sa / len(a) + sb * sb / len(b))
    return (ma - mb) / se if se > 0 else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--db", required=True)
    ap.add_argument("--seeds", default="1,2,3,4,5")
    ap.add_argument("args", nargs=argparse.REMAINDER,
                    help="-- then train-head's options (the run's recipe)")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    seeds = [int(s) for s in a.seeds.split(",")]
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(2)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in seeds:
            va, t = ours(os.path.join(a.bin, "train-head"), a.db, s, args, tmp)
            vk, model = keras_run(tf, t, s)
            rows.append((s, va[-1], va.max(), vk[-1], vk.max()))
            print("seed %d: val_accuracy final / best: train-head %.4f / %.4f, "
                  "Keras %.4f / %.4f" % rows[-1], flush=True)
        drop = [layer for layer in model.layers
                if isinstance(layer, tf.keras.layers.Dropout)][0]
        x = t["train_x"]
    print("recipe: %s; %d training, %d validation records"
          % (" ".join(args), len(t["train_y"]), len(t["valid_y"])))
    for name, i, j in (("final", 1, 3), ("best", 2, 4)):
        ours_v, keras_v = [r[i] for r in rows], [r[j] for r in rows]
        (mo, so), (mk, sk) = stats(ours_v), stats(keras_v)
        print("%-5s val_accuracy over %d seeds: train-head %.4f +- %.4f, Keras %.4f +- "
              "%.4f; difference %.4f, Welch t %.2f" % (name, len(seeds), mo, so, mk, sk,
                                                     mo - mk, welch(ours_v, keras_v)))
    train_mean = float(np.mean(drop(x, training=True)))
    infer_mean = float(np.mean(drop(x, training=False)))
    print("Keras Dropout(%g) on the training features: mean activation %.5f in "
          "training, %.5f in inference (ratio %.4f)" % (t["dropout"], train_mean,
                                                       infer_mean, train_mean / infer_mean))


if __name__ == "__main__":
    sys.exit(main())
