#!/usr/bin/env python3
"""Keras' own accuracy on real faces: the recipe on lfw-dev with the real
VGG16 convolution base (issue 23).

Dev-only, in the development environment (make dev-env), after `make
real-weights`.  The recipe, in tf.keras (TF_USE_LEGACY_KERAS=1):

    base = VGG16(include_top=False, pooling='avg' (or 'max'), weights=NOTOP)
    base.trainable = False
    model = Sequential([base, Dense(62, activation='softmax')])
    model.compile(Adam(1e-4), 'categorical_crossentropy', metrics=['accuracy'])
    model.fit(train, batch_size=32, epochs=EPOCHS, validation_data=valid)

on the fixed split of tests/ref/lfw_split.py (for each of the 62 people,
files sorted by name: the first 16 train, the last 4 validate; the
committed tests/golden/lfw_dev_split.txt must agree with the folder),
images loaded and preprocessed as Keras does (load_img, nearest, 224x224;
vgg16.preprocess_input).

How it is computed: the base is frozen and there is no augmentation, so
each image's pooled vector never changes during the fit; computing the
vectors once with the frozen base (`VGG16(include_top=False,
weights=NOTOP)` with Keras' GlobalAveragePooling2D and GlobalMaxPooling2D
on its output, the very layers that pooling='avg' and 'max' append) and
fitting the Dense layer on them is the same arithmetic as fitting the whole
model.  (`features` checks on a batch that these vectors equal, bit for
bit, those of VGG16(include_top=False, pooling=..., weights=NOTOP).)  One
difference: in a whole-model script the seed also feeds the base's
initializers before its weights are loaded, so a seed gives the Dense layer
other initial weights and other shuffles there than here; the
distribution over seeds is the same.

The number of epochs, EPOCHS (avg 1050, max 950), is where the head stops
improving, found once by `curve` (3000-epoch runs of three other seeds)
and `plateau` (the rule at EPOCHS below) and then fixed.  `run` trains 5
seeds (tf_keras.utils.set_random_seed(seed), seeds 1..5) for avg and for
max, EPOCHS[pooling] epochs each, and writes
tests/golden/keras_lfw_accuracy.json: the per-seed final val_accuracy (and
val_loss, the best val_accuracy and its epoch), mean and spread (sample
standard deviation, min, max), the epochs, the split, the weights' sha256,
the library versions and the time taken.

usage (from the repository root; SHARED_DATA=/path/to/shared/data when it
is not ../shared/data):
    PY=/work/main/build/dev-env/bin/python
    $PY tests/ref/keras_lfw_accuracy.py features   # the pooled vectors, cached
    $PY tests/ref/keras_lfw_accuracy.py curve --epochs 3000 --seeds 101,102,103
    $PY tests/ref/keras_lfw_accuracy.py plateau --seeds 101,102,103
    $PY tests/ref/keras_lfw_accuracy.py run
The vectors are cached in build/keras-lfw/ (by the weights' sha256);
`features` is run by the others when the cache is missing.
"""
import argparse
import hashlib
import json
import os
import platform
import sys
import time

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lfw_split  # noqa: E402
import real_weights as rw  # noqa: E402

import numpy as np  # noqa: E402
import PIL  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

ROOT = rw.ROOT
NOTOP = os.path.join(rw.DEFAULT_DIR, rw.NOTOP)
CACHE = os.path.join(ROOT, "build", "keras-lfw")
OUT = os.path.join(ROOT, "tests", "golden", "keras_lfw_accuracy.json")
POOLINGS = ("avg", "max")
SEEDS = (1, 2, 3, 4, 5)
LR, BATCH = 1e-4, 32
# Where the head stops improving, fixed once from `curve --epochs 3000
# --seeds 101,102,103` (seeds other than run's) and `plateau`: the first
# epoch after which the mean val_accuracy of the three, averaged over 50
# epochs, never rises by more than one validation image (1/248), rounded
# up to a multiple of 50.
EPOCHS = {"avg": 1050, "max": 950}
PLATEAU = (
    "EPOCHS per pooling: from 3000-epoch runs of seeds 101, 102, 103 (not the seeds "
    "measured), the first epoch after which their mean val_accuracy, averaged over 50 "
    "epochs, never rises by more than 1/248, rounded up to a multiple of 50. "
    "avg: 1050 (0.3967 there, best later 0.4008, 0.3980 at 3000; the mean val_loss is "
    "lowest, 3.13, at epoch 160 and rises after: the head overfits in loss while its "
    "accuracy still improves). max: 950 (0.1731 there, best later 0.1770; val_loss 26 "
    "and falling; past about 1000 epochs the training loss reaches 0 in float32 and "
    "val_accuracy falls, to 0.110 by 3000, so max's figure depends on the epoch count).")
PLATEAU_WINDOW = 50


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def the_split():
    classes, train, valid = lfw_split.split()
    if (train, valid) != lfw_split.read_list():
        sys.exit(f"{lfw_split.LFW_DEV} does not give the split of {lfw_split.OUT}")
    return classes, train, valid


def load(rels):
    xs = []
    for rel in rels:
        img = tf_keras.utils.load_img(os.path.join(lfw_split.LFW_DEV, rel),
                                      target_size=(224, 224))
        xs.append(tf_keras.applications.vgg16.preprocess_input(
            tf_keras.utils.img_to_array(img)))
    return np.stack(xs)


def pooled_model():
    base = tf_keras.applications.VGG16(include_top=False, weights=NOTOP)
    base.trainable = False
    L = tf_keras.layers
    return tf_keras.Model(base.inputs, [L.GlobalAveragePooling2D()(base.output),
                                        L.GlobalMaxPooling2D()(base.output)])


def features(weights_sha):
    """{'avg', 'max': (1240, 512) float32, 'rels', 'labels'}, train then
    valid, from the cache or computed."""
    classes, train, valid = the_split()
    rels = [r for r, _ in train + valid]
    labels = np.array([c for _, c in train + valid])
    path = os.path.join(CACHE, f"features_{weights_sha[:16]}.npz")
    if os.path.exists(path):
        z = np.load(path)
        if list(z["rels"]) == rels:
            return {"avg": z["avg"], "max": z["max"], "rels": rels, "labels": labels,
                    "n_train": len(train), "classes": classes, "seconds": float(z["seconds"])}
    t0 = time.time()
    model = pooled_model()
    avg, mx = [], []
    for i in range(0, len(rels), 128):
        a, m = model.predict(load(rels[i:i + 128]), batch_size=BATCH, verbose=0)
        avg.append(a)
        mx.append(m)
        print(f"features: {min(i + 128, len(rels))}/{len(rels)} images, "
              f"{time.time() - t0:.0f} s", flush=True)
    avg, mx = np.concatenate(avg), np.concatenate(mx)
    seconds = time.time() - t0
    # The recipe's own models give the same vectors (one batch of 32).
    x = load(rels[:BATCH])
    for pooling, got in (("avg", avg), ("max", mx)):
        m = tf_keras.applications.VGG16(include_top=False, pooling=pooling, weights=NOTOP)
        want = m.predict(x, batch_size=BATCH, verbose=0)
        if not np.array_equal(want, got[:BATCH]):
            sys.exit(f"VGG16(pooling='{pooling}') differs from the pooled vectors by up to "
                     f"{np.abs(want - got[:BATCH]).max():g}")
    print(f"features: VGG16(include_top=False, pooling='avg'|'max') gives the same "
          f"vectors bit for bit on the first {BATCH}")
    os.makedirs(CACHE, exist_ok=True)
    np.savez(path + ".tmp.npz", avg=avg, max=mx, rels=np.array(rels), seconds=seconds)
    os.replace(path + ".tmp.npz", path)
    print(f"features: {len(rels)} images in {seconds:.0f} s, cached in {path}")
    return {"avg": avg, "max": mx, "rels": rels, "labels": labels, "n_train": len(train),
            "classes": classes, "seconds": seconds}


def fit(f, pooling, seed, epochs):
    """The Dense head's history (Keras' dict of per-epoch lists)."""
    tf_keras.utils.set_random_seed(seed)
    n = f["n_train"]
    x, y = f[pooling], tf_keras.utils.to_categorical(f["labels"], len(f["classes"]))
    head = tf_keras.Sequential([tf_keras.layers.Input(shape=(x.shape[1],)),
                                tf_keras.layers.Dense(len(f["classes"]), activation="softmax")])
    head.compile(optimizer=tf_keras.optimizers.Adam(learning_rate=LR),
                 loss="categorical_crossentropy", metrics=["accuracy"])
    h = head.fit(x[:n], y[:n], batch_size=BATCH, epochs=epochs, shuffle=True,
                 validation_data=(x[n:], y[n:]), verbose=0)
    return {k: [float(v) for v in vs] for k, vs in h.history.items()}


def cmd_curve(f, args):
    """Long runs: val_loss and val_accuracy every 10 epochs, and where each
    stops improving."""
    seeds = [int(s) for s in args.seeds.split(",")]
    os.makedirs(CACHE, exist_ok=True)
    for pooling in POOLINGS:
        for seed in seeds:
            t0 = time.time()
            h = fit(f, pooling, seed, args.epochs)
            path = os.path.join(CACHE, f"curve_{pooling}_seed{seed}.json")
            with open(path, "w") as out:
                json.dump(h, out)
            vl, va = np.array(h["val_loss"]), np.array(h["val_accuracy"])
            print(f"{pooling} seed {seed}: {args.epochs} epochs in {time.time() - t0:.0f} s "
                  f"(history in {path})")
            for e in list(range(9, args.epochs, max(10, args.epochs // 40))) + [args.epochs - 1]:
                print(f"  epoch {e + 1:5d}: loss {h['loss'][e]:.4f} acc {h['accuracy'][e]:.4f}"
                      f"  val_loss {vl[e]:.4f} val_acc {va[e]:.4f}"
                      f"  (mean val_acc of epochs {max(1, e - 8)}..{e + 1}: "
                      f"{va[max(0, e - 9):e + 1].mean():.4f})")
            print(f"  lowest val_loss {vl.min():.4f} at epoch {vl.argmin() + 1}; "
                  f"best val_accuracy {va.max():.4f} first at epoch {va.argmax() + 1}")


def plateau(curves, window=PLATEAU_WINDOW, tolerance=1 / 248):
    """The first epoch after which the mean val_accuracy over the curves,
    averaged over `window` epochs, never rises by more than `tolerance`
    (one validation image of 248), rounded up to a multiple of 50; and
    that smoothed curve's last and best values."""
    va = np.mean([c["val_accuracy"] for c in curves], axis=0)
    smooth = np.convolve(va, np.ones(window) / window, mode="valid")  # [k]: epochs k+1..k+window
    later_best = np.maximum.accumulate(smooth[::-1])[::-1]
    k = int(np.argmax(later_best - smooth <= tolerance))
    epoch = k + window  # the window's last epoch
    return -(-epoch // 50) * 50, smooth, later_best


def cmd_plateau(args):
    """EPOCHS from the long runs of `curve` (their JSON files in CACHE)."""
    for pooling in POOLINGS:
        curves, names = [], []
        for seed in args.seeds.split(","):
            path = os.path.join(CACHE, f"curve_{pooling}_seed{seed}.json")
            with open(path) as f:
                curves.append(json.load(f))
            names.append(seed)
        n = min(len(c["val_accuracy"]) for c in curves)
        curves = [{k: v[:n] for k, v in c.items()} for c in curves]
        epoch, smooth, _ = plateau(curves)
        vl = np.mean([c["val_loss"] for c in curves], axis=0)
        va = np.mean([c["val_accuracy"] for c in curves], axis=0)
        print(f"{pooling} (seeds {','.join(names)}, {n} epochs): val_accuracy stops improving "
              f"at epoch {epoch}: mean {va[epoch - 1]:.4f} there "
              f"(over {PLATEAU_WINDOW} epochs: {smooth[epoch - PLATEAU_WINDOW]:.4f}), "
              f"best later {smooth[epoch - PLATEAU_WINDOW:].max():.4f}, "
              f"at the end {smooth[-1]:.4f}; mean val_loss lowest "
              f"({vl.min():.4f}) at epoch {vl.argmin() + 1}, {vl[epoch - 1]:.4f} at {epoch}")


def cmd_run(f, weights_sha):
    t0 = time.time()
    results = {}
    for pooling in POOLINGS:
        runs = []
        for seed in SEEDS:
            t1 = time.time()
            h = fit(f, pooling, seed, EPOCHS[pooling])
            va = h["val_accuracy"]
            runs.append({"seed": seed, "val_accuracy": va[-1], "val_loss": h["val_loss"][-1],
                         "accuracy": h["accuracy"][-1], "loss": h["loss"][-1],
                         "best_val_accuracy": max(va),
                         "best_epoch": int(np.argmax(va)) + 1,
                         "seconds": round(time.time() - t1, 1)})
            print(f"{pooling} seed {seed}, {EPOCHS[pooling]} epochs: val_accuracy {va[-1]:.4f} "
                  f"({round(va[-1] * 248)}/248), val_loss {h['val_loss'][-1]:.4f}", flush=True)
        acc = np.array([r["val_accuracy"] for r in runs])
        results[pooling] = {"runs": runs, "mean_val_accuracy": float(acc.mean()),
                            "std_val_accuracy": float(acc.std(ddof=1)),
                            "min_val_accuracy": float(acc.min()),
                            "max_val_accuracy": float(acc.max())}
        print(f"{pooling}: mean {acc.mean():.4f}, std {acc.std(ddof=1):.4f}, "
              f"min {acc.min():.4f}, max {acc.max():.4f}")
    n = f["n_train"]
    doc = {
        "what": "Keras' recipe on lfw-dev with the real VGG16 convolution base: "
                "VGG16(include_top=False, pooling=P, weights=NOTOP) frozen, "
                "Dense(62, softmax), Adam(1e-4), categorical cross-entropy, batch 32, "
                "shuffle each epoch; the Dense layer fitted on the pooled vectors "
                "(tests/ref/keras_lfw_accuracy.py)",
        "val_accuracy": "at the last epoch, float32 as Keras reports it",
        "epochs": EPOCHS,
        "plateau": PLATEAU,
        "seeds": list(SEEDS),
        "seed_call": "tf_keras.utils.set_random_seed(seed)",
        "results": results,
        "split": {"list": "tests/golden/lfw_dev_split.txt",
                  "rule": "per person, files sorted by name: first 16 train, last 4 valid",
                  "classes": len(f["classes"]), "train": n, "valid": len(f["rels"]) - n},
        "weights": {"notop_file": rw.NOTOP, "notop_sha256": weights_sha,
                    "made_by": "make real-weights (tests/ref/real_weights.py)"},
        "preprocess": "load_img nearest 224x224; vgg16.preprocess_input",
        "versions": {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
                     "numpy": np.__version__, "Pillow": PIL.__version__,
                     "python": platform.python_version()},
        "seconds": {"features": round(f["seconds"], 1),
                    "training": round(time.time() - t0, 1)},
    }
    with open(OUT + ".tmp", "w") as out:
        json.dump(doc, out, indent=1)
        out.write("\n")
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("features")
    c = sub.add_parser("curve")
    c.add_argument("--epochs", type=int, default=1000)
    c.add_argument("--seeds", default="1,2,3")
    c = sub.add_parser("plateau")
    c.add_argument("--seeds", default="101,102,103")
    sub.add_parser("run")
    args = p.parse_args()
    if args.cmd == "plateau":
        cmd_plateau(args)
        return
    if not os.path.exists(NOTOP):
        sys.exit(f"{NOTOP} is missing: make real-weights")
    weights_sha = sha256(NOTOP)
    f = features(weights_sha)
    if args.cmd == "curve":
        cmd_curve(f, args)
    elif args.cmd == "run":
        cmd_run(f, weights_sha)


if __name__ == "__main__":
    main()
