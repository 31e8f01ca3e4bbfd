#!/usr/bin/env python3
"""The seed's head trained by Keras itself, on what train-head was given.

Dev-only (the programs and `make test` never need Python).  Reads the trace
that `train-head --trace FILE` writes (the training and validation features
and labels, the initial weights of every layer, each epoch's sample order,
the hyperparameters and callbacks, train-head's own per-epoch numbers) and
trains the same model with tf.keras (tf_keras 2.21, TF_USE_LEGACY_KERAS=1):

    Sequential([Input((D,)),
                Dropout(rate)                          (with --dropout)
                Dense(H, activation='relu', kernel_regularizer=l2(L2) if L2)
                Dropout(rate)                          (with --hidden,
                                                        --dropout)
                Dense(K, activation='softmax', kernel_regularizer=...)])
    compile(Adam(lr or CosineDecay(lr, decay_steps), beta_1, beta_2,
                 epsilon),
            CategoricalCrossentropy(label_smoothing=X), metrics=['accuracy'])

from the same initial weights (set_weights on each Dense layer), in one
fit() over a tf.data pipeline that yields, epoch after epoch, the training
rows in the order train-head drew them, batched (steps_per_epoch keeps the
iterator running across epochs, so the batches are train-head's), with
class_weight, validation_data and the callbacks of the run:
EarlyStopping(monitor, min_delta, patience, restore_best_weights),
ReduceLROnPlateau(monitor, factor, patience, min_lr), then a
CSVLogger(append=True), whose file is what `train-head --history` must
write.  Then it loads train-head's head file (--out of the same run) with
load_weights into the same model and predicts the validation rows: the
head file must load into Keras' Dense layers and give the same
probabilities; and it predicts them with Keras' own final weights (the
restored ones with restore_best_weights).

Writes the golden file tests/test_train_head.c compares against:
  /loss, /accuracy, /val_loss, /val_accuracy   (epochs run) float64, Keras'
  /csvlogger                                   uint8, CSVLogger's file
  /predictions                                 (n, K) float32, Keras'
                                               predict with our head file
  /keras_predictions                           (n, K) float32, with Keras'
                                               own final weights
  attributes train_x_sum, kernel0_sum, order_sum, ntrain (as
  tests/ref/torch_head.py), epochs_run (when EarlyStopping stopped it,
  fewer than asked), restored (the epoch EarlyStopping restored, 1-based;
  0: none), made_by.

Regenerate with the development environment (make dev-env):
  HEAD_KERAS_KEEP=/tmp/hk build/tests/test_train_head    # keeps the runs
  build/dev-env/bin/python tests/ref/keras_head.py /tmp/hk/<case>.trace.h5 \\
      /tmp/hk/<case>.head.h5 tests/golden/head_keras_<case>.h5
for each case the test names (it fails on stale golden data, and says so).
"""
import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

TRACE_FORMATS = (b"vggfeat-trace 1", b"vggfeat-trace 2")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


def read_trace(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") not in TRACE_FORMATS:
            sys.exit("%s: not a train-head trace" % path)
        t = {k: np.asarray(f[k]) for k in f.keys()}
        attrs = {k: float(v) for k, v in f.attrs.items() if k != "format"}
    hp = t["hparams"]
    t["hp"] = dict(lr=hp[0], beta1=hp[1], beta2=hp[2], epsilon=hp[3], l2=hp[4],
                   batch=int(hp[5]), epochs=int(hp[6]))
    # A version-1 trace knew none of these: the defaults are its run's.
    c = dict(hidden=0, dropout=0.0, label_smoothing=0.0, cosine_steps=0,
             patience=-1, monitor=0, min_delta=0.0, restore_best=0,
             reduce_lr=0.0, reduce_patience=10, min_lr=0.0, restored=0)
    c.update(attrs)
    t["c"] = c
    return t


def model_for(tf, t):
    hp, c = t["hp"], t["c"]
    D = t["kernel0"].shape[0]
    K = (t["kernel0_out"] if c["hidden"] else t["kernel0"]).shape[1]
    reg = lambda: tf.keras.regularizers.l2(hp["l2"]) if hp["l2"] else None  # noqa: E731
    layers = [tf.keras.Input((D,))]
    if c["dropout"]:
        layers.append(tf.keras.layers.Dropout(c["dropout"]))
    if c["hidden"]:
        layers.append(tf.keras.layers.Dense(int(c["hidden"]), activation="relu",
                                            kernel_regularizer=reg(), name="dense_1"))
        if c["dropout"]:
            layers.append(tf.keras.layers.Dropout(c["dropout"]))
    layers.append(tf.keras.layers.Dense(K, activation="softmax", kernel_regularizer=reg(),
                                        name="dense_2" if c["hidden"] else "dense_1"))
    model = tf.keras.Sequential(layers)
    lr = hp["lr"]
    if c["cosine_steps"]:
        lr = tf.keras.optimizers.schedules.CosineDecay(lr, int(c["cosine_steps"]))
    model.compile(optimizer=tf.keras.optimizers.Adam(
        learning_rate=lr, beta_1=hp["beta1"], beta_2=hp["beta2"],
        epsilon=hp["epsilon"]),
        loss=tf.keras.losses.CategoricalCrossentropy(
            label_smoothing=c["label_smoothing"]),
        metrics=["accuracy"])
    return model


def dense_layers(model):
    return [layer for layer in model.layers if layer.get_weights()]


def callbacks_for(tf, t, log):
    c = t["c"]
    monitor = MONITORS[int(c["monitor"])]
    cbs = []
    if c["patience"] >= 0:
        cbs.append(tf.keras.callbacks.EarlyStopping(
            monitor=monitor, min_delta=c["min_delta"], patience=int(c["patience"]),
            restore_best_weights=bool(c["restore_best"])))
    if c["reduce_lr"]:
        cbs.append(tf.keras.callbacks.ReduceLROnPlateau(
            monitor=monitor, factor=c["reduce_lr"], patience=int(c["reduce_patience"]),
            min_lr=c["min_lr"]))
    # After ReduceLROnPlateau, which adds "lr" to the logs CSVLogger writes.
    cbs.append(tf.keras.callbacks.CSVLogger(log, append=True))
    return cbs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", help="the file train-head --trace wrote")
    ap.add_argument("head", help="the head file train-head --out wrote, same run")
    ap.add_argument("golden", help="the golden file to write")
    a = ap.parse_args()

    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    t = read_trace(a.trace)
    hp, c = t["hp"], t["c"]
    if c["dropout"]:
        sys.exit("dropout's masks cannot be replayed: no golden data for it")
    model = model_for(tf, t)
    K = model.output_shape[-1]
    onehot = lambda y: np.eye(K, dtype=np.float32)[y]  # noqa: E731
    x, y = t["train_x"], onehot(t["train_y"])
    has_val = len(t["valid_y"]) > 0
    val = (t["valid_x"], onehot(t["valid_y"])) if has_val else None

    start = [[t["kernel0"], t["bias0"]]]
    if c["hidden"]:
        start.append([t["kernel0_out"], t["bias0_out"]])
    for layer, w in zip(dense_layers(model), start):
        layer.set_weights(w)
    # Train-head's batches, epoch after epoch, in one pipeline: with
    # steps_per_epoch below its length, fit keeps one iterator across the
    # epochs, so that the callbacks see one run.
    epochs_traced = t["order"].shape[0]
    steps = (x.shape[0] + hp["batch"] - 1) // hp["batch"]
    ds = None
    for e in range(epochs_traced):
        order = t["order"][e]
        d = tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(hp["batch"])
        ds = d if ds is None else ds.concatenate(d)
    weights = None
    if "class_weight" in t:
        weights = {k: float(w) for k, w in enumerate(t["class_weight"])}
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "history.csv")
        cbs = callbacks_for(tf, t, log)
        h = model.fit(ds, epochs=hp["epochs"], steps_per_epoch=steps,
                      validation_data=val, class_weight=weights, callbacks=cbs,
                      verbose=0)
        with open(log, "rb") as f:
            csvlog = f.read()
    out = {k: list(h.history.get(k, [0.0] * len(h.history["loss"])))
           for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    restored = 0
    for cb in cbs:
        if isinstance(cb, tf.keras.callbacks.EarlyStopping) and c["restore_best"]:
            restored = cb.best_epoch + 1

    vx = t["valid_x"] if has_val else t["train_x"]
    keras_pred = model.predict(vx[:64], verbose=0).astype(np.float32)
    ours = tf.keras.models.clone_model(model)
    ours.load_weights(a.head)
    pred = ours.predict(vx[:64], verbose=0).astype(np.float32)

    m = t["metrics"]
    print("epoch  loss (train-head / Keras)          accuracy")
    for e in range(max(len(out["loss"]), m.shape[0])):
        ours_e = "%.7f" % m[e][0] if e < m.shape[0] else "-"
        keras_e = "%.7f" % out["loss"][e] if e < len(out["loss"]) else "-"
        print("%5d  %s / %s" % (e, ours_e, keras_e))
    print("epochs run: train-head %d, Keras %d; restored: train-head %d, Keras %d"
          % (m.shape[0], len(out["loss"]), int(c["restored"]), restored))
    order = t["order"].astype(np.float64).ravel()
    with h5py.File(a.golden, "w") as f:
        for k, v in out.items():
            f[k] = np.asarray(v, dtype=np.float64)
        f["csvlogger"] = np.frombuffer(csvlog, dtype=np.uint8)
        f["predictions"] = pred
        f["keras_predictions"] = keras_pred
        f.attrs["train_x_sum"] = np.sum(t["train_x"].astype(np.float64))
        f.attrs["kernel0_sum"] = np.sum(t["kernel0"].astype(np.float64))
        f.attrs["order_sum"] = np.sum(order * (np.arange(order.size) % 1000 + 1))
        f.attrs["ntrain"] = float(t["train_x"].shape[0])
        f.attrs["epochs_run"] = float(len(out["loss"]))
        f.attrs["restored"] = float(restored)
        import tf_keras
        f.attrs["made_by"] = "tests/ref/keras_head.py, tensorflow %s, tf_keras %s" % (
            tf.__version__, tf_keras.__version__)
    print("wrote", a.golden)


if __name__ == "__main__":
    main()
