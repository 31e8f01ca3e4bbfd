#!/usr/bin/env python3
"""README.md's Python snippets, taken from README.md and run as they stand
against the real programs (`make test-dev`; dev-only).

  readme_snippets.py [--bin bin] [--tools build/demo] --weights W.h5
                     [--work DIR] [--keep]

The section "## From Python and Keras" holds three ```python blocks, in
this order:
  a  the seed's Keras model with train-head's head file loaded into it;
  b  a store read into numpy with the lmdb package;
  c  the whole-model file of `predict --save-model` opened by load_model.
Each runs in a process of its own (python readme_snippets.py --snippet X),
in a folder holding what it names: head.h5, feats.lmdb, photo.jpg,
face_model.h5, with VGG16_WEIGHTS set to W.  Its variables are then
checked against the programs' own outputs:
  a  the probabilities p against `predict --top-k K` within 1e-5, the
     printed answer, each Dense layer's weights equal to the head file's
     (a head of one layer, and one with a hidden layer), and the
     model's fc2 on the photo against the store's record within
     1e-4 x max |record|;
  b  X, y, keys, split and classes equal to `featdb export`'s file, on an
     f32 and an f16 store; and on a store with one damaged vector, its
     assert must fire;
  c  when bin/predict's --help names --save-model: p against predict's
     probabilities within 1e-5; otherwise it is skipped, and says so.
The faces are generated (gen_faces), the store and the head made by
extract and train-head.  Ends with "N passed, N failed, N skipped".
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SECTION = "## From Python and Keras"
SKIP = 77


def snippets(readme):
    """The ```python blocks of README's section SECTION, in order."""
    text = open(readme, encoding="utf-8").read()
    start = text.index("\n" + SECTION + "\n")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end >= 0 else len(text)]
    return re.findall(r"\n```python\n(.*?)\n```", section, re.S)


def run(cmd, **kw):
    """Runs a program; its standard output, or an error naming it."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode,
                                                   p.stdout, p.stderr))
    return p.stdout


def exec_snippet(src, name):
    """Runs a snippet in this process; its variables."""
    ns = {"__name__": "__main__"}
    exec(compile(src, "README.md snippet " + name, "exec"), ns)
    return ns


def predict_probs(a, photo, classes):
    """bin/predict's probability of every class for photo, in class order."""
    out = run([os.path.join(a.bin, "predict"), "--head", "head.h5", "--weights",
               a.weights, "--top-k", str(len(classes)), "-q", photo])
    probs = {}
    for line in out.splitlines():
        path, rank, name, prob = line.split("\t")
        probs[name] = float(prob)
    return [probs[c] for c in classes]


def close(what, got, want, tol):
    import numpy as np
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    print("  %s: max |difference| %.3g (limit %.3g)" % (what, err, tol))
    if got.shape != want.shape or not err <= tol:
        raise AssertionError("%s: %s against %s" % (what, got, want))


def check_a(a, src):
    import h5py
    import numpy as np
    ns = exec_snippet(src, "a")
    classes, p, model = ns["classes"], ns["p"], ns["model"]
    with h5py.File("head.h5", "r") as f:
        assert classes == [c.decode() for c in f.attrs["vggfeat_classes"]]
        names = [n.decode() for n in f.attrs["layer_names"]]
        for name in names:
            kernel = f[name][name]["kernel:0"][:]
            bias = f[name][name]["bias:0"][:]
            k, b = model.get_layer(name).get_weights()
            assert np.array_equal(k, kernel) and np.array_equal(b, bias), \
                "%s is not head.h5's" % name
    print("  the model's %s: head.h5's weights" % ", ".join(names))
    close("p against predict", p, predict_probs(a, "photo.jpg", classes), 1e-5)
    # The backbone: the snippet's fc2 on the photo against extract's record of it.
    fc2 = model.layers[0].predict(ns["x"], verbose=0)[0]
    with h5py.File("export.h5", "r") as f:
        keys = [k.decode() for k in f["keys"][:]]
        ref = f["features"][keys.index(open("photo.key").read())]
    close("fc2 against the store, / max |record|", fc2 / np.abs(ref).max(),
          ref / np.abs(ref).max(), 1e-4)


def check_b(a, src):
    import h5py
    import numpy as np
    ns = exec_snippet(src, "b")
    with h5py.File("export.h5", "r") as f:
        want = {"X": f["features"][:], "y": f["labels"][:], "split": f["split"][:],
                "keys": [k.decode() for k in f["keys"][:]],
                "classes": [c.decode() for c in f["classes"][:]]}
    for name, value in want.items():
        got = ns[name]
        same = (np.array_equal(got, value) and np.asarray(got).dtype == value.dtype
                if isinstance(value, np.ndarray) else got == value)
        assert same, "%s differs from featdb export's" % name
    print("  X %s %s, y, split, keys and classes equal to featdb export's"
          % (ns["X"].shape, ns["X"].dtype))


def check_b_damaged(a, src):
    try:
        exec_snippet(src, "b")
    except AssertionError:
        print("  the damaged record fails the snippet's assert")
        return
    raise AssertionError("a damaged record passed the snippet's CRC check")


def check_c(a, src):
    import h5py
    help_text = run([os.path.join(a.bin, "predict"), "--help"])
    if "--save-model" not in help_text:
        print("skipped: predict --save-model not built")
        sys.exit(SKIP)
    run([os.path.join(a.bin, "predict"), "--head", "head.h5", "--weights", a.weights,
         "--save-model", "face_model.h5"])
    ns = exec_snippet(src, "c")
    with h5py.File("head.h5", "r") as f:
        classes = [c.decode() for c in f.attrs["vggfeat_classes"]]
    close("p against predict", ns["p"], predict_probs(a, "photo.jpg", classes), 1e-5)


CHECKS = {"a": (0, check_a), "b": (1, check_b), "b-damaged": (1, check_b_damaged),
          "c": (2, check_c)}


def one(a):
    """--snippet X: run and check one snippet in the current folder."""
    blocks = snippets(a.readme)
    index, check = CHECKS[a.snippet]
    check(a, blocks[index])


def damage_one_vector(db):
    """Flips a byte inside the first record's vector in db's data.mdb (a
    record of 16 KB sits whole in LMDB's overflow pages)."""
    import lmdb
    env = lmdb.open(db, readonly=True, max_dbs=2)
    with env.begin() as txn:
        key, rec = next(iter(txn.cursor(db=env.open_db(b"features", txn=txn,
                                                       create=False))))
    env.close()
    path = os.path.join(db, "data.mdb")
    data = bytearray(open(path, "rb").read())
    at = data.find(rec)
    assert at >= 0 and data.find(rec, at + 1) < 0, "the record is not found once"
    data[at + 24 + 100] ^= 0x40
    open(path, "wb").write(bytes(data))


def prepare(a, work):
    """The faces, an f32 and an f16 store, the head, the photo; a folder per
    run of a snippet."""
    faces = os.path.join(work, "faces")
    run([os.path.join(a.tools, "gen_faces"), "--out", faces, "--people", "4",
         "--images", "5", "--seed", "3"])
    ex = os.path.join(a.bin, "extract")
    dirs = {}
    for dtype in ("f32", "f16"):
        d = dirs[dtype] = os.path.join(work, dtype)
        os.makedirs(d)
        run([ex, "--in", faces, "--db", os.path.join(d, "feats.lmdb"), "--weights",
             a.weights, "--dtype", dtype, "-q"])
        run([os.path.join(a.bin, "featdb"), "export", os.path.join(d, "feats.lmdb"),
             "--out", os.path.join(d, "export.h5")])
    d = dirs["f32"]
    run([os.path.join(a.bin, "train-head"), "--db", os.path.join(d, "feats.lmdb"),
         "--epochs", "3", "--out", os.path.join(d, "head.h5"), "-q"])
    person = sorted(os.listdir(faces))[1]
    image = sorted(os.listdir(os.path.join(faces, person)))[0]
    shutil.copy(os.path.join(faces, person, image), os.path.join(d, "photo.jpg"))
    with open(os.path.join(d, "photo.key"), "w") as f:
        f.write(person + "/" + image)
    damaged = os.path.join(work, "damaged")
    shutil.copytree(dirs["f32"], damaged)
    damage_one_vector(os.path.join(damaged, "feats.lmdb"))
    # A head with a hidden layer (--hidden): dense_1 (relu), dense_2.
    hidden = os.path.join(work, "hidden")
    shutil.copytree(dirs["f32"], hidden)
    run([os.path.join(a.bin, "train-head"), "--db", os.path.join(hidden, "feats.lmdb"),
         "--epochs", "3", "--hidden", "16", "--out", os.path.join(hidden, "head.h5"), "-q"])
    return [("a", d), ("a", hidden), ("b", d), ("b", dirs["f16"]),
            ("b-damaged", damaged), ("c", d)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--tools", default="build/demo")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--readme", default="README.md")
    ap.add_argument("--work", help="a folder to work in (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--snippet", choices=sorted(CHECKS), help=argparse.SUPPRESS)
    a = ap.parse_args()
    for name in ("bin", "tools", "weights", "readme"):
        setattr(a, name, os.path.abspath(getattr(a, name)))
    if a.snippet:
        return one(a)

    blocks = snippets(a.readme)
    if len(blocks) != 3:
        sys.exit("README.md's section %r holds %d python blocks, not 3"
                 % (SECTION, len(blocks)))
    work = a.work or tempfile.mkdtemp(prefix="readme_snippets.")
    os.makedirs(work, exist_ok=True)
    passed = failed = skipped = 0
    try:
        for name, folder in prepare(a, work):
            label = "%s in %s" % (name, os.path.relpath(folder, work))
            print("== snippet " + label, flush=True)
            env = dict(os.environ, VGG16_WEIGHTS=a.weights, TF_CPP_MIN_LOG_LEVEL="3")
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--snippet",
                                name, "--bin", a.bin, "--tools", a.tools, "--weights",
                                a.weights, "--readme", a.readme], cwd=folder, env=env)
            if p.returncode == 0:
                passed += 1
                print("== snippet %s: ok" % label)
            elif p.returncode == SKIP:
                skipped += 1
                print("== snippet %s: skipped" % label)
            else:
                failed += 1
                print("== snippet %s: FAILED (exit %d)" % (label, p.returncode))
    finally:
        if a.keep or a.work:
            print("work folder kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
