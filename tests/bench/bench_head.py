#!/usr/bin/python3
"""Benchmark: train-head against PyTorch on the same features, side by side.

Both train the softmax head (4096 -> 290 classes) with Adam (lr 1e-4,
epsilon 1e-7), batch 32, on the same 12,000 synthetic fc2-like vectors
(tests/bench/bench_store.c writes them as a feature store for train-head and
as .npy files for PyTorch), 2 threads each, all records for training.  Runs
alternate (train-head, then PyTorch, for --rounds rounds) so that a busy
machine slows both alike; prints each one's median seconds per epoch and the
ratio.  Not a test: nothing is asserted.

train-head's epochs are timed from outside: it prints "Epoch k/E" when an
epoch starts and the Keras line when it ends (stdout is flushed at both).
PyTorch's are timed around the epoch loop.  Neither includes reading the
features.  --baseline BIN times another train-head binary (an older
build: a change's before and after) in the same rounds, after ours;
--no-torch leaves PyTorch out.

  make bin/train-head build/libcommon.a
  /usr/bin/python3 tests/bench/bench_head.py [--epochs 5] [--rounds 2]
      [--baseline BIN] [--no-torch]

The data (about 400 MB) is made once under build/bench/ and reused.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
N, D, K, SEED = 12000, 4096, 290, 1


def sh(cmd):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()


def make_data(out):
    """The store and the .npy files, written by bench_store."""
    store, xs, ys = (os.path.join(out, n) for n in ("feats.lmdb", "x.npy", "y.npy"))
    if os.path.exists(ys):
        return store, xs, ys
    os.makedirs(out, exist_ok=True)
    # Built by the Makefile, with the libraries libcommon needs (a list of
    # our own here once missed zlib when the CRC moved to crc32_z).
    exe = os.path.join(ROOT, "build", "bench", "bench_store")
    subprocess.run(["make", "-s", "build/bench/bench_store"], check=True, cwd=ROOT)
    print("making %d x %d features over %d classes in %s ..." % (N, D, K, out), flush=True)
    tmp = ys + ".tmp"
    subprocess.run([exe, store, xs, tmp, str(N), str(D), str(K), str(SEED)], check=True)
    os.rename(tmp, ys)
    return store, xs, ys


def run_train_head(exe, store, epochs, threads):
    """Seconds of each epoch, and the last epoch's loss."""
    cmd = [exe, "--db", store, "--epochs", str(epochs),
           "--batch-size", "32", "--lr", "1e-4", "--epsilon", "1e-7", "--val-split", "0",
           "--threads", str(threads), "--out", os.path.join(os.path.dirname(store), "head.h5")]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    times, start, loss = [], None, None
    for line in p.stdout:
        now = time.perf_counter()
        if line.startswith("Epoch "):
            start = now
        elif " - loss: " in line and start is not None:
            times.append(now - start)
            loss = float(line.split(" - loss: ")[1].split()[0])
    if p.wait() != 0:
        sys.exit("train-head failed: " + " ".join(cmd))
    return times, loss


def run_torch(x, y, epochs, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(SEED)
    layer = torch.nn.Linear(D, K)
    # glorot_uniform and zero bias, as the Keras layer starts.
    torch.nn.init.xavier_uniform_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(layer.parameters(), lr=1e-4, eps=1e-7)
    times, loss = [], None
    for _ in range(epochs):
        t0 = time.perf_counter()
        order = torch.randperm(N)
        total = 0.0
        for s in range(0, N, 32):
            idx = order[s:s + 32]
            out = F.cross_entropy(layer(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()
            total += out.item() * len(idx)
        times.append(time.perf_counter() - t0)
        loss = total / N
    return times, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(ROOT, "build", "bench"))
    ap.add_argument("--baseline", help="another train-head binary, timed alike")
    ap.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    a = ap.parse_args()
    if not os.access(os.path.join(ROOT, "bin", "train-head"), os.X_OK):
        sys.exit("build first: make bin/train-head build/libcommon.a")
    store, xs, ys = make_data(a.data)
    if not a.no_torch:
        x = torch.from_numpy(np.load(xs))
        y = torch.from_numpy(np.load(ys).astype(np.int64))
    print("%d samples x %d features, %d classes, batch 32, Adam(lr 1e-4, eps 1e-7), "
          "%d threads, %d epochs x %d rounds" % (N, D, K, a.threads, a.epochs, a.rounds))
    print("OPENBLAS_CORETYPE=%s, torch %s, load average %s"
          % (os.environ.get("OPENBLAS_CORETYPE", "(unset)"), torch.__version__,
             " ".join("%.2f" % v for v in os.getloadavg())))
    ours, theirs, base = [], [], []
    ours_exe = os.path.join(ROOT, "bin", "train-head")
    for r in range(a.rounds):
        t, l1 = run_train_head(ours_exe, store, a.epochs, a.threads)
        ours += t
        print("round %d  train-head: %s s/epoch, final loss %.4f"
              % (r + 1, " ".join("%.3f" % v for v in t), l1), flush=True)
        if a.baseline:
            t, lb = run_train_head(a.baseline, store, a.epochs, a.threads)
            base += t
            print("round %d  baseline:   %s s/epoch, final loss %.4f"
                  % (r + 1, " ".join("%.3f" % v for v in t), lb), flush=True)
        if not a.no_torch:
            t, l2 = run_torch(x, y, a.epochs, a.threads)
            theirs += t
            print("round %d  PyTorch:    %s s/epoch, final loss %.4f"
                  % (r + 1, " ".join("%.3f" % v for v in t), l2), flush=True)
    mo = statistics.median(ours)
    if base:
        mb = statistics.median(base)
        print("median seconds per epoch: train-head %.3f, baseline %.3f (%s), ratio %.2fx"
              % (mo, mb, a.baseline, mb / mo))
        print("fastest epoch:            train-head %.3f, baseline %.3f, ratio %.2fx"
              % (min(ours), min(base), min(base) / min(ours)))
    if theirs:
        mt = statistics.median(theirs)
        print("median seconds per epoch: train-head %.3f, PyTorch %.3f, ratio %.1fx"
              % (mo, mt, mt / mo))
        # On a shared machine the fastest epoch is the one least disturbed.
        print("fastest epoch:            train-head %.3f, PyTorch %.3f, ratio %.1fx"
              % (min(ours), min(theirs), min(theirs) / min(ours)))


if __name__ == "__main__":
    main()
