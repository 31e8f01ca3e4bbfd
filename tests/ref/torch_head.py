#!/usr/bin/python3
"""Independent reference for train-head: the same softmax head, trained with
PyTorch from the same starting weights on the same batches.

Dev-only: the programs never need Python.  This script shares no code with
the C implementation.  It reads the trace that `train-head --trace FILE`
writes (the training and validation features and labels, the initial kernel
and bias, each epoch's sample order, the hyperparameters and train-head's own
per-epoch numbers), then trains in float64 with PyTorch: the logits as
x @ kernel + bias, the loss through torch.nn.functional.cross_entropy (mean
over the batch) plus l2 * sum(kernel^2), gradients by autograd, and Adam in
tf.keras' form:

    t += 1; alpha = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
    m += (g - m) (1 - beta1); v += (g^2 - v) (1 - beta2)
    w -= alpha m / (sqrt(v) + epsilon)

with the hyperparameters rounded to float32, as Keras keeps them.  It is not
torch.optim.Adam, which adds epsilon after the bias correction
(sqrt(v / (1 - beta2^t)) + epsilon), a different update while
1 - beta2^t is far from 1; `--optimizer torch` trains with
torch.optim.Adam(eps=epsilon) instead and prints how far that lands, for
information.  The epoch's loss and accuracy are Keras': each batch's loss
and predictions before its update, weighted by batch size; validation after
the epoch.

Writes the golden file that test_train_head compares train-head against:
  /loss, /accuracy, /val_loss, /val_accuracy   (epochs) float64, the Keras
                                               update
  /torch_adam_loss, /torch_adam_val_loss       (epochs) float64, with
                                               torch.optim.Adam
  attributes train_x_sum, kernel0_sum, order_sum (sum of order[i] *
  (i % 1000 + 1) over the flattened order), ntrain: the inputs' checksums,
  so the test can tell the golden data was made from the run it repeats.

Regenerate (after a change to the parity run, the initialisation or the
shuffling):
  make bin/train-head build/tests/test_train_head
  HEAD_PARITY_TRACE=/tmp/head_trace.h5 build/tests/test_train_head
  /usr/bin/python3 tests/ref/torch_head.py /tmp/head_trace.h5 \\
      tests/golden/head_parity.h5
(the test fails on the stale golden data, but leaves the trace behind).
"""
import argparse
import math
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F


TRACE_FORMAT = b"vggfeat-trace 1"


def read_trace(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != TRACE_FORMAT:
            sys.exit("%s: not a train-head trace (%s)" % (path, TRACE_FORMAT.decode()))
        t = {k: np.asarray(f[k]) for k in f.keys()}
    hp = t["hparams"]
    t["hp"] = dict(lr=hp[0], beta1=hp[1], beta2=hp[2], epsilon=hp[3], l2=hp[4],
                   batch=int(hp[5]), epochs=int(hp[6]), seed=int(hp[7]))
    return t


class KerasAdam:
    """tf.keras' Adam update, float32 hyperparameters, on float64 tensors."""

    def __init__(self, params, lr, beta1, beta2, epsilon):
        f32 = lambda x: float(np.float32(x))
        self.params = params
        self.lr, self.b1, self.b2, self.eps = f32(lr), f32(beta1), f32(beta2), f32(epsilon)
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = 0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m += (g - m) * (1 - self.b1)
            v += (g * g - v) * (1 - self.b2)
            p -= alpha * m / (torch.sqrt(v) + self.eps)


def train(t, optimizer):
    hp = t["hp"]
    dt = torch.float64
    x = torch.from_numpy(t["train_x"].astype(np.float64))
    y = torch.from_numpy(t["train_y"].astype(np.int64))
    vx = torch.from_numpy(t["valid_x"].astype(np.float64))
    vy = torch.from_numpy(t["valid_y"].astype(np.int64))
    kernel = torch.tensor(t["kernel0"], dtype=dt, requires_grad=True)
    bias = torch.tensor(t["bias0"], dtype=dt, requires_grad=True)
    l2 = float(np.float32(hp["l2"]))
    if optimizer == "keras":
        opt = KerasAdam([kernel, bias], hp["lr"], hp["beta1"], hp["beta2"], hp["epsilon"])
    else:
        opt = torch.optim.Adam([kernel, bias], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]),
                               eps=hp["epsilon"])
    n, B = x.shape[0], hp["batch"]
    out = {k: [] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    for e in range(hp["epochs"]):
        order = torch.from_numpy(t["order"][e].astype(np.int64))
        loss_sum, correct = 0.0, 0
        for s in range(0, n, B):
            idx = order[s:s + B]
            logits = x[idx] @ kernel + bias
            loss = F.cross_entropy(logits, y[idx]) + l2 * (kernel ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y[idx]).sum().item()
        out["loss"].append(loss_sum / n)
        out["accuracy"].append(correct / n)
        with torch.no_grad():
            if len(vy):
                logits = vx @ kernel + bias
                vl = F.cross_entropy(logits, vy).item() + l2 * (kernel ** 2).sum().item()
                va = (logits.argmax(1) == vy).double().mean().item()
            else:
                vl, va = 0.0, 0.0
        out["val_loss"].append(vl)
        out["val_accuracy"].append(va)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trace", help="the file train-head --trace wrote")
    ap.add_argument("golden", nargs="?", help="the golden file to write")
    ap.add_argument("--optimizer", choices=("keras", "torch"), default="keras")
    a = ap.parse_args()
    torch.set_num_threads(1)
    t = read_trace(a.trace)
    res = train(t, a.optimizer)
    c = t["metrics"]
    names = ("loss", "accuracy", "val_loss", "val_accuracy")
    print("epoch  " + "  ".join("%-24s" % n for n in names) + "  (train-head / PyTorch)")
    worst = 0.0
    for e in range(len(res["loss"])):
        cells = []
        for j, n in enumerate(names):
            cells.append("%.6f / %.6f" % (c[e][j], res[n][e]))
            if j % 2 == 0:
                worst = max(worst, abs(c[e][j] - res[n][e]))
        print("%5d  " % (e + 1) + "  ".join("%-24s" % s for s in cells))
    print("largest loss difference: %.2e (optimizer: %s)" % (worst, a.optimizer))
    if a.golden:
        if a.optimizer != "keras":
            sys.exit("the golden data is made with the Keras update first")
        stock = train(t, "torch")
        order = t["order"].astype(np.float64).ravel()
        with h5py.File(a.golden, "w") as f:
            for n in names:
                f[n] = np.asarray(res[n], dtype=np.float64)
            f["torch_adam_loss"] = np.asarray(stock["loss"], dtype=np.float64)
            f["torch_adam_val_loss"] = np.asarray(stock["val_loss"], dtype=np.float64)
            f.attrs["train_x_sum"] = np.sum(t["train_x"].astype(np.float64))
            f.attrs["kernel0_sum"] = np.sum(t["kernel0"].astype(np.float64))
            f.attrs["order_sum"] = np.sum(order * (np.arange(order.size) % 1000 + 1))
            f.attrs["ntrain"] = float(t["train_x"].shape[0])
            f.attrs["made_by"] = "tests/ref/torch_head.py, torch %s" % torch.__version__
        print("wrote", a.golden)


if __name__ == "__main__":
    main()
