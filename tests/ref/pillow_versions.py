#!/usr/bin/env python3
"""Does another Pillow decode the test images as the pinned Pillow 9.4 does?

Dev-only.  The C decoder copies Pillow 9.4 (tests/ref/requirements-dev.txt),
the version Keras' load_img ran with when the goldens were made; this script
says what would change with another Pillow.  It runs Keras' load_img recipe
(Image.open on the file's bytes, convert("RGB") when the mode differs,
resize((224, 224), NEAREST) when the size differs) in this interpreter and,
file by file, in OTHER_PYTHON (another virtualenv, with its Pillow and
numpy), and compares each step:
  open     refused or not, format, mode, size
  decode   the pixels in the file's own mode (and the palette, if any)
  convert  the RGB image
  resize   the (224, 224, 3) bytes load_img returns
On every file of tests/fixtures and every image of ../shared/data/lfw-dev
and ../shared/data/orl (when present).  Writes nothing: prints each file
where a step differs, with each step that differs and the largest absolute
difference of a value (a step compares values: numpy's dtype for a mode
may change alone), whether load_img's output differs, then the counts.
Exits 1 when load_img's output differs for a file.

Rerun from the repository root, e.g. against Pillow 13.0.0:
    python3 -m venv /tmp/pillow13
    /tmp/pillow13/bin/pip install pillow==13.0.0 numpy
    build/dev-env/bin/python tests/ref/pillow_versions.py /tmp/pillow13/bin/python
(under a minute).
"""
import io
import os
import pickle
import subprocess
import sys

import warnings

import numpy as np
import PIL
from PIL import Image

# Pillow warns about palette images with transparency; load_img ignores it.
warnings.simplefilter("ignore")

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.path.normpath(os.path.join(ROOT, "..", "shared", "data"))
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff")
STEPS = ("decode", "convert", "resize")


def load_steps(path):
    """Keras' load_img on path, step by step: a dict of what each step made."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
        # After load: Pillow 9.4 applies a TIFF orientation while loading,
        # later ones already at open; load_img sees the loaded size either way.
        head = (img.format, img.mode, img.size)
        palette = img.getpalette() if img.mode in ("P", "PA") else None
        decode = np.asarray(img).copy()
        if img.mode != "RGB":
            img = img.convert("RGB")
        convert = np.asarray(img).copy()
        if img.size != (224, 224):
            img = img.resize((224, 224), Image.NEAREST)
        resize = np.asarray(img).copy()
    except Exception as e:  # what Keras would raise
        return {"refused": f"{type(e).__name__}: {e}"}
    return {"refused": None, "open": head, "palette": palette,
            "decode": decode, "convert": convert, "resize": resize}


def serve():
    """The other interpreter's side: a path a line in, a pickle out."""
    out = sys.stdout.buffer
    pickle.dump(PIL.__version__, out)
    out.flush()
    for line in sys.stdin:
        pickle.dump(load_steps(line.rstrip("\n")), out, protocol=4)
        out.flush()


def images():
    """(group, path): every fixture, then the LFW and ORL images."""
    fixtures = os.path.join(ROOT, "tests", "fixtures")
    for name in sorted(os.listdir(fixtures)):
        yield "fixtures", os.path.join(fixtures, name)
    for group in ("lfw-dev", "orl"):
        top = os.path.join(SHARED, group)
        if not os.path.isdir(top):
            print(f"{top} absent: skipped")
            continue
        for d, subdirs, files in os.walk(top):
            subdirs.sort()
            for name in sorted(files):
                if name.lower().endswith(IMAGE_EXT):
                    yield group, os.path.join(d, name)


def compare(step, x, y):
    """'' when two arrays hold the same values, else how they differ."""
    if x.shape != y.shape:
        return f"{step}: shape {x.shape} vs {y.shape}"
    d = np.abs(x.astype(np.int64) - y.astype(np.int64))
    if d.any():
        return f"{step}: max |d| {d.max()}, {np.count_nonzero(d)} of {d.size} values differ"
    if x.dtype != y.dtype:
        return f"{step}: same values, numpy dtype {x.dtype} vs {y.dtype}"
    return ""


def differ(a, b):
    """(the steps that differ, whether load_img's output differs)."""
    if a["refused"] or b["refused"]:
        if a["refused"] == b["refused"]:
            return [], False
        return [f"open: refused {a['refused']!r} vs {b['refused']!r}"], True
    why = []
    if a["open"] != b["open"]:
        why.append(f"open: (format, mode, size) {a['open']} vs {b['open']}")
    if a["palette"] != b["palette"]:
        why.append("decode: palettes differ")
    why += [compare(step, a[step], b[step]) for step in STEPS]
    why = [w for w in why if w]
    return why, any(w.startswith("resize:") and "same values" not in w for w in why)


def main():
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    if len(sys.argv) != 2:
        sys.exit("usage: pillow_versions.py OTHER_PYTHON")
    other = subprocess.Popen([sys.argv[1], os.path.abspath(__file__), "--serve"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=False)
    theirs = pickle.load(other.stdout)
    print(f"Pillow {PIL.__version__} (this) vs Pillow {theirs} ({sys.argv[1]})")
    counts, differing = {}, 0
    for group, path in images():
        other.stdin.write(path.encode() + b"\n")
        other.stdin.flush()
        why, output = differ(load_steps(path), pickle.load(other.stdout))
        same, inner, diff = counts.get(group, (0, 0, 0))
        counts[group] = (same + (not why), inner + (bool(why) and not output), diff + output)
        differing += output
        if why:
            print(f"{os.path.relpath(path, ROOT)}: {'; '.join(why)} => load_img output "
                  + ("DIFFERS" if output else "identical"))
    other.stdin.close()
    other.wait()
    for group, (same, inner, diff) in counts.items():
        print(f"{group}: {same} identical at every step, {inner} with the same "
              f"load_img output but other intermediates, {diff} with another load_img output")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
