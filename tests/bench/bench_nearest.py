#!/usr/bin/env python3
"""Benchmark: nearest against faiss-cpu's exact search, side by side.

On the same 100,000 x 4096 float32 vectors and 1,000 queries
(tests/bench/bench_store.c writes them as feature stores for nearest and as
.npy files for faiss: fc2-like, class means plus noise through a ReLU,
10,000 classes, the queries more samples of the same classes), 2 threads
each, top 10:

  cosine     nearest --metric cosine   |  faiss IndexFlatIP on the vectors
                                          L2-normalised (faiss.normalize_L2):
                                          the same ranking
  euclidean  nearest --metric euclidean |  faiss IndexFlatL2

nearest is timed from start to exit (the store read from the LMDB map,
every record's CRC checked, the queries' store read, the search, the
output), and its own report of the search alone is kept too.  faiss is
timed around index.search only: its vectors are in memory and its index
built (index.add, timed apart) before the clock starts.  The CPU seconds
of every thread are reported too (getrusage of the child; faiss'
time.process_time around its search): on a busy machine, threads that
spin while they wait (OpenMP's, faiss') take cores that threads that sleep
(ours) leave to others.  faiss runs twice:
as it ships (its bundled OpenBLAS picks its kernels by the CPU's model), and
with OPENBLAS_CORETYPE=SkylakeX, the AVX-512 kernels, for a CPU its
OpenBLAS does not know (faiss' best on such a CPU).  Runs alternate, round
after round, so that a busy machine slows all alike; the medians are
printed, and the neighbours compared: for every query, ours and faiss'
first 10 (a difference is reported with the distances involved: float32
ties faiss cannot order).  Not a test: nothing is asserted.

  make bench-nearest      (or: make bin/nearest build/bench/bench_store;
                           PYTHON tests/bench/bench_nearest.py [--rounds 3])
needs numpy and faiss-cpu (tests/ref/requirements-dev.txt: make dev-env).
The data (3.3 GB) is made once under build/bench/nn/ and reused.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
N, NQ, D, K, SEED, TOP = 100000, 1000, 4096, 10000, 26, 10
THREADS = 2
DATA = os.path.join(ROOT, "build", "bench", "nn")
METRICS = [("cosine", "IndexFlatIP"), ("euclidean", "IndexFlatL2")]


def paths():
    return {n: os.path.join(DATA, f) for n, f in (
        ("db", "base.lmdb"), ("x", "xb.npy"), ("y", "yb.npy"),
        ("qdb", "queries.lmdb"), ("q", "xq.npy"))}


def make_data():
    p = paths()
    if os.path.exists(p["q"]):
        return p
    os.makedirs(DATA, exist_ok=True)
    subprocess.run(["make", "-s", "build/bench/bench_store", "bin/nearest"], check=True, cwd=ROOT)
    print("making %d + %d vectors of %d over %d classes in %s ..." % (N, NQ, D, K, DATA),
          flush=True)
    tmp = p["q"] + ".tmp"
    subprocess.run([os.path.join(ROOT, "build", "bench", "bench_store"), p["db"], p["x"],
                    p["y"], str(N), str(D), str(K), str(SEED), p["qdb"], tmp, str(NQ)],
                   check=True)
    os.rename(tmp, p["q"])
    return p


def row_of(key):
    """A bench_store key's row in its .npy file."""
    return int(re.search(r"/q?(\d+)\.jpg$", key).group(1))


def cpu_children():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_ours(p, metric):
    """Seconds end to end, the search's seconds, CPU seconds (every thread,
    end to end), and (NQ, TOP) rows."""
    cmd = [os.path.join(ROOT, "bin", "nearest"), "--query-db", p["qdb"], "--db", p["db"],
           "--metric", metric, "--top-k", str(TOP), "--threads", str(THREADS)]
    c = cpu_children()
    t = time.perf_counter()
    r = subprocess.run(cmd, check=True, capture_output=True, text=True)
    t = time.perf_counter() - t
    c = cpu_children() - c
    search = float(re.search(r"of which the search ([0-9.]+) s", r.stderr).group(1))
    idx = np.full((NQ, TOP), -1, dtype=np.int64)
    dist = np.zeros((NQ, TOP))
    for line in r.stdout.splitlines():
        q, rank, key, _, d, _ = line.split("\t")
        idx[row_of(q), int(rank) - 1] = row_of(key)
        dist[row_of(q), int(rank) - 1] = float(d)
    return t, search, c, idx, dist


def faiss_worker(metric, out):
    """In a process of its own (OPENBLAS_CORETYPE is read when OpenBLAS
    loads): the index built, one timed search, the result to out."""
    import faiss
    faiss.omp_set_num_threads(THREADS)
    p = paths()
    xb = np.load(p["x"])
    xq = np.load(p["q"])
    if metric == "cosine":
        faiss.normalize_L2(xb)
        faiss.normalize_L2(xq)
    t = time.perf_counter()
    index = faiss.IndexFlatIP(D) if metric == "cosine" else faiss.IndexFlatL2(D)
    index.add(xb)
    add = time.perf_counter() - t
    c = time.process_time()
    t = time.perf_counter()
    dist, idx = index.search(xq, TOP)
    t = time.perf_counter() - t
    c = time.process_time() - c
    np.savez(out, idx=idx, dist=dist)
    with open(out + ".json", "w") as f:
        json.dump({"search": t, "cpu": c, "add": add, "faiss": faiss.__version__}, f)


def run_faiss(metric, coretype):
    out = os.path.join(DATA, "faiss_%s_%s.npz" % (metric, coretype or "shipped"))
    env = dict(os.environ)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    else:
        env.pop("OPENBLAS_CORETYPE", None)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--faiss-worker", metric, out],
                   check=True, env=env)
    with open(out + ".json") as f:
        t = json.load(f)
    r = np.load(out)
    return t, r["idx"], r["dist"]


def compare(metric, ours_idx, ours_dist, f_idx, f_dist):
    """How many queries have the same first TOP, in order; the others'
    differences, with their distances."""
    same = 0
    notes = []
    for q in range(NQ):
        if list(ours_idx[q]) == list(f_idx[q]):
            same += 1
            continue
        a, b = set(ours_idx[q]), set(f_idx[q])
        # faiss' scores: cosine = 1 - inner product of unit vectors,
        # euclidean = sqrt of its squared distance.
        fd = 1 - f_dist[q] if metric == "cosine" else np.sqrt(np.maximum(f_dist[q], 0))
        notes.append("query %d: %s; ours %s, faiss %s" % (
            q, "same records, order differs" if a == b else "records differ",
            ", ".join("%d@%.7f" % (i, d) for i, d in zip(ours_idx[q], ours_dist[q])),
            ", ".join("%d@%.7f" % (i, d) for i, d in zip(f_idx[q], fd))))
    return same, notes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--faiss-worker", nargs=2, metavar=("METRIC", "OUT"))
    a = ap.parse_args()
    if a.faiss_worker:
        faiss_worker(*a.faiss_worker)
        return
    p = make_data()
    load = os.getloadavg()[0]
    times = {}
    results = {}
    for r in range(a.rounds):
        for metric, _ in METRICS:
            t, s, c, idx, dist = run_ours(p, metric)
            times.setdefault((metric, "ours"), []).append(t)
            times.setdefault((metric, "ours-search"), []).append(s)
            times.setdefault((metric, "ours-cpu"), []).append(c)
            results[(metric, "ours")] = (idx, dist)
            for core in ("", "SkylakeX"):
                ft, idx, dist = run_faiss(metric, core)
                times.setdefault((metric, "faiss" + core), []).append(ft["search"])
                times.setdefault((metric, "faiss-add" + core), []).append(ft["add"])
                times.setdefault((metric, "faiss-cpu" + core), []).append(ft["cpu"])
                results[(metric, "faiss" + core)] = (idx, dist)
                version = ft["faiss"]
            print("round %d %s: ours %.2f s (search %.2f s), faiss %.2f s, faiss "
                  "SkylakeX %.2f s" % (r + 1, metric, t, s,
                                       times[(metric, "faiss")][-1],
                                       times[(metric, "faissSkylakeX")][-1]), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print("\n%d x %d float32, %d queries, top %d, %d threads, %d rounds, median "
          "seconds (load average %.1f at the start)\n" % (N, D, NQ, TOP, THREADS,
                                                          a.rounds, load))
    print("| | cosine | euclidean |")
    print("| --- | ---: | ---: |")
    rows = [("vggfeat `nearest`, start to exit (store read, CRCs, search, output)", "ours"),
            ("of which the search (nearest's own report)", "ours-search"),
            ("faiss-cpu %s `search`, as it ships (IndexFlatIP / IndexFlatL2)" % version,
             "faiss"),
            ("faiss-cpu %s `search`, OPENBLAS_CORETYPE=SkylakeX" % version,
             "faissSkylakeX"),
            ("faiss `add` (not in its search's time)", "faiss-addSkylakeX"),
            ("CPU seconds, every thread: vggfeat `nearest`, start to exit", "ours-cpu"),
            ("CPU seconds: faiss `search`, as it ships", "faiss-cpu"),
            ("CPU seconds: faiss `search`, OPENBLAS_CORETYPE=SkylakeX",
             "faiss-cpuSkylakeX")]
    for label, key in rows:
        print("| %s | %.2f | %.2f |" % (label, med[("cosine", key)], med[("euclidean", key)]))
    for metric, _ in METRICS:
        for core in ("faiss", "faissSkylakeX"):
            print("%s, ours vs %s: %.2fx (end to end), %.2fx (search alone)" % (
                metric, core, med[(metric, core)] / med[(metric, "ours")],
                med[(metric, core)] / med[(metric, "ours-search")]))
    print()
    for metric, _ in METRICS:
        oi, od = results[(metric, "ours")]
        for core in ("faiss", "faissSkylakeX"):
            fi, fd = results[(metric, core)]
            same, notes = compare(metric, oi, od, fi, fd)
            print("%s vs %s: %d of %d queries have the same %d neighbours in the same "
                  "order" % (metric, core, same, NQ, TOP))
            for n in notes[:10]:
                print("  " + n)
            if len(notes) > 10:
                print("  ... %d more" % (len(notes) - 10))


if __name__ == "__main__":
    main()
