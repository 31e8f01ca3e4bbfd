#!/usr/bin/env python3
"""What Keras' flow_from_directory lists for tests/ref/keras_tree.txt.

Dev-only reference for tests/test_dataset.c and tests/test_extract.c (make
test never runs Python): builds the tree the spec describes in a temporary
folder and records, for follow_links False and True, the classes and the
files (in order, with their class index) of
    tf.keras.preprocessing.image.ImageDataGenerator().flow_from_directory(
        base/faces, shuffle=False, follow_links=...)
into tests/golden/keras_walk.txt.  Run from the repository root in the
development environment (make dev-env):
    build/dev-env/bin/python tests/ref/keras_walk.py
Output, one entry a line, TAB-separated, bytes not in printable ASCII (and
backslashes) written \\xNN:
    keras     <tf-keras version>
    follow    0 | 1
    class     <index> <name>
    file      <class index> <path relative to faces>
"""
import os
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SPEC = os.path.join(ROOT, "tests", "ref", "keras_tree.txt")
OUT = os.path.join(ROOT, "tests", "golden", "keras_walk.txt")


def unescape(field):
    """The spec's field as bytes: \\xNN is one byte."""
    out, i = bytearray(), 0
    b = field.encode("ascii")
    while i < len(b):
        if b[i:i + 2] == b"\\x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def escape(name):
    """A str os.listdir returned (surrogateescape), escaped as the spec."""
    out = []
    for byte in os.fsencode(name):
        c = chr(byte)
        out.append(c if 0x20 <= byte < 0x7F and c != "\\" else "\\x%02x" % byte)
    return "".join(out)


def build(base):
    with open(SPEC, encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            kind, *fields = line.split("\t")
            path = os.path.join(os.fsencode(base), unescape(fields[0]))
            if kind == "d":
                os.makedirs(path, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if kind == "f":
                with open(path, "wb") as g:
                    g.write(b"P6\n1 1\n255\n\x80\x80\x80")
            elif kind == "l":
                os.symlink(unescape(fields[1]), path)
            else:
                sys.exit("keras_tree.txt: unknown kind " + kind)


def main():
    import tf_keras
    from tf_keras.preprocessing.image import ImageDataGenerator

    lines = ["keras\t" + tf_keras.__version__]
    with tempfile.TemporaryDirectory() as base:
        build(base)
        faces = os.path.join(base, "faces")
        for follow in (False, True):
            it = ImageDataGenerator().flow_from_directory(
                faces, shuffle=False, follow_links=follow)
            lines.append("follow\t%d" % follow)
            for name, index in sorted(it.class_indices.items(), key=lambda x: x[1]):
                lines.append("class\t%d\t%s" % (index, escape(name)))
            for path, cls in zip(it.filenames, it.classes):
                lines.append("file\t%d\t%s" % (cls, escape(path)))
    with open(OUT, "w", encoding="ascii") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
