#!/usr/bin/python3
"""Compares the layout of two HDF5 files, never their numbers.

Dev-only.  Used to check that tests/ref/real_weights.py writes Keras'
official layout exactly as extract/demo/gen_weights does (the layout the C
loader is tested on):
    build/demo/gen_weights --seed 1 --notop --out /tmp/gen_notop.h5
    /usr/bin/python3 tests/ref/compare_h5_layout.py /tmp/gen_notop.h5 \\
        build/real-weights/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
For every group and dataset (by path): its kind, its attributes (name,
HDF5 type class, string size, padding and character set, whether the
length is variable, dataspace class and shape, and the values of string
attributes) and, for datasets, the shape, the type (class, size, byte
order), the storage layout and the filters.  Prints each difference;
exit status 0 when there is none, 1 otherwise, 2 on a usage error.
"""
import sys

import h5py


def type_desc(t):
    d = {"class": t.get_class(), "size": t.get_size()}
    if t.get_class() == h5py.h5t.STRING:
        d.update(variable=t.is_variable_str(), pad=t.get_strpad(), cset=t.get_cset())
    elif t.get_class() in (h5py.h5t.FLOAT, h5py.h5t.INTEGER):
        d.update(order=t.get_order())
    return d


def space_desc(s):
    return {"class": s.get_simple_extent_type(), "shape": s.shape}


def attrs_desc(obj):
    out = {}
    for name in obj.attrs:
        a = h5py.h5a.open(obj.id, name.encode())
        d = {"type": type_desc(a.get_type()), "space": space_desc(a.get_space())}
        if a.get_type().get_class() == h5py.h5t.STRING:
            d["value"] = obj.attrs[name].tolist() if hasattr(obj.attrs[name], "tolist") \
                else obj.attrs[name]
        out[name] = d
    return out


def layout(path):
    """{object path: description}."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            d = {"attrs": attrs_desc(obj)}
            if isinstance(obj, h5py.Dataset):
                plist = obj.id.get_create_plist()
                d.update(kind="dataset", shape=obj.shape, type=type_desc(obj.id.get_type()),
                         layout=plist.get_layout(),
                         filters=[plist.get_filter(i)[0] for i in range(plist.get_nfilters())])
            else:
                d["kind"] = "group"
            out[name] = d
        visit("/", f)
        f.visititems(visit)
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: compare_h5_layout.py A.h5 B.h5", file=sys.stderr)
        return 2
    a, b = (layout(p) for p in sys.argv[1:])
    diffs = 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            print(f"{name}: only in {sys.argv[1] if name in a else sys.argv[2]}")
            diffs += 1
        elif a[name] != b[name]:
            for key in sorted(set(a[name]) | set(b[name])):
                if a[name].get(key) != b[name].get(key):
                    print(f"{name}: {key}: {a[name].get(key)} != {b[name].get(key)}")
                    diffs += 1
    print(f"{len(a)} and {len(b)} objects, {diffs} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
