#!/usr/bin/python3
"""The fixed split of ../shared/data/lfw-dev for the accuracy on real faces
(issue 23), as a function and as the committed list
tests/golden/lfw_dev_split.txt, so that the C side uses the very same files.

For each person (the folders of lfw-dev, in Python's order of strings,
which is also Keras' class order), the image files sorted by name: the last
4 are the validation set, the first 16 the training set.  lfw-dev has 62
people of 20 images, so every image is used once: 992 for training, 248
for validation.  A person with fewer than 20 images is an error (the two
sets would overlap); images between the first 16 and the last 4 of a
person with more than 20 would be left out.

The list, one image a line, after '#' comment lines:
    <set> <class index> <path relative to lfw-dev>
with set `train` or `valid` (extract's folder names), the training images
first, each set by class then by name.  Paths hold no spaces.

usage: /usr/bin/python3 tests/ref/lfw_split.py [LFW_DEV] [OUT.txt]
(defaults: $SHARED_DATA/lfw-dev, else ../shared/data/lfw-dev; and
tests/golden/lfw_dev_split.txt).
"""
import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SHARED = os.environ.get("SHARED_DATA") or os.path.join(ROOT, "..", "shared", "data")
LFW_DEV = os.path.join(SHARED, "lfw-dev")
OUT = os.path.join(ROOT, "tests", "golden", "lfw_dev_split.txt")
N_TRAIN, N_VALID = 16, 4
# Keras' image extensions (flow_from_directory's white list).
EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")


def split(lfw_dev=LFW_DEV):
    """(classes, train, valid): the people in class order, and lists of
    (path relative to lfw_dev, class index)."""
    classes = sorted(d for d in os.listdir(lfw_dev)
                     if not d.startswith(".") and os.path.isdir(os.path.join(lfw_dev, d)))
    train, valid = [], []
    for c, person in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(lfw_dev, person))
                       if not f.startswith(".") and f.lower().endswith(EXTENSIONS))
        if len(files) < N_TRAIN + N_VALID:
            raise ValueError(f"{lfw_dev}/{person}: {len(files)} images, "
                             f"fewer than {N_TRAIN + N_VALID}")
        train += [(f"{person}/{f}", c) for f in files[:N_TRAIN]]
        valid += [(f"{person}/{f}", c) for f in files[-N_VALID:]]
    return classes, train, valid


def read_list(path=OUT):
    """(train, valid) from the committed list, as split() gives them."""
    sets = {"train": [], "valid": []}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            s, c, rel = line.split()
            sets[s].append((rel, int(c)))
    return sets["train"], sets["valid"]


def main():
    lfw_dev = sys.argv[1] if len(sys.argv) > 1 else LFW_DEV
    out = sys.argv[2] if len(sys.argv) > 2 else OUT
    classes, train, valid = split(lfw_dev)
    with open(out + ".tmp", "w") as f:
        f.write("# The fixed split of lfw-dev (tests/ref/lfw_split.py): for each person,\n"
                f"# files sorted by name, the first {N_TRAIN} train, the last {N_VALID} valid.\n"
                f"# {len(classes)} classes (Keras' order), {len(train)} train, "
                f"{len(valid)} valid.\n"
                "# <set> <class index> <path relative to lfw-dev>\n")
        for s, items in (("train", train), ("valid", valid)):
            for rel, c in items:
                f.write(f"{s} {c} {rel}\n")
    os.replace(out + ".tmp", out)
    print(f"wrote {out}: {len(classes)} classes, {len(train)} train, {len(valid)} valid")


if __name__ == "__main__":
    main()
