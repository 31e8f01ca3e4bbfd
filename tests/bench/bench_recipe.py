#!/usr/bin/env python3
"""The seed's whole recipe in Keras, timed: the Keras side of
tests/bench/bench_recipe.sh.

  bench_recipe.py FACES WEIGHTS.h5 [--lr 1e-4] [--epochs 5] [--batch 32]
                  [--val-split 0.2] [--threads 2] [--seed 0]

What a Keras user of the seed runs, step for step (tf.keras is Keras 2:
tf_keras, TF_USE_LEGACY_KERAS=1 is set here):

    base = VGG16(weights=None); base.load_weights(WEIGHTS)
    features = Model(base.input, base.get_layer('fc2').output)
    for layer in features.layers: layer.trainable = False
    out = Dense(n_people, activation='softmax')(features.output)
    model = Model(features.input, out)
    model.compile(Adam(1e-4), 'categorical_crossentropy', metrics=['accuracy'])
    gen = ImageDataGenerator(preprocessing_function=vgg16.preprocess_input,
                             validation_split=0.2)
    train = gen.flow_from_directory(FACES, target_size=(224, 224),
                                    batch_size=32, class_mode='categorical',
                                    subset='training')
    valid = gen.flow_from_directory(..., subset='validation')
    model.fit(train, epochs=5, validation_data=valid)

so every epoch runs the frozen VGG16 forward on every training and every
validation image again (decoding and resizing them again too).  Threads:
tf.config.threading intra-op THREADS, inter-op 1; oneDNN as TensorFlow
ships it.  Prints, one "key value" per line: n_train, n_val, classes,
setup_s (building the model and loading the weights), fit_s (the whole
fit), fit_cpu_s (the process' CPU time during fit), epoch_s_K for each
epoch (from on_epoch_begin to on_epoch_end, validation included, as Keras
counts an epoch), s_per_epoch (their median), between_epochs_s (fit_s less
the epochs: what fit spends outside them; seen on TF 2.21 as idle waits of
10 to 30 s at some epoch boundaries, where fit moves to the next epoch's
data iterator, and at its end), accuracy, val_accuracy, val_loss (the last epoch's), tf_version,
keras_version, onednn.  Per-epoch progress goes to stderr.  Run with the
development environment: build/dev-env/bin/python (make dev-env).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402


def onednn_state():
    try:
        from tensorflow.python.util import _pywrap_util_port
        return "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except Exception:  # noqa: BLE001 - only a label
        return "unknown"


class EpochTimer(tf.keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.t0)
        print("epoch %d/%d: %.1f s, %s" % (
            epoch + 1, self.params["epochs"], self.times[-1],
            ", ".join("%s %.4f" % kv for kv in sorted((logs or {}).items()))),
            file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("faces")
    ap.add_argument("weights")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--val-split", type=float, default=0.2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0,
                    help="flow_from_directory's shuffle seed and tf's")
    a = ap.parse_args()

    tf.config.threading.set_intra_op_parallelism_threads(a.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.keras.utils.set_random_seed(a.seed)

    from tf_keras import __version__ as keras_version
    from tensorflow.keras.applications import vgg16
    from tensorflow.keras.layers import Dense
    from tensorflow.keras.models import Model
    from tensorflow.keras.optimizers import Adam
    from tensorflow.keras.preprocessing.image import ImageDataGenerator

    t0 = time.perf_counter()
    base = vgg16.VGG16(weights=None)
    base.load_weights(a.weights)
    features = Model(base.input, base.get_layer("fc2").output)
    for layer in features.layers:
        layer.trainable = False

    gen = ImageDataGenerator(preprocessing_function=vgg16.preprocess_input,
                             validation_split=a.val_split)
    flow = dict(target_size=(224, 224), batch_size=a.batch,
                class_mode="categorical", seed=a.seed)
    train = gen.flow_from_directory(a.faces, subset="training", **flow)
    valid = gen.flow_from_directory(a.faces, subset="validation", **flow)

    out = Dense(train.num_classes, activation="softmax")(features.output)
    model = Model(features.input, out)
    model.compile(Adam(a.lr), "categorical_crossentropy", metrics=["accuracy"])
    setup = time.perf_counter() - t0

    timer = EpochTimer()
    c0, t0 = os.times(), time.perf_counter()
    hist = model.fit(train, epochs=a.epochs, validation_data=valid,
                     callbacks=[timer], verbose=0)
    fit, c1 = time.perf_counter() - t0, os.times()

    h = hist.history
    print("n_train %d" % train.samples)
    print("n_val %d" % valid.samples)
    print("classes %d" % train.num_classes)
    print("setup_s %.2f" % setup)
    print("fit_s %.2f" % fit)
    print("fit_cpu_s %.2f" % (c1.user + c1.system - c0.user - c0.system))
    print("between_epochs_s %.2f" % (fit - sum(timer.times)))
    for i, s in enumerate(timer.times):
        print("epoch_s_%d %.2f" % (i + 1, s))
    print("s_per_epoch %.2f" % sorted(timer.times)[len(timer.times) // 2])
    print("accuracy %.4f" % h["accuracy"][-1])
    if "val_accuracy" in h:
        print("val_accuracy %.4f" % h["val_accuracy"][-1])
        print("val_loss %.4f" % h["val_loss"][-1])
    print("tf_version %s" % tf.__version__)
    print("keras_version %s" % keras_version)
    print("onednn %s" % onednn_state())


if __name__ == "__main__":
    main()
