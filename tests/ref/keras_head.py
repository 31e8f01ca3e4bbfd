#!/usr/bin/env python3
"""The seed's head trained by Keras itself, on what train-head was given.

Dev-only (the programs and `make test` never need Python).  Reads the trace
that `train-head --trace FILE` writes (the training and validation features
and labels, the initial kernel and bias, each epoch's sample order, the
hyperparameters, train-head's own per-epoch numbers) and trains the seed's
model with tf.keras (tf_keras 2.21, TF_USE_LEGACY_KERAS=1):

    Sequential([Input((D,)), Dense(K, activation='softmax',
                                   kernel_regularizer=l2(L2) if L2)])
    compile(Adam(lr, beta_1, beta_2, epsilon), 'categorical_crossentropy',
            metrics=['accuracy'])

from the same initial weights (set_weights), one fit() per epoch on the
training rows in that epoch's order with shuffle=False (so the batches are
train-head's), with validation_data and a CSVLogger(append=True), whose
file is what `train-head --history` must write.  Then it loads train-head's
head file (--out of the same run) with load_weights into the same model and
predicts the validation rows: the head file must load into Keras' Dense
layer and give the same probabilities.

Writes the golden file tests/test_train_head.c compares against:
  /loss, /accuracy, /val_loss, /val_accuracy   (epochs) float64, Keras'
  /csvlogger                                   uint8, CSVLogger's file
  /predictions                                 (n, K) float32, Keras'
                                               predict with our head file
  attributes train_x_sum, kernel0_sum, order_sum, ntrain (as
  tests/ref/torch_head.py), made_by.

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

TRACE_FORMAT = b"vggfeat-trace 1"


def read_trace(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != TRACE_FORMAT:
            sys.exit("%s: not a train-head trace" % path)
        t = {k: np.asarray(f[k]) for k in f.keys()}
    hp = t["hparams"]
    t["hp"] = dict(lr=hp[0], beta1=hp[1], beta2=hp[2], epsilon=hp[3], l2=hp[4],
                   batch=int(hp[5]), epochs=int(hp[6]))
    return t


def model_for(tf, t):
    hp = t["hp"]
    D, K = t["kernel0"].shape
    reg = tf.keras.regularizers.l2(hp["l2"]) if hp["l2"] else None
    model = tf.keras.Sequential([
        tf.keras.Input((D,)),
        tf.keras.layers.Dense(K, activation="softmax", kernel_regularizer=reg,
                              name="dense_1"),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(
        learning_rate=hp["lr"], beta_1=hp["beta1"], beta_2=hp["beta2"],
        epsilon=hp["epsilon"]), loss="categorical_crossentropy",
        metrics=["accuracy"])
    return model


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
    hp = t["hp"]
    K = t["kernel0"].shape[1]
    onehot = lambda y: np.eye(K, dtype=np.float32)[y]  # noqa: E731
    x, y = t["train_x"], onehot(t["train_y"])
    has_val = len(t["valid_y"]) > 0
    val = (t["valid_x"], onehot(t["valid_y"])) if has_val else None

    model = model_for(tf, t)
    model.layers[0].set_weights([t["kernel0"], t["bias0"]])
    out = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "history.csv")
        csv = tf.keras.callbacks.CSVLogger(log, append=True)
        for e in range(hp["epochs"]):
            order = t["order"][e]
            h = model.fit(x[order], y[order], batch_size=hp["batch"], epochs=e + 1,
                          initial_epoch=e, shuffle=False, validation_data=val,
                          callbacks=[csv], verbose=0)
            for k in out:
                out[k].append(h.history[k][0] if k in h.history else 0.0)
        with open(log, "rb") as f:
            csvlog = f.read()

    ours = tf.keras.models.clone_model(model)
    ours.load_weights(a.head)
    vx = t["valid_x"] if has_val else t["train_x"]
    pred = ours.predict(vx[:64], verbose=0).astype(np.float32)

    c = t["metrics"]
    print("epoch  loss (train-head / Keras)          accuracy")
    for e in range(hp["epochs"]):
        print("%5d  %.7f / %.7f   %.5f / %.5f" % (e, c[e][0], out["loss"][e],
                                                  c[e][1], out["accuracy"][e]))
    order = t["order"].astype(np.float64).ravel()
    with h5py.File(a.golden, "w") as f:
        for k, v in out.items():
            f[k] = np.asarray(v, dtype=np.float64)
        f["csvlogger"] = np.frombuffer(csvlog, dtype=np.uint8)
        f["predictions"] = pred
        f.attrs["train_x_sum"] = np.sum(t["train_x"].astype(np.float64))
        f.attrs["kernel0_sum"] = np.sum(t["kernel0"].astype(np.float64))
        f.attrs["order_sum"] = np.sum(order * (np.arange(order.size) % 1000 + 1))
        f.attrs["ntrain"] = float(t["train_x"].shape[0])
        import tf_keras
        f.attrs["made_by"] = "tests/ref/keras_head.py, tensorflow %s, tf_keras %s" % (
            tf.__version__, tf_keras.__version__)
    print("wrote", a.golden)


if __name__ == "__main__":
    main()
